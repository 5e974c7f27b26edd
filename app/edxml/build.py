"""Writing edXML: a document message or a status message, as UTF-8 bytes with an XML declaration.

The hub writes its own status messages with this (đã đến, đã tiếp nhận … back to a sender), and tests
use it to produce every style real producers use: the `edXML:` prefix everywhere or a default
namespace or both mixed, `cid:` on ContentId or not, `Bussiness` or `Business`, children in any order.
"""

from __future__ import annotations

import base64
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from lxml import etree

from app.edxml.formats import format_date
from app.edxml.model import NAMESPACE, BusinessDocType, EdxmlDocument

_NS = "{" + NAMESPACE + "}"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_REDECLARED = frozenset(_NS + name for name in ("MessageHeader", "TraceHeaderList", "Status"))


@dataclass(frozen=True, slots=True)
class Organ:
    """An agency as a message names it: From, To, Status/From."""

    organ_id: str
    organ_name: str = ""
    organization_in_charge: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True, slots=True)
class Signer:
    """SignerInfo: who signed the paper original."""

    competence: str  # thẩm quyền, e.g. "TL. CHỦ TỊCH"
    position: str = ""
    full_name: str = ""


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """What a document message says. Dates are `date`s, or text written as is (to test bad input)."""

    sender: Organ | str
    recipients: Sequence[Organ | str]
    code_number: str  # số
    code_notation: str  # ký hiệu
    subject: str  # trích yếu
    promulgation_date: date | str
    document_id: str = ""  # default: <sender>,<yyyy/MM/dd>,<number>/<notation>
    promulgation_place: str = ""
    document_type: int | None = None
    type_detail: int | None = None
    type_name: str = ""
    content: str = ""
    signer: Signer | None = None
    due_date: date | str | None = None
    to_places: Sequence[str] = ()
    priority: int | None = None
    page_amount: int | None = None
    steering_type: int | None = None
    trace: Sequence[tuple[str, str]] = ()  # (OrganId, "yyyy/MM/dd HH:mm:ss") per hop so far
    business: BusinessDocType = BusinessDocType.NEW
    business_document_id: str = ""  # the document a revoke, update or replace acts on
    business_reason: str = ""
    paper: bool = False
    attachments: Sequence[tuple[str, str, bytes]] = ()  # (file name, content type, content)


@dataclass(frozen=True, slots=True)
class StatusSpec:
    """What a status message says about a document."""

    reporter: Organ | str
    original_sender_id: str
    original_code: str  # "số/ký hiệu" of the document
    original_document_id: str
    status_code: str
    timestamp: str  # yyyy/MM/dd HH:mm:ss, Vietnam time: formats.format_timestamp
    description: str = ""
    original_promulgation_date: date | str | None = None
    staff: str = ""
    department: str = ""

    @classmethod
    def answering(
        cls,
        document: EdxmlDocument,
        *,
        reporter: Organ | str,
        status_code: str,
        timestamp: str,
        description: str = "",
    ) -> StatusSpec:
        """A status about a document that was read (format the time with `formats.format_timestamp`)."""
        return cls(
            reporter=reporter,
            original_sender_id=document.sender.organ_id,
            original_code=f"{document.code_number}/{document.code_notation}",
            original_document_id=document.document_id,
            status_code=status_code,
            timestamp=timestamp,
            description=description,
            original_promulgation_date=document.promulgation_date,
        )


@dataclass(frozen=True, slots=True)
class Style:
    """How the bytes look; a reader must give the same values for every style."""

    namespaces: Literal["prefixed", "default", "mixed"] = "prefixed"  # mixed: prefixed outside the headers
    prefix: str = "edXML"
    cid_prefix: bool = True  # ContentId written "cid:<id>"
    business: Literal["Bussiness", "Business"] = "Bussiness"  # the official library's spelling first
    shuffle_seed: int | None = None  # children of every element in a random order (same names keep theirs)
    wrap_base64: bool = False  # attachments in 76-character lines
    indent: bool = True


def build_document(spec: DocumentSpec, style: Style = Style()) -> bytes:
    """The edXML bytes of a document message. Optional fields left empty are not written."""
    root, envelope = _root()
    header = _sub(envelope, "edXMLHeader")
    message = _sub(header, "MessageHeader")
    _organ(_sub(message, "From"), spec.sender)
    for recipient in spec.recipients:
        _organ(_sub(message, "To"), recipient)
    sender_id = spec.sender if isinstance(spec.sender, str) else spec.sender.organ_id
    document_id = spec.document_id or default_document_id(
        sender_id, spec.promulgation_date, spec.code_number, spec.code_notation
    )
    _sub(message, "DocumentId", document_id)
    code = _sub(message, "Code")
    _sub(code, "CodeNumber", spec.code_number)
    _sub(code, "CodeNotation", spec.code_notation)
    promulgation = _sub(message, "PromulgationInfo")
    _optional(promulgation, "Place", spec.promulgation_place)
    _sub(promulgation, "PromulgationDate", _date(spec.promulgation_date))
    if spec.document_type is not None or spec.type_name:
        kind = _sub(message, "DocumentType")
        _optional(kind, "Type", spec.document_type)
        _optional(kind, "TypeDetail", spec.type_detail)
        _optional(kind, "TypeName", spec.type_name)
    _sub(message, "Subject", spec.subject)
    _optional(message, "Content", spec.content)
    if spec.signer is not None:
        signer = _sub(message, "SignerInfo")
        _sub(signer, "Competence", spec.signer.competence)
        _optional(signer, "Position", spec.signer.position)
        _optional(signer, "FullName", spec.signer.full_name)
    _optional(message, "DueDate", spec.due_date)
    if spec.to_places:
        places = _sub(message, "ToPlaces")
        for place in spec.to_places:
            _sub(places, "Place", place)
    if spec.priority is not None or spec.page_amount is not None:
        other = _sub(message, "OtherInfo")
        _optional(other, "Priority", spec.priority)
        _optional(other, "PageAmount", spec.page_amount)
    _optional(message, "SteeringType", spec.steering_type)

    trace = _sub(header, "TraceHeaderList")
    for organ_id, timestamp in spec.trace:
        hop = _sub(trace, "TraceHeader")
        _sub(hop, "OrganId", organ_id)
        _sub(hop, "Timestamp", timestamp)
    spelling = style.business
    business = _sub(trace, spelling)
    _sub(business, f"{spelling}DocType", str(spec.business.value))
    _optional(business, f"{spelling}DocReason", spec.business_reason)
    _optional(business, "DocumentId", spec.business_document_id)
    _sub(business, "Paper", "1" if spec.paper else "0")

    manifest = _sub(_sub(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    encoded = _sub(root, "AttachmentEncoded")
    for number, (name, content_type, content) in enumerate(spec.attachments, 1):
        content_id = f"cid:{number}" if style.cid_prefix else str(number)
        reference = _sub(manifest, "Reference")
        attachment = _sub(encoded, "Attachment")
        for parent in (reference, attachment):
            _sub(parent, "ContentId", content_id)
            _sub(parent, "ContentType", content_type)
            _sub(parent, "Description", name)
            _sub(parent, "AttachmentName", name)
        _sub(attachment, "ContentTransferEncoded", _base64(content, style.wrap_base64))
    return _serialise(root, style)


def build_status(spec: StatusSpec, style: Style = Style()) -> bytes:
    """The edXML bytes of a status message."""
    root, envelope = _root()
    status = _sub(_sub(envelope, "edXMLHeader"), "Status")
    _organ(_sub(status, "From"), spec.reporter)
    response_for = _sub(status, "ResponseFor")
    _sub(response_for, "OrganId", spec.original_sender_id)
    _sub(response_for, "Code", spec.original_code)
    _optional(response_for, "PromulgationDate", spec.original_promulgation_date)
    _sub(response_for, "DocumentId", spec.original_document_id)
    if spec.staff or spec.department:
        staff = _sub(status, "StaffInfo")
        _optional(staff, "Department", spec.department)
        _optional(staff, "Staff", spec.staff)
    _sub(status, "StatusCode", spec.status_code)
    _optional(status, "Description", spec.description)
    _sub(status, "Timestamp", spec.timestamp)
    return _serialise(root, style)


def default_document_id(sender_id: str, promulgated: date | str, number: str, notation: str) -> str:
    """DocumentId as the format shapes it: `<sender OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>`."""
    return f"{sender_id},{_date(promulgated)},{number}/{notation}"


def _root() -> tuple[etree._Element, etree._Element]:
    root = etree.Element(_NS + "edXML")
    return root, _sub(root, "edXMLEnvelope")


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _NS + name)
    if text is not None:
        element.text = text
    return element


def _optional(parent: etree._Element, name: str, value: str | int | date | None) -> None:
    if value is None or value == "":
        return
    _sub(parent, name, format_date(value) if isinstance(value, date) else str(value))


def _organ(element: etree._Element, organ: Organ | str) -> None:
    if isinstance(organ, str):
        organ = Organ(organ)
    _sub(element, "OrganId", organ.organ_id)
    for name, value in (
        ("OrganizationInCharge", organ.organization_in_charge),
        ("OrganName", organ.organ_name),
        ("OrganAdd", organ.organ_add),
        ("Email", organ.email),
        ("Telephone", organ.telephone),
        ("Fax", organ.fax),
        ("Website", organ.website),
    ):
        if value:
            _sub(element, name, value)


def _date(value: date | str) -> str:
    return value if isinstance(value, str) else format_date(value)


def _base64(content: bytes, wrap: bool) -> str:
    return (base64.encodebytes(content) if wrap else base64.b64encode(content)).decode("ascii")


def _serialise(content: etree._Element, style: Style) -> bytes:
    """Write the content tree in the style: namespace declarations and order are fixed as elements
    are created, since lxml tidies namespace declarations away when an element is moved."""
    prefix = None if style.namespaces == "default" else style.prefix
    root = etree.Element(content.tag, nsmap={prefix: NAMESPACE})
    rng = None if style.shuffle_seed is None else random.Random(style.shuffle_seed)  # noqa: S311 (not for security)
    _render(content, root, style, rng)
    if style.indent:
        etree.indent(root)
    serialised: bytes = etree.tostring(root, encoding="UTF-8")
    return _DECLARATION + serialised


def _render(source: etree._Element, target: etree._Element, style: Style, rng: random.Random | None) -> None:
    target.text = source.text
    for name, value in source.attrib.items():
        target.set(name, value)
    children = list(source) if rng is None else _shuffled(list(source), rng)
    for child in children:
        # In the mixed style the headers declare the namespace again, as the default one.
        nsmap = {None: NAMESPACE} if style.namespaces == "mixed" and child.tag in _REDECLARED else None
        _render(child, etree.SubElement(target, child.tag, nsmap=nsmap), style, rng)


def _shuffled(children: list[etree._Element], rng: random.Random) -> list[etree._Element]:
    """Children in a random order, except that elements of one name keep their order among
    themselves (recipients, attachments and trace headers are lists)."""
    queues: dict[str, deque[etree._Element]] = {}
    for child in children:
        queues.setdefault(child.tag, deque()).append(child)
    tags = [child.tag for child in children]
    rng.shuffle(tags)
    return [queues[tag].popleft() for tag in tags]
