"""Delivery on the embedded default (in-process dispatcher inside the gateway), on SQLite and
PostgreSQL, with real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import pairwise

import pytest
from sqlalchemy import event
from support.delivery import attempts, document, history, set_endpoint, states
from support.hub import OTHER, RECIPIENT, SENDER, Hub
from support.receiver import Receiver, until

from app.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.retry_base_seconds = 0.2
    settings.retry_max_attempts = 5
    return settings


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


async def state_of(hub: Hub, delivery_id: str) -> str:
    return (await states(hub.database, [delivery_id]))[delivery_id]


async def to_states(hub: Hub, delivery_id: str) -> list[str]:
    return [event.to_state for event in await history(hub.database, delivery_id)]


async def test_inbox_pickup_and_acknowledgement(hub: Hub) -> None:
    receipt = (await hub.submit(document(RECIPIENT, "000.00.03.H62"))).json()
    mine = next(d["id"] for d in receipt["deliveries"] if d["recipient"] == RECIPIENT)
    await until(lambda: _all_in(hub, receipt, "awaiting_pickup"))

    inbox = (await hub.client.get("/api/v1/inbox", headers=hub.auth(RECIPIENT))).json()
    assert [item["delivery_id"] for item in inbox["items"]] == [mine]
    item = inbox["items"][0]
    assert (item["document"], item["sender"]) == (receipt["id"], SENDER)
    edxml = await hub.client.get(item["edxml_url"], headers=hub.auth(RECIPIENT))
    assert hashlib.sha256(edxml.content).hexdigest() == item["sealed_sha256"] == receipt["sealed_sha256"]
    assert (await hub.client.get("/api/v1/inbox", headers=hub.auth(OTHER))).json()["items"] == []

    assert (await hub.client.post(f"/api/v1/inbox/{mine}/ack", headers=hub.auth(OTHER))).status_code == 404
    ack = await hub.client.post(f"/api/v1/inbox/{mine}/ack", headers=hub.auth(RECIPIENT))
    assert ack.json() == {"delivery_id": mine, "state": "delivered"}
    again = await hub.client.post(f"/api/v1/inbox/{mine}/ack", headers=hub.auth(RECIPIENT))
    assert again.status_code == 200 and again.json()["state"] == "delivered"
    assert await to_states(hub, mine) == ["queued", "sending", "awaiting_pickup", "delivered"]
    assert await attempts(hub.database, mine) == [(1, "awaiting_pickup", None)]
    assert (await hub.client.get("/api/v1/inbox", headers=hub.auth(RECIPIENT))).json()["items"] == []


async def _all_in(hub: Hub, receipt: dict[str, object], state: str) -> bool:
    deliveries = receipt["deliveries"]
    assert isinstance(deliveries, list)
    return all([await state_of(hub, d["id"]) == state for d in deliveries])


async def test_inbox_pages(hub: Hub) -> None:
    receipts = [(await hub.submit(document(RECIPIENT))).json() for _ in range(5)]
    await until(lambda: _all_delivered_to_inbox(hub, receipts))
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await hub.client.get("/api/v1/inbox", params=params, headers=hub.auth(RECIPIENT))).json()
        seen += [item["document"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [r["id"] for r in receipts]  # oldest first, each once


async def _all_delivered_to_inbox(hub: Hub, receipts: list[dict[str, object]]) -> bool:
    return all([await _all_in(hub, r, "awaiting_pickup") for r in receipts])


async def test_qlvb_push_delivers_the_sealed_bytes_with_an_idempotency_key(hub: Hub, qlvb: Receiver) -> None:
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/so-noi-vu"))
    receipt = (await hub.submit(document(RECIPIENT))).json()
    [delivery] = receipt["deliveries"]
    assert delivery["connector"] == "qlvb-push"
    await until(lambda: _is(hub, delivery["id"], "delivered"))
    [arrival] = qlvb.at("/so-noi-vu")
    assert arrival.idempotency_key == delivery["id"]
    assert hashlib.sha256(arrival.body).hexdigest() == receipt["sealed_sha256"]
    assert arrival.headers["x-lienthong-sender"] == SENDER
    assert arrival.headers["x-lienthong-document"] == receipt["id"]
    assert arrival.headers["content-type"] == "application/xml"
    assert await to_states(hub, delivery["id"]) == ["queued", "sending", "delivered"]
    assert await attempts(hub.database, delivery["id"]) == [(1, "delivered", 200)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_batch_s_changes_are_one_statement_on_postgresql(hub: Hub, qlvb: Receiver) -> None:
    """Every state change goes in one statement with its event and log entry (the claim's with its
    attempt, the finish's with the attempt's end), and the lookups by a list of ids are `= ANY` of
    an array, one statement text for any batch size: round trips are what a batch costs."""
    statements: list[str] = []

    def seen(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/so-noi-vu"))
    engine = hub.app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
        await until(lambda: _is(hub, delivery["id"], "delivered"))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    changes = [s for s in statements if "UPDATE deliveries SET state=change.state" in s]
    assert len(changes) == 2, changes  # the claim (sending) and the finish (delivered)
    claim, finish = changes
    for statement in changes:
        assert "INSERT INTO delivery_events" in statement and "INSERT INTO exchange_log" in statement
    assert "INSERT INTO attempts" in claim and "UPDATE attempts SET ended_at" in finish
    assert not [s for s in statements if s.startswith("UPDATE attempts SET ended_at")]
    by_ids = [s for s in statements if "FOR NO KEY UPDATE" in s and "SKIP LOCKED" not in s]
    by_ids += [s for s in statements if s.startswith("SELECT payloads.sha256")]
    assert len(by_ids) == 3, by_ids  # the claim's load and payloads, the finish's lock
    assert all(" = ANY (" in s and " IN (" not in s for s in by_ids), by_ids


async def _is(hub: Hub, delivery_id: str, state: str) -> bool:
    return await state_of(hub, delivery_id) == state


async def test_transient_failures_are_retried_then_delivered(hub: Hub, qlvb: Receiver) -> None:
    qlvb.script("/flaky", [503, 503])
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/flaky"))
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    await until(lambda: _is(hub, delivery["id"], "delivered"))
    assert await attempts(hub.database, delivery["id"]) == [
        (1, "transient", 503),
        (2, "transient", 503),
        (3, "delivered", 200),
    ]
    assert await to_states(hub, delivery["id"]) == [
        "queued",
        "sending",
        "retrying",
        "sending",
        "retrying",
        "sending",
        "delivered",
    ]
    arrivals = qlvb.at("/flaky")
    assert {a.idempotency_key for a in arrivals} == {delivery["id"]}
    assert [a.headers["x-lienthong-attempt"] for a in arrivals] == ["1", "2", "3"]
    gaps = [b.at - a.at for a, b in pairwise(arrivals)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2  # at least half of 0.2 s, then of 0.4 s


async def test_a_refusal_fails_at_once_without_retries(hub: Hub, qlvb: Receiver) -> None:
    qlvb.script("/strict", [400])
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/strict"))
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    await until(lambda: _is(hub, delivery["id"], "failed"))
    assert await attempts(hub.database, delivery["id"]) == [(1, "permanent", 400)]
    assert len(qlvb.at("/strict")) == 1
    last_error = await hub.scalar("SELECT last_error FROM deliveries WHERE id = :d", d=delivery["id"])
    assert "HTTP 400" in str(last_error)


async def test_attempts_run_out(hub: Hub, qlvb: Receiver) -> None:
    qlvb.script("/down", [503] * 10)
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/down"))
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    await until(lambda: _is(hub, delivery["id"], "failed"), timeout=60)
    outcomes = await attempts(hub.database, delivery["id"])
    assert [o for _, o, _ in outcomes] == ["transient"] * 5
    reason = await hub.scalar(
        "SELECT reason FROM delivery_events WHERE delivery_id = :d AND to_state = 'failed'", d=delivery["id"]
    )
    assert str(reason).startswith("gave up after 5 attempts")


async def test_national_axis_not_configured_fails_with_the_reason(hub: Hub) -> None:
    [delivery] = (await hub.submit(document("000.00.00.G22"))).json()["deliveries"]
    assert delivery["connector"] == "national-axis"
    await until(lambda: _is(hub, delivery["id"], "failed"))
    error = await hub.scalar("SELECT last_error FROM deliveries WHERE id = :d", d=delivery["id"])
    assert "not configured" in str(error)


async def test_every_state_change_is_in_the_exchange_log(hub: Hub, qlvb: Receiver) -> None:
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/log"))
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    await until(lambda: _is(hub, delivery["id"], "delivered"))
    logged = await hub.scalar(
        "SELECT count(*) FROM exchange_log WHERE delivery_id = :d AND event = 'delivery-state'",
        d=delivery["id"],
    )
    changes = await hub.scalar(
        "SELECT count(*) FROM delivery_events WHERE delivery_id = :d AND from_state IS NOT NULL",
        d=delivery["id"],
    )
    assert logged == changes == 2  # queued -> sending -> delivered
