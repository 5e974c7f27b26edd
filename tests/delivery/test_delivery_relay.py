"""The outbox relay: due deliveries are handed out once, only confirmed ones are marked, and the
in-process dispatcher's restart hands everything in flight out again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import insert, select, text
from support.receiver import until

from app.broker.embedded import EmbeddedBroker
from app.delivery.relay import Relay
from app.delivery.runtime import CONNECTOR_NAMES
from app.delivery.service import Due, forget_dispatches
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.ids import new_id
from app.models import Delivery, DeliveryState, Document, Payload


async def due_deliveries(
    database: Database, count: int, *, state: DeliveryState = DeliveryState.QUEUED
) -> list[str]:
    """`count` deliveries of one document, due now, written directly (no gateway is running)."""
    now = utcnow()
    document_id, ids = new_id(), [new_id() for _ in range(count)]
    async with database.transaction() as session:
        await session.execute(
            insert(Payload),
            [{"sha256": document_id.ljust(64, "0"), "size": 1, "content": b"x", "created_at": now}],
        )
        await session.execute(
            insert(Document),
            [
                {
                    "id": document_id,
                    "edxml_document_id": document_id,
                    "business_type": 0,
                    "sender_code": "000.00.01.H62",
                    "subject": "s",
                    "code_number": "1",
                    "code_notation": "X",
                    "received_at": now,
                    "original_sha256": document_id.ljust(64, "0"),
                    "sealed_sha256": document_id.ljust(64, "0"),
                    "sender_signature": "absent",
                }
            ],
        )
        await session.execute(
            insert(Delivery),
            [
                {
                    "id": delivery_id,
                    "document_id": document_id,
                    "recipient_code": f"R{n:05d}",
                    "connector": "inbox",
                    "state": state.value,
                    "attempt_count": 0,
                    "next_attempt_at": now - timedelta(seconds=1),
                    "created_at": now,
                    "updated_at": now,
                }
                for n, delivery_id in enumerate(ids)
            ],
        )
    return ids


def handed_out(broker: EmbeddedBroker) -> list[str]:
    queue = broker.queues["inbox"]
    return [queue.get_nowait().delivery_id for _ in range(queue.qsize())]


async def test_two_relays_never_hand_out_the_same_delivery(database: Database) -> None:
    ids = await due_deliveries(database, 500)
    brokers = [EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5) for _ in range(2)]
    relays = [Relay(database, broker, lease_seconds=60) for broker in brokers]

    async def drain(relay: Relay) -> None:
        while (await relay.relay_once())[0]:
            pass

    await asyncio.gather(*(drain(relay) for relay in relays))
    first, second = handed_out(brokers[0]), handed_out(brokers[1])
    assert sorted(first + second) == sorted(ids)  # every one, and none twice
    undispatched = await _scalar(database, "SELECT count(*) FROM deliveries WHERE dispatched_at IS NULL")
    assert undispatched == 0


class HalfConfirmingBroker(EmbeddedBroker):
    """A broker that confirms only every other publish (as when RabbitMQ refuses some)."""

    async def publish(self, due: Sequence[Due]) -> list[Due]:
        return await super().publish(list(due)[::2])


async def test_only_confirmed_publishes_are_marked(database: Database) -> None:
    ids = await due_deliveries(database, 10)
    relay = Relay(database, HalfConfirmingBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=60)
    assert await relay.relay_once() == (10, 5)
    waiting = await _scalar(database, "SELECT count(*) FROM deliveries WHERE dispatched_at IS NULL")
    assert waiting == 5  # the other half stays due for the next round
    assert await relay.relay_once() == (5, 3)
    assert len(ids) == 10


async def test_after_a_restart_the_dispatcher_hands_out_what_was_in_flight(database: Database) -> None:
    queued = await due_deliveries(database, 3)
    relay = Relay(database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=300)
    await relay.relay_once()
    sending = await due_deliveries(database, 2, state=DeliveryState.SENDING)
    async with database.transaction() as session:  # a worker had taken these, with a lease
        await session.execute(
            text("UPDATE deliveries SET next_attempt_at = :t, dispatched_at = :t WHERE state = 'sending'"),
            {"t": utcnow() + timedelta(minutes=5)},
        )
    restarted = EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5)
    assert await Relay(database, restarted, lease_seconds=300).relay_once() == (0, 0)  # nothing is due yet
    async with database.transaction() as session:
        assert await forget_dispatches(session, now=utcnow()) == 5
    await Relay(database, restarted, lease_seconds=300).relay_once()
    assert sorted(handed_out(restarted)) == sorted(queued + sending)


async def _scalar(database: Database, sql: str) -> object:
    async with database.reading() as session:
        return (await session.execute(text(sql))).scalar()


async def test_a_taken_over_delivery_gets_a_new_lease(database: Database) -> None:
    [stale] = await due_deliveries(database, 1, state=DeliveryState.SENDING)
    relay = Relay(database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=300)
    assert await relay.relay_once() == (1, 1)
    async with database.reading() as session:
        lease = await session.scalar(select(Delivery.next_attempt_at).where(Delivery.id == stale))
    assert lease is not None and lease > utcnow() + timedelta(seconds=290)
    assert await relay.relay_once() == (0, 0)


async def test_a_settled_message_is_not_settled_again() -> None:
    """A worker's batch that fails late requeues everything it has not settled; what it already
    acknowledged must not come back."""
    broker = EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=3)
    received: list[object] = []

    async def handler(message: object) -> None:
        received.append(message)

    await broker.consume("inbox", handler, prefetch=4)
    await broker.publish(
        [Due("acked", "inbox", DeliveryState.QUEUED), Due("failed", "inbox", DeliveryState.QUEUED)]
    )
    await until(lambda: len(received) == 2)
    acked, failed = received
    await acked.ack()  # type: ignore[attr-defined]
    await failed.requeue()  # type: ignore[attr-defined]
    for message in (acked, failed):
        await message.requeue()  # type: ignore[attr-defined]
    await until(lambda: len(received) == 3)  # only the one requeued once comes back
    assert received[2].delivery_id == "failed"  # type: ignore[attr-defined]
    assert broker.crashes == {"failed": 1}
    await broker.close()
