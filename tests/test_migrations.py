"""The migrations build exactly the schema the models describe, on both databases, and undo cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.kit.db import Base, Database
from app.kit.migrate import alembic_config, upgrade


def differences(url: str) -> list[object]:
    async def work() -> list[object]:
        database = Database(url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await database.dispose()

    return asyncio.run(work())


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert differences(database_url) == []


def test_downgrade_to_nothing_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}"
    asyncio.run(upgrade(url))
    command.downgrade(alembic_config(url), "base")

    async def tables() -> set[str]:
        database = Database(url)
        async with database.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await database.dispose()
        return names

    assert asyncio.run(tables()) <= {"alembic_version"}
    asyncio.run(upgrade(url))
    assert differences(url) == []
