"""Producers differ in prefixes, ContentId, spelling and order: the hub reads the same values from all."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lxml import etree
from support.edxml import SPEC, STATUS, TODAY, edited, find, sample

from app.edxml import (
    BusinessDocType,
    EdxmlDocument,
    Style,
    build_document,
    build_status,
    read_document,
    read_status,
)

STYLES = {
    "prefixed": Style(),
    "default namespace": Style(namespaces="default"),
    "mixed": Style(namespaces="mixed"),
    "another prefix": Style(prefix="ns2"),
    "no cid:": Style(cid_prefix=False),
    "Business": Style(business="Business"),
    "shuffled": Style(shuffle_seed=7),
    "shuffled again": Style(shuffle_seed=2026, namespaces="default"),
    "wrapped base64": Style(wrap_base64=True),
    "not indented": Style(indent=False),
    "all at once": Style(namespaces="mixed", cid_prefix=False, business="Business", shuffle_seed=11),
}
REFERENCE = read_document(build_document(SPEC), today=TODAY)
MESSAGE_PATH = "edXMLEnvelope/edXMLHeader/MessageHeader"


def _without_paths(document: EdxmlDocument) -> EdxmlDocument:
    # The path of Bussiness/DocumentId names the spelling used: compare the values only.
    return replace(document, business=replace(document.business, document_id_path=""))


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
def test_every_style_gives_the_same_document(style: Style) -> None:
    data = build_document(SPEC, style)

    assert _without_paths(read_document(data, today=TODAY)) == _without_paths(REFERENCE)


def test_the_styles_really_differ() -> None:
    """Guards the test above: the bytes differ in the way each style claims."""
    prefixed, default, mixed = (
        build_document(SPEC, STYLES[name]) for name in ("prefixed", "default namespace", "mixed")
    )
    assert b"<edXML:MessageHeader>" in prefixed
    assert b"<MessageHeader>" in default and b"edXML:" not in default
    assert b"<edXML:edXMLEnvelope>" in mixed and b'<MessageHeader xmlns="' in mixed
    assert b"<ns2:edXML " in build_document(SPEC, STYLES["another prefix"])
    assert b">cid:1<" in prefixed and b">cid:1<" not in build_document(SPEC, STYLES["no cid:"])
    assert b"<edXML:BusinessDocType>" in build_document(SPEC, STYLES["Business"])
    shuffled = build_document(SPEC, STYLES["shuffled"])
    assert len(shuffled) == len(prefixed)
    assert _message_header_order(shuffled) != _message_header_order(prefixed)


def _message_header_order(data: bytes) -> list[str]:
    return [etree.QName(child).localname for child in find(etree.fromstring(data), MESSAGE_PATH)]


def test_business_spelling_does_not_change_the_business_read() -> None:
    acted_on = "000.00.01.H62,2026/11/01,1/VP"
    spec = replace(SPEC, business=BusinessDocType.REVOKE, business_document_id=acted_on)
    for spelling in ("Bussiness", "Business"):
        document = read_document(build_document(spec, Style(business=spelling)), today=TODAY)
        assert document.business.doc_type is BusinessDocType.REVOKE
        assert document.business.document_id == acted_on
        assert document.business.document_id_path.endswith(f"/TraceHeaderList/{spelling}/DocumentId")


def test_many_recipients_keep_their_order_and_paths() -> None:
    recipients = [f"000.00.{n:02d}.H62" for n in range(2, 40)]
    document = read_document(
        build_document(replace(SPEC, recipients=recipients), Style(shuffle_seed=3)), today=TODAY
    )

    assert [r.organ_id for r in document.recipients] == recipients
    assert document.recipients[10].path.endswith("/MessageHeader/To[11]/OrganId")


def test_vietnamese_text_survives_in_any_encoding_declared() -> None:
    """A producer writing UTF-16 (declared) gives the same Vietnamese text."""
    utf8 = build_document(SPEC)
    utf16 = utf8.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")

    assert read_document(utf16, today=TODAY) == read_document(utf8, today=TODAY)
    assert read_document(utf16, today=TODAY).attachments[1].name == "Phụ lục đính kèm.docx"


def test_comments_processing_instructions_and_extensions_are_ignored() -> None:
    def decorate(root: etree._Element) -> None:
        message = find(root, MESSAGE_PATH)
        message.insert(0, etree.Comment(" sinh bởi phần mềm QLVB "))
        message.append(etree.PI("producer", "v1"))
        etree.SubElement(message, "{urn:example:qlvb}SoDen").text = "42"
        etree.SubElement(find(root, "edXMLEnvelope"), "{urn:example:qlvb}Extra", kind="x")
        subject = find(root, f"{MESSAGE_PATH}/Subject")
        subject.text = "V/v triển khai "
        subject.append(etree.Comment("x"))
        subject[0].tail = "kế hoạch chuyển đổi số năm 2026"

    data = edited(build_document(SPEC), decorate)
    assert read_document(data, today=TODAY) == REFERENCE


def test_status_styles_give_the_same_status() -> None:
    reference = read_status(build_status(STATUS), today=TODAY)
    for style in STYLES.values():
        assert read_status(build_status(STATUS, style), today=TODAY) == reference


def test_status_sample_in_default_namespace_reads_the_same() -> None:
    data = sample("status-03.edxml").replace(b"edXML:", b"").replace(b"xmlns:edXML=", b"xmlns=")
    assert b"<Status>" in data
    assert read_status(data, today=TODAY) == read_status(sample("status-03.edxml"), today=TODAY)
