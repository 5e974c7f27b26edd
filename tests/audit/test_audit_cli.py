"""`lienthong audit …` as operators and auditors run it: verify (exit 0 only if intact, else the
first bad entry), verify-bundle offline, integrate, purge; and `watch` refusing a rewritten history."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, text
from support.audit import as_attacker, fill, integrate
from support.cli import lienthong
from support.delivery import all_in, document
from support.hub import RECIPIENT, Hub
from support.receiver import until

from app.audit import watch
from app.audit.bundle import verify_bundle
from app.config import Settings
from app.kit.db import Database
from app.models import AdminLogEntry, LogLeaf, Payload


def run(coroutine_factory):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        database = Database(settings_url[0])
        try:
            return await coroutine_factory(database)
        finally:
            await database.dispose()

    return asyncio.run(main())


settings_url: list[str] = []


@pytest.fixture
def cli_env(env: Settings) -> Settings:
    settings_url[:] = [env.effective_database_url]
    return env


def test_verify_intact_then_tampered(cli_env: Settings) -> None:
    run(lambda db: fill(db, 20))
    integrated = lienthong("audit", "integrate")
    assert integrated.exit_code == 0, integrated.output
    assert "entries integrated" in integrated.output
    intact = lienthong("audit", "verify")
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.output

    async def index_of_entry_8(db: Database) -> int:
        async with db.reading() as session:
            index = await session.scalar(
                select(LogLeaf.leaf_index).where(LogLeaf.source == "exchange_log", LogLeaf.entry_id == 8)
            )
        async with as_attacker(db) as session:
            await session.execute(text("UPDATE exchange_log SET event = 'rejected' WHERE id = 8"))
        assert index is not None
        return int(index)

    index = run(index_of_entry_8)
    broken = lienthong("audit", "verify")
    assert broken.exit_code == 1
    assert f"first bad entry: leaf {index}" in broken.output
    assert "exchange_log entry 8 differs" in broken.output


def test_verify_with_a_kept_checkpoint_catches_a_full_rewrite(cli_env: Settings, tmp_path: Path) -> None:
    run(lambda db: fill(db, 10))
    assert lienthong("audit", "integrate").exit_code == 0

    async def latest_note(db: Database) -> str:
        async with db.reading() as session:
            return str(
                await session.scalar(text("SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1"))
            )

    kept = tmp_path / "kept.txt"
    kept.write_text(run(latest_note), encoding="utf-8")

    async def rewrite(db: Database) -> None:
        async with as_attacker(db) as session:
            await session.execute(text("DELETE FROM exchange_log WHERE id = 2"))
            for table in ("log_timestamps", "log_checkpoints", "log_nodes", "log_leaves"):
                await session.execute(text(f"DELETE FROM {table}"))

    run(rewrite)
    run(lambda db: fill(db, 5, start=10))  # the rewritten log grows past the kept checkpoint
    assert lienthong("audit", "integrate").exit_code == 0
    assert (
        lienthong("audit", "verify").exit_code == 0
    )  # the hub re-signed a new history: only a kept copy tells
    caught = lienthong("audit", "verify", "--checkpoint", kept)
    assert caught.exit_code == 1
    assert "first bad entry: leaf 0" in caught.output


def test_purge_keeps_digests_and_is_logged(cli_env: Settings) -> None:
    assert lienthong("audit", "purge").exit_code == 1  # no retention configured, no --older-than
    result = lienthong("audit", "purge", "--older-than", "1")
    assert result.exit_code == 0 and "0 payloads purged" in result.output


async def test_watch_refuses_a_rewritten_history(hub: Hub) -> None:
    async def settled() -> None:
        receipt = (await hub.submit(document(RECIPIENT))).json()
        ids = [d["id"] for d in receipt["deliveries"]]
        await until(lambda: all_in(hub.database, ids, "awaiting_pickup"))
        await integrate(hub.database, hub.settings)

    await settled()
    kept, summary = await watch.check(hub.client, "http://hub", {})
    assert "first checkpoint kept" in summary
    await settled()
    kept, summary = await watch.check(hub.client, "http://hub/api/v1/audit/checkpoint", kept)
    assert "consistent with size" in summary and len(kept["checkpoints"]) == 2

    async with as_attacker(hub.database) as session:
        await session.execute(text("DELETE FROM exchange_log WHERE id = 1"))
        for table in ("log_timestamps", "log_checkpoints", "log_nodes", "log_leaves"):
            await session.execute(text(f"DELETE FROM {table}"))
    await settled()
    await settled()  # the rewritten log is longer than the one the auditor holds
    with pytest.raises(watch.Refused, match="rewrites the history"):
        await watch.check(hub.client, "http://hub", kept)

    async with as_attacker(hub.database) as session:
        for table in ("log_timestamps", "log_checkpoints", "log_nodes", "log_leaves"):
            await session.execute(text(f"DELETE FROM {table}"))
        await session.execute(text("DELETE FROM exchange_log"))
        await session.execute(text("DELETE FROM admin_log"))
    await integrate(hub.database, hub.settings)  # nothing left but the next admin entries
    with pytest.raises((watch.Refused, watch.Unreachable)):
        await watch.check(hub.client, "http://hub", kept)


async def test_a_purged_document_still_proves_its_digests(hub: Hub) -> None:
    from app.audit.retention import purge_payloads
    from app.kit.clock import utcnow

    receipt = (await hub.submit(document(RECIPIENT))).json()
    ids = [d["id"] for d in receipt["deliveries"]]
    await until(lambda: all_in(hub.database, ids, "awaiting_pickup"))
    async with hub.database.transaction() as session:
        assert await purge_payloads(session, before=utcnow(), actor="test") == 0  # still awaiting pickup
    ack = await hub.client.post(f"/api/v1/inbox/{ids[0]}/ack", headers=hub.auth(RECIPIENT))
    assert ack.status_code == 200
    async with hub.database.transaction() as session:
        assert await purge_payloads(session, before=utcnow(), actor="test") == 2
    async with hub.database.reading() as session:
        purged = list(await session.scalars(select(Payload).where(Payload.purged_at.is_not(None))))
        logged = list(
            await session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "payloads.purge"))
        )
    assert {p.sha256 for p in purged} == {receipt["sha256"], receipt["sealed_sha256"]}
    assert all(p.content == b"" for p in purged)
    assert logged and logged[0].detail["purged"] == 2
    gone = await hub.client.get(f"/api/v1/documents/{receipt['id']}/edxml", headers=hub.auth(RECIPIENT))
    assert gone.status_code == 404

    await integrate(hub.database, hub.settings)
    answer = await hub.client.get(f"/api/v1/documents/{receipt['id']}/evidence", headers=hub.auth("auditor"))
    assert answer.status_code == 200
    names = set(zipfile.ZipFile(io.BytesIO(answer.content)).namelist())
    assert "received.edxml" not in names and "sealed.edxml" not in names
    report = verify_bundle(answer.content)
    assert report.valid, report.problems
    assert any("purged" in note for note in report.notes)


def test_verify_bundle_cli(cli_env: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    result = lienthong("audit", "verify-bundle", bad)
    assert result.exit_code == 1 and "cannot be read" in result.output
