"""The axis simulator as `lienthong dev axis-sim` runs it (a real process on loopback), driven by the
hub's AxisClient: documents and status messages travel between two systems, every refusal of
docs/axis-protocol.md comes back with its ErrorCode and HTTP status, and injected faults look to the
client as they will from the real axis."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.processes import free_port, running
from support.vxp_client import SdkService
from typer.testing import CliRunner

from app.axis.client import AxisClient, AxisError
from app.axis.protocol import PREFIX, file_hash, sdk_timestamp, sign
from app.axis.simulator import parse_system
from app.cli import cli
from app.edxml import DocumentSpec, StatusSpec, build_document, build_status
from app.edxml.formats import format_timestamp, vietnam_today
from app.kit.clock import VIETNAM, vietnam_now

pytestmark = pytest.mark.slow

HUB = "hub-h62"
HUB_SECRET = "hub-h62-secret-0b5e"
G22 = "000.00.00.G22"  # Văn phòng Chính phủ, a system serving just its own code
G22_SECRET = "g22-secret-77a1"
SO_NOI_VU, SO_TU_PHAP = "000.00.02.H62", "000.00.03.H62"
BO_CONG_AN = "000.00.00.G01"  # in the directory, served by no system
CLOSED, SUSPENDED = "000.00.04.H62", "000.21.34.H62"


def document(*recipients: str, sender: str = G22, number: str = "7816", **changes: Any) -> bytes:
    spec = DocumentSpec(
        sender=sender,
        recipients=list(recipients),
        code_number=number,
        code_notation="VPCP-TTĐT",
        subject="V/v triển khai văn bản điện tử liên thông",
        promulgation_date=date(2025, 9, 30),
    )
    return build_document(replace(spec, **changes))


def status_about(number: str, *, reporter: str = SO_NOI_VU, code: str = "03") -> bytes:
    return build_status(
        StatusSpec(
            reporter=reporter,
            original_sender_id=G22,
            original_code=f"{number}/VPCP-TTĐT",
            original_document_id=f"{G22},2025/09/30,{number}/VPCP-TTĐT",
            status_code=code,
            timestamp=format_timestamp(vietnam_now()),
            description="Đã tiếp nhận",
        )
    )


@pytest.fixture(scope="module")
def axis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = Path(sys.executable).parent / "lienthong"
    args = [str(command), "dev", "axis-sim", "--port", str(port)]
    args += ["--system", f"{HUB}:{HUB_SECRET}@*.H62", "--system", f"{G22}:{G22_SECRET}"]
    log = tmp_path_factory.mktemp("axis-sim") / "axis-sim.log"
    with running(args, health_url=f"{url}/_sim/health", env={}, log=log):
        yield url


@pytest.fixture(autouse=True)
def fresh_axis(axis_url: str) -> None:
    httpx.post(f"{axis_url}/_sim/reset").raise_for_status()


@pytest.fixture
async def hub(axis_url: str) -> AsyncIterator[AxisClient]:
    async with AxisClient(axis_url, HUB, HUB_SECRET, timeout=10) as client:
        yield client


@pytest.fixture
async def g22(axis_url: str) -> AsyncIterator[AxisClient]:
    async with AxisClient(axis_url, G22, G22_SECRET, timeout=10) as client:
        yield client


async def refused(call: Any) -> AxisError:
    with pytest.raises(AxisError) as caught:
        await call
    return caught.value


async def raw(axis_url: str, operation: str, headers: dict[str, str], **request: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=axis_url) as client:
        return await client.post(f"/{operation}", headers=headers, **request)


def packages(axis_url: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(f"{axis_url}/_sim/packages").json()["data"]
    return answer


# --- documents and status messages travel ---------------------------------------------------------


async def test_a_document_reaches_the_serving_system_once_and_is_acknowledged(
    axis_url: str, hub: AxisClient, g22: AxisClient
) -> None:
    sent = document(SO_NOI_VU, SO_TU_PHAP)
    doc_id = await g22.send_edoc(sent, from_code=G22)

    [package] = await hub.received()
    assert package.doc_id == doc_id
    assert (package.sender, package.recipients) == (G22, (SO_NOI_VU, SO_TU_PHAP))
    assert (package.message_type, package.status) == ("edoc", "initial")
    assert (package.document_id, package.code) == (f"{G22},2025/09/30,7816/VPCP-TTĐT", "7816/VPCP-TTĐT")
    assert package.created_time.startswith(vietnam_today().strftime("%Y/%m/%d"))
    assert await g22.received() == []
    assert await hub.get_edoc(doc_id) == sent
    [stored] = packages(axis_url)
    assert stored["sha256"] == hashlib.sha256(sent).hexdigest()
    assert httpx.get(f"{axis_url}/_sim/packages/{doc_id}/content").content == sent

    await hub.update_status(doc_id, "processing", "Đang xử lý; chuyển văn thư")
    assert [p.status for p in await hub.received()] == ["processing"]
    assert {(r.to_code, r.send_status) for r in await g22.get_sent_edoc_list(doc_id)} == {
        (SO_NOI_VU, "processing"),
        (SO_TU_PHAP, "processing"),
    }

    await hub.update_status(doc_id, "done", "Đã nhận")
    assert await hub.received() == []
    recipients = await g22.get_sent_edoc_list(doc_id)
    assert [(r.to_code, r.send_status, r.send_status_desc) for r in recipients] == [
        (SO_NOI_VU, "done", "Đã nhận"),
        (SO_TU_PHAP, "done", "Đã nhận"),
    ]
    first = recipients[0]
    assert (first.sender_doc_id, first.receiver_doc_id, first.from_code, first.notation) == (
        doc_id,
        doc_id,
        G22,
        "7816/VPCP-TTĐT",
    )
    assert (first.service_type, first.message_type, first.title) == (
        "eDoc",
        "edoc",
        "V/v triển khai văn bản điện tử liên thông",
    )
    assert first.received_time and first.sent_time and first.document_id == f"{G22},2025/09/30,7816/VPCP-TTĐT"
    assert packages(axis_url)[0]["acks"] == {
        HUB: {"to": [SO_NOI_VU, SO_TU_PHAP], "status": "done", "description": "Đã nhận"}
    }


async def test_a_status_message_travels_back_as_messagetype_status(hub: AxisClient, g22: AxisClient) -> None:
    doc_id = await g22.send_edoc(document(SO_NOI_VU), from_code=G22)
    await hub.update_status(doc_id, "done")

    status = status_about("7816")
    status_id = await hub.send_edoc(status, from_code=SO_NOI_VU, message_type="status")

    assert await g22.received() == []
    [package] = await g22.received("status")
    assert (package.doc_id, package.sender, package.recipients) == (status_id, SO_NOI_VU, (G22,))
    assert (package.message_type, package.document_id) == ("status", f"{G22},2025/09/30,7816/VPCP-TTĐT")
    assert await g22.get_edoc(status_id) == status
    await g22.update_status(status_id, "done")
    assert await g22.received("status") == []
    assert [(r.to_code, r.send_status) for r in await hub.get_sent_edoc_list(status_id)] == [(G22, "done")]
    # The sender of the document sees the recipient's status as its receive status.
    [row] = await g22.get_sent_edoc_list(doc_id)
    assert (row.to_code, row.send_status, row.receive_status, row.receive_status_desc) == (
        SO_NOI_VU,
        "done",
        "03",
        "đã tiếp nhận",
    )


async def test_the_sent_list_without_a_doc_id_lists_every_package_newest_first(g22: AxisClient) -> None:
    first = await g22.send_edoc(document(SO_NOI_VU), from_code=G22)
    second = await g22.send_edoc(document(SO_TU_PHAP, BO_CONG_AN, number="7817"), from_code=G22)
    rows = await g22.get_sent_edoc_list()
    assert [(r.sender_doc_id, r.to_code, r.send_status) for r in rows] == [
        (second, SO_TU_PHAP, "initial"),
        (second, BO_CONG_AN, "pending"),
        (first, SO_NOI_VU, "initial"),
    ]
    assert await g22.get_sent_edoc_list(message_type="status") == []


async def test_each_system_sees_only_the_recipients_it_serves(hub: AxisClient, g22: AxisClient) -> None:
    doc_id = await g22.send_edoc(document(BO_CONG_AN, SO_NOI_VU), from_code=G22)
    [package] = await hub.received()
    assert package.recipients == (SO_NOI_VU,)
    await hub.update_status(doc_id, "fail", "Không đọc được tệp đính kèm")
    assert [(r.to_code, r.send_status, r.send_status_desc) for r in await g22.get_sent_edoc_list(doc_id)] == [
        (BO_CONG_AN, "pending", ""),
        (SO_NOI_VU, "fail", "Không đọc được tệp đính kèm"),
    ]


async def test_the_list_is_filtered_by_creation_date_in_vietnam(hub: AxisClient, g22: AxisClient) -> None:
    doc_id = await g22.send_edoc(document(SO_NOI_VU), from_code=G22)
    today = vietnam_today()
    assert [p.doc_id for p in await hub.received(from_date=today, to_date=today)] == [doc_id]
    assert await hub.received(from_date=today + timedelta(days=1)) == []
    assert await hub.received(to_date=today - timedelta(days=1)) == []


async def test_an_acknowledgement_is_final(hub: AxisClient, g22: AxisClient) -> None:
    doc_id = await g22.send_edoc(document(SO_NOI_VU), from_code=G22)
    await hub.update_status(doc_id, "done")
    await hub.update_status(doc_id, "done")  # a retry after a lost answer
    error = await refused(hub.update_status(doc_id, "processing"))
    assert (error.error_code, error.http_status, error.transient) == ("10", 400, False)


# --- refusals --------------------------------------------------------------------------------------


async def test_a_wrong_secret_is_15_and_worth_retrying_later(axis_url: str) -> None:
    async with AxisClient(axis_url, HUB, "not-the-secret") as client:
        error = await refused(client.received())
    assert (error.error_code, error.http_status, error.transient) == ("15", 401, True)
    assert "not-the-secret" not in str(error)


async def test_an_unknown_system_is_15(axis_url: str) -> None:
    async with AxisClient(axis_url, "000.00.00.H29", "anything") as client:
        error = await refused(client.agencies())
    assert (error.error_code, error.http_status) == ("15", 401)
    assert "unknown system id" in error.description


def now_stamp() -> str:
    return sdk_timestamp(datetime.now(VIETNAM))


async def test_a_reused_sdk_object_making_the_same_call_twice_is_served_twice(axis_url: str) -> None:
    """The real axis cannot refuse a repeated signature: an SDK object keeps its timestamp for hours."""
    sdk = SdkService(axis_url, HUB, HUB_SECRET)
    first, again = sdk.get_received_edoc_list(), sdk.get_received_edoc_list()
    assert first["status"] == again["status"] == "OK"
    old = SdkService(axis_url, HUB, HUB_SECRET, now=datetime.now(VIETNAM) - timedelta(hours=5))
    assert old.get_agencies_list()["status"] == "OK"


async def test_the_sdk_s_raw_body_and_a_multipart_form_are_both_read(axis_url: str) -> None:
    sdk = SdkService(axis_url, G22, G22_SECRET)
    sent = sdk.send_edoc(document(SO_NOI_VU), sender=G22)
    assert sent["status"] == "OK" and sdk.last_response is not None and sdk.last_response.content.isascii()
    content = document(SO_TU_PHAP, number="7817")
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": file_hash(content)}
    files = {"file_doc": ("document.edxml", content, "application/xml")}
    headers = sign(G22, G22_SECRET, params, timestamp=now_stamp(), content_type="multipart/form-data")
    del headers["Content-Type"]  # httpx writes the multipart one, with its boundary
    response = await raw(axis_url, "sendEdoc", headers, files=files)
    assert response.json()["status"] == "OK", response.json()
    assert [p["sha256"] for p in packages(axis_url)] == [
        hashlib.sha256(document(SO_NOI_VU)).hexdigest(),
        hashlib.sha256(content).hexdigest(),
    ]


async def test_a_millisecond_timestamp_is_15(axis_url: str) -> None:
    headers = sign(HUB, HUB_SECRET, {}, timestamp=str(int(time.time() * 1000)))
    response = await raw(axis_url, "getAgenciesList", headers)
    assert (response.status_code, response.json()["ErrorCode"]) == (401, "15")
    assert "ddMMyyyy'T'HHmmss+SSSS" in response.json()["ErrorDesc"]


async def test_a_wrong_hash_file_is_21_with_an_empty_doc_id(axis_url: str) -> None:
    content = document(SO_NOI_VU)
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": file_hash(b"other")}
    headers = sign(G22, G22_SECRET, params, timestamp=now_stamp(), content_type="application/octet-stream")
    response = await raw(axis_url, "sendEdoc", headers, content=content + b"\r\n")
    assert (response.status_code, response.json()["ErrorCode"], response.json()["DocId"]) == (400, "21", "")
    padded = {**params, "hash-file": hashlib.sha256(content).hexdigest()}  # not the SDK's form
    headers = sign(G22, G22_SECRET, padded, timestamp=now_stamp(), content_type="application/octet-stream")
    response = await raw(axis_url, "sendEdoc", headers, content=content + b"\r\n")
    assert response.json()["ErrorCode"] == "21"
    assert packages(axis_url) == []


async def test_a_request_without_file_doc_is_10(axis_url: str) -> None:
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": file_hash(b"")}
    files = {"attachment": ("document.edxml", b"", "application/xml")}
    headers = sign(G22, G22_SECRET, params, timestamp=now_stamp(), content_type="multipart/form-data")
    del headers["Content-Type"]
    response = await raw(axis_url, "sendEdoc", headers, files=files)
    assert (response.status_code, response.json()["ErrorCode"]) == (400, "10")
    assert "file_doc" in response.json()["ErrorDesc"]


async def test_an_unsigned_parameter_header_is_15(axis_url: str) -> None:
    headers = sign(HUB, HUB_SECRET, {"servicetype": "eDoc"}, timestamp=now_stamp())
    headers[PREFIX + "messagetype"] = "status"
    response = await raw(axis_url, "getReceivedEdocList", headers)
    assert (response.status_code, response.json()["ErrorCode"]) == (401, "15")


async def test_an_unknown_operation_is_10_in_the_axis_shape(axis_url: str) -> None:
    response = await raw(axis_url, "sendEdocs", sign(HUB, HUB_SECRET, {}, timestamp=now_stamp()))
    assert response.status_code == 400
    assert response.json()["status"] == "FAIL" and response.json()["ErrorCode"] == "10"


async def test_counts_and_download(g22: AxisClient, hub: AxisClient, axis_url: str) -> None:
    doc_id = await g22.send_edoc(document(SO_NOI_VU), from_code=G22)
    assert (await hub.count_received(), await hub.count_received("status")) == (1, 0)
    sdk = SdkService(axis_url, HUB, HUB_SECRET)
    assert sdk.download_edoc(doc_id).content == document(SO_NOI_VU)
    await hub.update_status(doc_id, "done")
    assert await hub.count_received() == 0


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (
            document(SO_NOI_VU, promulgation_date="30/09/2025"),
            "/MessageHeader/PromulgationInfo/PromulgationDate",
        ),
        (b"this is not XML", "not well-formed"),
    ],
    ids=["bad date", "not xml"],
)
async def test_invalid_edxml_is_22_saying_where(content: bytes, where: str, g22: AxisClient) -> None:
    error = await refused(g22.send_edoc(content, from_code=G22))
    assert (error.error_code, error.http_status, error.transient) == ("22", 422, False)
    assert where in error.description


async def test_a_sender_the_system_does_not_serve_is_19(hub: AxisClient) -> None:
    error = await refused(hub.send_edoc(document(SO_NOI_VU), from_code=G22))
    assert (error.error_code, error.http_status, error.transient) == ("19", 403, False)


async def test_from_must_be_the_message_s_sender(hub: AxisClient) -> None:
    error = await refused(hub.send_edoc(document(SO_TU_PHAP, sender=SO_NOI_VU), from_code=SO_TU_PHAP))
    assert (error.error_code, error.http_status) == ("10", 400)
    assert "MessageHeader/From/OrganId is 000.00.02.H62" in error.description


async def test_messagetype_must_be_what_the_file_is(hub: AxisClient, g22: AxisClient) -> None:
    error = await refused(hub.send_edoc(status_about("7816"), from_code=SO_NOI_VU, message_type="edoc"))
    assert (error.error_code, error.http_status) == ("10", 400)
    error = await refused(g22.send_edoc(document(SO_NOI_VU), from_code=G22, message_type="status"))
    assert error.error_code == "10"


async def test_an_unknown_recipient_is_18(g22: AxisClient) -> None:
    error = await refused(g22.send_edoc(document(SO_NOI_VU, "000.00.99.H62"), from_code=G22))
    assert (error.error_code, error.http_status, error.transient) == ("18", 422, False)
    assert "000.00.99.H62" in error.description


async def test_a_closed_or_suspended_recipient_is_23(g22: AxisClient) -> None:
    error = await refused(g22.send_edoc(document(CLOSED, SUSPENDED), from_code=G22))
    assert (error.error_code, error.http_status) == ("23", 422)
    assert "000.00.04.H62 (closed, successor 000.00.05.H62)" in error.description
    assert f"{SUSPENDED} (suspended)" in error.description


async def test_packages_are_only_for_the_systems_they_are_addressed_to(
    hub: AxisClient, g22: AxisClient
) -> None:
    doc_id = await g22.send_edoc(document(BO_CONG_AN), from_code=G22)
    for call in (hub.get_edoc(doc_id), hub.update_status(doc_id, "done"), g22.get_edoc(doc_id)):
        error = await refused(call)
        assert (error.error_code, error.http_status, error.transient) == ("11", 404, False)
    assert (await refused(hub.get_sent_edoc_list(doc_id))).error_code == "11"
    assert (await refused(hub.get_edoc("no-such-package"))).error_code == "11"


# --- faults ----------------------------------------------------------------------------------------


def inject(axis_url: str, **fault: Any) -> None:
    httpx.post(f"{axis_url}/_sim/faults", json=fault).raise_for_status()


async def test_an_unavailable_axis_is_transient_and_recovers(axis_url: str, hub: AxisClient) -> None:
    inject(axis_url, operation="getReceivedEdocList", count=2, http_status=503, error_code="20")
    for _ in range(2):
        error = await refused(hub.received())
        assert (error.error_code, error.http_status, error.transient, error.retry_after) == (
            "20",
            503,
            True,
            1.0,
        )
    assert await hub.received() == []


async def test_a_fault_on_every_operation_lasts_until_cleared(
    axis_url: str, hub: AxisClient, g22: AxisClient
) -> None:
    inject(axis_url, operation="*", count=-1, http_status=500, error_code="20")
    for call in (hub.received(), hub.agencies(), g22.send_edoc(document(SO_NOI_VU), from_code=G22)):
        assert (await refused(call)).http_status == 500
    httpx.delete(f"{axis_url}/_sim/faults").raise_for_status()
    assert await hub.received() == []
    assert packages(axis_url) == []


async def test_a_slow_axis_times_the_client_out(axis_url: str) -> None:
    inject(axis_url, operation="getAgenciesList", http_status=None, delay_seconds=1)
    async with AxisClient(axis_url, HUB, HUB_SECRET, timeout=0.2) as impatient:
        error = await refused(impatient.agencies())
    assert (error.error_code, error.http_status, error.transient) == ("", None, True)
    assert "no answer" in error.description


async def test_a_delay_without_status_is_slow_but_succeeds(axis_url: str, hub: AxisClient) -> None:
    inject(axis_url, operation="getReceivedEdocList", http_status=None, delay_seconds=0.3)
    started = time.monotonic()
    assert await hub.received() == []
    assert time.monotonic() - started >= 0.3


def test_a_fault_for_an_unknown_operation_is_refused(axis_url: str) -> None:
    response = httpx.post(f"{axis_url}/_sim/faults", json={"operation": "sendDocument"})
    assert (response.status_code, response.json()["ErrorCode"]) == (400, "10")


# --- the directory ---------------------------------------------------------------------------------


async def test_the_agencies_list_is_the_directory_and_can_be_replaced(
    axis_url: str, hub: AxisClient, g22: AxisClient
) -> None:
    agencies = {agency.code: agency for agency in await hub.agencies()}
    assert len(agencies) == 36  # the demo directory's 37, less the closed 000.00.04.H62
    assert CLOSED not in agencies
    assert agencies[G22].pid == "" and agencies[G22].name == "Văn phòng Chính phủ"
    so_noi_vu = agencies[SO_NOI_VU]
    assert (so_noi_vu.id, so_noi_vu.pid, so_noi_vu.mail) == (
        SO_NOI_VU,
        "000.00.00.H62",
        "snv@vinhphuc.example",
    )

    entries = [
        {"code": G22, "name": "Văn phòng Chính phủ"},
        {
            "code": "000.00.00.H62",
            "name": "UBND tỉnh Vĩnh Phúc",
            "old_code": "00.62.H62",
            "email": "ubnd@vp.example",
        },
        {"code": SO_NOI_VU, "name": "Sở Nội vụ", "parent_code": "000.00.00.H62", "status": "suspended"},
    ]
    response = httpx.put(f"{axis_url}/_sim/directory", json=entries)
    assert response.status_code == 200, response.text
    assert [(a.code, a.pid, a.mail, a.old_code) for a in await g22.agencies()] == [
        (G22, "", "", ""),
        ("000.00.00.H62", "", "ubnd@vp.example", "00.62.H62"),
        (SO_NOI_VU, "000.00.00.H62", "", ""),
    ]
    assert (await refused(g22.send_edoc(document(SO_TU_PHAP), from_code=G22))).error_code == "18"
    assert (await refused(g22.send_edoc(document(SO_NOI_VU), from_code=G22))).error_code == "23"


def test_an_invalid_directory_is_refused_and_the_old_one_kept(axis_url: str) -> None:
    response = httpx.put(f"{axis_url}/_sim/directory", json=[{"code": "000.00.02.h62", "name": "Sở"}])
    assert (response.status_code, response.json()["ErrorCode"]) == (400, "10")
    assert "upper case" in response.json()["ErrorDesc"]


# --- the command line ------------------------------------------------------------------------------


def test_systems_are_parsed_from_the_command_line_form() -> None:
    hub = parse_system("hub-h62:s3:cr@t@*.H62, 000.00.00.G22")
    assert (hub.system_id, hub.secret) == ("hub-h62", "s3:cr@t")
    assert [str(pattern) for pattern in hub.serves] == ["*.H62", "000.00.00.G22"]
    assert [str(pattern) for pattern in parse_system("000.00.00.G22:secret").serves] == ["000.00.00.G22"]
    assert "s3:cr@t" not in repr(hub)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hub-h62", "expected ID:SECRET"),
        ("hub-h62:", "the secret is empty"),
        ("hub-h62:Zq9x", "not allowed"),
        ("hub-h62:Zq9x@*.00.H62", "zero group"),
        ("hub h62:Zq9x@*.H62", "may only contain"),
    ],
)
def test_a_bad_system_exits_2_saying_why_without_the_secret(value: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["dev", "axis-sim", "--port", "1", "--system", value])
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())
    assert "Zq9x" not in result.output


def test_two_systems_serving_the_same_pattern_exit_2() -> None:
    args = ["dev", "axis-sim", "--port", "1", "--system", "a:x@*.H62", "--system", "b:y@*.H62"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "served by both a and b" in result.output
