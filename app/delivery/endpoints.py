"""`/api/v1/inbox`: deliveries parked for agencies that pick their documents up themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from app.auth.deps import AgencyPrincipal
from app.delivery.service import Change, apply_changes
from app.kit.clock import utcnow
from app.kit.deps import ReadingSessionDep, SessionDep
from app.kit.errors import Conflict, NotFound
from app.models import Delivery, DeliveryState, Document

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])


class InboxItem(BaseModel):
    delivery_id: str
    kind: str  # edoc (a document) or status (a status message about a document the caller sent)
    document: str  # the hub's id: GET /api/v1/documents/{document}/edxml fetches it
    document_id: str  # edXML DocumentId
    sender: str
    subject: str
    code_number: str
    code_notation: str
    received_at: datetime
    sealed_sha256: str
    edxml_url: str


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None


class Acknowledged(BaseModel):
    delivery_id: str
    state: str


@router.get("", response_model=InboxPage)
async def inbox(
    session: ReadingSessionDep,
    principal: AgencyPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=36, description="next_cursor of the previous page")
    ] = None,
) -> InboxPage:
    """Documents waiting for the caller's agency, oldest first."""
    query = (
        select(Delivery.id, Document)
        .join(Document, Document.id == Delivery.document_id)
        .where(
            Delivery.recipient_code == principal.agency_code,
            Delivery.state == DeliveryState.AWAITING_PICKUP,
        )
        .order_by(Delivery.id)
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(Delivery.id > cursor)
    rows = (await session.execute(query)).all()
    items = [
        InboxItem(
            delivery_id=delivery_id,
            kind=document.kind,
            document=document.id,
            document_id=document.edxml_document_id,
            sender=document.sender_code,
            subject=document.subject,
            code_number=document.code_number,
            code_notation=document.code_notation,
            received_at=document.received_at,
            sealed_sha256=document.sealed_sha256,
            edxml_url=f"/api/v1/documents/{document.id}/edxml",
        )
        for delivery_id, document in rows[:limit]
    ]
    return InboxPage(items=items, next_cursor=items[-1].delivery_id if len(rows) > limit else None)


@router.post("/{delivery_id}/ack", response_model=Acknowledged)
async def acknowledge(delivery_id: str, session: SessionDep, principal: AgencyPrincipal) -> Acknowledged:
    """The caller has taken the document: its delivery becomes `delivered`. Acknowledging again is
    harmless."""
    delivery = await session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.recipient_code != principal.agency_code:
        raise NotFound(f"no delivery {delivery_id} for {principal.agency_code}")
    state = DeliveryState(delivery.state)
    if state is DeliveryState.DELIVERED:
        return Acknowledged(delivery_id=delivery_id, state=state.value)
    if state is not DeliveryState.AWAITING_PICKUP:
        raise Conflict(f"delivery {delivery_id} is {state.value}, not waiting in the inbox")
    now = utcnow()
    await apply_changes(
        session,
        [
            Change(
                delivery_id=delivery.id,
                document_id=delivery.document_id,
                recipient_code=delivery.recipient_code,
                from_state=state,
                to_state=DeliveryState.DELIVERED,
                reason=f"picked up by {principal.agency_code}",
                attempt_count=delivery.attempt_count,
                dispatched_at=delivery.dispatched_at,
            )
        ],
        at=now,
    )
    return Acknowledged(delivery_id=delivery_id, state=DeliveryState.DELIVERED.value)
