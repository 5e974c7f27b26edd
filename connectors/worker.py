"""The worker runtime: takes deliveries off the broker, hands each to its connector, records the
attempt and the new state, then acknowledges.

Messages are processed in batches (whatever has arrived, up to a limit): one transaction claims the
whole batch (each delivery -> `sending`, an attempt row each, payloads loaded), the connectors run
concurrently, one transaction records every outcome, then the messages are acknowledged. One batch
is gathered and claimed at a time; the claimed batches are delivered side by side. A message
is acknowledged only after its outcome is committed, so a crash at any point leads to a redelivery,
never to a loss; a redelivered message for a delivery already settled is acknowledged and dropped.

If a connector raises instead of answering, the worker "crashed" on that message: it is requeued,
and after the broker's delivery limit it is dead-lettered and the delivery marked `failed` — when the
attempts show that the workers did crash on it that many times in a row; a message the broker gave
back for any other reason (its own restart, killed workers) is handed out afresh instead.

The database going away is not the delivery's fault: a worker keeps the messages it holds, waits
and tries the same step again (claiming, or recording outcomes) until the database answers, so an
outage spends neither attempts nor the broker's delivery limit. Every attempt has a deadline below
the lease, and the outcome is written only if the delivery is still in the attempt it ran
(`apply_changes` compares and sets): a worker that outlived its lease anyway (frozen, say) finds
its attempt superseded and records it so, without moving the delivery backwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Row, Select, Table, Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.broker.base import Broker, BrokerMessage
from app.config import Settings
from app.delivery.backoff import RetryPolicy
from app.delivery.service import Change, Lost, apply_changes, decide_changes, write_changes
from app.delivery.states import DISPATCHABLE
from app.documents.payloads import stored_payloads
from app.kit.clock import utcnow
from app.kit.db import Database, RowsIn, one_of, table_of, while_unavailable
from app.kit.ids import new_id
from app.models import Agency, Attempt, Delivery, DeliveryState, Document
from connectors.base import Connector, Job, Outcome, OutcomeKind
from connectors.inbox import InboxConnector
from connectors.national_axis import NationalAxisConnector, axis_client
from connectors.qlvb_push import QlvbPushConnector

log = logging.getLogger(__name__)

BATCH = 64
QUIET_SHARE_OF_WINDOW = 0.1
DATABASE_RETRY_SECONDS = 1.0
# An attempt must end (with an outcome or as a timeout) well before its lease runs out, so that the
# outcome is recorded before the relay hands the delivery to another worker.
ATTEMPT_SHARE_OF_LEASE = 0.8
T = TypeVar("T")
SUPERSEDED = "superseded"  # an attempt whose delivery another attempt had moved on before it ended


def build_connectors(settings: Settings, names: Sequence[str] | None = None) -> dict[str, Connector]:
    """The connectors this process runs (all of them by default)."""
    available = ("qlvb-push", "inbox", "national-axis")
    chosen = list(names or available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ValueError(f"unknown connector(s): {', '.join(unknown)}; known: {', '.join(available)}")
    connectors: dict[str, Connector] = {}
    for name in chosen:
        if name == "qlvb-push":
            connectors[name] = QlvbPushConnector(max_connections=settings.worker_concurrency)
        elif name == "inbox":
            connectors[name] = InboxConnector()
        else:
            connectors[name] = NationalAxisConnector(axis_client(settings))
    return connectors


async def next_batch(inbox: asyncio.Queue[T], *, limit: int, window: float) -> list[T]:
    """Wait for a message, then take the ones that follow it back to back (those of one relay
    batch): the batch closes when they stop (a pause of a tenth of the window), when the window is
    over or at `limit`, whichever comes first. Under load it fills; a lone document is not held for
    the whole window."""
    loop = asyncio.get_running_loop()
    batch = [await inbox.get()]
    deadline = loop.time() + window
    while len(batch) < limit:
        if not inbox.empty():
            batch.append(inbox.get_nowait())
            continue
        remaining = min(deadline - loop.time(), window * QUIET_SHARE_OF_WINDOW)
        if remaining <= 0:
            break
        try:
            async with asyncio.timeout(remaining):
                batch.append(await inbox.get())
        except TimeoutError:
            break
    return batch


@dataclass(frozen=True, slots=True)
class _Claim:
    message: BrokerMessage
    job: Job
    connector: Connector
    attempt_id: str
    started: float


class Worker:
    def __init__(
        self, database: Database, broker: Broker, connectors: Mapping[str, Connector], settings: Settings
    ) -> None:
        self.database = database
        self.broker = broker
        self.connectors = dict(connectors)
        self.settings = settings
        self.retry = RetryPolicy(
            settings.retry_base_seconds, settings.retry_cap_seconds, settings.retry_max_attempts
        )
        self.lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.deadline = settings.delivery_lease_seconds * ATTEMPT_SHARE_OF_LEASE
        self._inbox: asyncio.Queue[BrokerMessage] = asyncio.Queue()
        self._claiming = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, *, batchers: int = 4) -> None:
        """Consume the connectors' queues and the dead letters."""
        for name in self.connectors:
            await self.broker.consume(name, self._receive, prefetch=self.settings.worker_concurrency)
        await self.broker.consume_dead_letters(self.dead_lettered)
        self._tasks = [asyncio.create_task(self._batches()) for _ in range(batchers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connector in self.connectors.values():
            await connector.close()

    async def _receive(self, message: BrokerMessage) -> None:
        self._inbox.put_nowait(message)

    async def _batches(self) -> None:
        while True:
            try:
                # One batcher gathers and claims at a time. Meanwhile the next messages wait in the
                # inbox, so under load the next batch takes them all at once (two or three times
                # fewer, larger transactions at full speed); the claimed batches are delivered side
                # by side.
                async with self._claiming:
                    batch = await next_batch(
                        self._inbox, limit=BATCH, window=self.settings.batch_window_seconds
                    )
                    claims = await self.claim(batch)
                await self.deliver(claims)
            except Exception:
                log.exception("worker: batch of %d failed; what was not settled is requeued", len(batch))
                await asyncio.sleep(DATABASE_RETRY_SECONDS)
                await asyncio.gather(*(m.requeue() for m in batch), return_exceptions=True)

    async def claim(self, batch: Sequence[BrokerMessage]) -> list[_Claim]:
        """Claim the batch's deliveries; the messages with nothing to do are acknowledged."""
        # The attempt ids are chosen once: if the database went away just as the claim committed,
        # the next try recognises the claim as its own instead of taking it for another worker's.
        attempt_ids = {m.delivery_id: new_id() for m in batch}
        tries = 0

        async def claim_batch() -> tuple[list[_Claim], list[BrokerMessage]]:
            nonlocal tries
            tries += 1
            return await self._claim(batch, attempt_ids, retried=tries > 1)

        claims, settled = await while_unavailable(claim_batch, what="worker: claiming a batch")
        await _ack(settled)
        return claims

    async def deliver(self, claims: Sequence[_Claim]) -> None:
        """Run the connectors, record every outcome, then acknowledge."""
        if not claims:
            return
        results = await asyncio.gather(*(self._attempt(c) for c in claims), return_exceptions=True)
        finished: list[tuple[_Claim, Outcome]] = []
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, Outcome):
                finished.append((claim, result))
            else:
                log.error(
                    "connector %s failed on delivery %s: %r",
                    claim.connector.name,
                    claim.job.delivery_id,
                    result,
                )
                await claim.message.requeue()
        if finished:
            await while_unavailable(lambda: self._finish(finished), what="worker: recording outcomes")
            await _ack([claim.message for claim, _ in finished])

    async def _attempt(self, claim: _Claim) -> Outcome:
        """The connector's attempt, cut off at the attempt's deadline (a receiver that accepts the
        connection and never answers must not hold the delivery past its lease)."""
        try:
            async with asyncio.timeout(self.deadline):
                return await claim.connector.deliver(claim.job)
        except TimeoutError:
            return Outcome(
                OutcomeKind.TRANSIENT, error=f"no outcome within the attempt's deadline ({self.deadline:g} s)"
            )

    async def _claim(
        self, batch: Sequence[BrokerMessage], attempt_ids: Mapping[str, str], *, retried: bool = False
    ) -> tuple[list[_Claim], list[BrokerMessage]]:
        """Move the batch's deliveries to `sending`, one attempt row each (with the given ids);
        returns the claims and the messages to drop (their delivery is settled, or another worker
        holds it)."""
        now = utcnow()
        by_id = {m.delivery_id: m for m in batch}
        claims: list[_Claim] = []
        drop: list[BrokerMessage] = [m for m in batch if by_id[m.delivery_id] is not m]  # duplicates
        async with self.database.transaction() as session:
            rows = await _load(session, list(by_id))
            ours = await _own_attempts(session, attempt_ids) if retried else {}
            changes: list[Change] = []
            attempts: dict[str, tuple[Table, dict[str, Any]]] = {}  # each written with its claim
            wanted_payloads: set[str] = set()
            pending: list[tuple[BrokerMessage, Row[Any], Connector, str, int]] = []
            for delivery_id, message in by_id.items():
                row = rows.get(delivery_id)
                if (
                    row is None
                    or DeliveryState(row.state) not in DISPATCHABLE
                    or row.connector not in self.connectors
                ):
                    drop.append(message)
                    continue
                state = DeliveryState(row.state)
                connector = self.connectors[row.connector]
                if state is DeliveryState.SENDING and ours.get(delivery_id) == row.attempt_count:
                    # Claimed by this very call's earlier try, whose commit went through unseen.
                    if connector.needs_payload:
                        wanted_payloads.add(row.sealed_sha256)
                    pending.append((message, row, connector, attempt_ids[delivery_id], row.attempt_count))
                    continue
                if state is DeliveryState.SENDING and row.next_attempt_at > now and not message.redelivered:
                    drop.append(message)  # another worker is on it; the relay sent it twice
                    continue
                attempt = row.attempt_count + 1
                reason = f"attempt {attempt} by {row.connector}"
                if state is DeliveryState.SENDING:
                    reason += " (the previous attempt was interrupted)"
                changes.append(
                    Change(
                        delivery_id=delivery_id,
                        document_id=row.document_id,
                        recipient_code=row.recipient_code,
                        from_state=state,
                        to_state=DeliveryState.SENDING,
                        reason=reason,
                        attempt_count=attempt,
                        next_attempt_at=now + self.lease,
                        dispatched_at=row.dispatched_at,
                        last_error=row.last_error,
                        expected_attempt=row.attempt_count,
                    )
                )
                attempt_id = attempt_ids[delivery_id]
                attempts[delivery_id] = (
                    table_of(Attempt),
                    {"id": attempt_id, "delivery_id": delivery_id, "number": attempt, "started_at": now},
                )
                if connector.needs_payload:
                    wanted_payloads.add(row.sealed_sha256)
                pending.append((message, row, connector, attempt_id, attempt))
            if changes:
                interrupted = [c.delivery_id for c in changes if c.from_state is DeliveryState.SENDING]
                if interrupted:
                    await _close_open_attempts(session, interrupted, at=now, outcome="interrupted")
                locked = {id_: (DeliveryState(row.state), row.attempt_count) for id_, row in rows.items()}
                applied = await apply_changes(session, changes, at=now, locked=locked, written_with=attempts)
                if applied.lost:  # the rows are locked since `_load`: only a bug elsewhere gets here
                    gone = {lost.change.delivery_id for lost in applied.lost}
                    drop += [item[0] for item in pending if item[1].id in gone]
                    pending = [item for item in pending if item[1].id not in gone]
            payloads = await stored_payloads(session, self.database, wanted_payloads)
        started = time.monotonic()
        for message, row, connector, attempt_id, attempt in pending:
            job = Job(
                delivery_id=row.id,
                document_id=row.document_id,
                edxml_document_id=row.edxml_document_id,
                sender_code=row.sender_code,
                recipient_code=row.recipient_code,
                message_type=row.kind,
                endpoint=row.endpoint,
                timeout_seconds=row.endpoint_timeout_seconds or self.settings.push_timeout_seconds,
                attempt=attempt,
                payload=payloads.get(row.sealed_sha256) if connector.needs_payload else None,
            )
            claims.append(_Claim(message, job, connector, attempt_id, started))
        return claims, drop

    async def _finish(self, finished: Sequence[tuple[_Claim, Outcome]]) -> None:
        now = utcnow()
        changes: list[Change] = []
        attempt_rows: list[dict[str, object]] = []
        for claim, outcome in finished:
            job = claim.job
            target, next_at, error, reason = self._next_state(job.attempt, outcome, now)
            changes.append(
                Change(
                    delivery_id=job.delivery_id,
                    document_id=claim.job.document_id,
                    recipient_code=job.recipient_code,
                    from_state=DeliveryState.SENDING,
                    to_state=target,
                    reason=reason,
                    attempt_count=job.attempt,
                    next_attempt_at=next_at,
                    dispatched_at=None if target is DeliveryState.RETRYING else now,
                    last_error=error,
                    remote_id=outcome.remote_id,
                    expected_attempt=job.attempt,
                )
            )
            attempt_rows.append(
                {
                    "id": claim.attempt_id,
                    "delivery_id": job.delivery_id,
                    "ended_at": now,
                    "outcome": outcome.kind.value,
                    "http_status": outcome.http_status,
                    "error": outcome.error,
                    "duration_ms": round((time.monotonic() - claim.started) * 1000, 1),
                }
            )
        async with self.database.transaction() as session:
            decided = await decide_changes(session, changes)
            superseded = {
                lost.change.delivery_id: lost for lost in decided.lost if not _already_written(lost)
            }
            outcomes = {claim.job.delivery_id: outcome for claim, outcome in finished}
            for row in attempt_rows:
                lost = superseded.get(str(row["delivery_id"]))
                if lost is not None:
                    row["error"] = _superseded(lost, outcomes[lost.change.delivery_id])
                    row["outcome"] = SUPERSEDED
            for lost in superseded.values():
                log.warning(
                    "delivery %s: attempt %d ended after the delivery had moved on (%s); its outcome is "
                    "recorded on the attempt, the delivery is left as it is",
                    lost.change.delivery_id,
                    lost.change.attempt_count,
                    lost.describe(),
                )
            statement, ended = _end_attempts(self.database.is_postgres)
            await write_changes(session, decided.written, at=now, updates=[(statement, ended, attempt_rows)])

    def _next_state(
        self, attempt: int, outcome: Outcome, now: datetime
    ) -> tuple[DeliveryState, datetime | None, str | None, str]:
        """(state, next attempt time, last error, reason) after an attempt's outcome."""
        if outcome.kind is OutcomeKind.DELIVERED:
            status = f" (HTTP {outcome.http_status})" if outcome.http_status else ""
            remote = f"; the receiver's id: {outcome.remote_id}" if outcome.remote_id else ""
            detail = f" ({outcome.detail})" if outcome.detail else ""
            return DeliveryState.DELIVERED, None, None, f"delivered{status}{remote}{detail}"
        if outcome.kind is OutcomeKind.AWAITING_PICKUP:
            return DeliveryState.AWAITING_PICKUP, None, None, "waiting in the recipient's inbox"
        if outcome.kind is OutcomeKind.PERMANENT:
            return DeliveryState.FAILED, None, outcome.error, f"failed: {outcome.error}"
        if self.retry.exhausted(attempt):
            return (
                DeliveryState.FAILED,
                None,
                outcome.error,
                f"gave up after {attempt} attempts: {outcome.error}",
            )
        delay = self.retry.delay(attempt, retry_after=outcome.retry_after)
        return (
            DeliveryState.RETRYING,
            now + timedelta(seconds=delay),
            outcome.error,
            f"attempt {attempt} failed ({outcome.error}); next in {delay:.1f} s",
        )

    async def dead_lettered(self, delivery_id: str, reason: str) -> None:
        """A message the broker gave up on (its delivery limit): if the workers crashed on it every
        time, its delivery becomes `failed` with the reason; otherwise the broker gave it back for its
        own reasons and the delivery is handed out afresh. Waits while the database is away."""
        await while_unavailable(
            lambda: self._dead_lettered(delivery_id, reason), what="worker: recording a dead letter"
        )

    async def _dead_lettered(self, delivery_id: str, reason: str) -> None:
        now = utcnow()
        async with self.database.transaction() as session:
            row = (await _load(session, [delivery_id])).get(delivery_id)
            if row is None or DeliveryState(row.state) not in DISPATCHABLE:
                return
            crashes = await _crashes_in_a_row(session, delivery_id)
            if crashes <= self.settings.broker_delivery_limit:
                # Redelivered because workers were killed or the broker restarted, not because a
                # worker failed on it: the delivery's own budget is untouched. A waiting delivery is
                # handed out again by the relay; a `sending` one is its worker's until its lease ends.
                log.warning(
                    "delivery %s: dead-lettered by the broker after %d crash(es) only; handed out again",
                    delivery_id,
                    crashes,
                )
                await session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == delivery_id,
                        Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.RETRYING]),
                    )
                    .values(dispatched_at=None),
                    execution_options={"synchronize_session": False},
                )
                return
            await _close_open_attempts(session, [delivery_id], at=now, outcome="crashed")
            await apply_changes(
                session,
                [
                    Change(
                        delivery_id=delivery_id,
                        document_id=row.document_id,
                        recipient_code=row.recipient_code,
                        from_state=DeliveryState(row.state),
                        to_state=DeliveryState.FAILED,
                        reason=reason,
                        attempt_count=row.attempt_count,
                        dispatched_at=row.dispatched_at,
                        last_error=reason,
                        expected_attempt=row.attempt_count,
                    )
                ],
                at=now,
            )


async def _ack(messages: Sequence[BrokerMessage]) -> None:
    """Acknowledge what is settled. An acknowledgement the broker cannot take (its connection went
    away) is not an error: it redelivers the message, and the worker that gets it drops it."""
    results = await asyncio.gather(*(m.ack() for m in messages), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        log.info(
            "%d acknowledgement(s) not taken by the broker (%r); it will redeliver", len(failed), failed[0]
        )


def _already_written(lost: Lost) -> bool:
    """The change is where the delivery already is: our own earlier try committed before the
    database went away (its answer was lost), so this is not a lost race."""
    change = lost.change
    return lost.state is change.to_state and lost.attempt_count == change.attempt_count


def _superseded(lost: Lost, outcome: Outcome) -> str:
    what = outcome.kind.value
    if outcome.http_status:
        what += f" (HTTP {outcome.http_status})"
    if outcome.remote_id:
        what += f"; the receiver's id: {outcome.remote_id}"
    if outcome.error:
        what += f": {outcome.error}"
    return f"superseded: {lost.describe()} when this attempt ended; its outcome: {what}"


async def _own_attempts(session: AsyncSession, attempt_ids: Mapping[str, str]) -> dict[str, int]:
    """Which of these attempts exist already (delivery id -> attempt number)."""
    rows = await session.execute(
        select(Attempt.delivery_id, Attempt.number).where(Attempt.id.in_(list(attempt_ids.values())))
    )
    return {row.delivery_id: row.number for row in rows}


async def _crashes_in_a_row(session: AsyncSession, delivery_id: str) -> int:
    """How many of the delivery's latest attempts ended without an outcome (a worker took it and
    never answered: interrupted, or still open)."""
    outcomes = await session.scalars(
        select(Attempt.outcome).where(Attempt.delivery_id == delivery_id).order_by(Attempt.number.desc())
    )
    count = 0
    for outcome in outcomes:
        if outcome not in (None, "interrupted"):
            break
        count += 1
    return count


async def _load(session: AsyncSession, ids: Sequence[str]) -> dict[str, Row[Any]]:
    """The deliveries with what an attempt needs, locked on PostgreSQL until the transaction ends."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return {row.id: row for row in await session.execute(_load_rows(postgres), {"ids": list(ids)})}


# The statements of every batch, built once (as in app/delivery/service.py, `_change_state`).


@functools.cache
def _load_rows(postgres: bool) -> Select[*tuple[Any, ...]]:
    """`_load`'s statement: FOR NO KEY UPDATE, as `app.delivery.service._lock_rows`; SQLite's compiler
    leaves it out (its write transaction is exclusive)."""
    return (
        select(
            Delivery.id,
            Delivery.state,
            Delivery.connector,
            Delivery.recipient_code,
            Delivery.attempt_count,
            Delivery.next_attempt_at,
            Delivery.dispatched_at,
            Delivery.last_error,
            Delivery.document_id,
            Document.edxml_document_id,
            Document.sender_code,
            Document.kind,
            Document.sealed_sha256,
            Agency.endpoint,
            Agency.endpoint_timeout_seconds,
        )
        .join(Document, Document.id == Delivery.document_id)
        .outerjoin(Agency, Agency.code == Delivery.recipient_code)
        .where(one_of(Delivery.id, "ids", postgres=postgres))
        .with_for_update(of=Delivery, key_share=True)
    )


@functools.cache
def _end_attempts(postgres: bool) -> tuple[Update, RowsIn]:
    c = table_of(Attempt).c
    names = ("id", "ended_at", "outcome", "http_status", "error", "duration_ms")
    ended = RowsIn("ended", {name: c[name].type for name in names}, arrays=postgres)
    statement = (
        update(table_of(Attempt))
        .where(c.id == ended.c.id)
        .values({name: getattr(ended.c, name) for name in names[1:]})
    )
    return statement, ended


async def _close_open_attempts(
    session: AsyncSession, delivery_ids: Sequence[str], *, at: datetime, outcome: str
) -> None:
    await session.execute(
        update(Attempt)
        .where(Attempt.delivery_id.in_(delivery_ids), Attempt.ended_at.is_(None))
        .values(ended_at=at, outcome=outcome),
        execution_options={"synchronize_session": False},
    )
