"""The one place where a delivery's state changes, and the outbox queries of the relay.

Every change is checked against the state machine (`states.py`) and written together with its
history event and its exchange-log entry, in the caller's transaction. Changes come in batches: one
UPDATE, one event INSERT and one log INSERT for the whole batch, because every round trip counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import ExchangeEvent, append_exchange, exchange_entry
from app.delivery import states
from app.delivery.pauses import not_paused
from app.kit.db import table_of
from app.models import Delivery, DeliveryEvent, DeliveryState


@dataclass(frozen=True, slots=True)
class Change:
    """A delivery's move from one state to another, with the columns that go with the new state."""

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


async def apply_changes(session: AsyncSession, changes: Sequence[Change], *, at: datetime) -> None:
    """Write a batch of state changes, their events and their log entries. Raises IllegalTransition
    (nothing written) if any change is not allowed."""
    if not changes:
        return
    for change in changes:
        states.check(change.from_state, change.to_state, delivery_id=change.delivery_id)
    deliveries = table_of(Delivery)
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(
            state=bindparam("b_state"),
            attempt_count=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            dispatched_at=bindparam("b_dispatched"),
            last_error=bindparam("b_error"),
            remote_id=func.coalesce(bindparam("b_remote"), deliveries.c.remote_id),
            updated_at=at,
        ),
        [
            {
                "b_id": c.delivery_id,
                "b_state": c.to_state.value,
                "b_attempts": c.attempt_count,
                "b_next": c.next_attempt_at,
                "b_dispatched": c.dispatched_at,
                "b_error": c.last_error,
                "b_remote": c.remote_id,
            }
            for c in changes
        ],
    )
    await session.execute(
        insert(table_of(DeliveryEvent)),
        [
            {
                "delivery_id": c.delivery_id,
                "at": at,
                "from_state": c.from_state.value,
                "to_state": c.to_state.value,
                "reason": c.reason,
            }
            for c in changes
        ],
    )
    await append_exchange(
        session,
        *(
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
            for c in changes
        ),
    )


@dataclass(frozen=True, slots=True)
class Due:
    delivery_id: str
    connector: str
    state: DeliveryState


async def due_deliveries(session: AsyncSession, *, now: datetime, limit: int) -> list[Due]:
    """Deliveries to hand to the broker: queued or retrying ones whose time has come and that are not
    already with the broker, and `sending` ones whose lease ran out (their worker died). On
    PostgreSQL the rows stay locked until the caller's transaction ends, and rows another relay holds
    are skipped, so several relays never hand out the same delivery twice."""
    query = (
        select(Delivery.id, Delivery.connector, Delivery.state)
        .where(
            or_(
                and_(
                    Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.RETRYING]),
                    Delivery.dispatched_at.is_(None),
                    Delivery.next_attempt_at <= now,
                ),
                and_(Delivery.state == DeliveryState.SENDING, Delivery.next_attempt_at <= now),
            ),
            not_paused(),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = await session.execute(query)
    return [Due(row.id, row.connector, DeliveryState(row.state)) for row in rows]


async def mark_dispatched(
    session: AsyncSession, dispatched: Sequence[Due], *, now: datetime, lease: timedelta
) -> None:
    """Record that the broker has these deliveries. A `sending` one gets a new lease, so it is not
    handed out again while the worker that takes it over is busy with it."""
    waiting = [d.delivery_id for d in dispatched if d.state is not DeliveryState.SENDING]
    taken_over = [d.delivery_id for d in dispatched if d.state is DeliveryState.SENDING]
    if waiting:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(waiting)).values(dispatched_at=now),
            execution_options={"synchronize_session": False},
        )
    if taken_over:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(taken_over))
            .values(dispatched_at=now, next_attempt_at=now + lease),
            execution_options={"synchronize_session": False},
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
