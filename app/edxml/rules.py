"""The format's own rules (QCVN 102:2016, edxml.md §1–§3) on what was read out of a message.

Pure functions, no I/O: each returns the problems it finds, with paths into the document, so that a
sender sees everything wrong at once. What the hub knows beyond the format (is the agency in the
directory, was this DocumentId seen before) is checked later, by the services that own that data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from app.edxml.formats import format_date, is_timestamp, parse_date
from app.edxml.model import BusinessDocType, EdxmlDocument, StatusCode, StatusMessage
from app.kit.errors import Problem

HEADER = "/edXML/edXMLEnvelope/edXMLHeader"
MESSAGE_HEADER = f"{HEADER}/MessageHeader"
PROMULGATION_DATE = f"{MESSAGE_HEADER}/PromulgationInfo/PromulgationDate"
STATUS = f"{HEADER}/Status"
MAX_DOCUMENT_ID = 200
STATUS_CODES = frozenset(StatusCode)

_AGENCY_CODE = re.compile(r"[0-9A-Z]+(?:\.[0-9A-Z]+)*")


def is_valid_agency_code(code: str) -> bool:
    """The syntax of a mã định danh: at most 35 characters, dot-separated non-empty groups of 0-9 and
    A-Z. Whether the code exists, and where it sits in the hierarchy, is for `app.agencies`."""
    return len(code) <= 35 and _AGENCY_CODE.fullmatch(code) is not None


def date_problems(text: str, path: str) -> list[Problem]:
    """A date as written, when there is one, must be `yyyy/MM/dd` and a real day."""
    if not text or parse_date(text) is not None:
        return []
    return [Problem(path, "bad-date", f"'{text}' is not a date written yyyy/MM/dd")]


def timestamp_problems(text: str, path: str) -> list[Problem]:
    """A timestamp as written, when there is one, must be `yyyy/MM/dd HH:mm:ss` and a real moment."""
    if not text or is_timestamp(text):
        return []
    return [Problem(path, "bad-timestamp", f"'{text}' is not a timestamp written yyyy/MM/dd HH:mm:ss")]


def document_problems(document: EdxmlDocument, *, today: date) -> list[Problem]:
    """Everything the format requires of a document message (gói tin văn bản)."""
    return [
        *_parties(document),
        *_identity(document),
        *_not_after(document.promulgation_date, today, PROMULGATION_DATE),
        *_business(document),
        *_attachments(document),
    ]


def status_problems(status: StatusMessage, *, today: date) -> list[Problem]:
    """Everything the format requires of a status message (gói tin trạng thái)."""
    response_for = f"{STATUS}/ResponseFor"
    problems = list(_agency(status.reporter.organ_id, status.reporter.path, "Status/From/OrganId"))
    problems += _agency(status.original_sender_id, f"{response_for}/OrganId", "ResponseFor/OrganId")
    problems += _required(status.original_code, f"{response_for}/Code", "ResponseFor/Code")
    problems += _required(
        status.original_document_id, status.original_document_id_path, "ResponseFor/DocumentId"
    )
    problems += _not_after(status.original_promulgation_date, today, f"{response_for}/PromulgationDate")
    if not status.status_code:
        problems += _required("", f"{STATUS}/StatusCode", "StatusCode")
    elif status.status_code not in STATUS_CODES:
        problems.append(
            Problem(
                f"{STATUS}/StatusCode",
                "bad-status-code",
                f"'{status.status_code}' is not a status code; expected one of "
                + ", ".join(sorted(STATUS_CODES)),
            )
        )
    return problems


def _required(value: str, path: str, what: str) -> list[Problem]:
    return [] if value else [Problem(path, "required", f"{what} is required and must not be empty")]


def _agency(code: str, path: str, what: str) -> list[Problem]:
    if not code:
        return _required(code, path, what)
    if not is_valid_agency_code(code):
        return [
            Problem(
                path,
                "bad-agency-code",
                f"'{code}' is not an agency code: at most 35 characters, dot-separated groups of 0-9 and A-Z",
            )
        ]
    return []


def _parties(document: EdxmlDocument) -> Iterator[Problem]:
    yield from _agency(document.sender.organ_id, document.sender.path, "From/OrganId")
    if not document.recipients:
        yield Problem(f"{MESSAGE_HEADER}/To", "required", "at least one recipient (To) is required")
    seen: set[str] = set()
    for recipient in document.recipients:
        yield from _agency(recipient.organ_id, recipient.path, "To/OrganId")
        if recipient.organ_id in seen:
            yield Problem(
                recipient.path,
                "duplicate-recipient",
                f"{recipient.organ_id} is already a recipient of this document",
            )
        elif recipient.organ_id:
            seen.add(recipient.organ_id)


def _identity(document: EdxmlDocument) -> Iterator[Problem]:
    yield from _required(document.document_id, document.document_id_path, "DocumentId")
    if len(document.document_id) > MAX_DOCUMENT_ID:
        yield Problem(
            document.document_id_path,
            "too-long",
            f"DocumentId has {len(document.document_id)} characters; at most {MAX_DOCUMENT_ID} are allowed",
        )
    # The shape <sender>,<yyyy/MM/dd>,<number>/<notation> is not followed by every producer; when a
    # DocumentId has it, its sender part must be the sender.
    parts = document.document_id.split(",", 2)
    sender = document.sender.organ_id
    if len(parts) == 3 and sender and parts[0].strip() != sender:
        yield Problem(
            document.document_id_path,
            "document-id-sender-mismatch",
            f"DocumentId names '{parts[0].strip()}' as its sender but From/OrganId is '{sender}'",
        )
    yield from _required(document.code_number, f"{MESSAGE_HEADER}/Code/CodeNumber", "Code/CodeNumber")
    yield from _required(document.code_notation, f"{MESSAGE_HEADER}/Code/CodeNotation", "Code/CodeNotation")
    yield from _required(document.subject, f"{MESSAGE_HEADER}/Subject", "Subject (trích yếu)")


def _not_after(promulgated: date | None, today: date, path: str) -> list[Problem]:
    if promulgated is None or promulgated <= today:
        return []
    return [
        Problem(
            path,
            "future-date",
            f"the promulgation date {format_date(promulgated)} is after today ({format_date(today)}, "
            "Vietnam time)",
        )
    ]


def _business(document: EdxmlDocument) -> Iterator[Problem]:
    business = document.business
    if business.doc_type is not BusinessDocType.NEW and not business.document_id:
        yield Problem(
            business.document_id_path,
            "required",
            f"a {business.doc_type.name.lower()} (BussinessDocType {business.doc_type.value}) must name "
            "the DocumentId of the document it acts on",
        )


def _attachments(document: EdxmlDocument) -> Iterator[Problem]:
    """Each manifest Reference is matched by exactly one Attachment, and the other way round."""
    carried = {a.content_id for a in document.attachments}
    referenced: set[str] = set()
    for reference in document.references:
        cid = reference.content_id
        if not cid:
            yield from _required(cid, f"{reference.path}/ContentId", "Reference/ContentId")
        elif cid in referenced:
            yield Problem(reference.path, "duplicate-reference", f"attachment '{cid}' is referenced twice")
        else:
            referenced.add(cid)
            if cid not in carried:
                yield Problem(
                    reference.path, "missing-attachment", f"no Attachment carries the referenced '{cid}'"
                )
    seen: set[str] = set()
    for attachment in document.attachments:
        cid = attachment.content_id
        if not cid:
            yield from _required(cid, f"{attachment.path}/ContentId", "Attachment/ContentId")
        elif cid in seen:
            yield Problem(
                attachment.path, "duplicate-attachment", f"another Attachment already carries '{cid}'"
            )
        else:
            seen.add(cid)
            if cid not in referenced:
                yield Problem(
                    attachment.path,
                    "unreferenced-attachment",
                    f"Attachment '{cid}' is not listed in edXMLManifest",
                )
