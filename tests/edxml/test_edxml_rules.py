"""The pure rules, on values built by hand: no XML involved."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from support.edxml import TODAY

from app.edxml import (
    Attachment,
    Business,
    BusinessDocType,
    EdxmlDocument,
    Organization,
    Reference,
    StatusCode,
    StatusMessage,
    is_valid_agency_code,
)
from app.edxml.rules import date_problems, document_problems, status_problems, timestamp_problems

H = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"


def organization(code: str, path: str) -> Organization:
    return Organization(organ_id=code, path=path)


DOCUMENT = EdxmlDocument(
    sender=organization("000.00.01.H62", f"{H}/From/OrganId"),
    recipients=(organization("000.00.02.H62", f"{H}/To/OrganId"),),
    document_id="000.00.01.H62,2026/11/20,1234/VP-KSTT",
    document_id_path=f"{H}/DocumentId",
    code_number="1234",
    code_notation="VP-KSTT",
    subject="V/v triển khai",
    promulgation_date=date(2026, 11, 20),
)


def problems(document: EdxmlDocument) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in document_problems(document, today=TODAY)]


@pytest.mark.parametrize(
    "code",
    ["000.00.00.G22", "000.00.01.H62", "000.21.31.H53", "00.41.H29", "H62", "G22.A", "0" * 35, "1.2.3.4.5.6"],
)
def test_valid_agency_codes(code: str) -> None:
    assert is_valid_agency_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "",
        ".",
        "000.",
        ".000",
        "000..01",
        "000.00.01.h62",
        "000.00.01.H62 ",
        " 000",
        "000-00",
        "0" * 36,
        "000.00.01.Ð62",
        "000.00.01.H62\n",
        "٠٠٠.00",
    ],
)
def test_invalid_agency_codes(code: str) -> None:
    assert not is_valid_agency_code(code)


def test_a_valid_document_has_no_problems() -> None:
    assert problems(DOCUMENT) == []


def test_the_required_fields() -> None:
    empty = replace(
        DOCUMENT,
        sender=organization("", f"{H}/From/OrganId"),
        recipients=(),
        document_id="",
        code_number="",
        code_notation="",
        subject="",
    )
    assert problems(empty) == [
        ("required", f"{H}/From/OrganId"),
        ("required", f"{H}/To"),
        ("required", f"{H}/DocumentId"),
        ("required", f"{H}/Code/CodeNumber"),
        ("required", f"{H}/Code/CodeNotation"),
        ("required", f"{H}/Subject"),
    ]


def test_duplicate_recipients_are_reported_on_each_repeat() -> None:
    recipients = tuple(
        organization(code, f"{H}/To[{n}]/OrganId")
        for n, code in enumerate(["000.00.02.H62", "000.00.03.H62", "000.00.02.H62", "000.00.02.H62"], 1)
    )
    assert problems(replace(DOCUMENT, recipients=recipients)) == [
        ("duplicate-recipient", f"{H}/To[3]/OrganId"),
        ("duplicate-recipient", f"{H}/To[4]/OrganId"),
    ]


def test_future_date_is_compared_with_the_given_today() -> None:
    tomorrow = replace(DOCUMENT, promulgation_date=date(2026, 11, 28))
    assert problems(tomorrow) == [("future-date", f"{H}/PromulgationInfo/PromulgationDate")]
    assert document_problems(tomorrow, today=date(2026, 11, 28)) == []


@pytest.mark.parametrize(
    ("document_id", "expected"),
    [
        ("000.00.01.H62,2026/11/20,1234/VP-KSTT", []),
        ("000.00.01.H62, 2026/11/20, 1234/VP-KSTT", []),
        ("000.00.09.H62,2026/11/20,1234/VP-KSTT", ["document-id-sender-mismatch"]),
        ("000.00.09.H62,1234/VP-KSTT", []),  # not the comma-separated shape: producers differ
        ("1234/VP-KSTT", []),
        ("x" * 200, []),
        ("x" * 201, ["too-long"]),
    ],
)
def test_document_id(document_id: str, expected: list[str]) -> None:
    assert [code for code, _ in problems(replace(DOCUMENT, document_id=document_id))] == expected


def test_business_other_than_new_needs_the_document_acted_on() -> None:
    path = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Business/DocumentId"
    revoke = replace(DOCUMENT, business=Business(doc_type=BusinessDocType.REVOKE, document_id_path=path))
    assert problems(revoke) == [("required", path)]
    named = replace(revoke, business=replace(revoke.business, document_id="000.00.01.H62,2026/11/01,1/VP"))
    assert problems(named) == []


def _attachment(cid: str, n: int) -> Attachment:
    path = f"/edXML/AttachmentEncoded/Attachment[{n}]"
    return Attachment(cid, "a.pdf", "application/pdf", "", size=3, path=path)


def _reference(cid: str, n: int) -> Reference:
    return Reference(cid, path=f"/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[{n}]")


def test_references_and_attachments_pair_one_to_one() -> None:
    document = replace(
        DOCUMENT,
        references=(_reference("a", 1), _reference("b", 2), _reference("a", 3), _reference("", 4)),
        attachments=(_attachment("a", 1), _attachment("c", 2), _attachment("c", 3), _attachment("", 4)),
    )
    assert problems(document) == [
        ("missing-attachment", "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[2]"),
        ("duplicate-reference", "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[3]"),
        ("required", "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[4]/ContentId"),
        ("unreferenced-attachment", "/edXML/AttachmentEncoded/Attachment[2]"),
        ("duplicate-attachment", "/edXML/AttachmentEncoded/Attachment[3]"),
        ("required", "/edXML/AttachmentEncoded/Attachment[4]/ContentId"),
    ]


STATUS = StatusMessage(
    reporter=organization("000.00.02.H62", "/edXML/edXMLEnvelope/edXMLHeader/Status/From/OrganId"),
    original_sender_id="000.00.01.H62",
    original_code="1234/VP-KSTT",
    original_document_id="000.00.01.H62,2026/11/20,1234/VP-KSTT",
    original_document_id_path="/edXML/edXMLEnvelope/edXMLHeader/Status/ResponseFor/DocumentId",
    status_code="03",
)


@pytest.mark.parametrize("code", list(StatusCode))
def test_known_status_codes(code: StatusCode) -> None:
    assert status_problems(replace(STATUS, status_code=code.value), today=TODAY) == []


@pytest.mark.parametrize("code", ["00", "07", "12", "14", "17", "3", "003", "AB"])
def test_unknown_status_codes(code: str) -> None:
    problems = status_problems(replace(STATUS, status_code=code), today=TODAY)
    assert [p.code for p in problems] == ["bad-status-code"]


def test_status_original_sender_must_be_an_agency_code() -> None:
    [problem] = status_problems(replace(STATUS, original_sender_id="ubnd"), today=TODAY)
    assert (problem.code, problem.path) == (
        "bad-agency-code",
        "/edXML/edXMLEnvelope/edXMLHeader/Status/ResponseFor/OrganId",
    )


def test_status_about_a_document_promulgated_in_the_future() -> None:
    later = replace(STATUS, original_promulgation_date=date(2026, 11, 28))
    assert [(p.code, p.path) for p in status_problems(later, today=TODAY)] == [
        ("future-date", "/edXML/edXMLEnvelope/edXMLHeader/Status/ResponseFor/PromulgationDate")
    ]
    assert status_problems(later, today=date(2026, 11, 28)) == []


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("", True),
        ("2026/11/20", True),
        ("2024/02/29", True),
        ("2026/02/29", False),
        ("2026-11-20", False),
        ("20/11/2026", False),
        ("2026/1/2", False),
        ("２０２６/11/20", False),
    ],
)
def test_dates(text: str, ok: bool) -> None:
    assert (date_problems(text, "/p") == []) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("", True),
        ("2026/11/20 09:15:32", True),
        ("2026/11/20 24:00:00", False),
        ("2026/11/20T09:15:32", False),
        ("2026/11/20 9:15:32", False),
        ("2026/11/20", False),
    ],
)
def test_timestamps(text: str, ok: bool) -> None:
    assert (timestamp_problems(text, "/p") == []) is ok
