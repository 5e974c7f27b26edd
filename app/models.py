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
    BigInteger,
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
    false,
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
    HUB = "hub"  # written by the hub itself (its periodic indicator reports, app.reports)


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
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until revoked
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to the minute, not exact


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when retention emptied `content`: the digest (and the log that names it) stays.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Last, so that SQLite keeps a zeroblob unwritten until the store writes it a slice at a time.
    content: Mapped[bytes] = mapped_column(LargeBinary)


NEW_DOCUMENT = "business_type = 0 AND kind = 'edoc'"
REVOKE = "business_type = 1 AND kind = 'edoc'"


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
        # The indicator reports ask, for every document of a period, whether it was revoked.
        Index("ix_documents_revokes", "related_id", sqlite_where=text(REVOKE), postgresql_where=text(REVOKE)),
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
    # MessageHeader/DueDate (hạn xử lý) and SteeringType (1: văn bản chỉ đạo), for the indicator reports.
    due_date: Mapped[date | None] = mapped_column(Date)
    steering_type: Mapped[int | None] = mapped_column(Integer)

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
    # Strict mode: a freshness window and no repeated signature. Off by default: the official SDK
    # keeps one timestamp (and so one signature per call) for the life of its service object.
    strict: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Source addresses (CIDRs, comma-separated) the system may call from; None: any.
    allowed_sources: Mapped[str | None] = mapped_column(String(1000))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to the minute, not exact


class VxpRequest(Base):
    """A signed `/vxp` request of a system in strict mode seen recently: a second one with the same
    signature is a replay. Rows older than twice the freshness window are deleted (a replay that old
    is refused as stale)."""

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


class User(Base):
    """A person who logs into the console (người dùng): an admin changes things, an auditor reads.

    `session_epoch` is written into every session cookie; raising it (new password, reset, disable)
    ends every session the person has open."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The console's and the admin API's delivery list: newest first (ids are time-ordered) within one
# state, connector or recipient, so each filter reads one index range instead of the whole table.
Index("ix_deliveries_state_id", Delivery.state, Delivery.id)
Index("ix_deliveries_connector_id", Delivery.connector, Delivery.id)
Index("ix_deliveries_recipient_id", Delivery.recipient_code, Delivery.id)
# The overview's counts per state and connector, read from the index alone.
Index("ix_deliveries_state_connector", Delivery.state, Delivery.connector)


# Operations: what operators switch (maintenance mode, paused connectors) and what the hub told them
# (alerts). Appended here so the schema stays in one module.


class HubFlag(Base):
    """A named piece of hub-wide state every replica reads: maintenance mode, the alert evaluator's
    cursor, the axis poller's last report. `value` is a small JSON object."""

    __tablename__ = "hub_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class ConnectorPause(Base):
    """A paused connector (`agency_code` empty) or one agency's endpoint on a connector: its due
    deliveries are not handed out until resumed. Nothing fails and no attempt is spent meanwhile."""

    __tablename__ = "connector_pauses"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)  # connector, or connector/code
    connector: Mapped[str] = mapped_column(String(40))
    agency_code: Mapped[str | None] = mapped_column(CODE)
    reason: Mapped[str] = mapped_column(Text, default="")
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paused_by: Mapped[str] = mapped_column(String(200))


class AlertRecord(Base):
    """One alert the evaluator raised: sent (to which channels, with what result), failed to send,
    suppressed by the rate limit, or only logged (no channel configured)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_rule_key_at", "rule", "key", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    rule: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # sent | failed | suppressed | logged
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Connector health reads the recent attempts by time.
Index("ix_attempts_started_at", Attempt.started_at)


class LogSource(StrEnum):
    """Which append-only log a transparency-log leaf records an entry of."""

    EXCHANGE = "exchange_log"
    ADMIN = "admin_log"


class LogLeaf(Base):
    """One leaf of the transparency log (nhật ký minh bạch): an exchange-log or admin-log entry, its
    place in the Merkle tree and the hash of its canonical bytes. Written by the integrator only;
    append-only like the logs themselves."""

    __tablename__ = "log_leaves"
    __table_args__ = (UniqueConstraint("source", "entry_id"),)

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[int] = mapped_column(BigInteger)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    integrated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogNode(Base):
    """A perfect subtree of the transparency log above the leaves: leaves [index·2^level,
    (index+1)·2^level). Proofs are read from these, O(log n) rows each."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogKey(Base):
    """The Ed25519 key that signs checkpoints (C2SP signed note); the private key is encrypted with
    the master key, like the sealing keys."""

    __tablename__ = "log_keys"
    __table_args__ = (
        Index(
            "uq_log_keys_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogCheckpoint(Base):
    """A signed checkpoint of the transparency log: the note exactly as signed and published."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LogTimestamp(Base):
    """An RFC 3161 timestamp token over a checkpoint's note, from the configured TSA."""

    __tablename__ = "log_timestamps"

    checkpoint_size: Mapped[int] = mapped_column(
        ForeignKey("log_checkpoints.size"), primary_key=True, autoincrement=False
    )
    token: Mapped[bytes] = mapped_column(LargeBinary)
    tsa_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Holiday(Base):
    """A day of the working calendar that differs from the rule "Monday to Friday": a public holiday
    or day off in lieu (`working` false), or a Saturday/Sunday worked in exchange (ngày làm bù,
    `working` true). A year with no row here uses the hub's built-in defaults (app.reports.calendar)."""

    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    working: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperCount(Base):
    """How many documents an agency sent on paper in a month (the denominator the hub cannot see),
    as an operator entered it, with where the figure comes from."""

    __tablename__ = "paper_counts"

    agency_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    paper_sent: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(300), default="")
    entered_by: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportDispatch(Base):
    """An indicator report the hub sent as a document: one per period and recipient."""

    __tablename__ = "report_dispatches"

    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    recipient_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)  # the report's CodeNumber, counted per year
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    sent_by: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportSnapshot(Base):
    """The per-agency facts of one report period, computed in the background (app.reports), so that
    reading a report does not recount a month or a year of traffic."""

    __tablename__ = "report_snapshots"

    period: Mapped[str] = mapped_column(String(30), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)  # statuses counted up to here
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
