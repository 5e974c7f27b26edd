"""Wiring the delivery machinery into a process.

With RabbitMQ configured, the relay and the connector workers run in `lienthong worker` processes
(any number: their relays skip each other's rows), woken by PostgreSQL's notifications, and the
gateway's event loop only takes documents in. On the embedded default the relay and the same
workers run inside the gateway, fed by the in-process dispatcher and woken by the intake directly,
so one process does everything with the same state machine and retry schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from app.broker.base import Broker
from app.broker.embedded import EmbeddedBroker
from app.broker.rabbitmq import RabbitBroker
from app.config import Settings
from app.delivery.relay import Relay, listen_for_due
from app.delivery.service import forget_dispatches
from app.kit.clock import utcnow
from app.kit.db import Database
from app.operations.metrics import counted
from app.routing.service import Connector
from connectors.worker import Worker, build_connectors

log = logging.getLogger(__name__)

CONNECTOR_NAMES = [connector.value for connector in Connector]
BROKER_RETRY_SECONDS = 2.0


async def start_broker(broker: Broker) -> None:
    """Connect, waiting for a broker that is not up yet (intake works meanwhile, via the outbox)."""
    while True:
        try:
            await broker.start()
            return
        except (OSError, ConnectionError) as error:
            log.warning("broker not reachable (%s); trying again in %.0f s", error, BROKER_RETRY_SECONDS)
            await asyncio.sleep(BROKER_RETRY_SECONDS)


def make_relay(database: Database, broker: Broker, settings: Settings) -> Relay:
    return Relay(
        database,
        broker,
        lease_seconds=settings.delivery_lease_seconds,
        batch_window_seconds=settings.batch_window_seconds,
        unclaimed_seconds=settings.delivery_unclaimed_seconds,
        pickup_alert_seconds=settings.inbox_pickup_alert_seconds,
    )


class Dispatch:
    """The gateway's part of delivery: on the embedded default the relay and the workers; with
    RabbitMQ nothing (the relays run in the workers, and the database wakes them)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.embedded = not settings.broker_url
        self.relay: Relay | None = None
        self.worker: Worker | None = None
        self._broker: EmbeddedBroker | None = None
        if self.embedded:
            self._broker = EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=settings.broker_delivery_limit)
            self.relay = make_relay(database, self._broker, settings)
            self.worker = Worker(database, self._broker, counted(build_connectors(settings)), settings)
        self._database = database
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something became due (an intake committed). With RabbitMQ the database's notification
        wakes the workers' relays: nothing to do here."""
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        if self.relay is None:
            return
        assert self._broker is not None and self.worker is not None
        # Whatever the previous process had in its in-memory queues is gone: hand it out again.
        async with self._database.transaction() as session:
            recovered = await forget_dispatches(session, now=utcnow())
        if recovered:
            log.info("re-dispatching %d deliveries that were in flight before the restart", recovered)
        await self.worker.start()
        await self._broker.start()
        self._task = asyncio.create_task(self.relay.run())

    async def stop(self) -> None:
        if self.relay is None:
            return
        assert self._broker is not None and self.worker is not None
        await _stop(self.relay, self._task)
        await self.worker.stop()
        await self._broker.close()


async def run_worker(database: Database, settings: Settings, connectors: Sequence[str] | None) -> None:
    """`lienthong worker`: consume RabbitMQ and relay the outbox to it until cancelled."""
    broker = RabbitBroker(settings.broker_url, CONNECTOR_NAMES, delivery_limit=settings.broker_delivery_limit)
    worker = Worker(database, broker, counted(build_connectors(settings, connectors)), settings)
    relay = make_relay(database, broker, settings)
    await start_broker(broker)
    await worker.start()
    relaying = asyncio.create_task(relay.run())
    # On SQLite (a test set-up, not a layout) nothing notifies: the relay polls.
    listening = (
        asyncio.create_task(listen_for_due(database.url, relay.wake)) if database.is_postgres else None
    )
    try:
        await asyncio.Event().wait()
    finally:
        if listening is not None:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
        await _stop(relay, relaying)
        await worker.stop()
        await broker.close()


async def _stop(relay: Relay, task: asyncio.Task[None] | None) -> None:
    """Let the relay end its batch, then make sure its task is gone."""
    if task is None:
        return
    await relay.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
