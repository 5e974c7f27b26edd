"""What the edXML tests share: the samples, a valid document spec, and helpers to edit a message and to
look at the problems of a refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from app.edxml import NAMESPACE, DocumentSpec, Organ, Signer, StatusSpec
from app.kit.errors import HubError

SAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "samples"
TODAY = date(2026, 11, 27)
NS = "{" + NAMESPACE + "}"
HEADER = "/edXML/edXMLEnvelope/edXMLHeader"
MESSAGE_HEADER = f"{HEADER}/MessageHeader"

SENDER = "000.00.01.H62"
RECIPIENTS = ("000.00.02.H62", "000.00.03.H62")

SPEC = DocumentSpec(
    sender=Organ(SENDER, organ_name="Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc"),
    recipients=[Organ(RECIPIENTS[0], organ_name="Sở Nội vụ"), RECIPIENTS[1]],
    code_number="1234",
    code_notation="VP-KSTT",
    subject="V/v triển khai kế hoạch chuyển đổi số năm 2026",
    promulgation_date=date(2026, 11, 20),
    promulgation_place="Vĩnh Phúc",
    document_type=1,
    type_name="Công văn",
    signer=Signer("KT. CHÁNH VĂN PHÒNG", "Phó Chánh Văn phòng", "Nguyễn Văn An"),
    due_date=date(2026, 12, 15),
    priority=1,
    trace=[(SENDER, "2026/11/20 09:15:32")],
    attachments=[
        ("Kế hoạch chuyển đổi số.pdf", "application/pdf", b"%PDF-1.4\n% a small file\n%%EOF\n"),
        ("Phụ lục đính kèm.docx", "application/vnd.openxmlformats-officedocument", bytes(range(256))),
    ],
)

STATUS = StatusSpec(
    reporter=RECIPIENTS[0],
    original_sender_id=SENDER,
    original_code="1234/VP-KSTT",
    original_document_id=f"{SENDER},2026/11/20,1234/VP-KSTT",
    status_code="03",
    timestamp="2026/11/20 14:05:10",
    description="Đã tiếp nhận",
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def edited(data: bytes, change: Callable[[etree._Element], object]) -> bytes:
    """The message after `change` edited its tree (in Clark notation, whatever the prefixes)."""
    root = etree.fromstring(data)
    change(root)
    serialised: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return serialised


def find(root: etree._Element, path: str) -> etree._Element:
    """An element by a prefix-free path such as `edXMLEnvelope/edXMLHeader/MessageHeader/Code`."""
    element = root.find("/".join(NS + step for step in path.split("/")))
    assert element is not None, path
    return element


def remove(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        element = find(root, path)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)

    return change


def set_text(path: str, text: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        find(root, path).text = text

    return change


def codes(error: HubError) -> list[tuple[str, str]]:
    """(code, path) of every problem of a refusal, in order."""
    return [(problem.code, problem.path) for problem in error.errors]


def refused(call: Callable[[], object], error_type: type[HubError] = HubError) -> HubError:
    with pytest.raises(error_type) as caught:
        call()
    return caught.value
