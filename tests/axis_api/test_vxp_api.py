"""The axis-compatible API (`/vxp`) against the real database (SQLite and PostgreSQL): a document sent
by one agency's system, listed, fetched and acknowledged by the recipients' systems; status messages
the same way; and every refusal in the protocol's JSON with its ErrorCode and HTTP status.

Requests are signed with `app.axis.protocol.sign`, as the official SDK signs them; the SDK's own
behaviour (a reused object, leftovers, both spellings of docId) is driven by the conformance client in
tests/support/vxp_client.py."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from support.hub import OTHER, RECIPIENT, SENDER, Hub
from support.receiver import until

from app.axis.protocol import PREFIX, encode_description, file_hash, sdk_timestamp, sign
from app.axis_api.systems import (
    REPLAY_MEMORY,
    create_system,
    first_time,
    revoke_system,
    system_secret,
)
from app.edxml import DocumentSpec, StatusSpec, build_document, build_status
from app.edxml.formats import format_date
from app.kit.clock import VIETNAM, utcnow, vietnam_now
from app.kit.secrets import SecretError, load_master_key
from app.models import Delivery, Document, ExchangeLogEntry, Payload, VxpRequest, VxpSystem
from app.sealing.seal import verify_seal
from app.sealing.service import hub_certificates

THIRD = "000.00.03.H62"  # the sample's second recipient
CLOSED = "000.00.04.H62"  # closed in the demo directory
TIMESTAMP = re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


@dataclass(frozen=True)
class System:
    id: str
    secret: str
    agency: str


class Vxp:
    """Signed calls to the hub's /vxp, each with a timestamp of its own (as a new SDK object)."""

    def __init__(self, hub: Hub, language: str | None = "en") -> None:
        self.hub = hub
        self._last = datetime.now(VIETNAM)
        # These tests read ErrorDesc in English; /vxp answers in Vietnamese without Accept-Language
        # (tests/i18n/test_problem_messages.py).
        self.language = language

    def now(self) -> datetime:
        self._last = max(datetime.now(VIETNAM), self._last + timedelta(milliseconds=1))
        return self._last

    async def system(self, agency: str, **options: Any) -> System:
        async with self.hub.database.transaction() as session:
            system, secret = await create_system(
                session, load_master_key(self.hub.settings), agency_code=agency, actor="test", **options
            )
        return System(system.id, secret, agency)

    def headers(
        self,
        system: System,
        params: dict[str, str] | None = None,
        *,
        skew: timedelta = timedelta(0),
        secret: str = "",
        content_type: str = "application/json",
    ) -> dict[str, str]:
        timestamp = sdk_timestamp(self.now() + skew)
        return sign(
            system.id, secret or system.secret, params or {}, timestamp=timestamp, content_type=content_type
        )

    async def post(
        self,
        operation: str,
        headers: dict[str, str],
        *,
        files: dict[str, Any] | None = None,
        content: bytes = b"",
    ) -> httpx.Response:
        if self.language:
            headers = {**headers, "Accept-Language": self.language}
        if files is not None:
            headers = {name: value for name, value in headers.items() if name != "Content-Type"}
            return await self.hub.client.post(f"/vxp/{operation}", headers=headers, files=files)
        return await self.hub.client.post(f"/vxp/{operation}", headers=headers, content=content)

    async def call(self, system: System, operation: str, **params: str) -> httpx.Response:
        return await self.post(operation, self.headers(system, params))

    async def send(
        self,
        system: System,
        content: bytes,
        *,
        sender: str | None = None,
        message_type: str = "edoc",
        hash_file: str | None = None,
        multipart: bool = False,
    ) -> httpx.Response:
        """As the SDK sends it (the file and CRLF, application/octet-stream), or as a multipart form
        with the part file_doc, as other clients do."""
        params = {
            "from": sender or system.agency,
            "servicetype": "eDoc",
            "messagetype": message_type,
            "hash-file": hash_file or file_hash(content),
        }
        if multipart:
            files = {"file_doc": ("document.edxml", content, "application/xml")}
            headers = self.headers(system, params, content_type="multipart/form-data")
            return await self.post("sendEdoc", headers, files=files)
        headers = self.headers(system, params, content_type="application/octet-stream")
        return await self.post("sendEdoc", headers, content=content + b"\r\n")


def ok(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    assert (body["status"], body["ErrorCode"], body["ErrorDesc"]) == ("OK", "0", ""), body
    return body


def refused(response: httpx.Response, code: str, http_status: int) -> str:
    """The ErrorDesc of a refusal with this ErrorCode and HTTP status, in the protocol's ASCII JSON
    (sendEdoc's with `"DocId": ""`, which the SDK reads even from a refusal)."""
    assert response.headers["content-type"].startswith("application/json")
    assert response.content.isascii()
    body = response.json()
    assert (body["status"], body["ErrorCode"], response.status_code) == ("FAIL", code, http_status), body
    sent = response.request.url.path.endswith("/sendEdoc")
    assert set(body) == {"status", "ErrorCode", "ErrorDesc"} | ({"DocId"} if sent else set())
    assert body.get("DocId", "") == ""
    assert body["ErrorDesc"]
    return str(body["ErrorDesc"])


async def count(hub: Hub, model: Any) -> int:
    async with hub.database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def delivery(hub: Hub, delivery_id: str) -> Delivery:
    async with hub.database.reading() as session:
        found = await session.get(Delivery, delivery_id)
    assert found is not None
    return found


async def deliveries_of(hub: Hub, document_id: str) -> dict[str, Delivery]:
    async with hub.database.reading() as session:
        rows = await session.scalars(select(Delivery).where(Delivery.document_id == document_id))
        return {d.recipient_code: d for d in rows}


async def all_awaiting_pickup(hub: Hub, document_id: str) -> bool:
    found = await deliveries_of(hub, document_id)
    return bool(found) and all(d.state == "awaiting_pickup" for d in found.values())


def new_document(
    *recipients: str, number: str = "77", promulgation: date | str = date(2026, 11, 20)
) -> bytes:
    return build_document(
        DocumentSpec(
            sender=SENDER,
            recipients=list(recipients),
            code_number=number,
            code_notation="VP-VXP",
            subject="V/v gửi văn bản qua API tương thích trục",
            promulgation_date=promulgation,
        )
    )


async def test_a_document_goes_through_the_axis_compatible_api(hub: Hub, sample: bytes) -> None:
    vxp = Vxp(hub)
    sender, recipient, third = [await vxp.system(code) for code in (SENDER, RECIPIENT, THIRD)]

    doc_id = ok(await vxp.send(sender, sample))["DocId"]
    async with hub.database.reading() as session:
        document = await session.get(Document, doc_id)
    assert document is not None
    assert (document.sender_code, document.received_via, document.kind) == (SENDER, "vxp", "edoc")
    stored = await hub.scalar(
        "SELECT COUNT(*) FROM exchange_log WHERE event = 'stored' AND document_id = :d", d=doc_id
    )
    assert stored == 1
    assert ok(await vxp.send(sender, sample))["DocId"] == doc_id  # the same bytes again: the same DocId
    await until(lambda: all_awaiting_pickup(hub, doc_id))
    mine = (await deliveries_of(hub, doc_id))[RECIPIENT]

    # The recipient's system lists it, once, and only among documents.
    [item] = ok(await vxp.call(recipient, "getReceivedEdocList", servicetype="eDoc", messagetype="edoc"))[
        "data"
    ]
    assert item == {
        "docId": mine.id,
        "serviceType": "eDoc",
        "messageType": "edoc",
        "created_time": item["created_time"],
        "updated_time": item["updated_time"],
        "from": SENDER,
        "to": [RECIPIENT],
        "status": "initial",
        "status_desc": "",
        "documentId": "000.00.01.H62,2026/11/20,1234/VP-KSTT",
        "code": "1234/VP-KSTT",
    }
    assert TIMESTAMP.fullmatch(item["created_time"]) and TIMESTAMP.fullmatch(item["updated_time"])
    assert [i["docId"] for i in ok(await vxp.call(recipient, "getReceivedEdocList"))["data"]] == [mine.id]
    assert ok(await vxp.call(recipient, "getReceivedEdocList", messagetype="status"))["data"] == []
    today = vietnam_now().date()
    within = {"fromDate": format_date(today), "toDate": format_date(today)}
    assert len(ok(await vxp.call(recipient, "getReceivedEdocList", **within))["data"]) == 1
    later = {"fromDate": format_date(today + timedelta(days=1))}
    assert ok(await vxp.call(recipient, "getReceivedEdocList", **later))["data"] == []
    earlier = {"toDate": format_date(today - timedelta(days=1))}
    assert ok(await vxp.call(recipient, "getReceivedEdocList", **earlier))["data"] == []
    assert ok(await vxp.call(sender, "getReceivedEdocList"))["data"] == []

    # It fetches the sealed edXML, exactly the bytes the hub forwards.
    content = base64.b64decode(ok(await vxp.call(recipient, "getEdoc", docId=mine.id))["data"])
    assert hashlib.sha256(content).hexdigest() == document.sealed_sha256
    async with hub.database.reading() as session:
        check = verify_seal(content, await hub_certificates(session))
    assert check.valid, check.reason

    # done: delivered, no longer listed; saying it again is harmless.
    ok(await vxp.call(recipient, "updateStatus", docId=mine.id, status="processing"))
    assert (await delivery(hub, mine.id)).state == "awaiting_pickup"
    ok(await vxp.call(recipient, "updateStatus", docId=mine.id, status="done"))
    ok(await vxp.call(recipient, "updateStatus", docId=mine.id, status="done"))
    assert (await delivery(hub, mine.id)).state == "delivered"
    assert ok(await vxp.call(recipient, "getReceivedEdocList"))["data"] == []
    async with hub.database.reading() as session:
        logged = await session.scalars(
            select(ExchangeLogEntry)
            .where(
                ExchangeLogEntry.event.in_(["delivery-state", "pickup-processing"]),
                ExchangeLogEntry.delivery_id == mine.id,
            )
            .order_by(ExchangeLogEntry.id)
        )
        changes = [
            (e.event, e.detail.get("to_state"), e.detail.get("reason") or e.detail.get("via")) for e in logged
        ]
    via = f"by system {recipient.id}"
    assert changes[-2:] == [
        ("pickup-processing", None, f"updateStatus processing {via}"),
        ("delivery-state", "delivered", f"picked up by {RECIPIENT} (updateStatus done {via})"),
    ]

    sent = ok(await vxp.call(sender, "getSentEdocList", docId=doc_id))["data"]
    assert [(r["toCode"], r["sendStatus"], r["sendStatusDesc"]) for r in sent] == [
        (RECIPIENT, "done", ""),
        (THIRD, "initial", ""),
    ]
    assert sent[0] == {
        "serviceType": "eDoc",
        "messageType": "edoc",
        "senderDocId": doc_id,
        "receiverDocId": mine.id,
        "fromCode": SENDER,
        "toCode": RECIPIENT,
        "title": document.subject,
        "notation": "1234/VP-KSTT",
        "sentTime": sent[0]["sentTime"],
        "receivedTime": sent[0]["receivedTime"],
        "sendStatus": "done",
        "sendStatusDesc": "",
        "receiveStatus": "",
        "receiveStatusDesc": "",
        "documentId": "000.00.01.H62,2026/11/20,1234/VP-KSTT",
    }
    assert TIMESTAMP.fullmatch(sent[0]["sentTime"]) and TIMESTAMP.fullmatch(sent[0]["receivedTime"])
    assert sent[1]["receivedTime"] == ""
    # Without a docId: the agency's recent packages, the same rows.
    assert (
        ok(await vxp.call(sender, "getSentEdocList", servicetype="eDoc", messagetype="edoc"))["data"] == sent
    )

    # fail: the third recipient's software refuses the package, with a reason in Vietnamese.
    theirs = (await deliveries_of(hub, doc_id))[THIRD]
    reason = "Không đọc được tệp đính kèm: thiếu chữ ký số"
    ok(
        await vxp.call(
            third, "updateStatus", docId=theirs.id, status="fail", description=encode_description(reason)
        )
    )
    failed = await delivery(hub, theirs.id)
    assert failed.state == "failed"
    assert failed.last_error == f"refused by the recipient's system: {reason}"
    history = await hub.scalar(
        "SELECT reason FROM delivery_events WHERE delivery_id = :d AND to_state = 'failed'", d=theirs.id
    )
    assert str(history).startswith(f"refused by the recipient's system: {reason}")
    sent = ok(await vxp.call(sender, "getSentEdocList", docId=doc_id))["data"]
    assert [(r["toCode"], r["sendStatus"], r["sendStatusDesc"]) for r in sent] == [
        (RECIPIENT, "done", ""),
        (THIRD, "fail", f"refused by the recipient's system: {reason}"),
    ]
    refused(await vxp.call(third, "updateStatus", docId=theirs.id, status="done"), "10", 400)


async def test_status_messages_travel_as_packages_of_type_status(hub: Hub, sample: bytes) -> None:
    vxp = Vxp(hub)
    sender, recipient = await vxp.system(SENDER), await vxp.system(RECIPIENT)
    doc_id = ok(await vxp.send(sender, sample))["DocId"]
    await until(lambda: all_awaiting_pickup(hub, doc_id))
    [item] = ok(await vxp.call(recipient, "getReceivedEdocList"))["data"]
    ok(await vxp.call(recipient, "updateStatus", docId=item["docId"], status="done"))

    status = build_status(
        StatusSpec(
            reporter=RECIPIENT,
            original_sender_id=SENDER,
            original_code=item["code"],
            original_document_id=item["documentId"],
            status_code="01",
            timestamp="2026/11/21 08:30:00",
            description="Đã đến",
        )
    )
    refused(await vxp.send(recipient, status), "22", 422)  # a status message is not an edoc
    status_id = ok(await vxp.send(recipient, status, message_type="status"))["DocId"]
    async with hub.database.reading() as session:
        message = await session.get(Document, status_id)
    assert message is not None and (message.kind, message.related_id) == ("status", doc_id)
    rows = ok(await vxp.call(sender, "getSentEdocList", docId=doc_id))["data"]
    assert {r["toCode"]: (r["receiveStatus"], r["receiveStatusDesc"]) for r in rows} == {
        RECIPIENT: ("01", "Đã đến"),
        THIRD: ("", ""),
    }

    async def sender_sees_it() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = ok(await vxp.call(sender, "getReceivedEdocList", messagetype="status"))[
            "data"
        ]
        return data

    [reported] = await until(sender_sees_it)
    assert (reported["from"], reported["messageType"], reported["documentId"]) == (
        RECIPIENT,
        "status",
        item["documentId"],
    )
    assert ok(await vxp.call(sender, "getReceivedEdocList"))["data"] == []  # no edoc for the sender


async def test_refused_credentials(hub: Hub) -> None:
    vxp = Vxp(hub)
    system = await vxp.system(RECIPIENT)
    ok(await vxp.call(system, "getAgenciesList"))

    assert "does not match" in refused(
        await vxp.post("getAgenciesList", vxp.headers(system, secret="not-the-secret")), "15", 401
    )
    stranger = System("vxp-0000000000000000", system.secret, RECIPIENT)
    assert "unknown or revoked" in refused(await vxp.call(stranger, "getAgenciesList"), "15", 401)

    unsigned = {**vxp.headers(system), f"{PREFIX}docId": "0197a3c2"}
    assert "not signed" in refused(await vxp.post("getEdoc", unsigned), "15", 401)
    tampered = vxp.headers(system, {"docId": "0197a3c2"})
    tampered[f"{PREFIX}docId"] = "someone-elses"
    assert "differs" in refused(await vxp.post("getEdoc", tampered), "15", 401)
    millis = sign(system.id, system.secret, {}, timestamp=str(utcnow().timestamp() * 1000))
    assert "ddMMyyyy'T'HHmmss+SSSS" in refused(await vxp.post("getAgenciesList", millis), "15", 401)
    refused(await hub.client.post("/vxp/getAgenciesList"), "15", 401)  # no signature at all

    other = await vxp.system(RECIPIENT)
    async with hub.database.transaction() as session:
        await revoke_system(session, system_id=system.id, actor="test")
    assert "unknown or revoked" in refused(await vxp.call(system, "getAgenciesList"), "15", 401)
    ok(await vxp.call(other, "getAgenciesList"))  # the agency's other system still works


async def test_by_default_a_reused_timestamp_and_signature_are_accepted(hub: Hub) -> None:
    """An SDK object takes its timestamp once and keeps it for hours: the same call twice is signed
    identically, and a timestamp of hours ago is normal."""
    vxp = Vxp(hub)
    system = await vxp.system(RECIPIENT)
    headers = vxp.headers(system, {"servicetype": "eDoc", "messagetype": "edoc"})
    ok(await vxp.post("getReceivedEdocList", headers))
    ok(await vxp.post("getReceivedEdocList", headers))
    for skew in (timedelta(hours=-6), timedelta(minutes=10)):
        ok(await vxp.post("getAgenciesList", vxp.headers(system, skew=skew)))
    assert await count(hub, VxpRequest) == 0  # nothing remembered for a system that is not strict


async def test_strict_mode_refuses_stale_timestamps_and_repeated_signatures(hub: Hub) -> None:
    vxp = Vxp(hub)
    system = await vxp.system(RECIPIENT, strict=True)
    for skew in (timedelta(seconds=-301), timedelta(seconds=301)):
        desc = refused(await vxp.post("getAgenciesList", vxp.headers(system, skew=skew)), "15", 401)
        assert "300 s" in desc and "strict mode" in desc
    for skew in (timedelta(seconds=-299), timedelta(seconds=299)):  # within the window
        ok(await vxp.post("getAgenciesList", vxp.headers(system, skew=skew)))
    headers = vxp.headers(system)
    ok(await vxp.post("getAgenciesList", headers))
    assert "repeated signatures" in refused(await vxp.post("getAgenciesList", headers), "15", 401)


async def test_a_system_limited_to_some_addresses_is_refused_from_others(hub: Hub) -> None:
    vxp = Vxp(hub)
    # httpx's ASGI transport presents the client as 127.0.0.1.
    here = await vxp.system(RECIPIENT, allowed_sources=["127.0.0.0/8", "10.0.0.0/8"])
    elsewhere = await vxp.system(RECIPIENT, allowed_sources=["192.0.2.10"])
    ok(await vxp.call(here, "getAgenciesList"))
    assert "may not call from 127.0.0.1" in refused(await vxp.call(elsewhere, "getAgenciesList"), "15", 401)
    with pytest.raises(ValueError, match="not an IP address"):
        await vxp.system(RECIPIENT, allowed_sources=["intranet"])


async def test_each_system_has_a_rate_limit(hub: Hub) -> None:
    vxp = Vxp(hub)
    busy, other = await vxp.system(RECIPIENT), await vxp.system(SENDER)
    hub.settings.rate_vxp_per_minute = 40  # made on the first /vxp request: bursts of 10, then 40 a minute
    for _ in range(10):
        ok(await vxp.call(busy, "countReceiveEdoc"))
    limited = await vxp.call(busy, "countReceiveEdoc")
    assert (limited.status_code, limited.json()["ErrorCode"]) == (429, "20")
    assert "too many calls" in limited.json()["ErrorDesc"] and int(limited.headers["retry-after"]) >= 1
    ok(await vxp.call(other, "countReceiveEdoc"))  # another system is not held back


async def test_refused_sends_store_nothing(hub: Hub, sample: bytes) -> None:
    vxp = Vxp(hub)
    system = await vxp.system(SENDER)
    before = await count(hub, Document), await count(hub, Payload)

    desc = refused(await vxp.send(system, sample, sender=RECIPIENT), "19", 403)
    assert RECIPIENT in desc
    other = await vxp.system(RECIPIENT)  # From/OrganId of the file is not the system's agency
    refused(await vxp.send(other, sample), "19", 403)
    assert "hash-file" in refused(await vxp.send(system, sample, hash_file="0" * 64), "21", 400)
    invalid = new_document(RECIPIENT, promulgation="20/11/2026")
    desc = refused(await vxp.send(system, invalid), "22", 422)
    assert "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/PromulgationInfo/PromulgationDate" in desc
    refused(await vxp.send(system, b"not XML at all"), "22", 422)
    desc = refused(await vxp.send(system, new_document(RECIPIENT, "000.00.99.H62")), "18", 422)
    assert "/MessageHeader/To[2]/OrganId" in desc and "000.00.99.H62" in desc
    refused(await vxp.send(system, new_document(CLOSED)), "23", 422)
    refused(await vxp.send(system, sample, message_type="fax"), "10", 400)
    no_file = vxp.headers(
        system, {"from": SENDER, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": file_hash(sample)}
    )
    refused(await vxp.post("sendEdoc", no_file, files={"other": ("x", sample, "application/xml")}), "10", 400)
    unsigned_hash = {**vxp.headers(system, {"from": SENDER}), f"{PREFIX}hash-file": file_hash(sample)}
    refused(await vxp.post("sendEdoc", unsigned_hash), "15", 401)

    assert (await count(hub, Document), await count(hub, Payload)) == before
    async with hub.database.reading() as session:
        rejected = list(
            await session.scalars(select(ExchangeLogEntry).where(ExchangeLogEntry.event == "rejected"))
        )
    assert len(rejected) == 9  # every refusal after authentication
    assert {entry.detail["channel"] for entry in rejected} == {"vxp"}
    assert {entry.detail["system_id"] for entry in rejected} == {system.id, other.id}

    doc_id = ok(await vxp.send(system, sample))["DocId"]  # and the sample itself is accepted
    assert await count(hub, Document) == before[0] + 1
    # The same file as a multipart form (other clients), or with the usual 64-digit hash: the same.
    assert ok(await vxp.send(system, sample, multipart=True))["DocId"] == doc_id
    padded = hashlib.sha256(sample).hexdigest()
    assert ok(await vxp.send(system, sample, hash_file=padded))["DocId"] == doc_id
    assert await count(hub, Document) == before[0] + 1


async def test_packages_are_the_callers_own(hub: Hub, sample: bytes) -> None:
    vxp = Vxp(hub)
    sender, recipient, outsider = [await vxp.system(code) for code in (SENDER, RECIPIENT, OTHER)]
    doc_id = ok(await vxp.send(sender, sample))["DocId"]
    await until(lambda: all_awaiting_pickup(hub, doc_id))
    mine = (await deliveries_of(hub, doc_id))[RECIPIENT].id

    refused(await vxp.call(outsider, "getEdoc", docId=mine), "11", 404)
    refused(await vxp.call(outsider, "updateStatus", docId=mine, status="done"), "11", 404)
    refused(await vxp.call(recipient, "getEdoc", docId="no-such-delivery"), "11", 404)
    refused(await vxp.call(recipient, "getSentEdocList", docId=doc_id), "11", 404)  # not its document
    refused(await vxp.call(sender, "getEdoc", docId=doc_id), "11", 404)  # a document id is not a package
    refused(await vxp.call(recipient, "getEdoc"), "10", 400)
    refused(await vxp.call(recipient, "updateStatus", docId=mine, status="initial"), "10", 400)
    refused(await vxp.call(recipient, "getReceivedEdocList", fromDate="2026-11-20"), "10", 400)
    assert (await delivery(hub, mine)).state == "awaiting_pickup"


async def test_the_directory(hub: Hub) -> None:
    vxp = Vxp(hub)
    agencies = ok(await vxp.call(await vxp.system(RECIPIENT), "getAgenciesList"))["data"]
    by_id = {a["id"]: a for a in agencies}
    assert by_id[SENDER] == {
        "id": SENDER,
        "code": SENDER,
        "pid": "000.00.00.H62",
        "name": "Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc",
        "mail": "vanphong@vinhphuc.example",
        "oldCode": "",
        "status": "active",
    }
    assert by_id["000.00.00.H62"]["pid"] == ""
    assert CLOSED not in by_id  # closed codes leave the directory, as on the axis

    system = await vxp.system(SENDER)
    qd20 = {a["code"]: a for a in ok(await vxp.call(system, "getAgenciesListQD20"))["data"]}
    assert qd20[SENDER] == {
        "id": SENDER,
        "code": SENDER,
        "name": "Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc",
        "mail": "vanphong@vinhphuc.example",
        "code102": "",
    }
    units = {a["code"]: a for a in ok(await vxp.call(system, "getSynchronizeUnit"))["data"]}
    unit = units[SENDER]
    assert set(unit) == {
        "id",
        "code",
        "pid",
        "name",
        "mail",
        "version",
        "centerCode",
        "deleted",
        "modifyDate",
        "isAgency",
    }
    assert (unit["pid"], unit["centerCode"], unit["deleted"], unit["isAgency"]) == (
        "000.00.00.H62",
        hub.settings.hub_code,
        False,
        True,
    )
    assert isinstance(unit["version"], int) and TIMESTAMP.fullmatch(unit["modifyDate"])
    assert units[CLOSED]["deleted"] is True  # a synchronisation learns of closed codes too

    register = await vxp.post("registerAgency", vxp.headers(system), content=b'{"code":"000.00.77.H62"}')
    assert "operators" in refused(register, "10", 400)
    delete = await vxp.post("deleteAgency", vxp.headers(system, {"AgencyCode": RECIPIENT}), content=b"{}")
    assert "operators" in refused(delete, "10", 400)
    assert RECIPIENT in {a["code"] for a in ok(await vxp.call(system, "getAgenciesList"))["data"]}


async def test_everything_under_vxp_answers_in_the_protocols_shape(hub: Hub) -> None:
    assert "operations are" in refused(await hub.client.post("/vxp/sendDocument"), "10", 400)
    assert "POST" in refused(await hub.client.get("/vxp/getEdoc"), "10", 400)
    refused(await hub.client.get("/vxp"), "10", 400)
    refused(await hub.client.put("/vxp/a/b"), "10", 400)
    operations = (await hub.client.get("/openapi.json")).json()["paths"]
    assert {path for path in operations if path.startswith("/vxp")} == {
        f"/vxp/{name}"
        for name in (
            "sendEdoc",
            "getReceivedEdocList",
            "getEdoc",
            "downloadEdoc",
            "updateStatus",
            "getSentEdocList",
            "countReceiveEdoc",
            "countReceiveStatus",
            "getAgenciesList",
            "getAgenciesListQD20",
            "getSynchronizeUnit",
            "registerAgency",
            "deleteAgency",
        )
    }


async def test_the_replay_guard_forgets_what_is_too_old_to_come_back(hub: Hub) -> None:
    now = utcnow()
    database = hub.database
    assert await first_time(database, system_id="s", signature="a" * 64, now=now - 2 * REPLAY_MEMORY)
    assert await first_time(database, system_id="s", signature="b" * 64, now=now, prune=False)
    assert not await first_time(database, system_id="s", signature="b" * 64, now=now, prune=False)
    assert await first_time(database, system_id="t", signature="b" * 64, now=now, prune=False)
    assert await count(hub, VxpRequest) == 3
    assert await first_time(database, system_id="s", signature="c" * 64, now=now, prune=True)
    async with database.reading() as session:
        kept = set(await session.scalars(select(VxpRequest.signature)))
    assert kept == {"b" * 64, "c" * 64}


async def test_a_secret_is_bound_to_its_system(hub: Hub) -> None:
    vxp = Vxp(hub)
    first, second = await vxp.system(RECIPIENT), await vxp.system(SENDER)
    master_key = load_master_key(hub.settings)
    async with hub.database.reading() as session:
        found = await system_secret(session, master_key, first.id)
    assert found is not None and found[1] == first.secret

    # The encrypted secret of one system copied onto another row does not decrypt there.
    async with hub.database.transaction() as session:
        original = await session.get(VxpSystem, first.id)
        target = await session.get(VxpSystem, second.id)
        assert original is not None and target is not None
        target.secret_encrypted = original.secret_encrypted
    with pytest.raises(SecretError, match="cannot decrypt"):
        async with hub.database.reading() as session:
            await system_secret(session, master_key, second.id)
    assert "unexpected" in refused(await vxp.call(second, "getAgenciesList"), "20", 500)
