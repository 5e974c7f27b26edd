"""The agency directory in the database: import, add, look up, search."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agencies.codes import AgencyCode, InvalidAgencyCode
from app.agencies.directory_file import (
    MAX_NAME,
    AgencyRecord,
    _email_problem,
    _endpoint_problem,
    demo_directory,
)
from app.audit.log import record_admin_action
from app.kit.changes import Changes
from app.kit.errors import BadRequest, Conflict, NotFound, Problem
from app.models import Agency, AgencyStatus

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


async def agencies_by_code(
    session: AsyncSession, codes: Iterable[str], changes: Changes | None = None
) -> dict[str, Agency]:
    """The directory entries of `codes` that exist; remembered by `changes`, if given, until the
    table changes (the entries are then shared: read them, never change them)."""
    memory = changes.remembered("agencies") if changes is not None else None
    found: dict[str, Agency] = {}
    missing = set(codes)
    if memory is not None:
        for code in list(missing):
            known, agency = memory.get(code)
            if known:
                missing.discard(code)
                if agency is not None:
                    found[code] = agency
        version = memory.version()
    if missing:
        rows = {a.code: a for a in await session.scalars(select(Agency).where(Agency.code.in_(missing)))}
        found.update(rows)
        if memory is not None:
            for code in missing:
                memory.put(code, rows.get(code), version)
    return found


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


# Managing the directory (admin API, CLI, console). Every change is admin-logged in the caller's
# transaction.

_EDITABLE = ("name", "parent_code", "endpoint", "endpoint_timeout_seconds", "email")
MAX_TIMEOUT_SECONDS = 600.0


async def get_agency(session: AsyncSession, code: str) -> Agency:
    agency = await session.get(Agency, code)
    if agency is None:
        raise NotFound(f"unknown agency {code}")
    return agency


def _check_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate editable fields (None clears an optional one); every problem at once."""
    problems: list[Problem] = []
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _EDITABLE:
            raise ValueError(f"not an editable field: {name}")
        if isinstance(value, str):
            value = value.strip() or None
        problem: str | None = None
        if name == "name" and (not value or len(value) > MAX_NAME):
            problem = f"a name of 1 to {MAX_NAME} characters is needed"
        elif name == "parent_code" and value is not None:
            try:
                value = str(AgencyCode.parse(value))
            except InvalidAgencyCode as error:
                problem = str(error)
        elif name == "endpoint" and value is not None:
            problem = _endpoint_problem(value)
        elif name == "email" and value is not None:
            problem = _email_problem(value)
        elif (
            name == "endpoint_timeout_seconds" and value is not None and not 0 < value <= MAX_TIMEOUT_SECONDS
        ):
            problem = f"between 0 and {MAX_TIMEOUT_SECONDS:g} seconds"
        if problem:
            problems.append(Problem(f"/{name}", "invalid", problem))
        checked[name] = value
    if problems:
        raise BadRequest("the agency's fields are not valid", problems)
    return checked


async def create_agency(session: AsyncSession, *, code: str, name: str, actor: str, **fields: Any) -> Agency:
    """Add an agency to the directory (409 if the code is known)."""
    try:
        parsed = AgencyCode.parse(code.strip())
    except InvalidAgencyCode as error:
        raise BadRequest(str(error), [Problem("/code", "invalid-code", str(error))]) from None
    if await session.get(Agency, str(parsed)) is not None:
        raise Conflict(f"{parsed} is in the directory already: edit it instead")
    values = _check_fields({"name": name, **fields})
    if values.get("parent_code") is None and parsed.parent is not None:
        values["parent_code"] = str(parsed.parent)
    agency = Agency(code=str(parsed), **values)
    session.add(agency)
    await session.flush()
    record_admin_action(session, actor=actor, action="agency.add", target=agency.code, **_json(values))
    return agency


async def update_agency(session: AsyncSession, *, code: str, actor: str, **changes: Any) -> Agency:
    """Edit an agency's name, parent, endpoint, endpoint timeout or e-mail (given fields only)."""
    agency = await get_agency(session, code)
    values = _check_fields(changes)
    before = {name: getattr(agency, name) for name in values}
    for name, value in values.items():
        setattr(agency, name, value)
    await session.flush()
    record_admin_action(
        session, actor=actor, action="agency.update", target=code, before=_json(before), after=_json(values)
    )
    return agency


async def set_agency_status(
    session: AsyncSession,
    *,
    code: str,
    status: AgencyStatus,
    actor: str,
    successor_code: str | None = None,
    reason: str = "",
) -> Agency:
    """Suspend (tạm ngừng), reactivate, or close (with the code that replaces it) an agency."""
    agency = await get_agency(session, code)
    status = AgencyStatus(status)
    if status is AgencyStatus.CLOSED and successor_code:
        successor = await get_agency(session, successor_code.strip())
        if successor.code == agency.code or successor.status == AgencyStatus.CLOSED:
            raise BadRequest(
                f"{successor.code} cannot succeed {agency.code}: it is "
                + ("the same agency" if successor.code == agency.code else "closed itself"),
                [Problem("/successor_code", "invalid-successor", "an active agency other than this one")],
            )
        agency.successor_code = successor.code
    elif status is not AgencyStatus.CLOSED:
        agency.successor_code = None
    previous = agency.status
    agency.status = status.value
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action=f"agency.{status.value}",
        target=code,
        previous=previous,
        successor_code=agency.successor_code,
        reason=reason,
    )
    return agency


@dataclass(frozen=True, slots=True)
class AgencyChange:
    code: str
    name: str
    changes: dict[str, tuple[Any, Any]]  # field -> (now, after the import)


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """What importing a directory file would do: nothing is written."""

    added: list[AgencyRecord]
    changed: list[AgencyChange]
    unchanged: int


async def preview_import(session: AsyncSession, records: Sequence[AgencyRecord]) -> ImportPreview:
    known = {
        a.code: a
        for a in await session.scalars(select(Agency).where(Agency.code.in_([r.code for r in records])))
    }
    added: list[AgencyRecord] = []
    changed: list[AgencyChange] = []
    unchanged = 0
    for record in records:
        agency = known.get(record.code)
        if agency is None:
            added.append(record)
            continue
        differences = {
            f: (getattr(agency, f), getattr(record, f))
            for f in _IMPORTED_FIELDS
            if getattr(agency, f) != getattr(record, f)
        }
        if differences:
            changed.append(AgencyChange(record.code, record.name, differences))
        else:
            unchanged += 1
    return ImportPreview(added, changed, unchanged)


async def import_directory(
    session: AsyncSession, records: Sequence[AgencyRecord], *, actor: str, source: str = ""
) -> tuple[int, int]:
    """Apply a directory file (added, updated); admin-logged."""
    added, updated = await upsert_agencies(session, records)
    record_admin_action(
        session, actor=actor, action="agency.import", target=source, added=added, updated=updated
    )
    return added, updated


def _json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, AgencyStatus) else v) for k, v in values.items()}
