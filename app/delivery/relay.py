"""The outbox relay: hands due deliveries to the broker and records what the broker confirmed. Its
selection is also the sweeper: nothing a worker should have has to wait for a restart.

Where it runs: with RabbitMQ, in every `lienthong worker` (so the gateway's event loop only takes
documents in); on the embedded default, in the gateway beside the in-process dispatcher.

Woken when something becomes due: on PostgreSQL by the database itself, which sends `NOTIFY
lienthong_due` when a transaction that added deliveries or lifted a pause commits (the triggers of
migration d4e5f6a7b8c9; `listen_for_due` turns them into wake-ups); on the embedded default by the
intake in the same process. It hands out at most one batch per batch window, so that under load the
intakes of that moment go in one batch, and at once after a quiet spell.

Otherwise every second, for retries whose time has come, leases that ran out, and deliveries the
broker was handed but no worker claimed within `delivery_unclaimed_seconds` (a purged queue, a reset
broker, a lost dead letter) — see `due_query`. Every `SWEEP_PICKUPS_SECONDS` it also flags inbox
deliveries not picked up in time.

A batch is marked as handed out and committed in one statement before it is published (`hand_out`),
so a worker's claim never waits for the relay's transaction; what the broker does not confirm is due
again at once (`take_back`), and a relay that dies in between leaves its batch to the sweep.

Several relays may run at once (one per worker); on PostgreSQL they skip each other's rows, so each
row is published by one of them. While the broker is away nothing is handed out: the rows stay due,
intake keeps answering, and the relay catches up when the broker returns. A database that is down
is waited for, ever longer between tries (up to `LONGEST_WAIT_SECONDS`); nothing is lost or counted
against a delivery meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from app.broker.base import Broker
from app.delivery.inbox import flag_overdue_pickups
from app.delivery.service import hand_out, take_back
from app.kit.clock import utcnow
from app.kit.db import Database, database_unavailable
from app.kit.listening import listen
from app.kit.rounds import Rounds

log = logging.getLogger(__name__)

BATCH = 200
POLL_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 10.0
SWEEP_PICKUPS_SECONDS = 60.0
DUE_CHANNEL = "lienthong_due"  # notified by the database's triggers (migration d4e5f6a7b8c9)


class Relay:
    def __init__(
        self,
        database: Database,
        broker: Broker,
        *,
        lease_seconds: float,
        batch_window_seconds: float = 0.0,
        unclaimed_seconds: float | None = None,
        pickup_alert_seconds: float | None = None,
    ) -> None:
        self.database = database
        self.broker = broker
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_window = batch_window_seconds
        # Not claimed within this, a message is taken for lost; by default the lease's length.
        self.unclaimed = timedelta(seconds=unclaimed_seconds or lease_seconds)
        self.pickup_alert = None if pickup_alert_seconds is None else timedelta(seconds=pickup_alert_seconds)
        self.pace = Rounds()
        self._pickups_swept = float("-inf")
        self._batch_started = float("-inf")

    def wake(self) -> None:
        """Something became due (an intake committed): relay now rather than at the next poll."""
        self.pace.wake()

    async def stop(self) -> None:
        """Finish the batch under way, then stop (see app/kit/rounds.py)."""
        await self.pace.stop()

    async def relay_once(self) -> tuple[int, int]:
        """One batch: returns (due, confirmed). Nothing is handed out while the broker is away."""
        if not self.broker.connected:
            return 0, 0
        now = utcnow()
        due = await hand_out(
            self.database, now=now, limit=BATCH, lease=self.lease, unclaimed_before=now - self.unclaimed
        )
        if not due:
            return 0, 0
        confirmed = await self.broker.publish(due)
        if len(confirmed) < len(due):
            sent = {item.delivery_id for item in confirmed}
            async with self.database.transaction() as session:
                await take_back(
                    session, [d for d in due if d.delivery_id not in sent], at=now, lease=self.lease
                )
        return len(due), len(confirmed)

    async def sweep_pickups(self) -> int:
        """Flag the inbox deliveries not picked up in time; returns how many were flagged now."""
        if self.pickup_alert is None:
            return 0
        async with self.database.transaction() as session:
            flagged = await flag_overdue_pickups(session, now=utcnow(), after=self.pickup_alert)
        for item in flagged:
            log.warning(
                "delivery %s for %s not picked up since %s (alert: overdue in the inbox)",
                item.delivery_id,
                item.recipient_code,
                item.waiting_since.isoformat(),
            )
        return len(flagged)

    async def run(self) -> None:
        wait = POLL_SECONDS
        with self.pace.running():
            while not self.pace.stopping:
                try:
                    more = await self._round()
                    wait = POLL_SECONDS
                except Exception as error:  # the database or the broker is away: wait, then try again
                    if database_unavailable(error):
                        log.warning(
                            "relay: the database is away (%s); next try in %.0f s", type(error).__name__, wait
                        )
                    else:
                        log.exception("relay: batch failed; next try in %.0f s", wait)
                    await asyncio.sleep(wait)  # back-off while something is away, not a synchronisation
                    wait = min(LONGEST_WAIT_SECONDS, wait * 2)
                    continue
                if not more and await self.pace.wait(POLL_SECONDS):
                    await asyncio.sleep(self._rest_of_window())

    def _rest_of_window(self) -> float:
        """How long a wake-up waits: at most one batch per batch window. Woken right after a batch,
        the relay waits out the rest of the window, so that the intakes of that moment go in one
        batch under load; woken after a quiet spell, it goes at once, so a lone document does not
        wait for company that is not coming."""
        return max(0.0, self._batch_started + self.batch_window - time.monotonic())

    async def _round(self) -> bool:
        """A batch, and the pickup sweep when it is due; True if more may be waiting already."""
        started = time.monotonic()
        due, confirmed = await self.relay_once()
        if due:
            self._batch_started = started
        if time.monotonic() - self._pickups_swept >= SWEEP_PICKUPS_SECONDS:
            await self.sweep_pickups()
            self._pickups_swept = time.monotonic()
        return due == BATCH and confirmed == due


async def listen_for_due(database_url: str, wake: Callable[[], None]) -> None:
    """Call `wake` whenever PostgreSQL notifies that something became due, until cancelled. While
    the connection is away the relay still polls; each time it opens, the relay is woken once for
    what was notified meanwhile."""
    await listen(database_url, DUE_CHANNEL, lambda _payload: wake(), on_open=wake)
