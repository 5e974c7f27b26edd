"""The outbox relay: hands due deliveries to the broker and records what the broker confirmed.

Woken after an intake commits in this process (after the batch window, so that the intakes of
that moment go in one batch), and otherwise every second for retries whose time has come (and
leases that ran out). Several relays may run at once (one per gateway);
on PostgreSQL they skip each other's rows. A broker that is down leaves the rows due: intake keeps
answering, and the relay catches up when the broker returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from app.broker.base import Broker
from app.delivery.service import due_deliveries, mark_dispatched
from app.kit.clock import utcnow
from app.kit.db import Database

log = logging.getLogger(__name__)

BATCH = 200
POLL_SECONDS = 1.0


class Relay:
    def __init__(
        self, database: Database, broker: Broker, *, lease_seconds: float, batch_window_seconds: float = 0.0
    ) -> None:
        self.database = database
        self.broker = broker
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_window = batch_window_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something became due (an intake committed): relay now rather than at the next poll."""
        self._wake.set()

    async def relay_once(self) -> tuple[int, int]:
        """One batch: returns (due, confirmed)."""
        now = utcnow()
        async with self.database.transaction() as session:
            due = await due_deliveries(session, now=now, limit=BATCH)
            if not due:
                return 0, 0
            confirmed = await self.broker.publish(due)
            await mark_dispatched(session, confirmed, now=now, lease=self.lease)
        return len(due), len(confirmed)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                due, confirmed = await self.relay_once()
            except Exception:  # the database or the broker is away: try again at the next poll
                log.exception("relay: batch failed")
                due, confirmed = 0, 0
            if due == BATCH and confirmed == due:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
                # Woken by an intake: let the intakes arriving in the next moment join this batch.
                await asyncio.sleep(self.batch_window)
