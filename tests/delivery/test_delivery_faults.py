"""Faults the delivery machinery survives (ARCHITECTURE.md §5, "Delivery states"), shown with the hub
running as in production: `lienthong serve` and `lienthong worker` as real processes, real RabbitMQ
(quorum queues; a private node for the outage), real PostgreSQL (and SQLite on the embedded default),
and real HTTP receivers on 127.0.0.1.

Delivery is at-least-once: after a crash a receiver may see a document again, always with the same
`Idempotency-Key` (the delivery id) and a new `X-Lienthong-Attempt`; nothing may be missing.
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from support.delivery import all_in, attempts, delivery, document, history, rows, set_endpoint, states
from support.deployment import FAST, Deployment
from support.rabbitmq import PrivateNode, ready_messages
from support.receiver import Arrival, Receiver, until

from app.auth.service import principal_for_token
from app.broker.base import dead_letter_reason
from app.broker.embedded import EmbeddedBroker
from app.broker.rabbitmq import DEAD_QUEUE, RabbitBroker, queue_name
from app.config import Settings
from app.delivery.relay import POLL_SECONDS, Relay
from app.delivery.runtime import CONNECTOR_NAMES
from app.delivery.service import due_query
from app.documents.service import Submitter, submit_document
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.secrets import load_master_key
from app.sealing.service import load_active_sealer
from connectors.base import Job, Outcome, OutcomeKind
from connectors.worker import Worker

pytestmark = pytest.mark.slow

RECIPIENTS = ("000.00.02.H62", "000.00.03.H62", "000.00.05.H62")  # Sở Nội vụ, Sở Tư pháp, Sở Tài chính
EVERY_QUEUE = [*(queue_name(name) for name in CONNECTOR_NAMES), DEAD_QUEUE]

EMBEDDED = [
    pytest.param("embedded", "sqlite", id="embedded-sqlite"),
    pytest.param("embedded", "postgresql", id="embedded-postgresql"),
]
RABBITMQ = [pytest.param("rabbitmq", "postgresql", id="rabbitmq-postgresql")]
on = pytest.mark.parametrize(("broker", "database_url"), EMBEDDED + RABBITMQ, indirect=True)
on_embedded = pytest.mark.parametrize(("broker", "database_url"), EMBEDDED, indirect=True)
on_rabbitmq = pytest.mark.parametrize(("broker", "database_url"), RABBITMQ, indirect=True)
on_private_rabbitmq = pytest.mark.parametrize(
    ("broker", "database_url"), [pytest.param("private", "postgresql", id="private-rabbitmq")], indirect=True
)


class HoldingReceiver(Receiver):
    """A receiver that takes requests in (and records them) but answers none until released: whatever
    it holds is a delivery in flight."""

    def __init__(self) -> None:
        self._released = threading.Event()
        super().__init__()

    def __enter__(self) -> HoldingReceiver:
        super().__enter__()
        return self

    def release(self) -> None:
        """Answer what is held, and everything from now on, at once."""
        self._released.set()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_when_released(message: dict[str, Any]) -> None:
            while not self._released.is_set():
                await asyncio.sleep(0.01)  # polling interval of the hold
            await send(message)

        await super()._app(scope, receive, send_when_released)


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


async def submit_all(gateway_url: str, token: str, bodies: Sequence[bytes]) -> list[dict[str, Any]]:
    """Submit documents to a running gateway; every one must be accepted (201). Returns their
    deliveries."""
    deliveries: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for body in bodies:
            response = await client.post(
                f"{gateway_url}/api/v1/documents",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            )
            assert response.status_code == 201, response.text
            deliveries += response.json()["deliveries"]
    assert {d["connector"] for d in deliveries} == {"qlvb-push"}
    return deliveries


def assert_at_least_once(arrivals: Sequence[Arrival], ids: Sequence[str]) -> dict[str, list[str]]:
    """Every delivery reached the receiver, nothing else did, and a key seen more than once came with
    a different attempt number each time (that is how a receiver tells a repeat). Returns the attempt
    numbers each key was seen with."""
    seen: dict[str, list[str]] = defaultdict(list)
    for arrival in arrivals:
        seen[arrival.idempotency_key].append(arrival.headers["x-lienthong-attempt"])
    assert set(seen) == set(ids), "a delivery is missing at the receiver, or an unknown key arrived"
    for key, numbers in seen.items():
        assert len(set(numbers)) == len(numbers), f"{key} arrived twice as the same attempt: {numbers}"
    return seen


# --- the receiver answers 503 three times, then 200 --------------------------------------------------


@on
async def test_503_three_times_then_delivered_on_the_fourth_attempt_after_back_off(
    deployment: Deployment, database: Database, sender_token: str, qlvb: Receiver
) -> None:
    qlvb.script("/busy", [503, 503, 503])
    await set_endpoint(database, RECIPIENTS[0], qlvb.url("/busy"))
    with deployment.hub() as gateway:
        [sent] = await submit_all(gateway.url, sender_token, [document(RECIPIENTS[0])])
        await until(lambda: all_in(database, [sent["id"]], "delivered"), timeout=60)

    assert await attempts(database, sent["id"]) == [
        (1, "transient", 503),
        (2, "transient", 503),
        (3, "transient", 503),
        (4, "delivered", 200),
    ]
    events = await history(database, sent["id"])
    assert [e.to_state for e in events] == ["queued"] + ["sending", "retrying"] * 3 + ["sending", "delivered"]
    row = await delivery(database, sent["id"])
    assert (row.attempt_count, row.last_error, row.next_attempt_at) == (4, None, None)

    arrivals = qlvb.at("/busy")
    assert [a.status for a in arrivals] == [503, 503, 503, 200]
    assert {a.idempotency_key for a in arrivals} == {sent["id"]}
    assert [a.headers["x-lienthong-attempt"] for a in arrivals] == ["1", "2", "3", "4"]

    # The back-off: each wait the worker chose follows the schedule (between half and all of
    # base * 2^(n-1)), and the receiver saw no retry before its wait was over, nor long after it
    # (the relay looks for due retries every POLL_SECONDS).
    base = FAST["retry_base_seconds"]
    waits = [float(m.group(1)) for e in events if (m := re.search(r"next in ([\d.]+) s", e.reason))]
    gaps = [later.at - earlier.at for earlier, later in pairwise(arrivals)]
    assert len(waits) == len(gaps) == 3
    for n, (wait, gap) in enumerate(zip(waits, gaps, strict=True), start=1):
        bound = base * 2 ** (n - 1)
        assert bound / 2 - 0.05 <= wait <= bound + 0.05, (n, wait)
        assert gap >= max(wait - 0.05, bound / 2), (n, gap, wait)
        assert gap < wait + POLL_SECONDS + 3, (n, gap, wait)


# --- the receiver answers 400 ------------------------------------------------------------------------


@on
async def test_400_fails_at_once_without_retries(
    deployment: Deployment, database: Database, sender_token: str, qlvb: Receiver
) -> None:
    qlvb.script("/refuses", [400])
    await set_endpoint(database, RECIPIENTS[0], qlvb.url("/refuses"))
    await set_endpoint(database, RECIPIENTS[1], qlvb.url("/accepts"))
    with deployment.hub() as gateway:
        sent = await submit_all(gateway.url, sender_token, [document(RECIPIENTS[0], RECIPIENTS[1])])
        by_recipient = {d["recipient"]: d["id"] for d in sent}
        refused, accepted = by_recipient[RECIPIENTS[0]], by_recipient[RECIPIENTS[1]]
        await until(lambda: all_in(database, [refused, accepted], "failed", "delivered"), timeout=30)

    assert await states(database, [refused, accepted]) == {refused: "failed", accepted: "delivered"}
    assert await attempts(database, refused) == [(1, "permanent", 400)]
    assert [(e.from_state, e.to_state) for e in await history(database, refused)] == [
        (None, "queued"),
        ("queued", "sending"),
        ("sending", "failed"),
    ]
    row = await delivery(database, refused)
    assert row.attempt_count == 1 and row.next_attempt_at is None
    assert row.last_error.startswith("HTTP 400")
    assert [a.idempotency_key for a in qlvb.at("/refuses")] == [refused]
    # Nothing will hand it out again: not even a relay looking a day ahead finds it due.
    async with database.reading() as session:
        due = (await session.execute(due_query(now=utcnow() + timedelta(days=1)))).all()
    assert due == []


# --- a worker is killed (SIGKILL) with deliveries in flight ------------------------------------------


@on_rabbitmq
async def test_a_worker_killed_mid_flight_is_taken_over_by_a_new_worker(
    deployment: Deployment, database: Database, sender_token: str, rabbitmq_url: str
) -> None:
    with HoldingReceiver() as qlvb:
        for code in RECIPIENTS:
            await set_endpoint(database, code, qlvb.url(f"/{code}"))
        with deployment.gateway() as gateway:
            with deployment.worker() as first:
                sent = await submit_all(gateway.url, sender_token, [document(*RECIPIENTS) for _ in range(4)])
                ids = [d["id"] for d in sent]
                held = qlvb.wait_for(lambda arrivals: len(arrivals) >= FAST["worker_concurrency"])
                in_flight = {a.idempotency_key for a in held}
                assert set((await states(database, list(in_flight))).values()) == {"sending"}
                first.kill()
                first.wait(timeout=10)
            qlvb.release()  # from now on the receiver answers 200 at once
            with deployment.worker():
                await until(lambda: all_in(database, ids, "delivered"), timeout=60)
        arrivals = list(qlvb.arrivals)

    await assert_taken_over(database, arrivals, ids, in_flight)
    assert await ready_messages(rabbitmq_url, EVERY_QUEUE) == dict.fromkeys(EVERY_QUEUE, 0)


@on_rabbitmq
async def test_a_hung_worker_loses_its_deliveries_to_another_when_their_lease_runs_out(
    deployment: Deployment, database: Database, sender_token: str
) -> None:
    """A worker that hangs keeps its broker connection, so RabbitMQ never redelivers what it holds:
    the relay hands those deliveries out again when their lease runs out."""
    deployment.configure(delivery_lease_seconds=3)
    with HoldingReceiver() as qlvb:
        for code in RECIPIENTS:
            await set_endpoint(database, code, qlvb.url(f"/{code}"))
        with deployment.gateway() as gateway, deployment.worker() as hung:
            sent = await submit_all(gateway.url, sender_token, [document(*RECIPIENTS) for _ in range(4)])
            ids = [d["id"] for d in sent]
            held = qlvb.wait_for(lambda arrivals: len(arrivals) >= FAST["worker_concurrency"])
            in_flight = {a.idempotency_key for a in held}
            assert set((await states(database, list(in_flight))).values()) == {"sending"}
            hung.send_signal(signal.SIGSTOP)  # alive to the broker, doing nothing
            qlvb.release()
            with deployment.worker():
                await until(lambda: all_in(database, ids, "delivered"), timeout=60)
            hung.kill()
            hung.wait(timeout=10)
        arrivals = list(qlvb.arrivals)

    await assert_taken_over(database, arrivals, ids, in_flight)


async def assert_taken_over(
    database: Database, arrivals: Sequence[Arrival], ids: Sequence[str], in_flight: set[str]
) -> None:
    """Deliveries in flight when their process died were sent again as attempt 2; the rest once."""
    assert len(in_flight) >= 1
    seen = assert_at_least_once(arrivals, ids)
    assert {key for key, numbers in seen.items() if len(numbers) > 1} == in_flight
    for key in ids:
        if key in in_flight:
            assert seen[key] == ["1", "2"]
            assert await attempts(database, key) == [(1, "interrupted", None), (2, "delivered", 200)]
            assert any("previous attempt was interrupted" in e.reason for e in await history(database, key))
        else:
            assert seen[key] == ["1"]
            assert await attempts(database, key) == [(1, "delivered", 200)]


# --- the embedded hub is killed (SIGKILL) with deliveries in flight ----------------------------------


@on_embedded
async def test_an_embedded_hub_killed_mid_flight_delivers_everything_after_a_restart(
    deployment: Deployment, database: Database, sender_token: str
) -> None:
    with HoldingReceiver() as qlvb:
        for code in RECIPIENTS:
            await set_endpoint(database, code, qlvb.url(f"/{code}"))
        with deployment.gateway() as first:
            sent = await submit_all(first.url, sender_token, [document(*RECIPIENTS) for _ in range(4)])
            ids = [d["id"] for d in sent]
            held = qlvb.wait_for(lambda arrivals: len(arrivals) >= FAST["worker_concurrency"])
            in_flight = {a.idempotency_key for a in held}
            assert set((await states(database, list(in_flight))).values()) == {"sending"}
            first.kill()
        qlvb.release()
        with deployment.gateway():  # the same database, a new process
            await until(lambda: all_in(database, ids, "delivered"), timeout=60)
        arrivals = list(qlvb.arrivals)

    await assert_taken_over(database, arrivals, ids, in_flight)


# --- RabbitMQ stops while documents keep arriving ----------------------------------------------------


@on_private_rabbitmq
async def test_intake_goes_on_while_rabbitmq_is_down_and_everything_is_delivered_after(
    deployment: Deployment,
    database: Database,
    sender_token: str,
    private_rabbitmq: PrivateNode,
    qlvb: Receiver,
) -> None:
    await set_endpoint(database, RECIPIENTS[0], qlvb.url("/qlvb"))
    await set_endpoint(database, RECIPIENTS[1], qlvb.url("/qlvb"))
    with deployment.hub() as gateway:
        before = [d["id"] for d in await submit_all(gateway.url, sender_token, [document(RECIPIENTS[0])])]
        await until(lambda: all_in(database, before, "delivered"), timeout=30)

        private_rabbitmq.stop()
        during = await submit_all(
            gateway.url, sender_token, [document(RECIPIENTS[0], RECIPIENTS[1]) for _ in range(5)]
        )
        waiting = [d["id"] for d in during]
        # The outbox keeps them: nothing was handed to a broker that is not there.
        for row in await rows(database, "SELECT id, state, dispatched_at FROM deliveries"):
            if row.id in waiting:
                assert (row.state, row.dispatched_at) == ("queued", None)
        assert await ready_without_the_broker(gateway.url)  # and intake is ready all the same

        private_rabbitmq.start()
        await until(lambda: all_in(database, waiting, "delivered"), timeout=90)

    assert_at_least_once(qlvb.at("/qlvb"), before + waiting)
    assert await ready_messages(private_rabbitmq.url, EVERY_QUEUE) == dict.fromkeys(EVERY_QUEUE, 0)


async def ready_without_the_broker(gateway_url: str) -> bool:
    """The gateway is ready (intake works) and says that only the workers use the broker."""
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{gateway_url}/readyz")
    assert ready.status_code == 200, ready.text
    return bool(ready.json()["broker"] == "workers")


# --- a message that always crashes its worker --------------------------------------------------------


class CrashingConnector:
    """QLVB push with a bug: it raises (instead of answering an Outcome) for one recipient."""

    name = "qlvb-push"
    needs_payload = True

    def __init__(self, poisoned_recipient: str) -> None:
        self.poisoned_recipient = poisoned_recipient
        self.calls: Counter[str] = Counter()

    async def deliver(self, job: Job) -> Outcome:
        self.calls[job.delivery_id] += 1
        assert job.payload
        if job.recipient_code == self.poisoned_recipient:
            raise RuntimeError("a bug in the connector")
        return Outcome(OutcomeKind.DELIVERED, http_status=200)

    async def close(self) -> None:
        return None


@on
async def test_a_message_that_always_crashes_its_worker_is_dead_lettered_and_its_delivery_failed(
    settings: Settings, database: Database, sender_token: str, broker: str
) -> None:
    """The real worker, relay and broker (RabbitMQ, or the in-process dispatcher) in this process; only
    the connector is a double."""
    limit = 2
    settings = settings.model_copy(update={**FAST, "broker_delivery_limit": limit})
    await set_endpoint(database, RECIPIENTS[0], "http://127.0.0.1:9/poisoned")
    await set_endpoint(database, RECIPIENTS[1], "http://127.0.0.1:9/healthy")
    connector = CrashingConnector(poisoned_recipient=RECIPIENTS[0])
    queues = (
        RabbitBroker(broker, CONNECTOR_NAMES, delivery_limit=limit)
        if broker
        else EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=limit)
    )
    await queues.start()
    worker = Worker(database, queues, {connector.name: connector}, settings)
    relay = Relay(database, queues, lease_seconds=settings.delivery_lease_seconds)
    relaying = asyncio.create_task(relay.run())
    try:
        await worker.start()
        async with database.reading() as session:
            sealer = await load_active_sealer(session, load_master_key(settings))
        principal = await principal_for_token(database, sender_token)
        assert principal is not None
        result = await submit_document(
            database,
            sealer,
            Submitter.of(principal),
            document(RECIPIENTS[0], RECIPIENTS[1]),
            hub_code=settings.hub_code,
        )
        relay.wake()
        by_recipient = {d.recipient: d.id for d in result.receipt.deliveries}
        poisoned, healthy = by_recipient[RECIPIENTS[0]], by_recipient[RECIPIENTS[1]]
        await until(lambda: all_in(database, [poisoned, healthy], "failed", "delivered"), timeout=30)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
        await worker.stop()
        await queues.close()

    assert await states(database, [poisoned, healthy]) == {poisoned: "failed", healthy: "delivered"}
    # The broker's delivery limit counts redeliveries: the first delivery and `limit` more.
    assert connector.calls == {poisoned: limit + 1, healthy: 1}
    reason = dead_letter_reason(limit)
    assert "dead-lettered" in reason and str(limit + 1) in reason
    last = (await history(database, poisoned))[-1]
    assert (last.from_state, last.to_state, last.reason) == ("sending", "failed", reason)
    assert (await delivery(database, poisoned)).last_error == reason
    assert await attempts(database, poisoned) == [
        *((n, "interrupted", None) for n in range(1, limit + 1)),
        (limit + 1, "crashed", None),
    ]
    assert await attempts(database, healthy) == [(1, "delivered", 200)]
    if broker:
        assert await ready_messages(broker, EVERY_QUEUE) == dict.fromkeys(EVERY_QUEUE, 0)
