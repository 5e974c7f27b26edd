"""Status messages (gói tin trạng thái, edxml.md §2): a recipient reports how far it has got with a
document (01 đã đến … 06 hoàn thành, 15/16 on a recall or update), or the sender recalls it (13).

The pipeline mirrors the intake of documents (`app.documents.service`), whose steps it shares:
read (hardened parse, schema, the format's rules) and seal the tree read, identify (the reporter is
the caller), check against the hub (the document answered passed through this hub; the reporter is
one of its recipients, or its sender for 13), verify the reporter's own signature against its
registered certificates and its signature policy exactly as a document's sender's, then store in one
transaction: the message, one delivery to each party it concerns (the document's sender; for a
recall every recipient), and an entry on the timeline of each recipient's delivery. The message
then travels like any document, locally or to the national axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.agencies.service import agencies_by_code
from app.documents.service import (
    Submitter,
    delivery_receipts,
    read_and_seal,
    record_replay,
    store_message,
)
from app.edxml import (
    STATUS_MEANINGS,
    BusinessDocType,
    SignatureKind,
    StatusCode,
    StatusMessage,
    read_status_tree,
)
from app.edxml.rules import STATUS
from app.kit.changes import Changes
from app.kit.clock import utcnow
from app.kit.db import Database, table_of
from app.kit.errors import InvalidDocument, Problem
from app.kit.ids import new_id
from app.models import Agency, Delivery, Document, MessageKind, SignaturePolicy, StatusReport
from app.routing.service import RouteDecision, decide, is_local, load_rules
from app.sealing.seal import Sealer
from app.sealing.sender import judged
from app.sealing.service import agency_certificates
from app.statuses.schemas import StatusReceipt

#: The codes only the document's sender sends; every other code is a recipient's.
SENDER_CODES = frozenset({StatusCode.RECALLED})


@dataclass(frozen=True, slots=True)
class StatusResult:
    receipt: StatusReceipt
    created: bool  # False when the same bytes had been accepted before


@dataclass(frozen=True, slots=True)
class _Plan:
    document: Document  # the document answered
    timeline: list[Delivery]  # the deliveries whose timeline the status goes on
    routes: list[RouteDecision]  # where the message goes
    reporter_policy: SignaturePolicy = SignaturePolicy.OPTIONAL
    reporter_certificates: tuple[x509.Certificate, ...] = ()


async def submit_status(
    database: Database, sealer: Sealer, submitter: Submitter, body: bytes, *, hub_code: str
) -> StatusResult:
    """Run the pipeline on one status message. Raises a HubError (4xx) for anything refused."""
    status, message = await read_and_seal(read_status_tree, body, sealer, hub_code=hub_code)
    submitter.check_sender(status.reporter)
    digest, at = message.digest, message.at

    async with database.reading() as session:
        earlier = await _earlier(session, digest)
        plan = None if earlier else await _plan(session, status, submitter, database.changes)
    if earlier is not None:
        await record_replay(database, submitter, earlier)
        return StatusResult(_receipt(earlier, status.status_code), created=False)
    assert plan is not None

    signature = await judged(
        body,
        status.signature,
        plan.reporter_certificates,
        plan.reporter_policy,
        who="reporter",
        from_axis=submitter.from_axis,
        at=at,
    )
    original = plan.document
    row: dict[str, Any] = {
        "id": new_id(),
        "kind": MessageKind.STATUS.value,
        "edxml_document_id": original.edxml_document_id,
        "business_type": int(BusinessDocType.NEW),
        "related_id": original.id,
        "sender_code": status.reporter.organ_id,
        "subject": f"{status.status_code} {STATUS_MEANINGS[status.status_code]}: {original.subject}",
        "code_number": original.code_number,
        "code_notation": original.code_notation,
        "promulgation_date": original.promulgation_date,
        "sender_signature": signature.kind.value,
        "sender_signature_detail": signature.reason,
    }

    timelines = [
        {
            "document_id": original.id,
            "delivery_id": delivery.id,
            "message_id": row["id"],
            "reporter_code": status.reporter.organ_id,
            "status_code": status.status_code,
            "description": status.description,
            "reported_at": status.timestamp,
            "received_at": at,
        }
        for delivery in plan.timeline
    ]
    try:
        routed = await store_message(
            database,
            submitter,
            row,
            message,
            plan.routes,
            also=[(table_of(StatusReport), timelines)],
            status_code=status.status_code,
        )
    except IntegrityError:
        # A concurrent submission of the same bytes won the race: answer as for a replay.
        async with database.reading() as session:
            earlier = await _earlier(session, digest)
        if earlier is None:
            raise
        await record_replay(database, submitter, earlier)
        return StatusResult(_receipt(earlier, status.status_code), created=False)
    receipt = StatusReceipt(
        id=row["id"],
        document_id=original.edxml_document_id,
        related_id=original.id,
        status_code=status.status_code,
        received_at=at,
        routed_to=routed,
    )
    return StatusResult(receipt, created=True)


async def _earlier(session: AsyncSession, digest: str) -> Document | None:
    """The message accepted earlier from these very bytes, if any."""
    earlier: Document | None = await session.scalar(
        select(Document).where(Document.original_sha256 == digest).options(selectinload(Document.deliveries))
    )
    return earlier


async def _plan(
    session: AsyncSession, status: StatusMessage, submitter: Submitter, changes: Changes
) -> _Plan:
    """Which document the status answers, whose timeline it goes on, and where it is carried."""
    document = await session.scalar(
        select(Document)
        .where(
            Document.edxml_document_id == status.original_document_id,
            Document.kind == MessageKind.DOCUMENT,
            Document.business_type == BusinessDocType.NEW,
            Document.sender_code == status.original_sender_id,
        )
        .options(selectinload(Document.deliveries))
    )
    reporter = status.reporter.organ_id
    unknown = Problem(
        status.original_document_id_path,
        "unknown-document",
        f"no document {status.original_document_id!r} sent by {status.original_sender_id} to "
        f"{reporter} passed through this hub",
    )
    if document is None:
        raise InvalidDocument("the status message answers no document known here", [unknown])

    code = StatusCode(status.status_code)
    if code in SENDER_CODES:
        if reporter != document.sender_code:
            raise InvalidDocument(
                "only the document's sender may recall it",
                [
                    Problem(
                        f"{STATUS}/StatusCode",
                        "sender-only-status",
                        f"{code.value} ({STATUS_MEANINGS[code]}) is sent by the document's sender, "
                        f"{document.sender_code}, not by {reporter}",
                    )
                ],
            )
        timeline = list(document.deliveries)
        targets = [d.recipient_code for d in timeline]
    else:
        timeline = [d for d in document.deliveries if d.recipient_code == reporter]
        if not timeline:
            if reporter != document.sender_code:
                raise InvalidDocument("the status message answers no document known here", [unknown])
            raise InvalidDocument(
                "a sender reports no progress on its own document",
                [
                    Problem(
                        f"{STATUS}/StatusCode",
                        "recipient-only-status",
                        f"{code.value} ({STATUS_MEANINGS[code]}) is sent by a recipient of the document; "
                        f"{reporter} is its sender",
                    )
                ],
            )
        targets = [document.sender_code]

    rules = await load_rules(session, changes)
    if submitter.from_axis:
        if is_local(rules, reporter):
            raise InvalidDocument(
                "a status message from the national axis cannot come from an agency of this province",
                [Problem(status.reporter.path, "sender-is-local", f"{reporter} reports through the hub")],
            )
        targets = [code for code in targets if is_local(rules, code)]
    directory = await agencies_by_code(session, targets, changes)
    routes: list[RouteDecision] = []
    problems: list[Problem] = []
    for target in targets:
        agency = directory.get(target)
        decision = None if agency is None else decide(rules, agency)
        if decision is None:
            problems.append(
                Problem(
                    status.original_document_id_path,
                    "no-route",
                    f"the status cannot be carried to {target}: not in the directory or no routing rule",
                )
            )
        else:
            routes.append(decision)
    if problems:
        raise InvalidDocument("the status message cannot be carried", problems)
    reporting = await session.get(Agency, reporter)
    policy = SignaturePolicy(reporting.signature_policy) if reporting else SignaturePolicy.OPTIONAL
    certificates = (
        await agency_certificates(session, reporter, now=utcnow())
        if status.signature is SignatureKind.XMLDSIG
        else []
    )
    return _Plan(
        document,
        timeline,
        sorted(routes, key=lambda route: route.recipient),
        reporter_policy=policy,
        reporter_certificates=tuple(certificates),
    )


def _receipt(message: Document, status_code: str) -> StatusReceipt:
    assert message.related_id is not None
    return StatusReceipt(
        id=message.id,
        document_id=message.edxml_document_id,
        related_id=message.related_id,
        status_code=status_code,
        received_at=message.received_at,
        routed_to=delivery_receipts(message.deliveries),
    )
