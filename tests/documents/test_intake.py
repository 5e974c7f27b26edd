"""`POST /api/v1/documents` against the real database (SQLite and PostgreSQL): what is accepted, what
is refused, and that a refusal leaves nothing stored."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import date, timedelta
from itertools import count
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from lxml import etree
from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import CacheStats
from support.hub import OTHER, RECIPIENT, SAMPLES, SENDER, Hub
from support.receiver import until

from app.auth.service import create_credential
from app.bootstrap import prepare
from app.config import Settings
from app.edxml import BusinessDocType, DocumentSpec, Organ, Style, build_document, read_document, schema
from app.kit.clock import vietnam_now
from app.main import create_app
from app.models import Agency, Role
from app.sealing.seal import verify_seal
from app.sealing.service import hub_certificates

NS = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"
MESSAGE_HEADER = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
_numbers = count(1)


def spec(**changes: object) -> DocumentSpec:
    """A valid document from the demo sender to two demo agencies, with a fresh number."""
    number = str(next(_numbers))
    base = DocumentSpec(
        sender=Organ(SENDER, organ_name="Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc"),
        recipients=[RECIPIENT, "000.00.03.H62"],
        code_number=number,
        code_notation="VP-TH",
        subject="V/v báo cáo tình hình thực hiện nhiệm vụ năm 2026",
        promulgation_date=date(2026, 11, 20),
        attachments=[("Báo cáo tổng hợp.pdf", "application/pdf", b"%PDF-1.4 " + number.encode())],
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def document(style: Style = Style(), **changes: object) -> bytes:
    return build_document(spec(**changes), style)


def edited(data: bytes, path: str, text: str | None) -> bytes:
    """Change (or with None remove) the element at `path` (local names, from edXML)."""
    root = etree.fromstring(data)
    steps = path.strip("/").split("/")[1:]
    element = root
    for step in steps:
        element = element.find(NS + step)
    if text is None:
        element.getparent().remove(element)
    else:
        element.text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def stored_counts(hub: Hub) -> dict[str, object]:
    return {
        table: await hub.scalar(f"SELECT count(*) FROM {table}")
        for table in ("documents", "payloads", "deliveries", "delivery_events")
    }


NOTHING_STORED = {"documents": 0, "payloads": 0, "deliveries": 0, "delivery_events": 0}


# --- accepted ---------------------------------------------------------------------------------------


async def test_sample_is_accepted_sealed_routed_and_logged(hub: Hub, sample: bytes) -> None:
    response = await hub.submit(sample)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["document_id"] == "000.00.01.H62,2026/11/20,1234/VP-KSTT"
    assert receipt["sha256"] == hashlib.sha256(sample).hexdigest()
    assert receipt["sender_signature"] == {
        "kind": "absent",
        "valid": None,
        "reason": receipt["sender_signature"]["reason"],
    }
    assert response.headers["location"] == f"/api/v1/documents/{receipt['id']}"
    deliveries = {d["recipient"]: d for d in receipt["deliveries"]}
    assert set(deliveries) == {"000.00.02.H62", "000.00.03.H62"}
    assert {d["connector"] for d in deliveries.values()} == {"inbox"}  # demo agencies have no endpoint
    assert {d["state"] for d in deliveries.values()} == {"queued"}

    # The original is kept byte for byte; the sealed bytes are what is served and forwarded.
    original = await hub.scalar("SELECT content FROM payloads WHERE sha256 = :s", s=receipt["sha256"])
    assert bytes(original) == sample  # type: ignore[arg-type]
    sealed = await hub.client.get(f"/api/v1/documents/{receipt['id']}/edxml", headers=hub.auth(RECIPIENT))
    assert sealed.status_code == 200
    assert hashlib.sha256(sealed.content).hexdigest() == receipt["sealed_sha256"]
    async with hub.database.sessionmaker() as session:
        check = verify_seal(sealed.content, await hub_certificates(session))
    assert check.valid, check.reason
    assert check.key_id == receipt["seal_key_id"]
    forwarded = read_document(sealed.content)
    assert forwarded.trace_headers[-1].organ_id == hub.settings.hub_code
    assert forwarded.subject == read_document(sample).subject

    events = await hub.scalar(
        "SELECT count(*) FROM exchange_log WHERE document_id = :d AND event IN ('stored', 'routed')",
        d=receipt["id"],
    )
    assert events == 3  # stored, and routed once per recipient
    history = await hub.scalar(
        "SELECT count(*) FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id "
        "WHERE d.document_id = :d AND e.to_state = 'queued'",
        d=receipt["id"],
    )
    assert history == 2


@pytest.mark.parametrize(
    "style",
    [
        Style(namespaces="prefixed"),
        Style(namespaces="default", cid_prefix=False),
        Style(namespaces="mixed", business="Business"),
        Style(prefix="ns0", shuffle_seed=7, wrap_base64=True),
        Style(namespaces="default", shuffle_seed=11, indent=False),
    ],
    ids=["prefixed", "default-no-cid", "mixed-Business", "other-prefix-shuffled", "compact-shuffled"],
)
async def test_producer_styles_are_accepted(hub: Hub, style: Style) -> None:
    response = await hub.submit(document(style))
    assert response.status_code == 201, response.text
    assert len(response.json()["deliveries"]) == 2


async def test_many_recipients_vietnamese_names_and_routing_by_connector(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        agency = await session.get(Agency, "000.00.07.H62")
        agency.endpoint = "https://qlvb.sogddt.example/edxml"  # type: ignore[union-attr]
    recipients = [
        Organ("000.00.02.H62", organ_name="Sở Nội vụ tỉnh Vĩnh Phúc"),
        "000.00.07.H62",
        "000.21.30.H62",
        "000.00.00.G22",
        Organ("000.00.00.H29", organ_name="Ủy ban nhân dân Thành phố Hồ Chí Minh"),
    ]
    body = document(
        recipients=recipients,
        subject="Về việc phối hợp tổ chức Hội nghị tổng kết công tác văn thư, lưu trữ năm 2026",
        attachments=[
            ("Tờ trình số 15.pdf", "application/pdf", b"%PDF-1.7 to trinh"),
            ("Dự thảo Quyết định.docx", "application/msword", bytes(range(256)) * 4),
        ],
    )
    response = await hub.submit(body)
    assert response.status_code == 201, response.text
    connectors = {d["recipient"]: d["connector"] for d in response.json()["deliveries"]}
    assert connectors == {
        "000.00.02.H62": "inbox",
        "000.00.07.H62": "qlvb-push",
        "000.21.30.H62": "inbox",
        "000.00.00.G22": "national-axis",
        "000.00.00.H29": "national-axis",
    }


async def test_multipart_file_doc_is_accepted(hub: Hub) -> None:
    body = document()
    response = await hub.client.post(
        "/api/v1/documents",
        files={"file_doc": ("công văn.edxml", body, "application/xml")},
        headers=hub.auth(SENDER),
    )
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == hashlib.sha256(body).hexdigest()


async def test_official_sample_style_with_edxml_namespace_signature(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        _, token = await create_credential(session, role=Role.AGENCY, agency_code="000.00.00.G22")
    body = (SAMPLES / "official-style.edxml").read_bytes()
    response = await hub.client.post(
        "/api/v1/documents",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/xml"},
    )
    assert response.status_code == 201, response.text
    signature = response.json()["sender_signature"]
    assert signature["kind"] == "edxml-variant"
    assert signature["valid"] is None
    assert "not verifiable" in signature["reason"]


@pytest.mark.slow
async def test_twenty_megabytes_of_attachments(hub: Hub) -> None:
    big = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    body = document(
        attachments=[
            ("Hồ sơ quét phần 1.pdf", "application/pdf", big),
            ("Hồ sơ quét phần 2.pdf", "application/pdf", big[::-1]),
        ]
    )
    assert len(body) > 26 * 1024 * 1024
    response = await hub.submit(body)
    assert response.status_code == 201, response.text
    size = await hub.scalar("SELECT size FROM payloads WHERE sha256 = :s", s=response.json()["sha256"])
    assert size == len(body)


# --- idempotency and the documents a message acts on ---------------------------------------------------


async def test_same_bytes_again_answer_200_with_the_same_receipt(hub: Hub) -> None:
    body = document()
    first = await hub.submit(body)
    again = await hub.submit(body)
    assert (first.status_code, again.status_code) == (201, 200)
    # The same receipt, but for the deliveries' states: the hub's workers may have moved them on.
    assert _without_states(again.json()) == _without_states(first.json())
    assert await hub.scalar("SELECT count(*) FROM documents") == 1
    assert await hub.scalar("SELECT count(*) FROM exchange_log WHERE event = 'duplicate'") == 1


def _without_states(receipt: dict[str, Any]) -> dict[str, Any]:
    deliveries = [{k: v for k, v in delivery.items() if k != "state"} for delivery in receipt["deliveries"]]
    return {**receipt, "deliveries": deliveries}


async def test_same_bytes_again_answer_200_even_after_the_directory_changed(hub: Hub) -> None:
    """A replay is answered as the first time: checking the bytes again now (the recipient was
    suspended since) would refuse them, but they were accepted, and the sender must learn that."""
    body = document()
    first = await hub.submit(body)
    assert first.status_code == 201, first.text
    async with hub.database.transaction() as session:
        await session.execute(
            text("UPDATE agencies SET status = 'suspended' WHERE code = :c"), {"c": RECIPIENT}
        )
    assert (await hub.submit(document(code_number="771"))).status_code == 422
    again = await hub.submit(body)
    assert again.status_code == 200, again.text
    # The same receipt; its deliveries' states are today's (the dispatcher may have moved them).
    assert without_states(again.json()) == without_states(first.json())


def without_states(receipt: dict[str, Any]) -> dict[str, Any]:
    return {**receipt, "deliveries": [{**d, "state": None} for d in receipt["deliveries"]]}


STORED = ["payloads", "documents", "deliveries", "delivery_events", "exchange_log"]  # by the store


async def test_the_store_is_one_statement_on_postgresql_one_transaction_on_sqlite(hub: Hub) -> None:
    """On PostgreSQL the whole store (payloads, document, deliveries, events, log) is one statement
    in autocommit: one round trip, no BEGIN/COMMIT. SQLite has no data-modifying CTEs: there it is
    one write transaction, one INSERT per table."""
    statements: list[tuple[object, str]] = []

    def seen(connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append((connection, " ".join(statement.split())))

    engine = hub.app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert (await hub.submit(document())).status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    storing = next(connection for connection, s in statements if "INSERT INTO payloads" in s)
    mine = [s for connection, s in statements if connection is storing]
    if hub.database.is_postgres:
        assert mine == [next(s for s in mine if "INSERT INTO payloads" in s)]
        assert all(f"INSERT INTO {table} " in mine[0] for table in STORED)
    else:
        began = mine.index("BEGIN IMMEDIATE")
        assert [s.split()[2] for s in mine[began + 1 : began + 6]] == STORED
        assert mine[began + 1 :] == [s for s in mine[began + 1 :] if s.startswith("INSERT INTO")]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_payloads_are_compressed_with_lz4_on_postgresql(hub: Hub, sample: bytes) -> None:
    # Cheaper than PostgreSQL's default pglz for the store every document goes through (the migration
    # f7a1c9e2b3d4 says by how much); the bytes read back are the same.
    receipt = (await hub.submit(sample)).json()
    method = await hub.scalar(
        "SELECT pg_column_compression(content) FROM payloads WHERE sha256 = :s", s=receipt["sha256"]
    )
    assert method == "lz4"
    stored = await hub.scalar("SELECT content FROM payloads WHERE sha256 = :s", s=receipt["sha256"])
    assert bytes(stored) == sample  # type: ignore[arg-type]


async def test_the_store_is_compiled_once_and_reused_for_the_next_document(hub: Hub) -> None:
    """The second document with as many recipients reuses the store's compiled statements (a
    statement SQLAlchemy cannot cache is compiled for every document: a fifth of the gateway's CPU)."""
    hits: list[tuple[str, bool]] = []

    def seen(_c: object, _cursor: object, statement: str, _p: object, context: Any, _m: object) -> None:
        into = [table for table in STORED if f"INSERT INTO {table} " in statement]
        if into:
            hits.append((",".join(into), context.cache_hit is CacheStats.CACHE_HIT))

    engine = hub.app.state.database.engine.sync_engine
    assert (await hub.submit(document())).status_code == 201

    # The workers' own first statements (their claim writes events and log entries too) are compiled
    # once the first document's deliveries are handed to their inboxes: let that happen first.
    async def handed_over() -> bool:
        return await hub.scalar("SELECT count(*) FROM deliveries WHERE state IN ('queued', 'sending')") == 0

    await until(handed_over)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert (await hub.submit(document())).status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert hits and all(hit for _, hit in hits), hits


async def test_concurrent_submissions_race_safely(hub: Hub) -> None:
    same = document()
    answers = await asyncio.gather(*(hub.submit(same) for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1

    first = spec()
    rivals = [build_document(dataclasses.replace(first, subject=f"Bản {n}")) for n in range(4)]
    answers = await asyncio.gather(*(hub.submit(body) for body in rivals))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert await hub.scalar("SELECT count(*) FROM documents") == 2


async def test_same_document_id_with_other_bytes_is_a_conflict(hub: Hub) -> None:
    first = spec()
    assert (await hub.submit(build_document(first))).status_code == 201
    other = dataclasses.replace(first, subject="Một trích yếu khác", document_id="")
    response = await hub.submit(build_document(other))
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["errors"][0]["code"] == "duplicate-document-id"
    assert problem["errors"][0]["path"] == f"{MESSAGE_HEADER}/DocumentId"
    assert await hub.scalar("SELECT count(*) FROM documents") == 1


@pytest.mark.parametrize(
    "business", [BusinessDocType.REVOKE, BusinessDocType.UPDATE, BusinessDocType.REPLACE]
)
async def test_revoke_update_replace_are_linked_to_their_document(
    hub: Hub, business: BusinessDocType
) -> None:
    original = spec()
    first = (await hub.submit(build_document(original))).json()
    acting = dataclasses.replace(
        original,
        business=business,
        business_document_id=first["document_id"],
        business_reason="Sai sót về thể thức",
        subject=original.subject + " (thu hồi/cập nhật/thay thế)",
    )
    response = await hub.submit(build_document(acting))
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["related_id"] == first["id"]
    assert receipt["document_id"] == first["document_id"]  # it legitimately reuses the DocumentId
    view = await hub.client.get(f"/api/v1/documents/{receipt['id']}", headers=hub.auth(SENDER))
    assert view.json()["related_id"] == first["id"]
    assert view.json()["business_type"] == business


# --- refused -------------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol9;</edXML>'
)
FUTURE = vietnam_now().date() + timedelta(days=3)


def _refusals() -> list[object]:
    """(name, body, status, problem code, path or None)."""
    valid = document()
    cases: list[tuple[str, bytes, int, str, str | None]] = [
        ("not-xml", b"this is not XML at all", 415, "not-well-formed", None),
        ("empty", b"", 415, "not-well-formed", None),
        (
            "dtd",
            b'<?xml version="1.0"?><!DOCTYPE edXML [<!ELEMENT edXML ANY>]>' + valid.split(b"?>", 1)[1],
            422,
            "forbidden-dtd",
            None,
        ),
        (
            "internal-entity",
            b'<!DOCTYPE edXML [<!ENTITY who "x">]><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&who;</edXML>',
            422,
            "forbidden-entity",
            None,
        ),
        (
            "external-entity",
            b'<!DOCTYPE edXML [<!ENTITY f SYSTEM "file:///etc/passwd">]>'
            b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&f;</edXML>',
            422,
            "forbidden-entity",
            None,
        ),
        ("billion-laughs", BILLION_LAUGHS, 422, "forbidden-entity", None),
        (
            "wrong-namespace",
            valid.replace(b"http://www.mic.gov.vn/TBT/QCVN_102_2016", b"urn:example:not-edxml"),
            422,
            "wrong-namespace",
            "/edXML",
        ),
        (
            "missing-code",
            edited(valid, f"{MESSAGE_HEADER}/Code", None),
            422,
            "required",
            f"{MESSAGE_HEADER}/Code/CodeNumber",
        ),
        (
            "missing-subject",
            edited(valid, f"{MESSAGE_HEADER}/Subject", None),
            422,
            "required",
            f"{MESSAGE_HEADER}/Subject",
        ),
        ("no-recipient", document(recipients=[]), 422, "required", f"{MESSAGE_HEADER}/To"),
        (
            "malformed-code",
            document(recipients=["000.00.02.h62!"]),
            422,
            "bad-agency-code",
            f"{MESSAGE_HEADER}/To/OrganId",
        ),
        (
            "unknown-agency",
            document(recipients=["000.00.99.H62"]),
            422,
            "unknown-agency",
            f"{MESSAGE_HEADER}/To/OrganId",
        ),
        (
            "suspended-agency",
            document(recipients=["000.21.34.H62"]),
            422,
            "agency-suspended",
            f"{MESSAGE_HEADER}/To/OrganId",
        ),
        (
            "closed-agency",
            document(recipients=[RECIPIENT, "000.00.04.H62"]),
            422,
            "agency-closed",
            f"{MESSAGE_HEADER}/To[2]/OrganId",
        ),
        (
            "duplicate-recipient",
            document(recipients=[RECIPIENT, RECIPIENT]),
            422,
            "duplicate-recipient",
            f"{MESSAGE_HEADER}/To[2]/OrganId",
        ),
        (
            "future-date",
            document(promulgation_date=FUTURE),
            422,
            "future-date",
            f"{MESSAGE_HEADER}/PromulgationInfo/PromulgationDate",
        ),
        (
            "reference-without-attachment",
            edited(valid, "/edXML/AttachmentEncoded/Attachment", None),
            422,
            "missing-attachment",
            None,
        ),
        (
            "broken-base64",
            edited(valid, "/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded", "%%%not*base64"),
            422,
            "bad-base64",
            "/edXML/AttachmentEncoded/Attachment",
        ),
        (
            "status-message",
            (SAMPLES / "status-03.edxml").read_bytes(),
            422,
            "status-message-not-document",
            None,
        ),
        (
            "revoke-of-nothing",
            document(business=BusinessDocType.REVOKE, business_document_id="000.00.01.H62,2026/01/02,9/NONE"),
            422,
            "unknown-document",
            None,
        ),
        (
            "sender-not-caller",
            document(sender="000.00.03.H62", recipients=[RECIPIENT]),
            403,
            "sender-not-caller",
            f"{MESSAGE_HEADER}/From/OrganId",
        ),
    ]
    return [pytest.param(*case, id=case[0]) for case in cases]


@pytest.mark.parametrize(("name", "body", "status", "code", "path"), _refusals())
async def test_bad_input_is_refused_and_nothing_is_stored(
    hub: Hub, name: str, body: bytes, status: int, code: str, path: str | None
) -> None:
    response = await hub.submit(body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    found = {(e["code"], e["path"]) for e in problem["errors"]}
    assert code in {c for c, _ in found}, found
    if path is not None:
        assert (code, path) in found, found
    assert await stored_counts(hub) == NOTHING_STORED
    rejected = await hub.scalar("SELECT count(*) FROM exchange_log WHERE event = 'rejected'")
    assert rejected == 1


async def test_closed_agency_error_names_its_successor(hub: Hub) -> None:
    response = await hub.submit(document(recipients=["000.00.04.H62"]))
    [error] = [e for e in response.json()["errors"] if e["code"] == "agency-closed"]
    assert "000.00.05.H62" in error["message"]


async def test_all_problems_are_reported_together(hub: Hub) -> None:
    body = edited(
        document(recipients=["000.00.99.H62", "000.21.34.H62"], promulgation_date=FUTURE),
        f"{MESSAGE_HEADER}/Subject",
        None,
    )
    response = await hub.submit(body)
    assert response.status_code == 422
    codes = {e["code"] for e in response.json()["errors"]}
    # The format's own problems come first; the directory is consulted once the document reads.
    assert {"required", "future-date"} <= codes


async def test_body_over_the_limit_is_413_before_parsing(hub: Hub) -> None:
    hub.settings.max_body_bytes = 2048
    response = await hub.submit(b"<" * 4096)
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]
    assert await stored_counts(hub) == NOTHING_STORED


async def test_body_over_the_limit_without_content_length_is_413(hub: Hub) -> None:
    hub.settings.max_body_bytes = 2048

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 1000

    response = await hub.client.post(
        "/api/v1/documents", content=chunks(), headers={"Content-Type": "application/xml", **hub.auth(SENDER)}
    )
    assert response.status_code == 413


async def test_wrong_media_type_is_415(hub: Hub) -> None:
    response = await hub.client.post(
        "/api/v1/documents",
        content=document(),
        headers={"Content-Type": "application/json", **hub.auth(SENDER)},
    )
    assert response.status_code == 415
    assert "application/xml" in response.json()["detail"]


async def test_multipart_without_file_doc_is_400(hub: Hub) -> None:
    response = await hub.client.post(
        "/api/v1/documents",
        files={"file": ("a.edxml", document(), "application/xml")},
        headers=hub.auth(SENDER),
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/file_doc"


async def test_a_recipient_no_rule_reaches_is_refused(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        await session.execute(text("DELETE FROM routes WHERE pattern = '*'"))
    response = await hub.submit(document(recipients=[RECIPIENT, "000.00.00.G22"]))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "path": f"{MESSAGE_HEADER}/To[2]/OrganId",
            "code": "no-route",
            "message": "no routing rule reaches 000.00.00.G22",
        }
    ]


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("admin", 403), ("auditor", 403)])
async def test_only_agency_credentials_submit(hub: Hub, who: str | None, status: int) -> None:
    headers = {"Content-Type": "application/xml", **(hub.auth(who) if who else {})}
    response = await hub.client.post("/api/v1/documents", content=document(), headers=headers)
    assert response.status_code == status
    assert await hub.scalar("SELECT count(*) FROM documents") == 0


# --- reading back ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "visible"),
    [(SENDER, True), (RECIPIENT, True), ("admin", True), ("auditor", True), (OTHER, False)],
)
async def test_documents_are_visible_to_sender_recipients_and_staff_only(
    hub: Hub, who: str, visible: bool
) -> None:
    receipt = (await hub.submit(document())).json()
    view = await hub.client.get(f"/api/v1/documents/{receipt['id']}", headers=hub.auth(who))
    edxml = await hub.client.get(f"/api/v1/documents/{receipt['id']}/edxml", headers=hub.auth(who))
    if visible:
        assert view.status_code == edxml.status_code == 200
        body = view.json()
        assert body["sender"] == SENDER
        assert {d["recipient"] for d in body["deliveries"]} == {RECIPIENT, "000.00.03.H62"}
        assert all(d["history"][0]["to_state"] == "queued" for d in body["deliveries"])
        assert edxml.headers["content-type"] == "application/xml"
    else:
        unknown = await hub.client.get("/api/v1/documents/no-such-id", headers=hub.auth(who))
        assert view.status_code == edxml.status_code == unknown.status_code == 404
        assert view.json()["title"] == unknown.json()["title"]


async def test_agency_directory_search_and_pages(hub: Hub) -> None:
    page = await hub.client.get(
        "/api/v1/agencies", params={"parent": "000.00.30.H62"}, headers=hub.auth(OTHER)
    )
    assert page.status_code == 200
    codes = [a["code"] for a in page.json()["items"]]
    assert codes == ["000.12.30.H62", "000.21.30.H62", "000.22.30.H62", "000.23.30.H62"]
    found = await hub.client.get("/api/v1/agencies", params={"q": "Chính phủ"}, headers=hub.auth(OTHER))
    assert [a["code"] for a in found.json()["items"]] == ["000.00.00.G22"]
    closed = await hub.client.get("/api/v1/agencies", params={"status": "closed"}, headers=hub.auth(OTHER))
    assert [(a["code"], a["successor_code"]) for a in closed.json()["items"]] == [
        ("000.00.04.H62", "000.00.05.H62")
    ]

    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await hub.client.get("/api/v1/agencies", params=params, headers=hub.auth(OTHER))).json()
        seen += [a["code"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == await hub.scalar("SELECT count(*) FROM agencies")
    assert (await hub.client.get("/api/v1/agencies")).status_code == 401


async def test_the_gateway_builds_the_schemas_before_its_first_request(settings: Settings) -> None:
    # Built by the first requests in worker threads, the XSDs once failed to build ("xmlSchemaParse:
    # internal error") and could not be built after that: every document was answered 500.
    schema.schema.cache_clear()
    await prepare(settings, migrate=False)
    async with LifespanManager(create_app(settings)):
        assert schema.schema.cache_info().currsize == len(schema.Kind)
