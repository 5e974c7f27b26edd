"""`/api/v1/inbox`: deliveries parked for agencies that pick their documents up themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.auth.deps import AgencyPrincipal
from app.delivery.inbox import acknowledge_pickup, awaiting_pickup
from app.kit.deps import ReadingSessionDep, SessionDep

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
    assert principal.agency_code is not None
    rows = await awaiting_pickup(session, principal.agency_code, limit=limit + 1, after=cursor)
    items = [
        InboxItem(
            delivery_id=delivery.id,
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
        for delivery, document in rows[:limit]
    ]
    return InboxPage(items=items, next_cursor=items[-1].delivery_id if len(rows) > limit else None)


@router.post("/{delivery_id}/ack", response_model=Acknowledged)
async def acknowledge(delivery_id: str, session: SessionDep, principal: AgencyPrincipal) -> Acknowledged:
    """The caller has taken the document: its delivery becomes `delivered`. Acknowledging again is
    harmless."""
    assert principal.agency_code is not None
    state = await acknowledge_pickup(session, delivery_id=delivery_id, recipient_code=principal.agency_code)
    return Acknowledged(delivery_id=delivery_id, state=state.value)
