"""What agency software gets back: the receipt of a submission and the view of a document."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class SignatureOutcome(BaseModel):
    """The sender's own XML signature, as the hub found it."""

    kind: str  # absent | xmldsig | edxml-variant
    valid: bool | None  # None: absent, or present but not verifiable by standard tools
    reason: str | None = None


class DeliveryReceipt(BaseModel):
    id: str
    recipient: str
    connector: str
    state: str


class Receipt(BaseModel):
    id: str
    document_id: str
    sha256: str
    received_at: datetime
    deliveries: list[DeliveryReceipt]
    sealed_sha256: str
    seal_key_id: str | None
    sender_signature: SignatureOutcome
    related_id: str | None = None


class DeliveryEventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    reason: str


class StatusOut(BaseModel):
    """One entry of a recipient's status timeline, from a status message."""

    code: str
    meaning: str
    reporter: str
    description: str
    reported_at: str  # Status/Timestamp as the reporter wrote it (Vietnam time)
    received_at: datetime
    message_id: str  # the hub's id of the status message


class DeliveryOut(DeliveryReceipt):
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    remote_id: str | None = Field(description="the receiver's id for it (the axis's DocId)")
    history: list[DeliveryEventOut]
    statuses: list[StatusOut] = Field(description="the recipient's status timeline (đã đến … hoàn thành)")


class DocumentOut(BaseModel):
    id: str
    kind: str  # edoc (a document) or status (a status message)
    received_via: str  # api, vxp (the axis-compatible API) or axis (fetched from the national axis)
    document_id: str
    business_type: int
    related_id: str | None
    sender: str
    subject: str
    code_number: str
    code_notation: str
    promulgation_date: date | None
    received_at: datetime
    sha256: str
    sealed_sha256: str
    seal_key_id: str | None
    sender_signature: SignatureOutcome
    deliveries: list[DeliveryOut]
