"""Wiring the delivery machinery into a process.

The gateway always runs a relay. With RabbitMQ configured the connector workers are separate
processes (`lienthong worker`); on the embedded default the same workers run inside the gateway,
fed by the in-process dispatcher, so one process does everything with the same state machine and
retry schedule.
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
from app.delivery.relay import Relay
from app.delivery.service import forget_dispatches
from app.kit.clock import utcnow
from app.kit.db import Database
from app.operations.metrics import counted
from app.routing.service import Connector
from connectors.worker import Worker, build_connectors

log = logging.getLogger(__name__)

CONNECTOR_NAMES = [connector.value for connector in Connector]
BROKER_RETRY_SECONDS = 2.0


def make_broker(settings: Settings) -> Broker:
    if settings.broker_url:
        return RabbitBroker(
            settings.broker_url, CONNECTOR_NAMES, delivery_limit=settings.broker_delivery_limit
        )
    return EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=settings.broker_delivery_limit)


async def start_broker(broker: Broker) -> None:
    """Connect, waiting for a broker that is not up yet (intake works meanwhile, via the outbox)."""
    while True:
        try:
            await broker.start()
            return
        except (OSError, ConnectionError) as error:
            log.warning("broker not reachable (%s); trying again in %.0f s", error, BROKER_RETRY_SECONDS)
            await asyncio.sleep(BROKER_RETRY_SECONDS)


class Dispatch:
    """The relay (and on the embedded default the workers) of one gateway process."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.broker = make_broker(settings)
        self.relay = Relay(
            database,
            self.broker,
            lease_seconds=settings.delivery_lease_seconds,
            batch_window_seconds=settings.batch_window_seconds,
            unclaimed_seconds=settings.delivery_unclaimed_seconds,
            pickup_alert_seconds=settings.inbox_pickup_alert_seconds,
        )
        self.worker: Worker | None = None
        self.embedded = isinstance(self.broker, EmbeddedBroker)
        if self.embedded:
            self.worker = Worker(database, self.broker, counted(build_connectors(settings)), settings)
        self._database = database
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.embedded:
            # Whatever the previous process had in its in-memory queues is gone: hand it out again.
            async with self._database.transaction() as session:
                recovered = await forget_dispatches(session, now=utcnow())
            if recovered:
                log.info("re-dispatching %d deliveries that were in flight before the restart", recovered)
            assert self.worker is not None
            await self.worker.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await start_broker(self.broker)
        await self.relay.run()

    async def stop(self) -> None:
        if self._task is not None:
            await self.relay.stop()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.worker is not None:
            await self.worker.stop()
        await self.broker.close()


async def run_worker(database: Database, settings: Settings, connectors: Sequence[str] | None) -> None:
    """`lienthong worker`: consume RabbitMQ until cancelled."""
    broker = RabbitBroker(settings.broker_url, CONNECTOR_NAMES, delivery_limit=settings.broker_delivery_limit)
    worker = Worker(database, broker, counted(build_connectors(settings, connectors)), settings)
    await start_broker(broker)
    await worker.start()
    try:
        await asyncio.Event().wait()
    finally:
        await worker.stop()
        await broker.close()
