"""The hub's tables, in the order a document meets them.

Directory and credentials first, then the document with its payloads, its deliveries (one per
recipient) and their events, and the append-only exchange log. Relationships are `lazy="raise"`: an
accidental lazy load in async code fails loudly in tests instead of quietly in production.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.kit.clock import utcnow
from app.kit.db import Base, BigIntPK, UTCDateTime
from app.kit.ids import new_id

CODE = String(35)  # agency codes: at most 35 characters (edxml.md §3)


class AgencyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class SignaturePolicy(StrEnum):
    OPTIONAL = "optional"
    REQUIRED = "required"


class Role(StrEnum):
    AGENCY = "agency"
    ADMIN = "admin"
    AUDITOR = "auditor"


class MessageKind(StrEnum):
    """What a stored message is; the names are the axis's `messagetype` values."""

    DOCUMENT = "edoc"  # gói tin văn bản
    STATUS = "status"  # gói tin trạng thái


class Channel(StrEnum):
    """How a message reached the hub."""

    API = "api"  # POST /api/v1/documents or /api/v1/statuses
    VXP = "vxp"  # the axis-compatible API, /vxp/sendEdoc
    AXIS = "axis"  # fetched from the national axis by the inbound poller


class AgencySource(StrEnum):
    LOCAL = "local"  # added by the province's operators (agency add/import, demo directory)
    AXIS = "axis"  # listed by the national axis's directory (kept in step by the directory sync)


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    AWAITING_PICKUP = "awaiting_pickup"
    DELIVERED = "delivered"
    FAILED = "failed"
    DISCARDED = "discarded"


class Agency(Base):
    """An entry of the agency directory (danh mục mã định danh)."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    parent_code: Mapped[str | None] = mapped_column(CODE, index=True)
    status: Mapped[str] = mapped_column(String(16), default=AgencyStatus.ACTIVE)
    successor_code: Mapped[str | None] = mapped_column(CODE)
    old_code: Mapped[str | None] = mapped_column(CODE)
    endpoint: Mapped[str | None] = mapped_column(String(500))
    endpoint_timeout_seconds: Mapped[float | None] = mapped_column(Float)
    email: Mapped[str | None] = mapped_column(String(100))
    signature_policy: Mapped[str] = mapped_column(String(16), default=SignaturePolicy.OPTIONAL)
    source: Mapped[str] = mapped_column(String(8), default=AgencySource.LOCAL, server_default="local")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Credential(Base):
    """A bearer token, stored only as its SHA-256 (tokens carry 256 bits of entropy)."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    role: Mapped[str] = mapped_column(String(16))
    agency_code: Mapped[str | None] = mapped_column(ForeignKey("agencies.code"))
    holder: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Route(Base):
    """A routing rule: an exact agency code or a pattern over the code hierarchy -> a connector."""

    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pattern: Mapped[str] = mapped_column(String(40), unique=True)
    connector: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payload(Base):
    """Document bytes, addressed by their SHA-256: stored once, never changed."""

    __tablename__ = "payloads"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


NEW_DOCUMENT = "business_type = 0 AND kind = 'edoc'"


class Document(Base):
    """An accepted edXML message: its metadata, the bytes as received and the bytes as forwarded.

    Most are documents (kind `edoc`); status messages (kind `status`) are stored and forwarded the
    same way, with `edxml_document_id` = the DocumentId they answer and `related_id` = that document.
    """

    __tablename__ = "documents"
    __table_args__ = (
        # Duplicate detection on DocumentId applies to new documents only (edxml.md §1.2).
        Index(
            "uq_documents_new_edxml_id",
            "edxml_document_id",
            unique=True,
            sqlite_where=text(NEW_DOCUMENT),
            postgresql_where=text(NEW_DOCUMENT),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(8), default=MessageKind.DOCUMENT, server_default="edoc")
    edxml_document_id: Mapped[str] = mapped_column(String(200), index=True)
    business_type: Mapped[int] = mapped_column(Integer, default=0)
    related_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id"), index=True)
    sender_code: Mapped[str] = mapped_column(CODE, index=True)
    subject: Mapped[str] = mapped_column(Text)
    code_number: Mapped[str] = mapped_column(String(40))
    code_notation: Mapped[str] = mapped_column(String(60))
    promulgation_date: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    submitted_by: Mapped[str | None] = mapped_column(ForeignKey("credentials.id"))
    original_sha256: Mapped[str] = mapped_column(ForeignKey("payloads.sha256"), unique=True)
    sealed_sha256: Mapped[str] = mapped_column(ForeignKey("payloads.sha256"))
    sender_signature: Mapped[str] = mapped_column(String(24), default="absent")
    sender_signature_detail: Mapped[str | None] = mapped_column(Text)
    seal_key_id: Mapped[str | None] = mapped_column(String(36))
    received_via: Mapped[str] = mapped_column(String(8), default=Channel.API, server_default="api")
    external_id: Mapped[str | None] = mapped_column(String(100), index=True)  # the axis's DocId

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="document", lazy="raise", order_by="Delivery.recipient_code"
    )


class Delivery(Base):
    """One recipient of one document, and where its delivery stands."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("document_id", "recipient_code"),
        Index("ix_deliveries_due", "state", "dispatched_at", "next_attempt_at"),
        Index("ix_deliveries_recipient_state", "recipient_code", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    recipient_code: Mapped[str] = mapped_column(CODE)
    connector: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.QUEUED)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the relay's publish of this delivery was confirmed; cleared when it is due again.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The receiver's own id for what it was handed (the axis's DocId for `national-axis`).
    remote_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # When an inbox delivery was found not picked up in time (inbox_pickup_alert_seconds): an alert,
    # never a state change. Kept after the pickup, as a record that it was late.
    pickup_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    document: Mapped[Document] = relationship(back_populates="deliveries", lazy="raise")
    events: Mapped[list[DeliveryEvent]] = relationship(lazy="raise", order_by="DeliveryEvent.id")
    statuses: Mapped[list[StatusReport]] = relationship(lazy="raise", order_by="StatusReport.id")


class DeliveryEvent(Base):
    """One change of a delivery's state, with its time and reason."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")


class Attempt(Base):
    """One try at handing a delivery to its receiver."""

    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(
        String(20)
    )  # delivered | awaiting_pickup | transient | permanent
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class StatusReport(Base):
    """One entry of a recipient's status timeline (đã đến … hoàn thành), from a status message.

    `delivery_id` is the delivery of the original document to the reporter (for a recall, code 13,
    reported by the sender: one entry on each recipient's delivery)."""

    __tablename__ = "status_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))  # the status message itself
    reporter_code: Mapped[str] = mapped_column(CODE)
    status_code: Mapped[str] = mapped_column(String(2))
    description: Mapped[str] = mapped_column(Text, default="")
    reported_at: Mapped[str] = mapped_column(String(19), default="")  # Status/Timestamp as written
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExchangeLogEntry(Base):
    """Append-only record of everything that happened to what was exchanged (received, rejected,
    stored, routed, …). The database refuses UPDATE and DELETE on this table."""

    __tablename__ = "exchange_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(32), index=True)
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(36))
    agency_code: Mapped[str | None] = mapped_column(CODE, index=True)
    credential_id: Mapped[str | None] = mapped_column(String(36))
    sha256: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SigningKey(Base):
    """One of the hub's sealing keys; the private key is encrypted with the master key."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one active key, even under concurrent rotations.
        Index(
            "uq_signing_keys_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    algorithm: Mapped[str] = mapped_column(String(24))
    certificate_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgencyCertificate(Base):
    """A certificate an agency registered for its own XML signatures (pinned, not chain-trusted)."""

    __tablename__ = "agency_certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"), index=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VxpSystem(Base):
    """An agency's software on the axis-compatible API (`/vxp`): its system id and HMAC secret,
    encrypted with the master key (the secret must be recoverable to check signatures)."""

    __tablename__ = "vxp_systems"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the system id
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"), index=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    holder: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VxpRequest(Base):
    """A signed `/vxp` request seen recently: a second one with the same signature is a replay.
    Rows older than the timestamp window are deleted (a replay that old is refused as stale)."""

    __tablename__ = "vxp_requests"

    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Lease(Base):
    """A named job only one hub replica may run at a time (the axis poller), held until `expires_at`."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdminLogEntry(Base):
    """Append-only record of every administrative action (CLI or API): who, what, on what."""

    __tablename__ = "admin_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
