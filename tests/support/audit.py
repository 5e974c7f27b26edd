"""What the audit tests share: filling the two logs, integrating them, and acting as an attacker
who holds the database password (row triggers disabled, rows rewritten)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.integrator import Integrator
from app.audit.log import ExchangeEvent, append_exchange, exchange_entry, record_admin_action
from app.audit.verify import Report, verify_database
from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.secrets import load_master_key

LOGS = ("exchange_log", "admin_log", "log_leaves", "log_nodes", "log_checkpoints")


async def fill(database: Database, count: int, *, start: int = 0) -> None:
    """`count` exchange entries and `count // 3` admin entries, in several transactions."""
    base = utcnow() - timedelta(hours=1)
    for i in range(start, start + count):
        async with database.transaction() as session:
            await append_exchange(
                session,
                exchange_entry(
                    ExchangeEvent.RECEIVED,
                    at=base + timedelta(seconds=i),
                    document_id=f"doc-{i}",
                    agency_code="000.00.01.H62",
                    sha256=f"{i:064x}",
                    note=f"mục {i}: văn bản đến",
                ),
            )
            if i % 3 == 0:
                record_admin_action(session, actor="cli:tester", action="test.action", target=str(i), n=i)


def integrator(database: Database, settings: Settings) -> Integrator:
    return Integrator(database, settings, load_master_key(settings))


async def integrate(database: Database, settings: Settings) -> int:
    return await integrator(database, settings).round(checkpoint=True)


async def verify(database: Database, **options: object) -> Report:
    return await verify_database(database, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def as_attacker(database: Database) -> AsyncIterator[AsyncSession]:
    """A session that bypasses the append-only triggers, as anyone with the database password can:
    PostgreSQL's triggers switched off for the session, SQLite's dropped."""
    async with database.sessionmaker() as session, session.begin():
        if database.is_postgres:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in LOGS:
                for verb in ("update", "delete"):
                    await session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        yield session
