"""The inbox: deliveries parked in `awaiting_pickup` for agencies that pick their documents up
themselves, through the REST inbox (`/api/v1/inbox`) or the axis-compatible API (`/vxp`).

Both doors list with the same query and settle a pickup with the same functions, so an agency's
software sees the same inbox whichever protocol it speaks.

A delivery waits in the inbox for as long as it takes: it never fails or expires by itself. One not
picked up within `inbox_pickup_alert_seconds` is flagged overdue (`pickup_overdue_at`, and an
exchange-log entry) by the relay's sweep, and `overdue_pickups` / `overdue_pickup_counts` are what an
alert or a metric reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import ExchangeEvent, append_exchange, exchange_entry
from app.delivery.service import Change, apply_changes
from app.kit.clock import utcnow
from app.kit.db import table_of
from app.kit.errors import Conflict, NotFound
from app.models import Delivery, DeliveryState, Document

REFUSED_BY_RECIPIENT = "refused by the recipient's system"


async def awaiting_pickup(
    session: AsyncSession,
    recipient_code: str,
    *,
    limit: int,
    after: str | None = None,
    kind: str | None = None,
    received_from: datetime | None = None,
    received_before: datetime | None = None,
) -> list[tuple[Delivery, Document]]:
    """The deliveries waiting for `recipient_code`, with their document, oldest first (delivery ids
    are time-ordered): after the delivery id `after`, of one message kind, received in
    [`received_from`, `received_before`)."""
    query = (
        select(Delivery, Document)
        .join(Document, Document.id == Delivery.document_id)
        .where(
            Delivery.recipient_code == recipient_code,
            Delivery.state == DeliveryState.AWAITING_PICKUP,
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if after:
        query = query.where(Delivery.id > after)
    if kind is not None:
        query = query.where(Document.kind == kind)
    if received_from is not None:
        query = query.where(Document.received_at >= received_from)
    if received_before is not None:
        query = query.where(Document.received_at < received_before)
    return [(delivery, document) for delivery, document in (await session.execute(query)).all()]


async def acknowledge_pickup(
    session: AsyncSession, *, delivery_id: str, recipient_code: str, via: str = ""
) -> DeliveryState:
    """The recipient has taken the document: awaiting_pickup -> delivered. Acknowledging a delivered
    one again changes nothing. NotFound unless the delivery is the recipient's; Conflict when it is
    not waiting in the inbox."""
    delivery = await _recipients_delivery(session, delivery_id, recipient_code)
    state = DeliveryState(delivery.state)
    if state is DeliveryState.DELIVERED:
        return state
    _check_waiting(delivery, state)
    await _change(
        session,
        delivery,
        DeliveryState.DELIVERED,
        reason=f"picked up by {recipient_code}" + (f" ({via})" if via else ""),
    )
    return DeliveryState.DELIVERED


async def refuse_pickup(
    session: AsyncSession, *, delivery_id: str, recipient_code: str, description: str, via: str = ""
) -> DeliveryState:
    """The recipient's software took the package but refused it: awaiting_pickup -> failed, with its
    description as the reason; operators see it and may requeue. Refusing a failed one again changes
    nothing. NotFound unless the delivery is the recipient's; Conflict when it is not waiting."""
    delivery = await _recipients_delivery(session, delivery_id, recipient_code)
    state = DeliveryState(delivery.state)
    if state is DeliveryState.FAILED:
        return state
    _check_waiting(delivery, state)
    reason = f"{REFUSED_BY_RECIPIENT}: {description}" if description else REFUSED_BY_RECIPIENT
    await _change(
        session,
        delivery,
        DeliveryState.FAILED,
        reason=reason + (f" ({via})" if via else ""),
        last_error=reason,
    )
    return DeliveryState.FAILED


async def note_processing(
    session: AsyncSession, *, delivery_id: str, recipient_code: str, via: str = ""
) -> None:
    """The recipient's software says it is working on the package. Nothing changes (it stays in the
    inbox until acknowledged or refused); the exchange log records it. NotFound unless the delivery
    is the recipient's; Conflict when it is not waiting."""
    delivery = await _recipients_delivery(session, delivery_id, recipient_code)
    state = DeliveryState(delivery.state)
    _check_waiting(delivery, state)
    await append_exchange(
        session,
        exchange_entry(
            ExchangeEvent.PICKUP_PROCESSING,
            document_id=delivery.document_id,
            delivery_id=delivery.id,
            agency_code=recipient_code,
            via=via,
        ),
    )


async def _recipients_delivery(session: AsyncSession, delivery_id: str, recipient_code: str) -> Delivery:
    delivery = await session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.recipient_code != recipient_code:
        raise NotFound(f"no delivery {delivery_id} for {recipient_code}")
    return delivery


def _check_waiting(delivery: Delivery, state: DeliveryState) -> None:
    if state is not DeliveryState.AWAITING_PICKUP:
        raise Conflict(f"delivery {delivery.id} is {state.value}, not waiting in the inbox")


async def _change(
    session: AsyncSession,
    delivery: Delivery,
    target: DeliveryState,
    *,
    reason: str,
    last_error: str | None = None,
) -> None:
    await apply_changes(
        session,
        [
            Change(
                delivery_id=delivery.id,
                document_id=delivery.document_id,
                recipient_code=delivery.recipient_code,
                from_state=DeliveryState(delivery.state),
                to_state=target,
                reason=reason,
                attempt_count=delivery.attempt_count,
                dispatched_at=delivery.dispatched_at,
                last_error=last_error,
            )
        ],
        at=utcnow(),
    )


@dataclass(frozen=True, slots=True)
class OverduePickup:
    delivery_id: str
    document_id: str
    recipient_code: str
    waiting_since: datetime  # when it entered the inbox (its last change)
    flagged_at: datetime


async def flag_overdue_pickups(
    session: AsyncSession, *, now: datetime, after: timedelta
) -> list[OverduePickup]:
    """Flag the inbox deliveries waiting longer than `after` and not flagged yet, each once, with an
    exchange-log entry; returns them. Their state does not change."""
    deliveries = table_of(Delivery)
    flagged = await session.execute(
        update(deliveries)
        .where(
            deliveries.c.state == DeliveryState.AWAITING_PICKUP.value,
            deliveries.c.pickup_overdue_at.is_(None),
            deliveries.c.updated_at <= now - after,
        )
        .values(pickup_overdue_at=now, updated_at=deliveries.c.updated_at)
        .returning(
            deliveries.c.id, deliveries.c.document_id, deliveries.c.recipient_code, deliveries.c.updated_at
        )
    )
    found = [
        OverduePickup(row.id, row.document_id, row.recipient_code, row.updated_at, now) for row in flagged
    ]
    if found:
        await append_exchange(
            session,
            *(
                exchange_entry(
                    ExchangeEvent.PICKUP_OVERDUE,
                    at=now,
                    document_id=item.document_id,
                    delivery_id=item.delivery_id,
                    agency_code=item.recipient_code,
                    waiting_since=item.waiting_since.isoformat(),
                    alert_after_seconds=after.total_seconds(),
                )
                for item in found
            ),
        )
    return found


async def overdue_pickups(
    session: AsyncSession, *, recipient_code: str | None = None, limit: int = 100
) -> list[OverduePickup]:
    """Inbox deliveries flagged overdue and still not picked up, longest waiting first."""
    query = (
        select(
            Delivery.id,
            Delivery.document_id,
            Delivery.recipient_code,
            Delivery.updated_at,
            Delivery.pickup_overdue_at,
        )
        .where(Delivery.state == DeliveryState.AWAITING_PICKUP, Delivery.pickup_overdue_at.is_not(None))
        .order_by(Delivery.updated_at)
        .limit(limit)
    )
    if recipient_code is not None:
        query = query.where(Delivery.recipient_code == recipient_code)
    return [
        OverduePickup(row.id, row.document_id, row.recipient_code, row.updated_at, row.pickup_overdue_at)
        for row in await session.execute(query)
    ]


async def overdue_pickup_counts(session: AsyncSession) -> dict[str, int]:
    """How many overdue inbox deliveries each recipient has (for a gauge; absent means none)."""
    rows = await session.execute(
        select(Delivery.recipient_code, func.count())
        .where(Delivery.state == DeliveryState.AWAITING_PICKUP, Delivery.pickup_overdue_at.is_not(None))
        .group_by(Delivery.recipient_code)
    )
    return {code: int(count) for code, count in rows}
