"""The transparency log over both logs, and `audit verify` naming every kind of rewrite, on SQLite and
PostgreSQL, with the triggers bypassed the way someone holding the database password would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from support.audit import as_attacker, fill, integrate, integrator, verify

from app.audit import integrator as integrator_module
from app.audit import merkle
from app.audit.canonical import canonical_bytes
from app.audit.keys import log_verifier_key
from app.audit.note import verify_checkpoint
from app.audit.tree import consistency_proof, inclusion_proof, latest_checkpoint
from app.config import Settings
from app.kit.db import Database
from app.models import ExchangeLogEntry, LogLeaf, LogSource


async def leaf_of(database: Database, entry_id: int) -> int:
    async with database.reading() as session:
        index = await session.scalar(
            select(LogLeaf.leaf_index).where(LogLeaf.source == "exchange_log", LogLeaf.entry_id == entry_id)
        )
    assert index is not None
    return int(index)


@pytest.fixture
async def logged(database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Database:
    # Rounds read and hash their entries a slice at a time; slices of 7 make every round here several.
    monkeypatch.setattr(integrator_module, "SLICE", 7)
    await fill(database, 30)
    await integrate(database, settings)
    await fill(database, 12, start=30)
    await integrate(database, settings)
    report = await verify(database)
    assert report.intact, report.problems
    return database


async def test_every_entry_is_a_leaf_with_proofs_to_a_signed_checkpoint(
    logged: Database, settings: Settings
) -> None:
    async with logged.reading() as session:
        checkpoint = await latest_checkpoint(session)
        key = await log_verifier_key(session)
        leaves = list(await session.scalars(select(LogLeaf).order_by(LogLeaf.leaf_index)))
        entries = {e.id: e for e in await session.scalars(select(ExchangeLogEntry))}
    assert checkpoint is not None and key is not None
    signed = verify_checkpoint(checkpoint.note, key)
    assert signed.size == len(leaves) == checkpoint.size
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(leaves)))
    assert {leaf.source for leaf in leaves} == {"exchange_log", "admin_log"}
    async with logged.reading() as session:
        for leaf in leaves[:: max(1, len(leaves) // 7)]:
            if leaf.source == LogSource.EXCHANGE:
                row = entries[leaf.entry_id]
                data = canonical_bytes(
                    LogSource.EXCHANGE, {c.name: getattr(row, c.name) for c in row.__table__.c}
                )
                assert merkle.leaf_hash(data) == leaf.leaf_hash
            proof = await inclusion_proof(session, leaf.leaf_index, signed.size)
            merkle.verify_inclusion(leaf.leaf_index, signed.size, leaf.leaf_hash, proof, signed.root)
        first = 10
        old_root = merkle.root([leaf.leaf_hash for leaf in leaves[:first]])
        proof = await consistency_proof(session, first, signed.size)
        merkle.verify_consistency(first, signed.size, old_root, signed.root, proof)


async def test_nothing_new_no_new_checkpoint(logged: Database, settings: Settings) -> None:
    assert await integrate(logged, settings) == 0
    async with logged.reading() as session:
        count = await session.scalar(text("SELECT count(*) FROM log_checkpoints"))
    assert count == 2


async def test_an_edited_entry_is_named(logged: Database) -> None:
    index = await leaf_of(logged, 7)
    async with as_attacker(logged) as session:
        await session.execute(text("UPDATE exchange_log SET agency_code = '000.00.09.H62' WHERE id = 7"))
    report = await verify(logged)
    assert not report.intact
    assert report.first_bad_index == index
    assert any("exchange_log entry 7 differs" in p.message for p in report.problems)


async def test_a_deleted_entry_is_named(logged: Database) -> None:
    index = await leaf_of(logged, 12)
    async with as_attacker(logged) as session:
        await session.execute(text("DELETE FROM exchange_log WHERE id = 12"))
    report = await verify(logged)
    assert report.first_bad_index == index
    assert any("entry 12 is missing" in p.message for p in report.problems)


async def test_a_deleted_entry_and_its_leaf_are_named(logged: Database) -> None:
    index = await leaf_of(logged, 12)
    async with as_attacker(logged) as session:
        await session.execute(text("DELETE FROM exchange_log WHERE id = 12"))
        await session.execute(text(f"DELETE FROM log_leaves WHERE leaf_index = {index}"))
    report = await verify(logged)
    assert report.first_bad_index == index


async def test_an_inserted_entry_is_named(logged: Database) -> None:
    async with as_attacker(logged) as session:
        at = (await session.scalar(select(ExchangeLogEntry.at).where(ExchangeLogEntry.id == 5))) - timedelta(
            seconds=1
        )
        await session.execute(
            text(
                "INSERT INTO exchange_log (id, at, event, document_id, detail) "
                "VALUES (1000, :at, 'received', 'forged', '{}')"
            ),
            {"at": at},
        )
    report = await verify(logged)
    assert not report.intact
    assert any("exchange_log entry 1000" in p.message and "not in the" in p.message for p in report.problems)


async def test_two_reordered_entries_are_named(logged: Database) -> None:
    first, second = await leaf_of(logged, 4), await leaf_of(logged, 9)
    async with as_attacker(logged) as session:
        for a, b in ((4, -1), (9, 4), (-1, 9)):
            await session.execute(text(f"UPDATE exchange_log SET id = {b} WHERE id = {a}"))
    report = await verify(logged)
    assert report.first_bad_index == min(first, second)
    flagged = {p.index for p in report.problems}
    assert {first, second} <= flagged


async def test_two_reordered_leaves_break_the_signed_root(logged: Database) -> None:
    first, second = await leaf_of(logged, 4), await leaf_of(logged, 9)
    async with as_attacker(logged) as session:
        for a, b in ((first, -1), (second, first), (-1, second)):
            await session.execute(text(f"UPDATE log_leaves SET leaf_index = {b} WHERE leaf_index = {a}"))
    report = await verify(logged)
    assert not report.intact
    assert report.first_bad_index is not None and report.first_bad_index <= first


async def test_truncate_and_reload_without_one_is_named(logged: Database) -> None:
    index = await leaf_of(logged, 20)
    async with as_attacker(logged) as session:
        rows = [
            dict(r._mapping) for r in await session.execute(text("SELECT * FROM exchange_log ORDER BY id"))
        ]
        await session.execute(
            text("DELETE FROM exchange_log" if not logged.is_postgres else "TRUNCATE exchange_log")
        )
        for row in rows:
            if row["id"] != 20:
                await session.execute(
                    text(
                        "INSERT INTO exchange_log (id, at, event, document_id, delivery_id, "
                        "agency_code, credential_id, sha256, detail) VALUES (:id, :at, :event, "
                        ":document_id, :delivery_id, :agency_code, :credential_id, :sha256, :detail)"
                    ),
                    {
                        **row,
                        "detail": row["detail"]
                        if isinstance(row["detail"], str)
                        else json.dumps(row["detail"]),
                    },
                )
    report = await verify(logged)
    assert report.first_bad_index == index
    assert any("entry 20 is missing" in p.message for p in report.problems)


async def test_a_tree_rebuilt_after_truncate_cannot_reproduce_the_signed_roots(
    logged: Database, settings: Settings
) -> None:
    async with as_attacker(logged) as session:
        await session.execute(text("DELETE FROM exchange_log WHERE id = 3"))
        await session.execute(text("DELETE FROM log_nodes"))
        await session.execute(text("DELETE FROM log_leaves"))
    await integrator(logged, settings).round(checkpoint=False)
    async with logged.reading() as session:
        assert await session.scalar(select(func.count()).select_from(LogLeaf)) > 0
    report = await verify(logged)
    assert not report.intact
    assert report.first_bad_index == 0
    assert any("rewritten" in p.message for p in report.problems)


async def test_an_entry_with_its_proof_status(logged: Database, settings: Settings) -> None:
    from support.audit import fill

    from app.audit.service import entry_with_proof

    async with logged.reading() as session:
        status = await entry_with_proof(session, LogSource.EXCHANGE, 5)
    assert status.verified and status.entry.leaf_index is not None
    assert status.checkpoint_size is not None and status.proof
    await fill(logged, 1, start=100)
    newest = 43  # 42 entries were filled before, ids start at 1
    async with logged.reading() as session:
        pending = await entry_with_proof(session, LogSource.EXCHANGE, newest)
    assert not pending.verified and pending.entry.leaf_index is None and "not integrated" in pending.reason
    async with as_attacker(logged) as session:
        await session.execute(text("UPDATE exchange_log SET event = 'rejected' WHERE id = 5"))
    async with logged.reading() as session:
        changed = await entry_with_proof(session, LogSource.EXCHANGE, 5)
    assert not changed.verified


async def test_an_entry_that_commits_after_higher_ids_were_integrated_is_still_taken(
    logged: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids are handed out before commit: an entry may commit after later ids were integrated. A round
    # looks LOOKBACK ids behind the highest leaf; further back, only the periodic sweep looks.
    monkeypatch.setattr(integrator_module, "LOOKBACK", 5)
    async with logged.reading() as session:
        highest = int(await session.scalar(select(func.max(ExchangeLogEntry.id))) or 0)
    late = [highest - 20, highest - 3]  # beyond the lookback, and within it
    async with as_attacker(logged) as session:  # as if their transactions had not committed yet
        await session.execute(
            text("DELETE FROM log_leaves WHERE source = 'exchange_log' AND entry_id IN (:a, :b)"),
            {"a": late[0], "b": late[1]},
        )
    async with logged.transaction() as session:
        near = await integrator_module.pending_ids(session, LogSource.EXCHANGE, limit=100, sweep=False)
        swept = await integrator_module.pending_ids(session, LogSource.EXCHANGE, limit=100, sweep=True)
    assert near == late[1:]
    assert swept == late
