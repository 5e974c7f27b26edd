"""Properties: whatever a producer writes in whatever style reads back the same, and no input at all
makes the reader fail in any way but a HubError."""

from __future__ import annotations

import base64
import binascii
import string
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.edxml import TODAY, sample

from app.edxml import (
    DocumentSpec,
    Organ,
    StatusSpec,
    Style,
    build_document,
    build_status,
    extract,
    is_valid_agency_code,
    read_document,
    read_message,
    read_status,
)
from app.kit.errors import HubError

VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
ALPHABET = VIETNAMESE + VIETNAMESE.upper() + string.digits + " ,.;:/-()&<>'\"\n\t"


def text(max_size: int) -> st.SearchStrategy[str]:
    """Non-blank text as people write it, including characters XML must escape."""
    written = st.text(st.sampled_from(ALPHABET), min_size=1, max_size=max_size)
    return written.filter(lambda value: value.strip() != "")


agency_codes = st.from_regex(r"[0-9A-Z]{1,5}(\.[0-9A-Z]{1,5}){0,4}", fullmatch=True)
styles = st.builds(
    Style,
    namespaces=st.sampled_from(["prefixed", "default", "mixed"]),
    prefix=st.sampled_from(["edXML", "ns2", "e"]),
    cid_prefix=st.booleans(),
    business=st.sampled_from(["Bussiness", "Business"]),
    shuffle_seed=st.none() | st.integers(0, 2**16),
    wrap_base64=st.booleans(),
    indent=st.booleans(),
)
attachments = st.lists(
    st.tuples(text(60), st.sampled_from(["application/pdf", "application/msword"]), st.binary(max_size=300)),
    max_size=3,
)


@st.composite
def specs(draw: st.DrawFn) -> DocumentSpec:
    codes = draw(st.lists(agency_codes, min_size=2, max_size=9, unique=True))
    return DocumentSpec(
        sender=Organ(codes[0], organ_name=draw(text(200))),
        recipients=[Organ(code, organ_name=draw(text(200))) for code in codes[1:]],
        code_number=draw(st.from_regex(r"[0-9]{1,11}", fullmatch=True)),
        code_notation=draw(text(30)),
        subject=draw(text(500)),
        promulgation_date=draw(st.dates(date(2000, 1, 1), TODAY)),
        promulgation_place=draw(text(50)),
        attachments=draw(attachments),
    )


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), style=styles)
def test_build_then_read_gives_back_what_was_written(spec: DocumentSpec, style: Style) -> None:
    document = read_document(build_document(spec, style), today=TODAY)

    assert isinstance(spec.sender, Organ)
    assert document.sender.organ_id == spec.sender.organ_id
    assert document.sender.organ_name == spec.sender.organ_name.strip()
    assert [(r.organ_id, r.organ_name) for r in document.recipients] == [
        (r.organ_id, r.organ_name.strip()) for r in spec.recipients if isinstance(r, Organ)
    ]
    assert document.code_number == spec.code_number
    assert document.code_notation == spec.code_notation.strip()
    assert document.subject == spec.subject.strip()
    assert document.promulgation_place == spec.promulgation_place.strip()
    assert document.promulgation_date == spec.promulgation_date
    assert [(a.name, a.size) for a in document.attachments] == [
        (name.strip(), len(content)) for name, _, content in spec.attachments
    ]


@settings(deadline=None, max_examples=100)
@given(
    reporter=agency_codes,
    original_sender=agency_codes,
    code=st.sampled_from(["01", "02", "03", "04", "05", "06", "13", "15", "16"]),
    description=text(300),
    style=styles,
)
def test_status_round_trips(
    reporter: str, original_sender: str, code: str, description: str, style: Style
) -> None:
    spec = StatusSpec(
        reporter=reporter,
        original_sender_id=original_sender,
        original_code="1/VP",
        original_document_id=f"{original_sender},2026/11/20,1/VP",
        status_code=code,
        timestamp="2026/11/20 14:05:10",
        description=description,
    )
    status = read_status(build_status(spec, style), today=TODAY)
    assert (status.reporter.organ_id, status.original_sender_id, status.status_code) == (
        reporter,
        original_sender,
        code,
    )
    assert status.description == description.strip()


def _reads_or_refuses(data: bytes) -> None:
    try:
        read_message(data, today=TODAY)
    except HubError as error:
        assert 400 <= error.status < 500
        assert error.errors, "every refusal says what is wrong"


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_only_ever_give_a_hub_error(data: bytes) -> None:
    _reads_or_refuses(data)


xml_like = st.recursive(
    st.sampled_from(["", "x", "&amp;", "&#0;", "&lol;", "<![CDATA[<]]>", "<!-- c -->", "<?pi x?>"]),
    lambda inner: st.builds(
        lambda tag, ns, body: f"<{tag}{ns}>{body}</{tag}>",
        st.sampled_from(["edXML", "edXMLEnvelope", "edXMLHeader", "MessageHeader", "Status", "To", "e:From"]),
        st.sampled_from(["", ' xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"', ' xmlns:e="urn:e"']),
        st.lists(inner, max_size=3).map("".join),
    ),
    max_leaves=12,
)


@settings(deadline=None, max_examples=300)
@given(xml_like, st.sampled_from(["", "<?xml version='1.0'?>", "<!DOCTYPE edXML>"]))
def test_xml_like_input_only_ever_gives_a_hub_error(body: str, prolog: str) -> None:
    _reads_or_refuses((prolog + body).encode())


SAMPLE = sample("sample.edxml")


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255), st.booleans()), max_size=6))
def test_damaged_samples_only_ever_give_a_hub_error(damage: list[tuple[int, int, bool]]) -> None:
    data = bytearray(SAMPLE)
    for position, value, insert in damage:
        if insert:
            data.insert(position, value)
        else:
            data[min(position, len(data) - 1)] = value
    _reads_or_refuses(bytes(data))


@given(st.text(st.sampled_from(string.ascii_letters + string.digits + ".-_ Ð٠"), max_size=40))
def test_agency_code_syntax(code: str) -> None:
    groups = code.split(".")
    expected = (
        0 < len(code) <= 35
        and all(groups)
        and all(c in string.digits + string.ascii_uppercase for group in groups for c in group)
    )
    assert is_valid_agency_code(code) is expected


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(
        st.binary(max_size=40).map(lambda b: base64.encodebytes(b).decode()),
        st.text(alphabet="AB+/=\n \t", max_size=30),
        st.text(st.characters(codec="utf-8", min_codepoint=32), max_size=10),
    ),
    slice_chars=st.integers(min_value=1, max_value=12),
)
def test_an_attachment_is_measured_in_slices_as_in_one_piece(
    text: str, slice_chars: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large attachment is decoded a slice at a time; the size (or the refusal) is the one decoding
    it whole gives, whatever the slices and however the base64 is broken."""
    element = etree.Element("ContentTransferEncoded")
    element.text = text.replace("\r", " ")
    try:
        expected: int | None = len(
            base64.b64decode(element.text.encode("ascii").translate(None, b" \t\r\n"), validate=True)
        )
    except (UnicodeEncodeError, binascii.Error):
        expected = None
    monkeypatch.setattr(extract, "DECODE_SLICE", slice_chars)
    assert extract._decoded_size(element.text) == expected
    if element.text.isascii():  # the bytes kept out of the tree (`app.edxml.lifting`) measure the same
        assert extract._decoded_size(memoryview(element.text.encode())) == expected
