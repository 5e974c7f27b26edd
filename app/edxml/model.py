"""What the hub reads out of an edXML message: plain, immutable values with no XML attached.

Each value that can be wrong in a way the hub detects later (an agency code that is unknown, a
DocumentId already used) carries the path of the element it came from, so errors point into the
document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum, StrEnum

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"


class BusinessDocType(IntEnum):
    """TraceHeaderList/Bussiness/BussinessDocType."""

    NEW = 0  # văn bản mới
    REVOKE = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class SignatureKind(StrEnum):
    """What kind of XML signature the sender put into edXMLHeader."""

    ABSENT = "absent"
    XMLDSIG = "xmldsig"  # standard ds:Signature, verifiable with stock tools
    EDXML_VARIANT = "edxml-variant"  # the official sample's unprefixed Signature in the edXML namespace


class StatusCode(StrEnum):
    """Status/StatusCode: how far a recipient has got with a document."""

    ARRIVED = "01"  # đã đến: in the receiving QLVB, not yet processed by the clerk
    REJECTED = "02"  # từ chối tiếp nhận
    ACCEPTED = "03"  # đã tiếp nhận: registered in the incoming book
    ASSIGNED = "04"  # phân công
    IN_PROGRESS = "05"  # đang xử lý
    DONE = "06"  # hoàn thành
    RECALLED = "13"  # lấy lại: sent by the sender to recall its document
    AGREED = "15"  # đồng ý: the recipient accepts a recall or an update
    REFUSED = "16"  # từ chối: the recipient refuses a recall or an update


#: What each status code means, as Vietnamese clerks say it.
STATUS_MEANINGS: dict[str, str] = {
    StatusCode.ARRIVED: "đã đến",
    StatusCode.REJECTED: "từ chối tiếp nhận",
    StatusCode.ACCEPTED: "đã tiếp nhận",
    StatusCode.ASSIGNED: "phân công",
    StatusCode.IN_PROGRESS: "đang xử lý",
    StatusCode.DONE: "hoàn thành",
    StatusCode.RECALLED: "lấy lại",
    StatusCode.AGREED: "đồng ý",
    StatusCode.REFUSED: "từ chối",
}


@dataclass(frozen=True, slots=True)
class Organization:
    """From, To, or Status/From: an agency as the document names it."""

    organ_id: str
    path: str  # of the OrganId element: /edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId
    organ_name: str = ""
    organization_in_charge: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True, slots=True)
class TraceHeader:
    organ_id: str
    timestamp: str  # yyyy/MM/dd HH:mm:ss as written


@dataclass(frozen=True, slots=True)
class Business:
    """TraceHeaderList/Bussiness (or Business): what this message does."""

    doc_type: BusinessDocType = BusinessDocType.NEW
    document_id: str = ""  # the document acted on (revoke, update, replace)
    document_id_path: str = ""
    reason: str = ""
    paper: bool = False


@dataclass(frozen=True, slots=True)
class Reference:
    """edXMLManifest/Reference: the manifest's entry for one attachment."""

    content_id: str  # without the optional "cid:" prefix
    path: str  # of the Reference element
    content_type: str = ""
    description: str = ""
    attachment_name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    content_id: str  # without the optional "cid:" prefix
    name: str
    content_type: str
    description: str
    size: int  # decoded size in bytes
    path: str = ""  # of the Attachment element


@dataclass(frozen=True, slots=True)
class EdxmlDocument:
    """An edXML document message (gói tin văn bản)."""

    sender: Organization
    recipients: tuple[Organization, ...]
    document_id: str
    document_id_path: str
    code_number: str
    code_notation: str
    subject: str
    promulgation_place: str = ""
    promulgation_date: date | None = None
    document_type: int | None = None
    type_name: str = ""
    priority: int | None = None
    due_date: date | None = None
    steering_type: int | None = None  # 0 not a directive, 1 directive (văn bản chỉ đạo), 2 report on one
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business = field(default_factory=Business)
    attachments: tuple[Attachment, ...] = ()
    signature: SignatureKind = SignatureKind.ABSENT
    references: tuple[Reference, ...] = ()  # the manifest; each matches exactly one attachment


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """An edXML status message (gói tin trạng thái): a recipient reports progress on a document."""

    reporter: Organization
    original_sender_id: str  # ResponseFor/OrganId
    original_code: str  # ResponseFor/Code, "số/ký hiệu"
    original_document_id: str  # ResponseFor/DocumentId
    original_document_id_path: str
    status_code: str  # two digits, 01..16
    description: str = ""
    timestamp: str = ""
    original_promulgation_date: date | None = None
    signature: SignatureKind = SignatureKind.ABSENT
