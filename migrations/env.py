"""Alembic environment: async engine, URL from the hub's settings unless the caller gave one."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app import models  # noqa: F401  (registers the tables)
from app.config import get_settings
from app.kit.db import Base, UTCDateTime, create_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("url") or get_settings().effective_database_url


def _render_item(type_: str, obj: object, _context: object) -> str | bool:
    # Migrations must not depend on the application's Python types.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
