"""What agency software gets back: the receipt of a submission and the view of a document."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


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


class DeliveryOut(DeliveryReceipt):
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    history: list[DeliveryEventOut]


class DocumentOut(BaseModel):
    id: str
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
