"""The committed samples read cleanly and say what they are meant to say."""

from __future__ import annotations

import hashlib
from datetime import date

from lxml import etree
from support.edxml import HEADER, NS, TODAY, sample

from app.edxml import (
    DSIG_NAMESPACE,
    BusinessDocType,
    EdxmlDocument,
    SignatureKind,
    StatusMessage,
    read_document,
    read_message,
    read_status,
)
from app.edxml.schema import Kind, validate

# Other suites sign and compare these exact bytes: an edit must be deliberate.
SAMPLE_SHA256 = "6194f95c19a6d202d621ebd0f7c8415f96a0032bf7de363bc3404ee739d13004"


def test_sample_bytes_are_stable() -> None:
    assert hashlib.sha256(sample("sample.edxml")).hexdigest() == SAMPLE_SHA256


def test_sample_reads_as_the_cong_van_it_is() -> None:
    document = read_document(sample("sample.edxml"), today=TODAY)

    assert document.sender.organ_id == "000.00.01.H62"
    assert document.sender.organ_name == "Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc"
    assert [r.organ_id for r in document.recipients] == ["000.00.02.H62", "000.00.03.H62"]
    assert [r.path for r in document.recipients] == [
        f"{HEADER}/MessageHeader/To[1]/OrganId",
        f"{HEADER}/MessageHeader/To[2]/OrganId",
    ]
    assert document.document_id == "000.00.01.H62,2026/11/20,1234/VP-KSTT"
    assert (document.code_number, document.code_notation) == ("1234", "VP-KSTT")
    assert document.subject == "V/v triển khai kế hoạch chuyển đổi số năm 2026"
    assert document.promulgation_place == "Vĩnh Phúc"
    assert document.promulgation_date == date(2026, 11, 20)
    assert document.due_date == date(2026, 12, 15)
    assert (document.document_type, document.type_name, document.priority) == (1, "Công văn", 0)
    assert [(t.organ_id, t.timestamp) for t in document.trace_headers] == [
        ("000.00.01.H62", "2026/11/20 09:15:32")
    ]
    assert document.business.doc_type is BusinessDocType.NEW
    assert document.signature is SignatureKind.ABSENT
    [attachment] = document.attachments
    assert (attachment.content_id, attachment.name, attachment.content_type) == (
        "1",
        "Kế hoạch chuyển đổi số.pdf",
        "application/pdf",
    )
    assert attachment.size == 822
    assert [r.content_id for r in document.references] == ["1"]


def test_sample_is_about_6_kb() -> None:
    assert 5_000 < len(sample("sample.edxml")) < 7_000


def test_status_sample_reads_as_status_03_about_the_sample() -> None:
    status = read_status(sample("status-03.edxml"), today=TODAY)
    document = read_document(sample("sample.edxml"), today=TODAY)

    assert status.status_code == "03"
    assert status.reporter.organ_id == "000.00.02.H62"
    assert status.original_sender_id == document.sender.organ_id
    assert status.original_document_id == document.document_id
    assert status.original_code == "1234/VP-KSTT"
    assert status.original_promulgation_date == date(2026, 11, 20)
    assert status.timestamp == "2026/11/20 14:05:10"


def test_official_style_sample_has_the_edxml_namespace_signature() -> None:
    document = read_document(sample("official-style.edxml"), today=TODAY)

    assert document.signature is SignatureKind.EDXML_VARIANT
    assert document.sender.organ_id == "000.00.00.G22"
    assert document.code_notation == "VPCP-TTĐT"
    assert document.due_date is None  # written empty, as producers do
    # cid: on one side only still pairs the Reference with its Attachment.
    assert [a.content_id for a in document.attachments] == [r.content_id for r in document.references]


def test_read_message_tells_documents_from_status_messages() -> None:
    assert isinstance(read_message(sample("sample.edxml"), today=TODAY), EdxmlDocument)
    assert isinstance(read_message(sample("official-style.edxml"), today=TODAY), EdxmlDocument)
    assert isinstance(read_message(sample("status-03.edxml"), today=TODAY), StatusMessage)


def _with_hub_seal(data: bytes) -> bytes:
    """The sample as the hub seals it: a ds:Signature in edXMLHeader right after TraceHeaderList."""
    root = etree.fromstring(data)
    header = root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader")
    assert header is not None
    trace = header.find(f"{NS}TraceHeaderList")
    assert trace is not None
    signature = etree.Element(f"{{{DSIG_NAMESPACE}}}Signature", nsmap={"ds": DSIG_NAMESPACE})
    signed_info = etree.SubElement(signature, f"{{{DSIG_NAMESPACE}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DSIG_NAMESPACE}}}Reference", URI="")
    etree.SubElement(signature, f"{{{DSIG_NAMESPACE}}}SignatureValue").text = "AAAA"
    trace.addnext(signature)
    serialised: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return serialised


def test_a_sealed_document_is_still_valid_and_reads_as_signed() -> None:
    sealed = _with_hub_seal(sample("sample.edxml"))

    assert validate(etree.fromstring(sealed), Kind.DOCUMENT) == []
    assert read_document(sealed, today=TODAY).signature is SignatureKind.XMLDSIG


def test_a_sealed_official_style_document_is_still_valid() -> None:
    sealed = _with_hub_seal(sample("official-style.edxml"))

    assert validate(etree.fromstring(sealed), Kind.DOCUMENT) == []
    # The standard signature is the one a verifier can check: it wins over the edXML variant.
    assert read_document(sealed, today=TODAY).signature is SignatureKind.XMLDSIG
