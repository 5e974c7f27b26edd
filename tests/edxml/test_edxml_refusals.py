"""Every kind of bad input is refused with the right status, problem code and path."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import pytest
from lxml import etree
from support.edxml import (
    HEADER,
    MESSAGE_HEADER,
    NS,
    RECIPIENTS,
    SENDER,
    SPEC,
    STATUS,
    TODAY,
    codes,
    edited,
    find,
    refused,
    remove,
    set_text,
)

from app.edxml import (
    BusinessDocType,
    Style,
    build_document,
    build_status,
    parse_xml,
    parser,
    read_document,
    read_status,
)
from app.edxml.parser import (
    FEED_BYTES,
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTES,
    MAX_CHILDREN,
    MAX_DEPTH,
    MAX_NAME_CHARS,
    MAX_NAMESPACES,
    MAX_PROBLEMS,
)
from app.kit.errors import InvalidDocument, UnsupportedMediaType

VALID = build_document(SPEC)
IN_MESSAGE = "edXMLEnvelope/edXMLHeader/MessageHeader"  # for edits of the tree
IN_TRACE = "edXMLEnvelope/edXMLHeader/TraceHeaderList"
MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"


def read(data: bytes) -> object:
    return read_document(data, today=TODAY)


# --- not XML, or XML the hub will not parse ------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"hello",
        b"<edXML",
        b"<a></b>",
        b"\xff\xfe\x00<",
        b"<a>\x00</a>",
        b'{"json": true}',
        b"<a>AT&T</a>",
        b"<a>a & b</a>",
    ],
    ids=["empty", "blank", "text", "unclosed", "mismatched", "bad bytes", "nul", "json", "bare &", "lone &"],
)
def test_not_well_formed_is_415_with_line_and_column(data: bytes) -> None:
    error = refused(lambda: read(data), UnsupportedMediaType)

    assert error.status == 415
    [problem] = error.errors
    assert (problem.code, problem.path) == ("not-well-formed", "/")
    assert "line " in problem.message and "column " in problem.message


def test_syntax_error_position_is_reported() -> None:
    error = refused(lambda: parse_xml(b"<a>\n  <b>\n</a>"), UnsupportedMediaType)
    assert "line 3" in error.errors[0].message


DTD_ONLY = b'<!DOCTYPE edXML [<!ELEMENT edXML ANY>]><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>'
INTERNAL_ENTITY = b'<!DOCTYPE x [<!ENTITY who "000.00.01.H62">]><x><OrganId>&who;</OrganId></x>'
EXTERNAL_ENTITY = b'<!DOCTYPE x [<!ENTITY passwd SYSTEM "file:///etc/passwd">]><x><y>&passwd;</y></x>'
EXTERNAL_DTD = b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&undeclared;</x>'
NETWORK_DTD = b'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd"><x/>'
PARAMETER_ENTITY = b'<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><x/>'
UNDECLARED_ENTITY = b"<x>&nbsp;</x>"


def _laughs(levels: int = 10) -> bytes:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i else "lol"}">' for i in range(levels))
    return f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><lolz>&lol{levels - 1};</lolz>'.encode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (DTD_ONLY, {("forbidden-dtd", "/")}),
        (INTERNAL_ENTITY, {("forbidden-dtd", "/"), ("forbidden-entity", "/x/OrganId")}),
        (EXTERNAL_ENTITY, {("forbidden-dtd", "/"), ("forbidden-entity", "/x/y")}),
        (EXTERNAL_DTD, {("forbidden-dtd", "/"), ("forbidden-entity", "/x")}),
        (NETWORK_DTD, {("forbidden-dtd", "/")}),
        (PARAMETER_ENTITY, {("forbidden-dtd", "/")}),
        (UNDECLARED_ENTITY, {("forbidden-entity", "/")}),
    ],
    ids=[
        "dtd",
        "internal entity",
        "external entity",
        "external dtd",
        "network dtd",
        "parameter entity",
        "undeclared entity",
    ],
)
def test_dtds_and_entities_are_422(data: bytes, expected: set[tuple[str, str]]) -> None:
    error = refused(lambda: read(data), InvalidDocument)

    assert error.status == 422
    assert set(codes(error)) == expected


def test_external_entity_content_never_appears() -> None:
    error = refused(lambda: parse_xml(EXTERNAL_ENTITY), InvalidDocument)
    assert "root:" not in repr(error.errors) + error.detail


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()
    error = refused(lambda: read(_laughs()), InvalidDocument)

    assert time.perf_counter() - started < 1.0
    assert error.status == 422
    assert {code for code, _ in codes(error)} <= {"forbidden-dtd", "forbidden-entity"}


def test_quadratic_blowup_is_refused() -> None:
    data = b'<!DOCTYPE x [<!ENTITY a "' + b"a" * 50_000 + b'">]><x>' + b"&a;" * 50_000 + b"</x>"
    error = refused(lambda: read(data), InvalidDocument)
    assert {code for code, _ in codes(error)} <= {"forbidden-dtd", "forbidden-entity"}


def test_too_many_children_is_refused_before_validation() -> None:
    recipients = "".join(f"<To><OrganId>{n}</OrganId><Bad/></To>" for n in range(MAX_CHILDREN + 1))
    data = (
        f'<edXML xmlns="{NS[1:-1]}"><edXMLEnvelope><edXMLHeader><MessageHeader>{recipients}'
        "</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()
    started = time.perf_counter()
    error = refused(lambda: read(data), InvalidDocument)

    assert time.perf_counter() - started < 1.0
    assert codes(error) == [("too-many-elements", MESSAGE_HEADER)]


# --- not an edXML message -------------------------------------------------------------------------


def test_wrong_namespace() -> None:
    data = VALID.replace(b"http://www.mic.gov.vn/TBT/QCVN_102_2016", b"http://example.org/edxml")
    error = refused(lambda: read(data), InvalidDocument)

    assert codes(error) == [("wrong-namespace", "/edXML")]
    assert "http://www.mic.gov.vn/TBT/QCVN_102_2016" in error.errors[0].message
    assert "http://example.org/edxml" in error.errors[0].message


def test_no_namespace_at_all() -> None:
    error = refused(lambda: read(b"<edXML><edXMLEnvelope/></edXML>"), InvalidDocument)
    assert codes(error) == [("wrong-namespace", "/edXML")]
    assert "no namespace" in error.errors[0].message


def test_wrong_root() -> None:
    data = b'<Envelope xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>'
    error = refused(lambda: read(data), InvalidDocument)

    assert codes(error) == [("wrong-namespace", "/Envelope")]
    assert "Envelope" in error.errors[0].message


def test_status_message_sent_as_document() -> None:
    error = refused(lambda: read(build_status(STATUS)), InvalidDocument)

    assert codes(error) == [("status-message-not-document", f"{HEADER}/Status")]
    assert "/api/v1/statuses" in error.errors[0].message


def test_document_sent_as_status_message() -> None:
    error = refused(lambda: read_status(VALID, today=TODAY), InvalidDocument)
    assert codes(error) == [("document-not-status-message", f"{HEADER}/Status")]


# --- the document's own rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            remove(f"{IN_MESSAGE}/Code"),
            [
                ("required", f"{MESSAGE_HEADER}/Code/CodeNumber"),
                ("required", f"{MESSAGE_HEADER}/Code/CodeNotation"),
            ],
        ),
        (remove(f"{IN_MESSAGE}/Subject"), [("required", f"{MESSAGE_HEADER}/Subject")]),
        (set_text(f"{IN_MESSAGE}/Subject", " \n "), [("required", f"{MESSAGE_HEADER}/Subject")]),
        (
            remove(f"{IN_MESSAGE}/From"),
            [("required", f"{MESSAGE_HEADER}/From/OrganId")],
        ),
        (
            remove(f"{IN_MESSAGE}/DocumentId"),
            [("required", f"{MESSAGE_HEADER}/DocumentId")],
        ),
        (
            remove(f"{IN_MESSAGE}/To/OrganId"),
            [("required", f"{MESSAGE_HEADER}/To[1]/OrganId")],
        ),
        (
            set_text(f"{IN_MESSAGE}/From/OrganId", "000.00.01.h62"),
            [
                ("bad-agency-code", f"{MESSAGE_HEADER}/From/OrganId"),
                ("document-id-sender-mismatch", f"{MESSAGE_HEADER}/DocumentId"),
            ],
        ),
        (
            set_text(f"{IN_MESSAGE}/PromulgationInfo/PromulgationDate", "2026/11/28"),
            [("future-date", f"{MESSAGE_HEADER}/PromulgationInfo/PromulgationDate")],
        ),
        (
            set_text(f"{IN_MESSAGE}/PromulgationInfo/PromulgationDate", "2026/02/30"),
            [("bad-date", f"{MESSAGE_HEADER}/PromulgationInfo/PromulgationDate")],
        ),
        (
            set_text(f"{IN_MESSAGE}/DueDate", "15/12/2026"),
            [("schema", f"{MESSAGE_HEADER}/DueDate")],  # the pattern's problem, not a second one
        ),
        (
            set_text(f"{IN_TRACE}/TraceHeader/Timestamp", "2026/11/20 25:00:00"),
            [("bad-timestamp", f"{HEADER}/TraceHeaderList/TraceHeader/Timestamp")],
        ),
        (
            set_text(f"{IN_MESSAGE}/Subject", "x" * 501),
            [("schema", f"{MESSAGE_HEADER}/Subject")],
        ),
        (
            set_text(f"{IN_MESSAGE}/OtherInfo/Priority", "khẩn"),
            [("schema", f"{MESSAGE_HEADER}/OtherInfo/Priority")],
        ),
        (
            set_text(f"{IN_TRACE}/Bussiness/BussinessDocType", "4"),
            [("schema", f"{HEADER}/TraceHeaderList/Bussiness/BussinessDocType")],
        ),
        (
            set_text(f"{IN_MESSAGE}/DocumentId", "000.00.09.H62,2026/11/20,1234/VP-KSTT"),
            [("document-id-sender-mismatch", f"{MESSAGE_HEADER}/DocumentId")],
        ),
        (
            set_text(f"{IN_MESSAGE}/DocumentId", "x" * 201),
            [("too-long", f"{MESSAGE_HEADER}/DocumentId")],
        ),
    ],
    ids=[
        "missing Code",
        "missing Subject",
        "blank Subject",
        "missing From",
        "missing DocumentId",
        "To without OrganId",
        "malformed sender code",
        "future date",
        "no such day",
        "wrong date pattern",
        "no such time",
        "Subject too long",
        "Priority not a number",
        "unknown business type",
        "DocumentId of another sender",
        "DocumentId too long",
    ],
)
def test_document_rule(change: object, expected: list[tuple[str, str]]) -> None:
    error = refused(lambda: read(edited(VALID, change)), InvalidDocument)  # type: ignore[arg-type]

    assert error.status == 422
    assert codes(error) == expected


def test_document_id_of_another_shape_is_accepted() -> None:
    """Producers differ: a DocumentId without the comma-separated shape is not compared."""
    read(edited(VALID, set_text(f"{IN_MESSAGE}/DocumentId", "VP-2026-000123")))


def test_promulgated_today_is_not_in_the_future() -> None:
    assert read_document(VALID, today=date(2026, 11, 20))
    refused(lambda: read_document(VALID, today=date(2026, 11, 19)), InvalidDocument)


def test_no_recipient() -> None:
    error = refused(lambda: read(build_document(replace(SPEC, recipients=[]))), InvalidDocument)
    assert codes(error) == [("required", f"{MESSAGE_HEADER}/To")]


def test_duplicate_recipient_is_reported_on_the_second() -> None:
    spec = replace(SPEC, recipients=[RECIPIENTS[0], RECIPIENTS[1], RECIPIENTS[0]])
    error = refused(lambda: read(build_document(spec)), InvalidDocument)
    assert codes(error) == [("duplicate-recipient", f"{MESSAGE_HEADER}/To[3]/OrganId")]


@pytest.mark.parametrize(
    "code", ["", "000.00.01.H62.", ".000", "000..01", "000.00.01.Ĥ62", "0" * 36, "000 00 01 H62", "ABC-1"]
)
def test_malformed_recipient_code(code: str) -> None:
    spec = replace(SPEC, recipients=[RECIPIENTS[0], code])
    error = refused(lambda: read(build_document(spec)), InvalidDocument)
    expected = "required" if code == "" else "bad-agency-code"
    assert codes(error) == [(expected, f"{MESSAGE_HEADER}/To[2]/OrganId")]


@pytest.mark.parametrize("doc_type", [t for t in BusinessDocType if t is not BusinessDocType.NEW])
def test_revoke_update_replace_must_name_the_document(doc_type: BusinessDocType) -> None:
    error = refused(lambda: read(build_document(replace(SPEC, business=doc_type))), InvalidDocument)
    assert codes(error) == [("required", f"{HEADER}/TraceHeaderList/Bussiness/DocumentId")]


def test_repeated_single_element() -> None:
    def second_from(root: etree._Element) -> None:
        message = find(root, IN_MESSAGE)
        extra = etree.SubElement(message, f"{NS}From")
        etree.SubElement(extra, f"{NS}OrganId").text = "000.00.09.H62"

    error = refused(lambda: read(edited(VALID, second_from)), InvalidDocument)
    assert codes(error) == [("repeated-element", f"{MESSAGE_HEADER}/From[2]")]


def test_unknown_element_in_the_edxml_namespace() -> None:
    def add(root: etree._Element) -> None:
        etree.SubElement(find(root, f"{IN_MESSAGE}/To"), f"{NS}Nickname").text = "x"

    error = refused(lambda: read(edited(VALID, add)), InvalidDocument)
    assert codes(error) == [("schema", f"{MESSAGE_HEADER}/To[1]/Nickname")]
    assert "Nickname" in error.errors[0].message
    assert "{" not in error.errors[0].message  # no Clark notation for people to read


def test_schema_paths_have_no_prefixes_in_default_namespace_documents() -> None:
    data = build_document(SPEC, Style(namespaces="default"))
    bad = edited(data, set_text(f"{IN_MESSAGE}/Code/CodeNumber", "1" * 12))
    error = refused(lambda: read(bad), InvalidDocument)
    assert codes(error) == [("schema", f"{MESSAGE_HEADER}/Code/CodeNumber")]


# --- attachments ----------------------------------------------------------------------------------


def test_reference_without_its_attachment() -> None:
    error = refused(lambda: read(edited(VALID, remove("AttachmentEncoded/Attachment"))), InvalidDocument)
    assert codes(error) == [("missing-attachment", f"{MANIFEST}/Reference[1]")]


def test_attachment_without_its_reference() -> None:
    error = refused(
        lambda: read(edited(VALID, remove("edXMLEnvelope/edXMLBody/edXMLManifest/Reference"))),
        InvalidDocument,
    )
    assert codes(error) == [("unreferenced-attachment", "/edXML/AttachmentEncoded/Attachment[1]")]


def test_two_attachments_with_one_content_id() -> None:
    error = refused(
        lambda: read(edited(VALID, set_text("AttachmentEncoded/Attachment[2]/ContentId", "cid:1"))),
        InvalidDocument,
    )
    assert codes(error) == [
        ("missing-attachment", f"{MANIFEST}/Reference[2]"),
        ("duplicate-attachment", "/edXML/AttachmentEncoded/Attachment[2]"),
    ]


@pytest.mark.parametrize("encoded", ["not base64!", "QUJDRA", "QUJD-_", "QQ==QQ==", "4oCm8J+Ygg==€", "="])
def test_broken_base64(encoded: str) -> None:
    change = set_text("AttachmentEncoded/Attachment[2]/ContentTransferEncoded", encoded)
    error = refused(lambda: read(edited(VALID, change)), InvalidDocument)
    assert codes(error) == [("bad-base64", "/edXML/AttachmentEncoded/Attachment[2]")]


# --- status messages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (replace(STATUS, status_code="07"), [("bad-status-code", f"{HEADER}/Status/StatusCode")]),
        (replace(STATUS, status_code="3"), [("bad-status-code", f"{HEADER}/Status/StatusCode")]),
        (replace(STATUS, status_code=""), [("required", f"{HEADER}/Status/StatusCode")]),
        (replace(STATUS, reporter="nobody"), [("bad-agency-code", f"{HEADER}/Status/From/OrganId")]),
        (
            replace(STATUS, original_sender_id="", original_code="", original_document_id=""),
            [
                ("required", f"{HEADER}/Status/ResponseFor/OrganId"),
                ("required", f"{HEADER}/Status/ResponseFor/Code"),
                ("required", f"{HEADER}/Status/ResponseFor/DocumentId"),
            ],
        ),
        (replace(STATUS, timestamp="2026-11-20T14:05:10"), [("schema", f"{HEADER}/Status/Timestamp")]),
    ],
    ids=["unknown code", "one digit", "no code", "malformed reporter", "nothing it answers", "bad timestamp"],
)
def test_status_rule(status: object, expected: list[tuple[str, str]]) -> None:
    error = refused(lambda: read_status(build_status(status), today=TODAY), InvalidDocument)  # type: ignore[arg-type]
    assert codes(error) == expected


@pytest.mark.parametrize("code", ["01", "02", "03", "04", "05", "06", "13", "15", "16"])
def test_every_known_status_code_is_accepted(code: str) -> None:
    assert read_status(build_status(replace(STATUS, status_code=code)), today=TODAY).status_code == code


# --- all at once ----------------------------------------------------------------------------------


def test_several_problems_are_reported_together() -> None:
    spec = replace(
        SPEC,
        sender="vp ubnd",
        recipients=[RECIPIENTS[0], RECIPIENTS[0]],
        subject="",
        promulgation_date=date(2027, 1, 1),
        code_notation="x" * 31,
    )
    broken = set_text("AttachmentEncoded/Attachment[1]/ContentTransferEncoded", "@@")
    bad = edited(build_document(spec), broken)
    error = refused(lambda: read(bad), InvalidDocument)

    assert set(codes(error)) == {
        ("schema", f"{MESSAGE_HEADER}/Code/CodeNotation"),
        ("bad-base64", "/edXML/AttachmentEncoded/Attachment[1]"),
        ("bad-agency-code", f"{MESSAGE_HEADER}/From/OrganId"),
        ("duplicate-recipient", f"{MESSAGE_HEADER}/To[2]/OrganId"),
        ("required", f"{MESSAGE_HEADER}/Subject"),
        ("future-date", f"{MESSAGE_HEADER}/PromulgationInfo/PromulgationDate"),
    }
    assert error.detail == "the edXML message has 6 problems"
    assert len(error.errors) == 6


def test_a_flood_of_problems_is_summarised() -> None:
    recipients = [f"bad {n}" for n in range(MAX_PROBLEMS + 20)]
    error = refused(lambda: read(build_document(replace(SPEC, recipients=recipients))), InvalidDocument)

    assert len(error.errors) == MAX_PROBLEMS + 1
    assert error.errors[-1].code == "too-many-problems"
    assert str(MAX_PROBLEMS + 20) in error.detail


def test_sender_used_in_rules_matches_spec() -> None:
    """Guards the fixtures: the unchanged document is valid."""
    document = read_document(VALID, today=TODAY)
    assert document.sender.organ_id == SENDER


def _nested(depth: int, *, closed: bool = True) -> bytes:
    return b"<n>" * depth + (b"</n>" * depth if closed else b"<broken")


# One per cost limit a document of one slice can pass, and one that passes it before a syntax error.
ONE_SLICE_HOSTILE = {
    "too deep": _nested(MAX_DEPTH + 1),
    "too deep, then not well-formed": _nested(MAX_DEPTH + 1, closed=False),
    "too many children": b"<r>" + b"<a/>" * (MAX_CHILDREN + 1) + b"</r>",
    "too many attributes": b"<r " + b" ".join(b'a%d="x"' % i for i in range(MAX_ATTRIBUTES + 1)) + b"/>",
    "a long attribute value": b'<r a="' + b"x" * (MAX_ATTRIBUTE_CHARS + 1) + b'"/>',
    "a long element name": b"<" + b"a" * (MAX_NAME_CHARS + 1) + b"/>",
    "a long attribute name": b"<r " + b"a" * (MAX_NAME_CHARS + 1) + b'="x"/>',
    "too many namespaces": b"<r>"
    + b"".join(b'<n xmlns:q%d="urn:q:%d"/>' % (i, i) for i in range(MAX_NAMESPACES + 1))
    + b"</r>",
    "XInclude": b'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></r>',
}


@pytest.mark.parametrize("data", ONE_SLICE_HOSTILE.values(), ids=ONE_SLICE_HOSTILE.keys())
def test_a_document_of_one_slice_gets_the_answer_of_the_slice_by_slice_check(data: bytes) -> None:
    # Such a document is parsed before it is checked (parser.parse_xml): the answer must be the one
    # the slice-by-slice check, which runs first for larger documents, gives on its own.
    assert len(data) <= FEED_BYTES
    expected = refused(lambda: parser._prescan(data))
    error = refused(lambda: parser.parse_xml(data))
    assert (type(error), error.detail, codes(error)) == (type(expected), expected.detail, codes(expected))


def test_a_harmless_document_of_one_slice_is_not_checked_slice_by_slice(
    sample: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    monkeypatch.setattr(parser, "_prescan", checked.append)
    parser.parse_xml(sample)
    assert checked == []


def test_a_document_that_only_looks_costly_is_read() -> None:
    # "xmlns" in a text counts as a declaration for the quick look: the slice-by-slice check then
    # finds none, and the document is read.
    data = b"<r><t>" + b"xmlns " * (MAX_NAMESPACES + 1) + b"</t></r>"
    assert parser.parse_xml(data).findtext("t") == "xmlns " * (MAX_NAMESPACES + 1)
