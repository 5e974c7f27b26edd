"""The one place where a delivery's state changes, and the outbox queries of the relay.

Every change is checked against the state machine (`states.py`) and written together with its
history event and its exchange-log entry, in the caller's transaction. Changes come in batches, and
on PostgreSQL a batch's UPDATE and INSERTs are one statement, because every round trip counts.

A change is a compare-and-set: it names the state (and, for the workers, the attempt) it expects the
delivery to be in, and is written only if the row is still there. A worker that outlived its lease
(frozen, or slower than its deadline) finds that another attempt has moved the delivery on: its
change is *lost*, returned to it instead of written, and nothing moves backwards.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import ExchangeEvent, exchange_entry
from app.delivery import states
from app.delivery.pauses import not_paused
from app.kit.db import Database, RowsIn, RowsUpdate, UTCDateTime, one_of, table_of, write_many
from app.models import Delivery, DeliveryEvent, DeliveryState, ExchangeLogEntry


@dataclass(frozen=True, slots=True)
class Change:
    """A delivery's move from one state to another, with the columns that go with the new state.

    `from_state` and `expected_attempt` are the compare-and-set expectation: the change is written
    only if the delivery is still in `from_state` and, unless `expected_attempt` is None, still has
    that attempt count (a worker's finish names the attempt it ran; an admin action names the state
    only)."""

    delivery_id: str
    document_id: str
    recipient_code: str
    from_state: DeliveryState
    to_state: DeliveryState
    reason: str
    attempt_count: int
    next_attempt_at: datetime | None = None
    dispatched_at: datetime | None = None
    last_error: str | None = None
    remote_id: str | None = None  # the receiver's id, once it gave one (kept when None)
    expected_attempt: int | None = None


@dataclass(frozen=True, slots=True)
class Lost:
    """A change that was not written: the delivery had moved on (or does not exist)."""

    change: Change
    state: DeliveryState | None  # where the delivery actually is; None if there is no such delivery
    attempt_count: int | None

    def describe(self) -> str:
        if self.state is None:
            return f"delivery {self.change.delivery_id} does not exist"
        return f"the delivery was already {self.state.value} (attempt {self.attempt_count})"


@dataclass(frozen=True, slots=True)
class Applied:
    """What `apply_changes` did: the changes written and the ones lost to a concurrent change."""

    written: list[Change] = field(default_factory=list)
    lost: list[Lost] = field(default_factory=list)


async def apply_changes(
    session: AsyncSession,
    changes: Sequence[Change],
    *,
    at: datetime,
    locked: Mapping[str, tuple[DeliveryState, int]] | None = None,
    written_with: Mapping[str, tuple[Table, dict[str, Any]]] | None = None,
) -> Applied:
    """Write a batch of state changes (one per delivery), their events and their log entries, each
    only if its delivery is still where the change expects it: `decide_changes`, then
    `write_changes`. Raises IllegalTransition (nothing written) if any change is not allowed by the
    state machine; returns the changes written and the ones lost."""
    applied = await decide_changes(session, changes, locked=locked)
    await write_changes(session, applied.written, at=at, written_with=written_with)
    return applied


async def decide_changes(
    session: AsyncSession,
    changes: Sequence[Change],
    *,
    locked: Mapping[str, tuple[DeliveryState, int]] | None = None,
) -> Applied:
    """Which changes can be written (their deliveries are where they expect) and which are lost,
    writing nothing; the deliveries' rows stay locked until the transaction ends, so the decision
    holds for `write_changes`. Raises IllegalTransition if any change is not allowed by the state
    machine. Each change to write names the attempt count it was decided against.

    `locked`: the deliveries' state and attempt count, when the caller has already read them with
    their rows locked in this transaction (the worker's claim); otherwise they are read and locked
    here."""
    if not changes:
        return Applied()
    for change in changes:
        states.check(change.from_state, change.to_state, delivery_id=change.delivery_id)
    current = locked if locked is not None else await _lock(session, [c.delivery_id for c in changes])
    applied = Applied()
    for change in changes:
        state, attempts = current.get(change.delivery_id, (None, None))
        if state is change.from_state and change.expected_attempt in (None, attempts):
            applied.written.append(replace(change, expected_attempt=attempts))
        else:
            applied.lost.append(Lost(change, state, attempts))
    return applied


async def write_changes(
    session: AsyncSession,
    written: Sequence[Change],
    *,
    at: datetime,
    written_with: Mapping[str, tuple[Table, dict[str, Any]]] | None = None,
    updates: Sequence[RowsUpdate] = (),
) -> None:
    """Write changes that `decide_changes` let through, with their events and log entries, in one
    statement on PostgreSQL (`write_many`). `written_with`: by delivery id, a row (of another table)
    to insert with that delivery's change (the claim's attempts); `updates`: more statements over
    rows, written in the same statement (the ends of the worker's attempts)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    statement, rows = _change_state(postgres)
    changed = [
        {
            "id": c.delivery_id,
            "from_state": c.from_state.value,
            "expected": c.expected_attempt,
            "state": c.to_state.value,
            "attempts": c.attempt_count,
            "next_at": c.next_attempt_at,
            "dispatched_at": c.dispatched_at,
            "error": c.last_error,
            "remote_id": c.remote_id,
            "at": at,
        }
        for c in written
    ]
    events = [
        {
            "delivery_id": c.delivery_id,
            "at": at,
            "from_state": c.from_state.value,
            "to_state": c.to_state.value,
            "reason": c.reason,
        }
        for c in written
    ]
    entries = [
        exchange_entry(
            ExchangeEvent.DELIVERY_STATE,
            at=at,
            document_id=c.document_id,
            delivery_id=c.delivery_id,
            agency_code=c.recipient_code,
            from_state=c.from_state.value,
            to_state=c.to_state.value,
            reason=c.reason,
            **({"remote_id": c.remote_id} if c.remote_id else {}),
        )
        for c in written
    ]
    along: dict[Table, list[dict[str, Any]]] = {}
    for c in written:
        if written_with and c.delivery_id in written_with:
            table, row = written_with[c.delivery_id]
            along.setdefault(table, []).append(row)
    await write_many(
        session,
        (table_of(DeliveryEvent), events),
        (table_of(ExchangeLogEntry), entries),
        *along.items(),
        updates=[(statement, rows, changed), *updates],
    )


async def _lock(session: AsyncSession, ids: Sequence[str]) -> dict[str, tuple[DeliveryState, int]]:
    """The deliveries' state and attempt count, their rows locked until the transaction ends
    (PostgreSQL: FOR NO KEY UPDATE, in id order so that two batches never wait for each other;
    SQLite: the write transaction is already exclusive), so a comparison and the write that follows
    cannot be separated by another writer."""
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = await session.execute(_lock_rows(postgres), {"ids": list(ids)})
    return {row.id: (DeliveryState(row.state), row.attempt_count) for row in rows}


# The statements of every batch, built once: building one and computing its cache key costs more
# than executing it (0.7 ms for the relay's hand-out), and SQLAlchemy does both for every new object.


@functools.cache
def _change_state(postgres: bool) -> tuple[Update, RowsIn]:
    deliveries = table_of(Delivery)
    c = deliveries.c
    rows = RowsIn(
        "change",
        {
            "id": c.id.type,
            "from_state": c.state.type,
            "expected": c.attempt_count.type,
            "state": c.state.type,
            "attempts": c.attempt_count.type,
            "next_at": c.next_attempt_at.type,
            "dispatched_at": c.dispatched_at.type,
            "error": c.last_error.type,
            "remote_id": c.remote_id.type,
            "at": c.updated_at.type,
        },
        arrays=postgres,
    )
    statement = (
        update(deliveries)
        .where(c.id == rows.c.id, c.state == rows.c.from_state, c.attempt_count == rows.c.expected)
        .values(
            state=rows.c.state,
            attempt_count=rows.c.attempts,
            next_attempt_at=rows.c.next_at,
            dispatched_at=rows.c.dispatched_at,
            last_error=rows.c.error,
            remote_id=func.coalesce(rows.c.remote_id, c.remote_id),
            updated_at=rows.c.at,
        )
    )
    return statement, rows


@functools.cache
def _lock_rows(postgres: bool) -> Select[str, str, int]:
    """PostgreSQL: FOR NO KEY UPDATE, the lock an UPDATE that keeps the key takes, which lets the
    foreign-key checks of other transactions' inserts (attempts, events, log entries) through
    (SQLite's compiler leaves it out: its write transaction is exclusive)."""
    deliveries = table_of(Delivery)
    return (
        select(deliveries.c.id, deliveries.c.state, deliveries.c.attempt_count)
        .where(one_of(deliveries.c.id, "ids", postgres=postgres))
        .order_by(deliveries.c.id)
        .with_for_update(key_share=True)
    )


@dataclass(frozen=True, slots=True)
class Due:
    delivery_id: str
    connector: str
    state: DeliveryState


def due_query(
    *,
    now: datetime | ColumnElement[datetime],
    unclaimed_before: datetime | ColumnElement[datetime] | None = None,
) -> Select[str, str, str]:
    """The relay's selection, which is also the sweeper: deliveries to hand to the broker.

    - queued or retrying ones whose time has come and that are not with the broker;
    - queued or retrying ones the broker was handed before `unclaimed_before` and no worker ever
      claimed: the message was lost outside the hub (a purged queue, a reset virtual host, a
      dead letter whose handler failed, an in-process dispatcher that went away);
    - `sending` ones whose lease ran out (their worker died, hung, or was frozen).

    Deliveries of a paused connector or endpoint are left out (`app.delivery.pauses`): they wait."""
    waiting = Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.RETRYING])
    due = [
        and_(waiting, Delivery.dispatched_at.is_(None), Delivery.next_attempt_at <= now),
        and_(Delivery.state == DeliveryState.SENDING, Delivery.next_attempt_at <= now),
    ]
    if unclaimed_before is not None:
        due.append(and_(waiting, Delivery.dispatched_at <= unclaimed_before))
    return (
        select(Delivery.id, Delivery.connector, Delivery.state)
        .where(or_(*due), not_paused())
        .order_by(Delivery.next_attempt_at)
    )


async def hand_out(
    database: Database, *, now: datetime, limit: int, lease: timedelta, unclaimed_before: datetime
) -> list[Due]:
    """The relay's hand-out, one statement: at most `limit` deliveries of `due_query` marked as with
    the broker (`dispatched_at`). A `sending` one gets a new lease, so that it is not handed out
    again while the worker that takes it over is busy with it.

    It commits before the relay publishes, so a worker's claim never waits for the relay's
    transaction. On PostgreSQL the selection skips rows another relay has locked (`SKIP LOCKED`), so
    several relays never hand out the same delivery. What the broker does not confirm is taken back
    (`take_back`); if the relay dies between the two, the sweep hands it out again after
    `delivery_unclaimed_seconds` (a waiting delivery) or the lease (a taken-over one)."""
    parameters = {
        "now": now,
        "leased_until": now + lease,
        "unclaimed_before": unclaimed_before,
        "limit": limit,
    }
    rows = await database.at_once(_hand_out(), parameters)
    return [Due(row.id, row.connector, DeliveryState(row.state)) for row in rows]


@functools.cache
def _hand_out() -> Update:
    """`hand_out`'s statement, built once (see above `_change_state`)."""
    now, leased_until, unclaimed_before = (
        bindparam(name, type_=UTCDateTime) for name in ("now", "leased_until", "unclaimed_before")
    )
    deliveries = table_of(Delivery)
    chosen = (
        due_query(now=now, unclaimed_before=unclaimed_before)
        .with_only_columns(Delivery.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return (
        update(deliveries)
        .where(deliveries.c.id.in_(chosen.with_for_update(skip_locked=True, key_share=True)))
        .values(
            dispatched_at=now,
            next_attempt_at=case(
                (deliveries.c.state == DeliveryState.SENDING, leased_until),
                else_=deliveries.c.next_attempt_at,
            ),
        )
        .returning(deliveries.c.id, deliveries.c.connector, deliveries.c.state)
    )


async def take_back(
    session: AsyncSession, unconfirmed: Sequence[Due], *, at: datetime, lease: timedelta
) -> None:
    """Make the deliveries of a hand-out at `at` that the broker did not confirm due again at once.
    Only where the hand-out left them: a publish that timed out may still have reached a worker,
    whose claim has moved the delivery on."""
    deliveries = table_of(Delivery)
    handed = deliveries.c.id.in_([d.delivery_id for d in unconfirmed]) & (deliveries.c.dispatched_at == at)
    await session.execute(
        update(deliveries)
        .where(handed, deliveries.c.state.in_([DeliveryState.QUEUED, DeliveryState.RETRYING]))
        .values(dispatched_at=None)
    )
    await session.execute(
        update(deliveries)
        .where(
            handed, deliveries.c.state == DeliveryState.SENDING, deliveries.c.next_attempt_at == at + lease
        )
        .values(next_attempt_at=at)
    )


async def forget_dispatches(session: AsyncSession, *, now: datetime) -> int:
    """After the in-process dispatcher restarts, nothing is with it any more: every undelivered
    delivery it had is due again at once."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.state.in_(states.DISPATCHABLE), Delivery.dispatched_at.is_not(None))
        .values(dispatched_at=None, next_attempt_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
