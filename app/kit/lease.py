"""Leases: a named job that only one hub replica runs at a time, held for a while and renewed by its
holder. A replica that dies simply stops renewing; another takes over once the lease has run out.
The `leases` table works the same on PostgreSQL and SQLite."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError

from app.kit.clock import utcnow
from app.kit.db import Database, table_of
from app.models import Lease


def holder_name() -> str:
    """This process, as lease holders are named: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def hold(database: Database, name: str, holder: str, *, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`; False while another holder's lease runs."""
    now = utcnow()
    leases = table_of(Lease)
    until = now + timedelta(seconds=seconds)
    async with database.transaction() as session:
        taken = await session.execute(
            update(leases)
            .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now))
            .values(holder=holder, expires_at=until)
        )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return True
    try:
        async with database.transaction() as session:
            await session.execute(insert(leases).values(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False  # someone holds it (or took it first)
    return True


async def release(database: Database, name: str, holder: str) -> None:
    """Give the lease up at once (on a clean shutdown), if this holder has it."""
    leases = table_of(Lease)
    async with database.transaction() as session:
        await session.execute(
            update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
