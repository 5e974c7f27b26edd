"""The outbox relay: due deliveries are handed out once, only confirmed ones are marked, and the
in-process dispatcher's restart hands everything in flight out again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from support.delivery import direct_deliveries, states
from support.receiver import until

from app.broker.embedded import EmbeddedBroker
from app.delivery.inbox import overdue_pickup_counts, overdue_pickups
from app.delivery.pauses import pause, resume
from app.delivery.relay import Relay, listen_for_due
from app.delivery.runtime import CONNECTOR_NAMES
from app.delivery.service import Change, Due, apply_changes, forget_dispatches
from app.kit.clock import utcnow
from app.kit.db import Database, table_of
from app.models import Attempt, Delivery, DeliveryState

SENDING, RETRYING, DELIVERED = DeliveryState.SENDING, DeliveryState.RETRYING, DeliveryState.DELIVERED


def handed_out(broker: EmbeddedBroker) -> list[str]:
    queue = broker.queues["inbox"]
    return [queue.get_nowait().delivery_id for _ in range(queue.qsize())]


async def test_two_relays_never_hand_out_the_same_delivery(database: Database) -> None:
    ids = await direct_deliveries(database, 500)
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
    ids = await direct_deliveries(database, 10)
    relay = Relay(database, HalfConfirmingBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=60)
    assert await relay.relay_once() == (10, 5)
    waiting = await _scalar(database, "SELECT count(*) FROM deliveries WHERE dispatched_at IS NULL")
    assert waiting == 5  # the other half stays due for the next round
    assert await relay.relay_once() == (5, 3)
    assert len(ids) == 10


class ClaimedWhilePublishing(EmbeddedBroker):
    """A publish that is not confirmed although its message reached a worker (a confirm that timed
    out): the worker has claimed the delivery by the time the relay hears of it."""

    def __init__(self, database: Database) -> None:
        super().__init__(CONNECTOR_NAMES, delivery_limit=5)
        self.database = database
        self.lease_until = utcnow() + timedelta(minutes=4)

    async def publish(self, due: Sequence[Due]) -> list[Due]:
        claims = [
            change(d.delivery_id, d.state, SENDING, attempt_count=1, next_attempt_at=self.lease_until)
            for d in due
        ]
        async with self.database.transaction() as session:
            await apply_changes(session, claims, at=utcnow())
        return []


async def test_an_unconfirmed_publish_a_worker_claimed_meanwhile_is_left_with_the_worker(
    database: Database,
) -> None:
    ids = await direct_deliveries(database, 2)
    broker = ClaimedWhilePublishing(database)
    assert await Relay(database, broker, lease_seconds=60).relay_once() == (2, 0)
    async with database.reading() as session:
        rows = (await session.execute(select(Delivery).where(Delivery.id.in_(ids)))).scalars().all()
    assert {(row.state, row.next_attempt_at) for row in rows} == {(SENDING, broker.lease_until)}
    # Not due again: the claim's lease holds it.
    assert await Relay(
        database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=60
    ).relay_once() == (0, 0)


class ConfirmingNothing(EmbeddedBroker):
    async def publish(self, due: Sequence[Due]) -> list[Due]:
        return []


async def test_an_unconfirmed_taken_over_delivery_is_due_again_at_once(database: Database) -> None:
    [stale] = await direct_deliveries(database, 1, state=DeliveryState.SENDING)
    refusing = ConfirmingNothing(CONNECTOR_NAMES, delivery_limit=5)
    assert await Relay(database, refusing, lease_seconds=300).relay_once() == (1, 0)
    broker = EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5)
    assert await Relay(database, broker, lease_seconds=300).relay_once() == (1, 1)  # not a lease later
    assert handed_out(broker) == [stale]


async def test_after_a_restart_the_dispatcher_hands_out_what_was_in_flight(database: Database) -> None:
    queued = await direct_deliveries(database, 3)
    relay = Relay(database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=300)
    await relay.relay_once()
    sending = await direct_deliveries(database, 2, state=DeliveryState.SENDING)
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
    [stale] = await direct_deliveries(database, 1, state=DeliveryState.SENDING)
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


# --- compare-and-set: a change is written only where it expects the delivery -------------------------


def change(delivery_id: str, from_state: DeliveryState, to_state: DeliveryState, **more: object) -> Change:
    return Change(
        delivery_id=delivery_id,
        document_id="d",
        recipient_code="R00000",
        from_state=from_state,
        to_state=to_state,
        reason="test",
        **more,  # type: ignore[arg-type]
    )


async def test_a_stale_change_is_lost_not_written(database: Database) -> None:
    """Two attempts' outcomes for one delivery: the later attempt's is written; the stale one finds
    the delivery moved on, is returned as lost, and writes nothing (no state, event or log entry)."""
    [taken_over, settled] = await direct_deliveries(database, 2, state=DeliveryState.SENDING)
    async with database.transaction() as session:  # both were at attempt 1; one was taken over since
        await session.execute(
            text("UPDATE deliveries SET attempt_count = 2 WHERE id = :a"), {"a": taken_over}
        )
        await session.execute(
            text("UPDATE deliveries SET attempt_count = 1, state = 'delivered' WHERE id = :s"), {"s": settled}
        )
    stale = [
        change(taken_over, SENDING, RETRYING, attempt_count=1, expected_attempt=1),
        change(settled, SENDING, RETRYING, attempt_count=1, expected_attempt=1),
        change("no-such-delivery", SENDING, DELIVERED, attempt_count=1, expected_attempt=1),
    ]
    async with database.transaction() as session:
        applied = await apply_changes(session, stale, at=utcnow())
    assert applied.written == []
    assert [(lost.change.delivery_id, lost.state, lost.attempt_count) for lost in applied.lost] == [
        (taken_over, SENDING, 2),
        (settled, DELIVERED, 1),
        ("no-such-delivery", None, None),
    ]
    assert await states(database, [taken_over, settled]) == {taken_over: "sending", settled: "delivered"}
    assert await _scalar(database, "SELECT count(*) FROM delivery_events") == 0
    assert await _scalar(database, "SELECT count(*) FROM exchange_log") == 0

    current = [change(taken_over, SENDING, DELIVERED, attempt_count=2, expected_attempt=2)]
    async with database.transaction() as session:
        applied = await apply_changes(session, current, at=utcnow())
    assert (applied.written, applied.lost) == (current, [])
    assert await states(database, [taken_over]) == {taken_over: "delivered"}
    assert await _scalar(database, "SELECT count(*) FROM exchange_log WHERE event = 'delivery-state'") == 1


async def test_rows_written_with_a_change_are_written_only_with_it(database: Database) -> None:
    """The claim's attempts go in with its changes (`written_with`): a change that is lost takes
    its attempt with it, on either database."""
    [kept, moved_on] = await direct_deliveries(database, 2, state=DeliveryState.SENDING)
    async with database.transaction() as session:
        await session.execute(text("UPDATE deliveries SET attempt_count = 1 WHERE id = :k"), {"k": kept})
        await session.execute(text("UPDATE deliveries SET attempt_count = 2 WHERE id = :m"), {"m": moved_on})
    now = utcnow()
    attempts = {
        delivery_id: (
            table_of(Attempt),
            {"id": f"a-{delivery_id}", "delivery_id": delivery_id, "number": 2, "started_at": now},
        )
        for delivery_id in (kept, moved_on)
    }
    claims = [
        change(delivery_id, SENDING, SENDING, attempt_count=2, expected_attempt=1)
        for delivery_id in (kept, moved_on)
    ]
    async with database.transaction() as session:
        applied = await apply_changes(session, claims, at=now, written_with=attempts)
    assert [c.delivery_id for c in applied.written] == [kept]
    async with database.reading() as session:
        assert (await session.scalars(select(Attempt.delivery_id))).all() == [kept]


async def test_a_change_without_an_expected_attempt_checks_the_state_alone(database: Database) -> None:
    """As an admin action does: it names the state it acts on, whatever the attempt."""
    [failed] = await direct_deliveries(database, 1, state=DeliveryState.FAILED)
    async with database.transaction() as session:
        applied = await apply_changes(
            session,
            [change(failed, DeliveryState.FAILED, DeliveryState.QUEUED, attempt_count=0)],
            at=utcnow(),
        )
        again = await apply_changes(
            session,
            [change(failed, DeliveryState.FAILED, DeliveryState.QUEUED, attempt_count=0)],
            at=utcnow(),
        )
    assert len(applied.written) == 1 and again.written == []
    assert again.lost[0].state is DeliveryState.QUEUED


# --- the sweep: what the broker was handed and nobody claimed is handed out again ---------------------


async def test_deliveries_the_broker_lost_are_handed_out_again_after_the_unclaimed_bound(
    database: Database,
) -> None:
    ids = await direct_deliveries(database, 5)
    relay = Relay(
        database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=300, unclaimed_seconds=1
    )
    assert await relay.relay_once() == (5, 5)
    assert sorted(handed_out(relay.broker)) == sorted(ids)  # type: ignore[arg-type]
    # ...and the queue loses them (purged), no worker ever claims them.
    assert await relay.relay_once() == (0, 0)  # not before the bound
    assert await until(lambda: _relayed(relay), timeout=30) == 5
    assert sorted(handed_out(relay.broker)) == sorted(ids)  # type: ignore[arg-type]


async def _relayed(relay: Relay) -> int:
    return (await relay.relay_once())[1]


# --- inbox deliveries not picked up in time: an alert, never a failure ---------------------------------


async def test_inbox_deliveries_waiting_too_long_are_flagged_once_and_stay_in_the_inbox(
    database: Database,
) -> None:
    waiting = await direct_deliveries(database, 3, state=DeliveryState.AWAITING_PICKUP)
    late, recent = waiting[:2], waiting[2]
    async with database.transaction() as session:
        await session.execute(
            text("UPDATE deliveries SET updated_at = :t WHERE id IN (:a, :b)"),
            {"t": utcnow() - timedelta(hours=2), "a": late[0], "b": late[1]},
        )
    relay = Relay(
        database,
        EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5),
        lease_seconds=300,
        pickup_alert_seconds=3600,
    )
    assert await relay.sweep_pickups() == 2
    assert await relay.sweep_pickups() == 0  # once each

    async with database.reading() as session:
        overdue = await overdue_pickups(session)
        counts = await overdue_pickup_counts(session)
    assert sorted(item.delivery_id for item in overdue) == sorted(late)
    assert all(item.waiting_since < item.flagged_at for item in overdue)
    recipients = {item.recipient_code for item in overdue}
    assert counts == {code: 1 for code in recipients}
    assert await states(database, waiting) == dict.fromkeys(waiting, "awaiting_pickup")
    assert recent not in {item.delivery_id for item in overdue}
    logged = await _scalar(database, "SELECT count(*) FROM exchange_log WHERE event = 'pickup-overdue'")
    assert logged == 2
    assert await relay.relay_once() == (0, 0)  # nothing about it is handed out again


class WatchedEvent(asyncio.Event):
    """The relay's wake-up event, telling the test when the relay has begun waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = asyncio.Event()

    async def wait(self) -> bool:
        self.waited_on.set()
        return await super().wait()


async def idle_relay(database: Database) -> tuple[Relay, asyncio.Task[None]]:
    """A running relay, once it has done its first round and waits to be woken."""
    relay = Relay(database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=60)
    relay.pace._wake = watched = WatchedEvent()
    running = asyncio.create_task(relay.run())
    async with asyncio.timeout(10):
        await watched.waited_on.wait()
    return relay, running


async def test_the_relay_stops_when_cancelled_just_as_it_is_woken(database: Database) -> None:
    # On Python 3.11, asyncio.wait_for swallowed a cancellation that came in the same moment as the
    # event it waited on: the relay went on polling and the gateway's shutdown hung.
    relay, running = await idle_relay(database)
    relay.wake()
    running.cancel()
    async with asyncio.timeout(10):
        await asyncio.gather(running, return_exceptions=True)
    assert running.cancelled()


async def test_a_relay_asked_to_stop_ends_its_loop_without_being_cancelled(database: Database) -> None:
    relay, running = await idle_relay(database)
    await relay.stop()
    assert running.done() and not running.cancelled() and running.exception() is None


async def test_stopping_a_relay_that_never_ran_does_not_wait_for_it(database: Database) -> None:
    relay = Relay(database, EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5), lease_seconds=60)
    async with asyncio.timeout(1):  # far below the stop's grace (5 s): it had nothing to wait for
        await relay.stop()
    assert relay.pace.stopping


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_wakes_the_relays_when_deliveries_are_added_or_a_pause_is_lifted(
    database: Database,
) -> None:
    # With RabbitMQ the relays run in the workers, not in the gateway that stores a document: the
    # database's notification is what wakes them at once instead of at their next poll.
    wakes = asyncio.Queue[None]()
    listening = asyncio.create_task(listen_for_due(database.url, lambda: wakes.put_nowait(None)))
    try:
        async with asyncio.timeout(10):
            await wakes.get()  # once on connecting, for what was notified before
        await direct_deliveries(database, 3)
        async with asyncio.timeout(10):
            await wakes.get()
        async with database.transaction() as session:
            await pause(session, connector="qlvb-push", reason="test", actor="test")
        async with database.transaction() as session:
            await resume(session, connector="qlvb-push", actor="test")
        async with asyncio.timeout(10):
            await wakes.get()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_a_wake_after_a_quiet_spell_relays_at_once_and_one_after_a_batch_waits_for_the_window(
    database: Database,
) -> None:
    # At most one batch per batch window: under load the intakes of a window go in one batch, but a
    # lone document after a quiet spell must not wait the whole window (it was p99 > 100 ms at 50/s).
    broker = EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5)
    relay = Relay(database, broker, lease_seconds=60, batch_window_seconds=1.5)
    relay.pace._wake = watched = WatchedEvent()
    running = asyncio.create_task(relay.run())
    async with asyncio.timeout(10):
        await watched.waited_on.wait()
    inbox = broker.queues["inbox"]
    first = await direct_deliveries(database, 2)
    woken = time.monotonic()
    relay.wake()
    async with asyncio.timeout(1.0):  # less than the window: it did not wait for company
        await until(lambda: inbox.qsize() == 2, interval=0.005)
    assert sorted(handed_out(broker)) == sorted(first)
    second = await direct_deliveries(database, 2)
    relay.wake()
    await until(lambda: inbox.qsize() == 2, timeout=10, interval=0.005)
    assert time.monotonic() - woken >= 1.5  # the second batch waited for the first one's window
    assert sorted(handed_out(broker)) == sorted(second)
    await relay.stop()
    await asyncio.gather(running, return_exceptions=True)
