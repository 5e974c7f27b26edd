"""What agency software gets back for a status message, and a timeline entry as documents show it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from app.documents.schemas import DeliveryReceipt


class StatusReceipt(BaseModel):
    id: str  # the hub's id of the status message
    document_id: str  # the edXML DocumentId it answers
    related_id: str  # the hub's id of that document
    status_code: str
    received_at: datetime
    routed_to: list[DeliveryReceipt]
