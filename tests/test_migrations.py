"""The migrations build exactly the schema the models describe, on both databases, and undo cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
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


def test_sqlite_payloads_keep_their_bytes_and_references_when_content_moves_last(tmp_path: Path) -> None:
    """The rebuild that puts payloads.content last (so a large payload can be written as a zeroblob
    filled a slice at a time) keeps every row, and the documents' foreign keys still hold."""
    path = tmp_path / "before-rebuild.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "f7a1c9e2b3d4")
    original, sealed = b"<edXML>received</edXML>", bytes(range(256)) * 5000
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT INTO payloads (sha256, size, content, created_at) VALUES (?, ?, ?, '2026-12-03')",
            [("a" * 64, len(original), original), ("b" * 64, len(sealed), sealed)],
        )
        connection.execute(
            "INSERT INTO documents (id, edxml_document_id, business_type, sender_code, subject, code_number,"
            " code_notation, received_at, original_sha256, sealed_sha256, sender_signature)"
            " VALUES ('d1', 'x', 0, '000.00.01.H62', 's', '1', 'VP', '2026-12-03', ?, ?, 'unsigned')",
            ("a" * 64, "b" * 64),
        )
    asyncio.run(upgrade(url))

    with contextlib.closing(sqlite3.connect(path)) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(payloads)")]
        assert columns[-1] == "content"
        stored = dict(connection.execute("SELECT sha256, content FROM payloads"))
        assert stored == {"a" * 64: original, "b" * 64: sealed}
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        connection.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute("DELETE FROM payloads WHERE sha256 = ?", ("a" * 64,))
    assert differences(url) == []
