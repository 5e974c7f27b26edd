"""Hub-wide named state in the `hub_flags` table, read by every replica."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import HubFlag


async def read_flag(session: AsyncSession, name: str) -> HubFlag | None:
    flag: HubFlag | None = await session.get(HubFlag, name)
    return flag


async def write_flag(session: AsyncSession, name: str, value: dict[str, Any], *, by: str) -> HubFlag:
    """Set a flag's value (created if new); flushed, committed by the caller."""
    flag = await session.get(HubFlag, name)
    if flag is None:
        flag = HubFlag(name=name)
        session.add(flag)
    flag.value = dict(value)
    flag.updated_at = utcnow()
    flag.updated_by = by
    await session.flush()
    return flag
