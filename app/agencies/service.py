"""The agency directory in the database: import, add, look up, search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agencies.directory_file import AgencyRecord, demo_directory
from app.models import Agency

# Fields an import may set; local settings (signature policy) are never touched by an import.
_IMPORTED_FIELDS = ("name", "parent_code", "status", "successor_code", "old_code", "endpoint", "email")


async def upsert_agencies(session: AsyncSession, records: Iterable[AgencyRecord]) -> tuple[int, int]:
    """Insert new agencies and update known ones; returns (added, updated)."""
    records = list(records)
    known = {
        a.code: a
        for a in await session.scalars(select(Agency).where(Agency.code.in_([r.code for r in records])))
    }
    added = updated = 0
    for record in records:
        agency = known.get(record.code)
        if agency is None:
            session.add(Agency(code=record.code, **{f: getattr(record, f) for f in _IMPORTED_FIELDS}))
            added += 1
            continue
        changed = False
        for field in _IMPORTED_FIELDS:
            value = getattr(record, field)
            if getattr(agency, field) != value:
                setattr(agency, field, value)
                changed = True
        updated += changed
    await session.flush()
    return added, updated


async def load_demo_directory_if_empty(session: AsyncSession) -> bool:
    if await session.scalar(select(Agency.code).limit(1)) is not None:
        return False
    await upsert_agencies(session, demo_directory())
    return True


async def agencies_by_code(session: AsyncSession, codes: Iterable[str]) -> dict[str, Agency]:
    codes = set(codes)
    rows = await session.scalars(select(Agency).where(Agency.code.in_(codes)))
    return {agency.code: agency for agency in rows}


async def search_agencies(
    session: AsyncSession,
    *,
    q: str | None = None,
    parent: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Sequence[Agency]:
    query = select(Agency).order_by(Agency.code).limit(limit)
    if q:
        # `%` and `_` in the search are the characters themselves, not wildcards.
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        query = query.where(or_(Agency.code.ilike(like, escape="\\"), Agency.name.ilike(like, escape="\\")))
    if parent:
        query = query.where(Agency.parent_code == parent)
    if status:
        query = query.where(Agency.status == status)
    if after:
        query = query.where(Agency.code > after)
    return (await session.scalars(query)).all()
