"""`POST /api/v1/statuses` against the real database (SQLite and PostgreSQL): who may report what,
the recipient's timeline, and the status message carried back to the sender by the delivery
machinery; and revokes reaching every original recipient."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date
from itertools import count
from typing import Any

import httpx
import pytest
from lxml import etree
from support.hub import OTHER, RECIPIENT, SENDER, Hub
from support.receiver import until

from app.edxml import BusinessDocType, DocumentSpec, Organ, StatusSpec, build_document, build_status
from app.edxml.model import NAMESPACE
from app.sealing.seal import verify_seal
from app.sealing.service import hub_certificates
from app.statuses import service

THIRD = "000.00.03.H62"
STATUS_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Status"
_numbers = count(1)


def new_document() -> DocumentSpec:
    number = str(next(_numbers))
    return DocumentSpec(
        sender=Organ(SENDER, organ_name="Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc"),
        recipients=[RECIPIENT, THIRD],
        code_number=number,
        code_notation="VP-TTr",
        subject="V/v triển khai kế hoạch chuyển đổi số",
        promulgation_date=date(2026, 11, 20),
    )


def status(
    document: DocumentSpec, receipt: dict[str, Any], *, reporter: str, code: str, **more: str
) -> bytes:
    return build_status(
        StatusSpec(
            reporter=reporter,
            original_sender_id=SENDER,
            original_code=f"{document.code_number}/{document.code_notation}",
            original_document_id=receipt["document_id"],
            status_code=code,
            timestamp=more.pop("timestamp", "2026/11/21 08:30:00"),
            description=more.pop("description", f"trạng thái {code}"),
            **more,
        )
    )


async def post_status(hub: Hub, body: bytes, who: str) -> httpx.Response:
    return await hub.client.post(
        "/api/v1/statuses", content=body, headers={"Content-Type": "application/xml", **hub.auth(who)}
    )


async def sent(hub: Hub) -> tuple[DocumentSpec, dict[str, Any]]:
    document = new_document()
    response = await hub.submit(build_document(document))
    assert response.status_code == 201, response.text
    return document, response.json()


async def view(hub: Hub, document_id: str, who: str = SENDER) -> dict[str, Any]:
    response = await hub.client.get(f"/api/v1/documents/{document_id}", headers=hub.auth(who))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def timeline(document: dict[str, Any], recipient: str) -> list[str]:
    delivery = next(d for d in document["deliveries"] if d["recipient"] == recipient)
    return [entry["code"] for entry in delivery["statuses"]]


def problem_codes(response: httpx.Response) -> list[tuple[str, str]]:
    return [(p["path"], p["code"]) for p in response.json()["errors"]]


async def stored_statuses(hub: Hub) -> object:
    return await hub.scalar("SELECT count(*) FROM documents WHERE kind = 'status'")


async def test_a_recipients_statuses_go_on_its_timeline_and_back_to_the_sender(hub: Hub) -> None:
    document, receipt = await sent(hub)

    accepted = await post_status(hub, status(document, receipt, reporter=RECIPIENT, code="03"), RECIPIENT)
    assert accepted.status_code == 202, accepted.text
    first = accepted.json()
    assert first["related_id"] == receipt["id"]
    assert first["document_id"] == receipt["document_id"]
    assert [(d["recipient"], d["connector"]) for d in first["routed_to"]] == [(SENDER, "inbox")]
    done = await post_status(
        hub, status(document, receipt, reporter=RECIPIENT, code="06", description="Đã xử lý xong"), RECIPIENT
    )
    assert done.status_code == 202, done.text

    seen = await view(hub, receipt["id"])
    assert timeline(seen, RECIPIENT) == ["03", "06"]
    assert timeline(seen, THIRD) == []
    last = next(d for d in seen["deliveries"] if d["recipient"] == RECIPIENT)["statuses"][-1]
    assert (last["meaning"], last["reporter"], last["description"]) == (
        "hoàn thành",
        RECIPIENT,
        "Đã xử lý xong",
    )

    # Both messages reach the sender's inbox, as status messages.
    async def sender_inbox() -> list[dict[str, Any]]:
        page = (await hub.client.get("/api/v1/inbox", headers=hub.auth(SENDER))).json()
        return [item for item in page["items"] if item["kind"] == "status"]

    items = await until(lambda: _has_two(sender_inbox()), timeout=20)
    assert {item["document"] for item in items} == {first["id"], done.json()["id"]}


async def _has_two(items: Any) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = await items
    return found if len(found) == 2 else None


async def test_the_status_message_is_sealed_after_its_status(hub: Hub) -> None:
    document, receipt = await sent(hub)
    message = (
        await post_status(hub, status(document, receipt, reporter=RECIPIENT, code="01"), RECIPIENT)
    ).json()
    forwarded = await hub.client.get(f"/api/v1/documents/{message['id']}/edxml", headers=hub.auth(SENDER))
    assert forwarded.status_code == 200
    async with hub.database.reading() as session:
        certificates = await hub_certificates(session)
    assert verify_seal(forwarded.content, certificates).valid
    header = etree.fromstring(forwarded.content).find(
        f"{{{NAMESPACE}}}edXMLEnvelope/{{{NAMESPACE}}}edXMLHeader"
    )
    names = [etree.QName(child).localname for child in header]
    assert names[:3] == ["Status", "TraceHeaderList", "Signature"]


async def test_the_same_status_again_answers_200_with_the_same_receipt(hub: Hub) -> None:
    document, receipt = await sent(hub)
    body = status(document, receipt, reporter=RECIPIENT, code="03")
    first = await post_status(hub, body, RECIPIENT)
    again = await post_status(hub, body, RECIPIENT)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert timeline(await view(hub, receipt["id"]), RECIPIENT) == ["03"]


async def test_the_same_status_twice_at_the_same_moment_answers_202_and_200(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both submissions pass the replay check before either is stored (the race is forced: each
    waits for the other before storing); the loser answers like a replay, not with a 500."""
    document, receipt = await sent(hub)
    body = status(document, receipt, reporter=RECIPIENT, code="03")
    both_checked = asyncio.Barrier(2)
    store = service.store_message

    async def store_after_both_checked(*args: Any, **kwargs: Any) -> Any:
        await both_checked.wait()
        return await store(*args, **kwargs)

    monkeypatch.setattr(service, "store_message", store_after_both_checked)
    answers = await asyncio.gather(*(post_status(hub, body, RECIPIENT) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 202], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert timeline(await view(hub, receipt["id"]), RECIPIENT) == ["03"]
    assert await hub.scalar("SELECT count(*) FROM documents WHERE kind = 'status'") == 1


async def test_a_recall_goes_to_every_recipient_and_on_every_timeline(hub: Hub) -> None:
    document, receipt = await sent(hub)
    recall = await post_status(hub, status(document, receipt, reporter=SENDER, code="13"), SENDER)
    assert recall.status_code == 202, recall.text
    assert [d["recipient"] for d in recall.json()["routed_to"]] == [RECIPIENT, THIRD]
    agreed = await post_status(hub, status(document, receipt, reporter=RECIPIENT, code="15"), RECIPIENT)
    assert agreed.status_code == 202, agreed.text
    seen = await view(hub, receipt["id"])
    assert timeline(seen, RECIPIENT) == ["13", "15"]
    assert timeline(seen, THIRD) == ["13"]


async def test_who_may_report_what(hub: Hub) -> None:
    document, receipt = await sent(hub)
    cases = [
        # an agency the document was not sent to
        (OTHER, OTHER, "03", 422, [(f"{STATUS_PATH}/ResponseFor/DocumentId", "unknown-document")]),
        # a recipient cannot recall
        (RECIPIENT, RECIPIENT, "13", 422, [(f"{STATUS_PATH}/StatusCode", "sender-only-status")]),
        # the sender reports no progress on its own document
        (SENDER, SENDER, "06", 422, [(f"{STATUS_PATH}/StatusCode", "recipient-only-status")]),
        # in someone else's name
        (THIRD, RECIPIENT, "03", 403, [(f"{STATUS_PATH}/From/OrganId", "sender-not-caller")]),
    ]
    for reporter, caller, code, expected, problems in cases:
        response = await post_status(hub, status(document, receipt, reporter=reporter, code=code), caller)
        assert response.status_code == expected, (reporter, caller, code, response.text)
        assert problem_codes(response) == problems
    assert await stored_statuses(hub) == 0
    assert timeline(await view(hub, receipt["id"]), RECIPIENT) == []


async def test_bad_status_messages_are_refused_with_their_paths(hub: Hub) -> None:
    document, receipt = await sent(hub)
    unknown = await post_status(
        hub,
        status(
            document,
            {**receipt, "document_id": "000.00.01.H62,2026/11/20,999/NONE"},
            reporter=RECIPIENT,
            code="03",
        ),
        RECIPIENT,
    )
    assert unknown.status_code == 422
    assert problem_codes(unknown) == [(f"{STATUS_PATH}/ResponseFor/DocumentId", "unknown-document")]
    bad_code = await post_status(hub, status(document, receipt, reporter=RECIPIENT, code="09"), RECIPIENT)
    assert bad_code.status_code == 422
    assert problem_codes(bad_code) == [(f"{STATUS_PATH}/StatusCode", "bad-status-code")]
    not_a_status = await post_status(hub, build_document(document), RECIPIENT)
    assert not_a_status.status_code == 422
    assert [code for _, code in problem_codes(not_a_status)] == ["document-not-status-message"]
    assert await stored_statuses(hub) == 0
    rejected = await hub.scalar("SELECT count(*) FROM exchange_log WHERE event = 'rejected'")
    assert rejected == 3


async def test_a_revoke_reaches_every_original_recipient_even_unnamed(hub: Hub) -> None:
    document, receipt = await sent(hub)
    revoke = dataclasses.replace(
        document,
        recipients=[RECIPIENT],  # names only one of the two original recipients
        business=BusinessDocType.REVOKE,
        business_document_id=receipt["document_id"],
        business_reason="Ban hành nhầm",
    )
    response = await hub.submit(build_document(revoke))
    assert response.status_code == 201, response.text
    assert response.json()["related_id"] == receipt["id"]
    assert [d["recipient"] for d in response.json()["deliveries"]] == [RECIPIENT, THIRD]
