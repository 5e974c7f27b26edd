"""What a connector is given (a Job) and what it answers (an Outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.documents.payloads import Body


class OutcomeKind(StrEnum):
    DELIVERED = "delivered"  # the receiver has it
    AWAITING_PICKUP = "awaiting_pickup"  # parked for the receiver to pull
    TRANSIENT = "transient"  # try again later (connection error, timeout, 408, 429, 5xx)
    PERMANENT = "permanent"  # trying again will not help (other 4xx, no endpoint, not configured)


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    remote_id: str | None = None  # the receiver's id for what it was handed (the axis's DocId)
    detail: str | None = None  # what else the delivery's history should say about this outcome


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt at one delivery, with everything the connector needs."""

    delivery_id: str  # also the idempotency key the receiver sees on every attempt
    document_id: str  # the hub's id
    edxml_document_id: str
    sender_code: str
    recipient_code: str
    message_type: str  # edoc (a document) or status (a status message)
    endpoint: str | None
    timeout_seconds: float
    attempt: int
    payload: Body | None  # the sealed edXML, for connectors that need it: sent a slice at a time


class Connector(Protocol):
    name: str
    needs_payload: bool

    async def deliver(self, job: Job) -> Outcome: ...

    async def close(self) -> None: ...
