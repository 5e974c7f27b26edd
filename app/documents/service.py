"""The intake pipeline: from the bytes an agency sent to a sealed, routed document stored with one
queued delivery per recipient.

The steps, in the order a document meets them:

1. read: hardened parse, schema, the format's own rules (`app.edxml`), all problems at once;
2. identify: the sender must be the agency of the credential;
3. check against the hub's state: same bytes again (idempotent), DocumentId already used, the
   directory (known, active agencies), the document a revoke/update/replace acts on, a route for
   every recipient;
4. verify the sender's own signature against its registered certificates, then seal: append the
   hub's TraceHeader and sign (`app.sealing`);
5. store, in one transaction: payloads, document, deliveries with their first event, log entries.

Nothing touches the database while XML is parsed or signed, and CPU-heavy steps run in a worker
thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.agencies.service import agencies_by_code
from app.audit.log import ExchangeEvent, append_exchange, exchange_entry
from app.auth.service import Principal
from app.documents.schemas import DeliveryReceipt, Receipt, SignatureOutcome
from app.edxml import BusinessDocType, EdxmlDocument, Organization, SignatureKind, read_document
from app.kit.clock import utcnow, vietnam_now
from app.kit.db import Database, table_of
from app.kit.errors import Conflict, Forbidden, HubError, InvalidDocument, NotFound, Problem
from app.kit.ids import new_id
from app.models import (
    Agency,
    AgencyStatus,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Document,
    Payload,
    SignaturePolicy,
)
from app.routing.service import RouteDecision, decide, load_rules
from app.sealing.seal import Sealer
from app.sealing.sender import SenderSignatureCheck, check_policy, verify_sender_signature
from app.sealing.service import agency_certificates


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
    database: Database, sealer: Sealer, principal: Principal, body: bytes, *, hub_code: str
) -> IntakeResult:
    """Run the pipeline on one submission. Raises a HubError (4xx) for anything refused."""
    digest = hashlib.sha256(body).hexdigest()
    document = await asyncio.to_thread(read_document, body, today=vietnam_now().date())
    if document.sender.organ_id != principal.agency_code:
        raise Forbidden(
            f"the document is sent by {document.sender.organ_id} but this credential belongs to "
            f"{principal.agency_code}",
            [Problem(document.sender.path, "sender-not-caller", "From/OrganId must be your own agency code")],
        )

    async with database.reading() as session:
        replay, conflicting = await _earlier_documents(session, digest, document)
        checked = None if replay else await _check_against_hub(session, document, conflicting=conflicting)
    if replay is not None:
        return await _replayed(database, principal, replay)
    assert checked is not None

    received_at = utcnow()
    signature, sealed = await asyncio.to_thread(
        _verify_and_seal, body, document, checked, sealer, hub_code=hub_code, at=received_at
    )
    try:
        return await _store(
            database,
            principal,
            document,
            checked,
            signature,
            body,
            digest,
            sealed,
            sealer.key_id,
            received_at,
        )
    except IntegrityError:
        # A concurrent submission won the race: same bytes (replay) or same DocumentId (conflict).
        async with database.reading() as session:
            replay, conflicting = await _earlier_documents(session, digest, document)
        if replay is not None:
            return await _replayed(database, principal, replay)
        if conflicting:
            raise _duplicate_document_id(document) from None
        raise


def _verify_and_seal(
    body: bytes, document: EdxmlDocument, checked: _Checked, sealer: Sealer, *, hub_code: str, at: datetime
) -> tuple[SenderSignatureCheck, bytes]:
    """Step 4, in one worker thread: the sender's signature against its policy, then the seal."""
    if document.signature is SignatureKind.ABSENT:
        signature = SenderSignatureCheck(SignatureKind.ABSENT, None, "no signature")
    else:
        signature = verify_sender_signature(body, checked.sender_certificates, now=at)
    if problem := check_policy(signature, checked.sender_policy):
        raise InvalidDocument("the sender's signature does not satisfy the hub", [problem])
    return signature, sealer.seal(body, hub_code=hub_code, at=at)


async def _check_against_hub(
    session: AsyncSession, document: EdxmlDocument, *, conflicting: bool
) -> _Checked:
    problems: list[Problem] = []
    organizations = [document.sender, *document.recipients]
    directory = await agencies_by_code(session, (o.organ_id for o in organizations))
    for organization in organizations:
        if problem := _directory_problem(organization, directory.get(organization.organ_id)):
            problems.append(problem)

    related_id = None
    business = document.business
    if business.doc_type is BusinessDocType.NEW:
        if not problems and conflicting:
            raise _duplicate_document_id(document)
    else:
        related = await session.scalar(
            select(Document.id).where(
                Document.edxml_document_id == business.document_id,
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

    rules = await load_rules(session)
    routes = []
    for recipient in document.recipients:
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
        raise InvalidDocument(f"the document has {len(problems)} problem(s) against the directory", problems)

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
    principal: Principal,
    document: EdxmlDocument,
    checked: _Checked,
    signature: SenderSignatureCheck,
    original: bytes,
    digest: str,
    sealed: bytes,
    seal_key_id: str,
    received_at: datetime,
) -> IntakeResult:
    """Step 5: everything in one transaction, one statement per table."""
    sealed_digest = hashlib.sha256(sealed).hexdigest()
    document_row: dict[str, Any] = {
        "id": new_id(),
        "edxml_document_id": document.document_id,
        "business_type": int(document.business.doc_type),
        "related_id": checked.related_id,
        "sender_code": document.sender.organ_id,
        "subject": document.subject,
        "code_number": document.code_number,
        "code_notation": document.code_notation,
        "promulgation_date": document.promulgation_date,
        "received_at": received_at,
        "submitted_by": principal.credential_id,
        "original_sha256": digest,
        "sealed_sha256": sealed_digest,
        "sender_signature": signature.kind.value,
        "sender_signature_detail": signature.reason,
        "seal_key_id": seal_key_id,
    }
    deliveries: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "document_id": document_row["id"],
            "recipient_code": route.recipient,
            "connector": route.connector.value,
            "state": DeliveryState.QUEUED.value,
            "attempt_count": 0,
            "next_attempt_at": received_at,
            "created_at": received_at,
            "updated_at": received_at,
        }
        for route in checked.routes
    ]
    async with database.transaction() as session:
        await session.execute(
            insert(table_of(Payload)),
            [
                {"sha256": digest, "size": len(original), "content": original, "created_at": received_at},
                {"sha256": sealed_digest, "size": len(sealed), "content": sealed, "created_at": received_at},
            ],
        )
        await session.execute(insert(table_of(Document)), [document_row])
        await session.execute(insert(table_of(Delivery)), deliveries)
        await session.execute(
            insert(table_of(DeliveryEvent)),
            [
                {
                    "delivery_id": delivery["id"],
                    "at": received_at,
                    "to_state": DeliveryState.QUEUED.value,
                    "reason": f"routed to {route.connector} by rule {route.rule}",
                }
                for delivery, route in zip(deliveries, checked.routes, strict=True)
            ],
        )
        await append_exchange(
            session,
            exchange_entry(
                ExchangeEvent.STORED,
                at=received_at,
                document_id=document_row["id"],
                agency_code=document.sender.organ_id,
                credential_id=principal.credential_id,
                sha256=digest,
                edxml_document_id=document.document_id,
                business_type=int(document.business.doc_type),
                related_id=checked.related_id,
                sealed_sha256=sealed_digest,
                seal_key_id=seal_key_id,
                sender_signature=signature.kind.value,
                recipients=[route.recipient for route in checked.routes],
            ),
            *(
                exchange_entry(
                    ExchangeEvent.ROUTED,
                    at=received_at,
                    document_id=document_row["id"],
                    delivery_id=delivery["id"],
                    agency_code=delivery["recipient_code"],
                    connector=delivery["connector"],
                )
                for delivery in deliveries
            ),
        )
    receipt = Receipt(
        id=document_row["id"],
        document_id=document.document_id,
        sha256=digest,
        received_at=received_at,
        deliveries=[
            DeliveryReceipt(
                id=d["id"], recipient=d["recipient_code"], connector=d["connector"], state=d["state"]
            )
            for d in sorted(deliveries, key=lambda d: d["recipient_code"])
        ],
        sealed_sha256=sealed_digest,
        seal_key_id=seal_key_id,
        sender_signature=_signature_outcome(signature.kind.value, signature.reason),
        related_id=checked.related_id,
    )
    return IntakeResult(receipt=receipt, created=True)


async def _replayed(database: Database, principal: Principal, document: Document) -> IntakeResult:
    async with database.transaction() as session:
        await append_exchange(
            session,
            exchange_entry(
                ExchangeEvent.DUPLICATE,
                document_id=document.id,
                agency_code=principal.agency_code,
                credential_id=principal.credential_id,
                sha256=document.original_sha256,
            ),
        )
    return IntakeResult(receipt=_receipt(document), created=False)


async def record_rejection(
    database: Database, principal: Principal, body: bytes | None, error: HubError
) -> None:
    """Log a refused submission; nothing else of it is stored."""
    async with database.transaction() as session:
        await append_exchange(
            session,
            exchange_entry(
                ExchangeEvent.REJECTED,
                agency_code=principal.agency_code,
                credential_id=principal.credential_id,
                sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
                status=error.status,
                reason=error.detail,
                problems=[f"{p.path}: {p.code}" for p in error.errors][:50],
            ),
        )


async def _earlier_documents(
    session: AsyncSession, digest: str, document: EdxmlDocument
) -> tuple[Document | None, bool]:
    """In one query: the document accepted earlier from these very bytes (a replay), and whether a
    different new document already uses this DocumentId (a conflict, for a new document)."""
    same_new_id = (Document.edxml_document_id == document.document_id) & (
        Document.business_type == BusinessDocType.NEW
    )
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
        deliveries=[
            DeliveryReceipt(id=d.id, recipient=d.recipient_code, connector=d.connector, state=d.state)
            for d in document.deliveries
        ],
        sealed_sha256=document.sealed_sha256,
        seal_key_id=document.seal_key_id,
        sender_signature=signature_outcome(document),
        related_id=document.related_id,
    )


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
        .options(selectinload(Document.deliveries).selectinload(Delivery.events))
    )
    if document is None or not _may_see(principal, document):
        raise NotFound(f"no document {document_id} visible to this credential")
    return document


def _may_see(principal: Principal, document: Document) -> bool:
    if principal.is_staff:
        return True
    code = principal.agency_code
    return code == document.sender_code or any(d.recipient_code == code for d in document.deliveries)


async def payload(session: AsyncSession, sha256: str) -> bytes:
    content: bytes | None = await session.scalar(select(Payload.content).where(Payload.sha256 == sha256))
    if content is None:
        raise HubError(f"payload {sha256} is missing from storage")
    return content
