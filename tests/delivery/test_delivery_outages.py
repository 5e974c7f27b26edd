"""Outages and races the delivery machinery rides out without losing, repeating or undoing anything
(issue 10), with the hub running as in production: `lienthong serve` and `lienthong worker` as real
processes, real RabbitMQ and real PostgreSQL (a cluster of the test's own where the test stops it).

- A worker frozen past its lease resumes after another worker delivered: the delivery stays
  `delivered`, the frozen worker's attempt is closed as superseded, every history is truthful.
- A queue purged behind the hub's back: the relay's sweep hands the deliveries out again.
- PostgreSQL down for 10 s under load: intake answers 503 with Retry-After meanwhile; afterwards
  every accepted delivery is delivered with one attempt, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import aio_pika
import httpx
import pytest
from support.delivery import (
    all_in,
    attempts,
    document,
    history,
    rows,
    set_endpoint,
    states,
    untruthful_histories,
)
from support.deployment import FAST, Deployment
from support.postgres import PrivatePostgres
from support.rabbitmq import ready_messages
from support.receiver import Receiver, until
from test_delivery_faults import EVERY_QUEUE, RECIPIENTS, HoldingReceiver, assert_at_least_once, submit_all

from app.broker.rabbitmq import queue_name
from app.kit.db import Database

pytestmark = pytest.mark.slow

on_rabbitmq = pytest.mark.parametrize(
    ("broker", "database_url"),
    [pytest.param("rabbitmq", "postgresql", id="rabbitmq-postgresql")],
    indirect=True,
)
on_stoppable_postgres = pytest.mark.parametrize(
    ("broker", "database_url"),
    [
        pytest.param("rabbitmq", "private-postgresql", id="rabbitmq-private-postgresql"),
        pytest.param("embedded", "private-postgresql", id="embedded-private-postgresql"),
    ],
    indirect=True,
)


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


# --- a worker frozen past its lease resumes after another worker delivered ---------------------------


@on_rabbitmq
async def test_a_frozen_worker_that_resumes_after_another_delivered_moves_nothing_backwards(
    deployment: Deployment, database: Database, sender_token: str
) -> None:
    deployment.configure(delivery_lease_seconds=6)
    with HoldingReceiver() as qlvb:
        for code in RECIPIENTS:
            await set_endpoint(database, code, qlvb.url(f"/{code}"))
        with deployment.gateway() as gateway, deployment.worker() as frozen:
            sent = await submit_all(gateway.url, sender_token, [document(*RECIPIENTS) for _ in range(4)])
            ids = [d["id"] for d in sent]
            held = qlvb.wait_for(lambda arrivals: len(arrivals) >= FAST["worker_concurrency"])
            in_flight = {a.idempotency_key for a in held}
            frozen.send_signal(signal.SIGSTOP)  # alive to the broker and the receiver, doing nothing
            qlvb.release()  # what it sent is answered 200, into its socket
            with deployment.worker():
                await until(lambda: all_in(database, ids, "delivered"), timeout=90)
            frozen.send_signal(signal.SIGCONT)  # it reads its answers and reports its outcomes
            await until(lambda: _superseded(database, in_flight), timeout=60)
        arrivals = list(qlvb.arrivals)

    assert set((await states(database, ids)).values()) == {"delivered"}
    assert await untruthful_histories(database, ids) == []
    seen = assert_at_least_once(arrivals, ids)
    for key in in_flight:
        assert seen[key] == ["1", "2"]
        assert [(e.from_state, e.to_state) for e in await history(database, key)] == [
            (None, "queued"),
            ("queued", "sending"),
            ("sending", "sending"),  # taken over when the lease ran out
            ("sending", "delivered"),
        ]
        [first, second] = await rows(
            database,
            "SELECT number, outcome, error FROM attempts WHERE delivery_id = :d ORDER BY number",
            d=key,
        )
        assert (first.number, first.outcome, second.number, second.outcome) == (
            1,
            "superseded",
            2,
            "delivered",
        )
        assert first.error.startswith("superseded: the delivery was already delivered (attempt 2)"), (
            first.error
        )
        assert "its outcome: " in first.error
    for key in set(ids) - in_flight:
        assert seen[key] == ["1"]
        assert await attempts(database, key) == [(1, "delivered", 200)]


async def _superseded(database: Database, keys: set[str]) -> bool:
    found = await rows(database, "SELECT delivery_id, outcome FROM attempts WHERE number = 1")
    return {r.delivery_id for r in found if r.delivery_id in keys and r.outcome == "superseded"} == keys


# --- a queue purged behind the hub's back ------------------------------------------------------------


@on_rabbitmq
async def test_a_purged_queue_is_swept_and_every_delivery_made_once(
    deployment: Deployment, database: Database, sender_token: str, rabbitmq_url: str, qlvb: Receiver
) -> None:
    deployment.configure(delivery_unclaimed_seconds=3)
    for code in RECIPIENTS[:2]:
        await set_endpoint(database, code, qlvb.url("/qlvb"))
    # A worker of the inbox only: its relay hands the QLVB deliveries out, and nothing takes them yet.
    with deployment.gateway() as gateway, deployment.worker("inbox"):
        sent = await submit_all(gateway.url, sender_token, [document(*RECIPIENTS[:2]) for _ in range(3)])
        ids = [d["id"] for d in sent]
        await until(lambda: _all_dispatched(database, ids), timeout=30)
        assert await _purge(rabbitmq_url, queue_name("qlvb-push")) == len(ids)
        with deployment.worker():
            await until(lambda: all_in(database, ids, "delivered"), timeout=60)
            # On a busy machine the sweep may also hand out a delivery the worker was about to
            # take (a 3 s bound here): the worker drops such a second message.
            await until(lambda: _queues_empty(rabbitmq_url), timeout=60)

    seen = assert_at_least_once(qlvb.at("/qlvb"), ids)
    assert all(numbers == ["1"] for numbers in seen.values())
    for key in ids:
        assert await attempts(database, key) == [(1, "delivered", 200)]
    assert await untruthful_histories(database, ids) == []


async def _queues_empty(url: str) -> bool:
    return await ready_messages(url, EVERY_QUEUE) == dict.fromkeys(EVERY_QUEUE, 0)


async def _all_dispatched(database: Database, ids: list[str]) -> bool:
    found = await rows(database, "SELECT id, dispatched_at FROM deliveries")
    return all(r.dispatched_at is not None for r in found if r.id in ids)


async def _purge(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        result = await declared.purge()
        return int(result.message_count or 0)
    finally:
        await connection.close()


# --- PostgreSQL goes away for 10 s while documents keep arriving -------------------------------------

OUTAGE_SECONDS = 10


@on_stoppable_postgres
async def test_a_database_outage_under_load_answers_503_and_then_delivers_everything_once(
    deployment: Deployment,
    database: Database,
    sender_token: str,
    private_postgres: PrivatePostgres,
    qlvb: Receiver,
    broker: str,
) -> None:
    for code in RECIPIENTS[:2]:
        await set_endpoint(database, code, qlvb.url("/qlvb"))
    answers: list[httpx.Response] = []
    accepted: list[str] = []
    stop = asyncio.Event()
    with deployment.hub() as gateway:
        load = asyncio.create_task(_submit_until(gateway.url, sender_token, stop, answers, accepted))
        try:
            await until(lambda: len(accepted) >= 10, timeout=60)
            await asyncio.to_thread(private_postgres.stop)
            down_at = time.monotonic()
            answered = len(answers)
            await until(lambda: any(a.status_code == 503 for a in answers[answered:]), timeout=30)
            await until(lambda: time.monotonic() - down_at >= OUTAGE_SECONDS, timeout=OUTAGE_SECONDS + 5)
            await asyncio.to_thread(private_postgres.start)
            await database.engine.dispose()  # this test's own connections died with the server
            before = len(accepted)
            await until(lambda: len(accepted) >= before + 10, timeout=60)
        finally:
            stop.set()
            await load
        await until(lambda: all_in(database, accepted, "delivered"), timeout=180)
        if broker:  # a publish confirmed while its marking failed is sent twice: the worker drops one
            await until(lambda: _queues_empty(broker), timeout=60)

    statuses = {a.status_code for a in answers}
    assert statuses <= {201, 503}, statuses
    unavailable = [a for a in answers if a.status_code == 503]
    assert unavailable
    for answer in unavailable:
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) > 0
        assert answer.json()["status"] == 503
    # Nothing was counted against a delivery: one attempt each, which delivered; none was repeated.
    for key in accepted:
        assert await attempts(database, key) == [(1, "delivered", 200)], key
    seen = assert_at_least_once(qlvb.at("/qlvb"), accepted)
    assert all(numbers == ["1"] for numbers in seen.values())
    assert await untruthful_histories(database, accepted) == []


async def _submit_until(
    url: str, token: str, stop: asyncio.Event, answers: list[httpx.Response], accepted: list[str]
) -> None:
    """Submit documents for two recipients, about ten a second, until `stop`; keep every answer and
    the accepted deliveries."""
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            response = await client.post(
                f"{url}/api/v1/documents",
                content=document(*RECIPIENTS[:2]),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            )
            answers.append(response)
            if response.status_code == 201:
                accepted.extend(d["id"] for d in response.json()["deliveries"])
            await asyncio.sleep(0.1)  # the pace of the load
