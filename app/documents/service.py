"""The intake pipeline: from the bytes an agency sent to a sealed, routed document stored with one
queued delivery per recipient.

The steps, in the order a document meets them:

1. read: hardened parse, schema, the format's own rules (`app.edxml`), all problems at once; then
   seal the tree just read: append the hub's TraceHeader and sign (`app.sealing`, `read_and_seal`);
2. identify: the sender must be the agency of the credential;
3. check against the hub's state: the directory (known, active agencies), the document a
   revoke/update/replace acts on, a route for every recipient;
4. verify the sender's own signature against its registered certificates and policy;
5. store, all or nothing (on PostgreSQL one statement): payloads, document, deliveries with their
   first event, log entries. Its unique indexes catch the same bytes again (answered as the first
   time: idempotent) and a new document's DocumentId already used (409).

Nothing touches the database while XML is parsed or signed, and CPU-heavy steps run in a worker
thread so the event loop keeps serving (a message under 32 KiB, about a millisecond of work, is read
and sealed on the loop: `cpu_step`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509
from sqlalchemy import Table, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.agencies.service import agencies_by_code
from app.audit.log import ExchangeEvent, append_exchange, exchange_entry
from app.auth.service import Principal
from app.documents.payloads import payload_writes
from app.documents.schemas import DeliveryReceipt, Receipt, SignatureOutcome
from app.edxml import (
    BusinessDocType,
    EdxmlDocument,
    Organization,
    ParsedTree,
    SignatureKind,
    read_document_tree,
)
from app.i18n import N_
from app.kit.changes import Changes
from app.kit.clock import utcnow, vietnam_now
from app.kit.cpu import cpu_step
from app.kit.db import Database, table_of
from app.kit.errors import Conflict, Forbidden, HubError, InvalidDocument, NotFound, Problem
from app.kit.ids import new_id
from app.models import (
    Agency,
    AgencyStatus,
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Document,
    ExchangeLogEntry,
    MessageKind,
    Payload,
    SignaturePolicy,
)
from app.routing.service import RouteDecision, decide, is_local, load_rules
from app.sealing.seal import Sealer
from app.sealing.sender import SenderSignatureCheck, judged
from app.sealing.service import agency_certificates

#: Stored as the sender's signature kind of a document that came through the national axis signed by
#: an agency whose certificate is not registered here: kept as it is, not verified.
UNVERIFIED_FROM_AXIS = "xmldsig-unverified"

M = TypeVar("M")  # what a reader makes of a message: a document or a status message


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who hands the hub a message, and through which door. The exchange log names them."""

    channel: Channel
    agency_code: str | None  # the agency the caller speaks for; None for the national axis
    credential_id: str | None = None  # the bearer credential (REST API)
    system_id: str | None = None  # the agency's system (axis-compatible API)
    external_id: str | None = None  # the axis's DocId of what the inbound poller fetched

    @classmethod
    def of(cls, principal: Principal) -> Submitter:
        return cls(Channel.API, principal.agency_code, credential_id=principal.credential_id)

    @property
    def from_axis(self) -> bool:
        return self.channel is Channel.AXIS

    def check_sender(self, sender: Organization) -> None:
        """An agency may only send in its own name (403 otherwise)."""
        if self.agency_code is not None and sender.organ_id != self.agency_code:
            raise Forbidden(
                f"the message is sent by {sender.organ_id} but this caller speaks for {self.agency_code}",
                [Problem(sender.path, "sender-not-caller", "From/OrganId must be your own agency code")],
            )

    def log_fields(self) -> dict[str, Any]:
        """The exchange-log fields that name the submitter (besides the agency code)."""
        fields: dict[str, Any] = {"credential_id": self.credential_id, "channel": self.channel.value}
        if self.system_id:
            fields["system_id"] = self.system_id
        if self.external_id:
            fields["axis_doc_id"] = self.external_id
        return fields


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """Step 4's result: the bytes as received and as forwarded, and who sealed them when."""

    original: bytes
    digest: str
    sealed: bytes
    sealed_digest: str
    key_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IntakeResult:
    receipt: Receipt
    created: bool  # False when the same bytes had been accepted before


@dataclass(frozen=True, slots=True)
class _Checked:
    """What step 3 learned: where each recipient goes and what the document acts on."""

    routes: list[RouteDecision]
    related_id: str | None
    sender_policy: SignaturePolicy
    sender_certificates: list[x509.Certificate]


async def submit_document(
    database: Database, sealer: Sealer, submitter: Submitter, body: bytes, *, hub_code: str
) -> IntakeResult:
    """Run the pipeline on one submission. Raises a HubError (4xx) for anything refused.

    Whether the same bytes (a replay) or a new document's DocumentId (a conflict) came before is not
    asked up front: the store's unique indexes say it, races included, so the common case costs no
    lookup. A replay is answered as it was the first time, even if checking it again now would fail."""
    document, message = await read_and_seal(read_document_tree, body, sealer, hub_code=hub_code)
    submitter.check_sender(document.sender)
    try:
        async with database.reading() as session:
            checked = await _check_against_hub(session, document, submitter, database.changes)
        signature = await judged(
            body,
            document.signature,
            checked.sender_certificates,
            checked.sender_policy,
            who="sender",
            from_axis=submitter.from_axis,
            at=message.at,
        )
    except HubError:
        replay, _ = await _earlier_documents(database, message.digest, document)
        if replay is None:
            raise
        return await _replayed(database, submitter, replay)
    try:
        return await _store(database, submitter, document, checked, signature, message)
    except IntegrityError:
        replay, conflicting = await _earlier_documents(database, message.digest, document)
        if replay is not None:
            return await _replayed(database, submitter, replay)
        if conflicting:
            raise _duplicate_document_id(document) from None
        raise


async def read_and_seal(
    read: Callable[..., tuple[M, ParsedTree]], body: bytes, sealer: Sealer, *, hub_code: str
) -> tuple[M, SealedMessage]:
    """Read a message with `read` (`read_document_tree` or `read_status_tree`) and seal the tree it
    built, sealed as of now: one parse, in one step with the digests (hashing 50 MB alone takes a
    tenth of a second), in a worker thread unless the message is small (`cpu_step`). Sealing
    before the checks against the hub costs a refused message a seal, and saves every accepted one a
    second parse."""
    at, today = utcnow(), vietnam_now().date()

    def step() -> tuple[M, SealedMessage]:
        message, tree = read(body, today=today)
        sealed = sealer.seal_tree(tree.root, hub_code=hub_code, at=at, lifted=tree.lifted)
        digests = hashlib.sha256(body).hexdigest(), hashlib.sha256(sealed).hexdigest()
        return message, SealedMessage(body, digests[0], sealed, digests[1], sealer.key_id, at)

    return await cpu_step(len(body), step)


async def _check_against_hub(
    session: AsyncSession, document: EdxmlDocument, submitter: Submitter, changes: Changes
) -> _Checked:
    problems: list[Problem] = []
    rules = await load_rules(session, changes)
    recipients = list(document.recipients)
    if submitter.from_axis:
        # The axis hands the province what is addressed to its agencies; the other recipients are
        # served by their own provinces. A document "from" a local agency cannot come from outside.
        recipients = [r for r in recipients if is_local(rules, r.organ_id)]
        if is_local(rules, document.sender.organ_id):
            problems.append(
                Problem(
                    document.sender.path,
                    "sender-is-local",
                    f"{document.sender.organ_id} is an agency of this province; it sends through the hub, "
                    "not through the national axis",
                )
            )
        if not recipients:
            problems.append(
                Problem(
                    document.recipients[0].path,
                    "no-local-recipient",
                    "none of the recipients is an agency of this province",
                )
            )
    organizations = [document.sender, *recipients]
    directory = await agencies_by_code(session, (o.organ_id for o in organizations), changes)
    for organization in organizations:
        if problem := _directory_problem(organization, directory.get(organization.organ_id)):
            problems.append(problem)

    related_id = None
    business = document.business
    if business.doc_type is not BusinessDocType.NEW:
        related = await session.scalar(
            select(Document.id).where(
                Document.edxml_document_id == business.document_id,
                Document.kind == MessageKind.DOCUMENT,
                Document.business_type == BusinessDocType.NEW,
                Document.sender_code == document.sender.organ_id,
            )
        )
        if related is None:
            problems.append(
                Problem(
                    business.document_id_path,
                    "unknown-document",
                    f"a {business.doc_type.name.lower()} must name a document that "
                    f"{document.sender.organ_id} sent through this hub; no document "
                    f"{business.document_id!r} was found",
                )
            )
        related_id = related
        if related is not None:
            # A revoke, update or replace reaches everyone who received the original, named or not.
            named = {r.organ_id for r in recipients}
            earlier = await original_recipients(session, related)
            if submitter.from_axis:
                earlier = [code for code in earlier if is_local(rules, code)]
            extra = [code for code in earlier if code not in named]
            directory.update(await agencies_by_code(session, extra, changes))
            recipients += [
                Organization(code, business.document_id_path)
                for code in extra
                if code in directory and directory[code].status == AgencyStatus.ACTIVE
            ]

    routes = []
    for recipient in recipients:
        agency = directory.get(recipient.organ_id)
        if agency is None or agency.status != AgencyStatus.ACTIVE:
            continue
        decision = decide(rules, agency)
        if decision is None:
            problems.append(
                Problem(recipient.path, "no-route", f"no routing rule reaches {recipient.organ_id}")
            )
        else:
            routes.append(decision)

    if problems:
        against = N_("the document has {count} problem(s) against the directory")
        raise InvalidDocument(against, problems, params={"count": len(problems)})

    sender = directory[document.sender.organ_id]
    signed = document.signature is SignatureKind.XMLDSIG
    return _Checked(
        routes=sorted(routes, key=lambda route: route.recipient),
        related_id=related_id,
        sender_policy=SignaturePolicy(sender.signature_policy),
        sender_certificates=await agency_certificates(session, sender.code, now=utcnow()) if signed else [],
    )


def _directory_problem(organization: Organization, agency: Agency | None) -> Problem | None:
    code = organization.organ_id
    if agency is None:
        return Problem(organization.path, "unknown-agency", f"{code} is not in the agency directory")
    if agency.status == AgencyStatus.SUSPENDED:
        return Problem(organization.path, "agency-suspended", f"{code} ({agency.name}) is suspended")
    if agency.status == AgencyStatus.CLOSED:
        successor = f"; its successor is {agency.successor_code}" if agency.successor_code else ""
        return Problem(organization.path, "agency-closed", f"{code} ({agency.name}) is closed{successor}")
    return None


def _duplicate_document_id(document: EdxmlDocument) -> Conflict:
    return Conflict(
        "another document with this DocumentId was already accepted; a new document needs a new "
        "DocumentId (a revoke, update or replace sets BussinessDocType 1, 2 or 3)",
        [Problem(document.document_id_path, "duplicate-document-id", document.document_id)],
    )


async def _store(
    database: Database,
    submitter: Submitter,
    document: EdxmlDocument,
    checked: _Checked,
    signature: SenderSignatureCheck,
    message: SealedMessage,
) -> IntakeResult:
    """Step 5: everything in one transaction."""
    signature_kind = signature.kind.value
    if submitter.from_axis and signature.kind is SignatureKind.XMLDSIG and signature.valid is None:
        signature_kind = UNVERIFIED_FROM_AXIS
    document_row: dict[str, Any] = {
        "id": new_id(),
        "kind": MessageKind.DOCUMENT.value,
        "edxml_document_id": document.document_id,
        "business_type": int(document.business.doc_type),
        "related_id": checked.related_id,
        "sender_code": document.sender.organ_id,
        "subject": document.subject,
        "code_number": document.code_number,
        "code_notation": document.code_notation,
        "promulgation_date": document.promulgation_date,
        "due_date": document.due_date,
        "steering_type": document.steering_type,
        "sender_signature": signature_kind,
        "sender_signature_detail": signature.reason,
    }
    deliveries = await store_message(
        database,
        submitter,
        document_row,
        message,
        checked.routes,
        business_type=document_row["business_type"],
        sender_signature=signature_kind,
    )
    receipt = Receipt(
        id=document_row["id"],
        document_id=document.document_id,
        sha256=message.digest,
        received_at=message.at,
        deliveries=deliveries,
        sealed_sha256=message.sealed_digest,
        seal_key_id=message.key_id,
        sender_signature=_signature_outcome(signature_kind, signature.reason),
        related_id=checked.related_id,
    )
    return IntakeResult(receipt=receipt, created=True)


async def store_message(
    database: Database,
    submitter: Submitter,
    row: dict[str, Any],
    message: SealedMessage,
    routes: Sequence[RouteDecision],
    *,
    also: Sequence[tuple[Table, list[dict[str, Any]]]] = (),
    **log_detail: Any,
) -> list[DeliveryReceipt]:
    """Store an accepted message, all or nothing (`Database.write_at_once`): its payloads (as
    received and as sealed), its row, one queued delivery per route with its first event, the
    exchange-log entries, and the rows of `also`. Raises IntegrityError when the same bytes or a
    new document's DocumentId were stored before (the unique indexes decide, races included)."""
    at = message.at
    row = {
        **row,
        "received_at": at,
        "received_via": submitter.channel.value,
        "external_id": submitter.external_id,
        "submitted_by": submitter.credential_id,
        "original_sha256": message.digest,
        "sealed_sha256": message.sealed_digest,
        "seal_key_id": message.key_id,
    }
    deliveries: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "document_id": row["id"],
            "recipient_code": route.recipient,
            "connector": route.connector.value,
            "state": DeliveryState.QUEUED.value,
            "attempt_count": 0,
            "next_attempt_at": at,
            "created_at": at,
            "updated_at": at,
        }
        for route in routes
    ]
    payloads = {message.digest: message.original, message.sealed_digest: message.sealed}
    events = [
        {
            "delivery_id": delivery["id"],
            "at": at,
            "to_state": DeliveryState.QUEUED.value,
            "reason": f"routed to {route.connector} by rule {route.rule}",
        }
        for delivery, route in zip(deliveries, routes, strict=True)
    ]
    stored = exchange_entry(
        ExchangeEvent.STORED,
        at=at,
        document_id=row["id"],
        agency_code=row["sender_code"],
        sha256=message.digest,
        kind=row["kind"],
        edxml_document_id=row["edxml_document_id"],
        related_id=row["related_id"],
        sealed_sha256=message.sealed_digest,
        seal_key_id=message.key_id,
        recipients=[route.recipient for route in routes],
        **submitter.log_fields(),
        **log_detail,
    )
    routed = [
        exchange_entry(
            ExchangeEvent.ROUTED,
            at=at,
            document_id=row["id"],
            delivery_id=delivery["id"],
            agency_code=delivery["recipient_code"],
            connector=delivery["connector"],
        )
        for delivery in deliveries
    ]
    payload_rows, copy_large_payloads = payload_writes(database, payloads, at=at)
    await database.write_at_once(
        [
            (table_of(Payload), payload_rows),
            (table_of(Document), [row]),
            (table_of(Delivery), deliveries),
            (table_of(DeliveryEvent), events),
            *also,
            (table_of(ExchangeLogEntry), [stored, *routed]),
        ],
        first=copy_large_payloads,
    )
    return [
        DeliveryReceipt(id=d["id"], recipient=d["recipient_code"], connector=d["connector"], state=d["state"])
        for d in sorted(deliveries, key=lambda d: d["recipient_code"])
    ]


async def _replayed(database: Database, submitter: Submitter, document: Document) -> IntakeResult:
    await record_replay(database, submitter, document)
    return IntakeResult(receipt=_receipt(document), created=False)


async def record_replay(database: Database, submitter: Submitter, document: Document) -> None:
    """Log that bytes accepted before came again; nothing else changes."""
    async with database.transaction() as session:
        await append_exchange(
            session,
            exchange_entry(
                ExchangeEvent.DUPLICATE,
                document_id=document.id,
                agency_code=submitter.agency_code or document.sender_code,
                sha256=document.original_sha256,
                **submitter.log_fields(),
            ),
        )


async def record_rejection(
    database: Database, submitter: Submitter, body: bytes | None, error: HubError
) -> None:
    """Log a refused submission; nothing else of it is stored."""
    async with database.transaction() as session:
        await append_exchange(
            session,
            exchange_entry(
                ExchangeEvent.REJECTED,
                agency_code=submitter.agency_code,
                sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
                status=error.status,
                reason=error.detail,
                problems=[f"{p.path}: {p.code}" for p in error.errors][:50],
                **submitter.log_fields(),
            ),
        )


async def original_recipients(session: AsyncSession, document_id: str) -> list[str]:
    """Who the document was routed to."""
    rows = await session.scalars(
        select(Delivery.recipient_code)
        .where(Delivery.document_id == document_id)
        .order_by(Delivery.recipient_code)
    )
    return list(rows)


async def _earlier_documents(
    database: Database, digest: str, document: EdxmlDocument
) -> tuple[Document | None, bool]:
    """In one query: the document accepted earlier from these very bytes (a replay), and whether a
    different new document already uses this DocumentId (a conflict, for a new document)."""
    same_new_id = (
        (Document.edxml_document_id == document.document_id)
        & (Document.business_type == BusinessDocType.NEW)
        & (Document.kind == MessageKind.DOCUMENT)
    )
    async with database.reading() as session:
        rows = await session.scalars(
            select(Document)
            .where(or_(Document.original_sha256 == digest, same_new_id))
            .options(selectinload(Document.deliveries))
        )
        earlier = list(rows)
    replay = next((d for d in earlier if d.original_sha256 == digest), None)
    conflicting = document.business.doc_type is BusinessDocType.NEW and any(
        d.original_sha256 != digest for d in earlier
    )
    return replay, conflicting


def _receipt(document: Document) -> Receipt:
    return Receipt(
        id=document.id,
        document_id=document.edxml_document_id,
        sha256=document.original_sha256,
        received_at=document.received_at,
        deliveries=delivery_receipts(document.deliveries),
        sealed_sha256=document.sealed_sha256,
        seal_key_id=document.seal_key_id,
        sender_signature=signature_outcome(document),
        related_id=document.related_id,
    )


def delivery_receipts(deliveries: Iterable[Delivery]) -> list[DeliveryReceipt]:
    """What a receipt says of the deliveries a message was routed to."""
    return [
        DeliveryReceipt(id=d.id, recipient=d.recipient_code, connector=d.connector, state=d.state)
        for d in deliveries
    ]


def signature_outcome(document: Document) -> SignatureOutcome:
    return _signature_outcome(document.sender_signature, document.sender_signature_detail)


def _signature_outcome(kind: str, reason: str | None) -> SignatureOutcome:
    """Only verified standard signatures are ever stored as present, so validity follows from the kind."""
    return SignatureOutcome(kind=kind, valid=True if kind == SignatureKind.XMLDSIG else None, reason=reason)


async def visible_document(session: AsyncSession, principal: Principal, document_id: str) -> Document:
    """The document with its deliveries and their history, if the caller may see it.

    Anyone else gets the same 404 as for an id that does not exist, so ids reveal nothing."""
    document = await session.scalar(
        select(Document)
        .where(Document.id == document_id)
        .options(
            selectinload(Document.deliveries).selectinload(Delivery.events),
            selectinload(Document.deliveries).selectinload(Delivery.statuses),
        )
    )
    if document is None or not _may_see(principal, document):
        raise NotFound(f"no document {document_id} visible to this credential")
    return document


def _may_see(principal: Principal, document: Document) -> bool:
    if principal.is_staff:
        return True
    code = principal.agency_code
    return code == document.sender_code or any(d.recipient_code == code for d in document.deliveries)
