"""What every request reads is remembered only while PostgreSQL says it has not changed
(app/kit/changes.py): a revocation or a suspension made by another process takes effect as soon as
its notification arrives, one made by this process at once."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from support.hub import RECIPIENT, SENDER, Hub
from support.receiver import until

from app.auth.tokens import hash_token
from app.edxml import DocumentSpec, build_document

_numbers = iter(range(500, 10_000))


def document() -> bytes:
    return build_document(
        DocumentSpec(
            sender=SENDER,
            recipients=[RECIPIENT],
            code_number=str(next(_numbers)),
            code_notation="VP-TH",
            subject="Kiểm tra bộ nhớ danh bạ",
            promulgation_date=date(2026, 11, 20),
        )
    )


async def execute_elsewhere(hub: Hub, statement: str, **params: object) -> None:
    """Run `statement` on a connection of its own, as another process (the CLI, a second gateway)
    would: nothing of this process's engines sees it."""
    url = make_url(hub.database.url)
    if hub.database.is_postgres:
        connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
        try:
            await connection.execute(statement.replace(":x", "$1"), *params.values())
        finally:
            await connection.close()
    else:

        def write() -> None:
            with sqlite3.connect(url.database or "", timeout=30) as connection:
                connection.execute(statement.replace(":x", "?"), tuple(params.values()))

        await asyncio.to_thread(write)  # off the loop: the app may hold the write lock meanwhile


async def remembered(hub: Hub, table: str, key: object) -> bool:
    known, _ = hub.app.state.database.changes.remembered(table).get(key)
    return bool(known)


async def test_a_revocation_by_another_process_is_heard_by_the_gateway(hub: Hub) -> None:
    if hub.database.is_postgres:
        await until(lambda: hub.app.state.database.changes.listening, timeout=10)
    token = hash_token(hub.tokens[SENDER])
    assert (await hub.client.get("/api/v1/agencies?limit=1", headers=hub.auth(SENDER))).status_code == 200
    # PostgreSQL: remembered; SQLite (no NOTIFY): never, every request reads the table.
    assert await remembered(hub, "credentials", token) == hub.database.is_postgres

    await execute_elsewhere(
        hub, "UPDATE credentials SET revoked_at = CURRENT_TIMESTAMP WHERE token_hash = :x", x=token
    )

    async def refused() -> bool:
        answer = await hub.client.get("/api/v1/agencies?limit=1", headers=hub.auth(SENDER))
        return answer.status_code == 401

    await until(refused, timeout=10)


async def test_a_suspension_by_this_process_applies_to_the_next_document(hub: Hub) -> None:
    """Written through any engine of this process: known at once, no notification awaited."""
    if hub.database.is_postgres:
        await until(lambda: hub.app.state.database.changes.listening, timeout=10)
    assert (await hub.submit(document())).status_code == 201
    assert await remembered(hub, "agencies", RECIPIENT) == hub.database.is_postgres
    async with hub.database.transaction() as session:
        await session.execute(
            text("UPDATE agencies SET status = 'suspended' WHERE code = :c"), {"c": RECIPIENT}
        )
    refused = await hub.submit(document())
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["code"] == "agency-suspended"


async def test_nothing_is_remembered_while_not_listening(hub: Hub) -> None:
    changes = hub.app.state.database.changes
    if hub.database.is_postgres:
        await until(lambda: changes.listening, timeout=10)
    changes.listening = False  # as when the listening connection is lost
    assert (await hub.client.get("/api/v1/agencies?limit=1", headers=hub.auth(SENDER))).status_code == 200
    assert not await remembered(hub, "credentials", hash_token(hub.tokens[SENDER]))
    assert changes.version("credentials") is None


async def test_after_losing_its_connection_the_gateway_listens_again_and_forgets(hub: Hub) -> None:
    changes = hub.app.state.database.changes
    if not hub.database.is_postgres:
        await changes.listen()  # SQLite has no NOTIFY: returns at once, never listening
        assert not changes.listening
        return
    await until(lambda: changes.listening, timeout=10)
    before = changes.version("credentials")
    await execute_elsewhere(
        hub,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE :x",
        x='LISTEN "lienthong_changes"%',
    )
    # Back with a new epoch: what was remembered before the loss is void.
    await until(lambda: changes.version("credentials") not in (None, before), timeout=15)
    assert changes.version("credentials")[0] > before[0]
