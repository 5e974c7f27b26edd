"""The builder writes what the reader reads, in the form producers use."""

from __future__ import annotations

from dataclasses import replace

from lxml import etree
from support.edxml import NS, SPEC, STATUS, TODAY, find

from app.edxml import (
    NAMESPACE,
    BusinessDocType,
    StatusCode,
    StatusSpec,
    Style,
    build_document,
    build_status,
    read_document,
    read_status,
)


def test_output_is_utf8_with_a_declaration() -> None:
    data = build_document(SPEC)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML:edXML ')
    assert "Kế hoạch chuyển đổi số.pdf".encode() in data


def test_default_document_id_has_the_format_shape() -> None:
    derived = read_document(build_document(SPEC), today=TODAY)
    assert derived.document_id == "000.00.01.H62,2026/11/20,1234/VP-KSTT"
    spec = replace(SPEC, document_id="000.00.01.H62,2026/11/20,99/QĐ")
    assert read_document(build_document(spec), today=TODAY).document_id == "000.00.01.H62,2026/11/20,99/QĐ"


def test_every_field_round_trips() -> None:
    spec = replace(
        SPEC,
        business=BusinessDocType.UPDATE,
        business_document_id="X,2026/11/01,1/A",
        business_reason="Sửa lỗi chính tả",
        paper=True,
    )
    document = read_document(build_document(spec), today=TODAY)

    assert document.sender.organ_name == "Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc"
    assert document.recipients[0].organ_name == "Sở Nội vụ"
    assert (document.promulgation_place, document.priority) == ("Vĩnh Phúc", 1)
    assert (document.document_type, document.type_name) == (1, "Công văn")
    assert document.business.doc_type is BusinessDocType.UPDATE
    assert (document.business.reason, document.business.paper) == ("Sửa lỗi chính tả", True)
    assert [(a.name, a.size) for a in document.attachments] == [
        ("Kế hoạch chuyển đổi số.pdf", 30),
        ("Phụ lục đính kèm.docx", 256),
    ]
    assert [r.attachment_name for r in document.references] == [a.name for a in document.attachments]


def test_mixed_style_declares_the_default_namespace_on_the_headers() -> None:
    root = etree.fromstring(build_document(SPEC, Style(namespaces="mixed")))
    message = find(root, "edXMLEnvelope/edXMLHeader/MessageHeader")

    assert root.prefix == "edXML"
    assert message.prefix is None and message.nsmap[None] == NAMESPACE
    assert find(root, "edXMLEnvelope/edXMLHeader").prefix == "edXML"


def test_shuffle_keeps_lists_in_order_and_is_reproducible() -> None:
    spec = replace(SPEC, recipients=[f"000.00.{n:02d}.H62" for n in range(2, 12)])
    first = build_document(spec, Style(shuffle_seed=1))

    assert first == build_document(spec, Style(shuffle_seed=1))
    assert first != build_document(spec, Style(shuffle_seed=2))
    root = etree.fromstring(first)
    recipients = [to.findtext(f"{NS}OrganId") for to in root.iter(f"{NS}To")]
    assert recipients == [f"000.00.{n:02d}.H62" for n in range(2, 12)]


def test_status_answering_a_document() -> None:
    document = read_document(build_document(SPEC), today=TODAY)
    spec = StatusSpec.answering(
        document, reporter="000.00.02.H62", status_code=StatusCode.ACCEPTED, timestamp="2026/11/21 08:00:00"
    )
    status = read_status(build_status(spec), today=TODAY)

    assert status.status_code == "03"
    assert status.original_document_id == document.document_id
    assert status.original_code == "1234/VP-KSTT"
    assert status.original_promulgation_date == document.promulgation_date


def test_status_has_no_body() -> None:
    root = etree.fromstring(build_status(STATUS))
    assert root.find(f"{NS}edXMLEnvelope/{NS}edXMLBody") is None
    assert root.find(f"{NS}AttachmentEncoded") is None
