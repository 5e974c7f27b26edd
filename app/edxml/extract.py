"""From a parsed edXML tree to the values of `app.edxml.model`.

Elements are found by namespace and local name only, never by prefix or position, and each value
keeps the path it came from. Extraction never fails: a missing element gives an empty value (the
rules then say what is required), and what cannot be read as its type is reported as a problem. An
element that may appear once but appears again is reported too, since a reader could not know which
one the sender meant.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date

from lxml import etree

from app.edxml import rules
from app.edxml.formats import parse_date
from app.edxml.lifting import NOTHING_LIFTED, Lifted, text_of
from app.edxml.model import (
    DSIG_NAMESPACE,
    NAMESPACE,
    Attachment,
    Business,
    BusinessDocType,
    EdxmlDocument,
    Organization,
    Reference,
    SignatureKind,
    StatusMessage,
    TraceHeader,
)
from app.kit.errors import Problem

_NS = "{" + NAMESPACE + "}"
_DS_SIGNATURE = "{" + DSIG_NAMESPACE + "}Signature"
_BASE64_WHITESPACE = b" \t\r\n"
DECODE_SLICE = 1024 * 1024  # characters of base64 decoded at a time


class At:
    """An element of the edXML namespace that may be absent, with the path it has or would have."""

    __slots__ = ("_children", "element", "path")

    def __init__(self, element: etree._Element | None, path: str) -> None:
        self.element = element
        self.path = path
        self._children: dict[object, list[etree._Element]] | None = None

    def all(self, *names: str) -> list[At]:
        """The children with one of these local names (spellings of one element), in document order."""
        element = self.element
        if element is None:
            return []
        if self._children is None:
            # One pass over the children serves every lookup that follows.
            self._children = {}
            for child in element:
                self._children.setdefault(child.tag, []).append(child)
        found = []
        for name in names:
            same = self._children.get(_NS + name, [])
            if len(same) == 1:
                found.append(At(same[0], f"{self.path}/{name}"))
            else:
                found += [At(child, f"{self.path}/{name}[{i}]") for i, child in enumerate(same, 1)]
        if len(names) > 1:
            found.sort(key=lambda at: element.index(at.element))
        return found

    @property
    def text(self) -> str:
        """The element's text without surrounding whitespace; comments inside do not count."""
        element = self.element
        if element is None:
            return ""
        if len(element) == 0:
            return (element.text or "").strip()
        return "".join(element.itertext()).strip()


class _Reader:
    def __init__(self, lifted: Lifted = NOTHING_LIFTED) -> None:
        self.problems: list[Problem] = []
        self.lifted = lifted

    def one(self, parent: At, *names: str) -> At:
        """The child with one of these names; the first, and a problem for each extra one."""
        found = parent.all(*names)
        for extra in found[1:]:
            self.problems.append(
                Problem(extra.path, "repeated-element", f"{names[0]} may appear only once here")
            )
        return found[0] if found else At(None, f"{parent.path}/{names[0]}")

    def text(self, parent: At, *names: str) -> str:
        return self.one(parent, *names).text

    def day(self, parent: At, name: str) -> date | None:
        at = self.one(parent, name)
        text = at.text
        self.problems += rules.date_problems(text, at.path)
        return parse_date(text)

    def timestamp(self, parent: At, name: str) -> str:
        at = self.one(parent, name)
        text = at.text
        self.problems += rules.timestamp_problems(text, at.path)
        return text

    def integer(self, parent: At, name: str) -> int | None:
        # Every integer field is typed in the schemas, which report what is not a number.
        text = self.text(parent, name)
        try:
            return int(text)
        except ValueError:
            return None

    def organization(self, at: At) -> Organization:
        organ_id = self.one(at, "OrganId")
        return Organization(
            organ_id=organ_id.text,
            path=organ_id.path,
            organ_name=self.text(at, "OrganName"),
            organization_in_charge=self.text(at, "OrganizationInCharge"),
            organ_add=self.text(at, "OrganAdd"),
            email=self.text(at, "Email"),
            telephone=self.text(at, "Telephone"),
            fax=self.text(at, "Fax"),
            website=self.text(at, "Website"),
        )


def status_element(root: etree._Element) -> etree._Element | None:
    """The Status in edXMLHeader when the message is a status message, else None."""
    return root.find(f"{_NS}edXMLEnvelope/{_NS}edXMLHeader/{_NS}Status")


def document(root: etree._Element, lifted: Lifted = NOTHING_LIFTED) -> tuple[EdxmlDocument, list[Problem]]:
    """The document message read out of the tree, and what could not be read; `lifted` holds the
    texts kept out of the tree (`app.edxml.lifting`)."""
    reader = _Reader(lifted)
    top = At(root, "/edXML")
    envelope = reader.one(top, "edXMLEnvelope")
    header = reader.one(envelope, "edXMLHeader")
    message = reader.one(header, "MessageHeader")
    code = reader.one(message, "Code")
    promulgation = reader.one(message, "PromulgationInfo")
    document_type = reader.one(message, "DocumentType")
    document_id = reader.one(message, "DocumentId")
    trace_list = reader.one(header, "TraceHeaderList")
    manifest = reader.one(reader.one(envelope, "edXMLBody"), "edXMLManifest")
    value = EdxmlDocument(
        sender=reader.organization(reader.one(message, "From")),
        recipients=tuple(reader.organization(to) for to in message.all("To")),
        document_id=document_id.text,
        document_id_path=document_id.path,
        code_number=reader.text(code, "CodeNumber"),
        code_notation=reader.text(code, "CodeNotation"),
        subject=reader.text(message, "Subject"),
        promulgation_place=reader.text(promulgation, "Place"),
        promulgation_date=reader.day(promulgation, "PromulgationDate"),
        document_type=reader.integer(document_type, "Type"),
        type_name=reader.text(document_type, "TypeName"),
        priority=reader.integer(reader.one(message, "OtherInfo"), "Priority"),
        due_date=reader.day(message, "DueDate"),
        steering_type=reader.integer(message, "SteeringType"),
        trace_headers=tuple(
            TraceHeader(reader.text(trace, "OrganId"), reader.timestamp(trace, "Timestamp"))
            for trace in trace_list.all("TraceHeader")
        ),
        business=_business(reader, reader.one(trace_list, "Bussiness", "Business")),
        attachments=tuple(
            _attachment(reader, attachment)
            for attachment in reader.one(top, "AttachmentEncoded").all("Attachment")
        ),
        signature=_signature(header),
        references=tuple(_reference(reader, reference) for reference in manifest.all("Reference")),
    )
    return value, reader.problems


def status(root: etree._Element) -> tuple[StatusMessage, list[Problem]]:
    """The status message read out of the tree, and what could not be read."""
    reader = _Reader()
    header = reader.one(reader.one(At(root, "/edXML"), "edXMLEnvelope"), "edXMLHeader")
    at = reader.one(header, "Status")
    response_for = reader.one(at, "ResponseFor")
    document_id = reader.one(response_for, "DocumentId")
    value = StatusMessage(
        reporter=reader.organization(reader.one(at, "From")),
        original_sender_id=reader.text(response_for, "OrganId"),
        original_code=reader.text(response_for, "Code"),
        original_document_id=document_id.text,
        original_document_id_path=document_id.path,
        status_code=reader.text(at, "StatusCode"),
        description=reader.text(at, "Description"),
        timestamp=reader.timestamp(at, "Timestamp"),
        original_promulgation_date=reader.day(response_for, "PromulgationDate"),
        signature=_signature(header),
    )
    return value, reader.problems


def _business(reader: _Reader, at: At) -> Business:
    doc_type = reader.text(at, "BussinessDocType", "BusinessDocType")
    document_id = reader.one(at, "DocumentId")
    return Business(
        # The schema refuses any other value; an empty one means a new document, as an absent one does.
        doc_type=BusinessDocType(int(doc_type)) if doc_type in {"1", "2", "3"} else BusinessDocType.NEW,
        document_id=document_id.text,
        document_id_path=document_id.path,
        reason=reader.text(at, "BussinessDocReason", "BusinessDocReason"),
        paper=reader.text(at, "Paper") == "1",
    )


def _reference(reader: _Reader, at: At) -> Reference:
    return Reference(
        content_id=_without_cid(reader.text(at, "ContentId")),
        path=at.path,
        content_type=reader.text(at, "ContentType"),
        description=reader.text(at, "Description"),
        attachment_name=reader.text(at, "AttachmentName"),
    )


def _attachment(reader: _Reader, at: At) -> Attachment:
    encoded = reader.one(at, "ContentTransferEncoded").element
    size = 0 if encoded is None else _decoded_size(text_of(encoded, reader.lifted))
    if size is None:
        reader.problems.append(Problem(at.path, "bad-base64", "ContentTransferEncoded is not valid base64"))
    return Attachment(
        content_id=_without_cid(reader.text(at, "ContentId")),
        name=reader.text(at, "AttachmentName"),
        content_type=reader.text(at, "ContentType"),
        description=reader.text(at, "Description"),
        size=size or 0,
        path=at.path,
    )


def _decoded_size(text: str | memoryview) -> int | None:
    """The size of the attached file, or None when its base64 is broken. The file is decoded to be
    sure of both, a slice at a time, and dropped: the hub forwards the document as it came, and a
    36 MB attachment is never held decoded, nor its base64 a second time."""
    if isinstance(text, str) and not text.isascii():
        return None

    def ascii_of(start: int, end: int | None) -> bytes:
        piece = text[start:end]
        return (piece.encode("ascii") if isinstance(piece, str) else bytes(piece)).translate(
            None, _BASE64_WHITESPACE
        )

    size, carry = 0, b""
    for start in range(0, len(text), DECODE_SLICE):
        end = start + DECODE_SLICE
        piece = carry + ascii_of(start, end)
        if end >= len(text) or b"=" in piece:
            # The end of the data (padding comes only there) is decoded in one piece, as the whole
            # text would be, the decoder's leniency about stray padding included.
            try:
                return size + len(base64.b64decode(piece + ascii_of(end, None), validate=True))
            except binascii.Error:
                return None
        whole = max(0, len(piece) - len(piece) % 4 - 4)  # the last quantum waits for what follows
        try:
            size += len(base64.b64decode(piece[:whole], validate=True))
        except binascii.Error:
            return None
        carry = piece[whole:]
    return size


def _without_cid(content_id: str) -> str:
    return content_id[4:] if content_id[:4].lower() == "cid:" else content_id


def _signature(header: At) -> SignatureKind:
    """ds:Signature wins over the edXML-namespace variant; an empty variant (often seen in live
    traffic) counts as no signature."""
    if header.element is None:
        return SignatureKind.ABSENT
    if header.element.find(_DS_SIGNATURE) is not None:
        return SignatureKind.XMLDSIG
    for variant in header.element.iterchildren(_NS + "Signature"):
        if next(variant.iterchildren("{*}*"), None) is not None or (variant.text or "").strip():
            return SignatureKind.EDXML_VARIANT
    return SignatureKind.ABSENT
