"""edXML (QCVN 102:2016): reading messages from outside, safely and completely, and writing them.

`read_document` / `read_status` / `read_message` turn bytes into the values of `model`, or raise one
HubError listing every problem with its path; `build_document` / `build_status` write bytes.
"""

from app.edxml.build import DocumentSpec, Organ, Signer, StatusSpec, Style, build_document, build_status
from app.edxml.model import (
    DSIG_NAMESPACE,
    NAMESPACE,
    STATUS_MEANINGS,
    Attachment,
    Business,
    BusinessDocType,
    EdxmlDocument,
    Organization,
    Reference,
    SignatureKind,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from app.edxml.parser import (
    ParsedTree,
    hardened_parser,
    parse_xml,
    read_document,
    read_document_tree,
    read_message,
    read_status,
    read_status_tree,
)
from app.edxml.rules import is_valid_agency_code

__all__ = [
    "DSIG_NAMESPACE",
    "NAMESPACE",
    "STATUS_MEANINGS",
    "Attachment",
    "Business",
    "BusinessDocType",
    "DocumentSpec",
    "EdxmlDocument",
    "Organ",
    "Organization",
    "ParsedTree",
    "Reference",
    "SignatureKind",
    "Signer",
    "StatusCode",
    "StatusMessage",
    "StatusSpec",
    "Style",
    "TraceHeader",
    "build_document",
    "build_status",
    "hardened_parser",
    "is_valid_agency_code",
    "parse_xml",
    "read_document",
    "read_document_tree",
    "read_message",
    "read_status",
    "read_status_tree",
]
