"""The inbox: deliveries parked in `awaiting_pickup` for agencies that pick their documents up
themselves, through the REST inbox (`/api/v1/inbox`) or the axis-compatible API (`/vxp`).

Both doors list with the same query and settle a pickup with the same functions, so an agency's
software sees the same inbox whichever protocol it speaks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import ExchangeEvent, append_exchange, exchange_entry
from app.delivery.service import Change, apply_changes
from app.kit.clock import utcnow
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
