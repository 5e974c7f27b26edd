"""Agency software built on the national axis's official SDK, against the hub's `/vxp` as a real
`lienthong serve`: credentials from `lienthong vxp-system create`, then every operation the SDK offers
through the conformance client (tests/support/vxp_client.py, which behaves as SDK service objects and
shares no code with the hub), including an object reused for many calls, its leftover parameters and
an unknown extra signed key, and the refusals the protocol promises."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from support.deployment import LIENTHONG, Deployment
from support.hub import RECIPIENT, SAMPLES, SENDER
from support.processes import REPO, wait_for
from support.vxp_client import VIETNAM, SdkService, answer

from app.edxml import DocumentSpec, StatusSpec, build_document, build_status

pytestmark = pytest.mark.slow

THIRD = "000.00.03.H62"
CLOSED = "000.00.04.H62"  # closed in the demo directory
SENT_FIELDS = {
    "serviceType",
    "receiverDocId",
    "toCode",
    "receiveStatus",
    "title",
    "messageType",
    "notation",
    "receivedTime",
    "sentTime",
    "sendStatus",
    "sendStatusDesc",
    "senderDocId",
    "fromCode",
    "receiveStatusDesc",
}
RECEIVED_FIELDS = {
    "docId",
    "serviceType",
    "messageType",
    "created_time",
    "updated_time",
    "from",
    "to",
    "status",
    "status_desc",
}


def create_system(deployment: Deployment, agency: str, *options: str) -> tuple[str, str]:
    """`lienthong vxp-system create`: the last line of its output is `SYSTEM_ID SECRET`."""
    done = subprocess.run(
        [sys.executable, *LIENTHONG, "vxp-system", "create", "--agency", agency, *options],
        cwd=REPO,
        env={**os.environ, **deployment.env},
        capture_output=True,
        text=True,
        check=True,
    )
    system_id, secret = done.stdout.strip().splitlines()[-1].split(" ")
    return system_id, secret


def fail(answer: dict[str, object], code: str) -> str:
    assert (answer["status"], answer["ErrorCode"]) == ("FAIL", code), answer
    return str(answer["ErrorDesc"])


def succeeded(answer: dict[str, object]) -> dict[str, object]:
    assert (answer["status"], answer["ErrorCode"], answer["ErrorDesc"], answer["http_status"]) == (
        "OK",
        "0",
        "",
        200,
    ), answer
    return answer


@pytest.mark.parametrize(
    ("broker", "database_url"),
    [
        pytest.param("embedded", "sqlite", id="embedded-sqlite"),
        pytest.param("rabbitmq", "postgresql", id="rabbitmq-postgresql"),
    ],
    indirect=True,
)
def test_software_built_on_the_sdk_works_against_the_hub(deployment: Deployment) -> None:
    sender_id, sender_secret = create_system(deployment, SENDER)
    recipient_id, recipient_secret = create_system(deployment, RECIPIENT)
    strict_id, strict_secret = create_system(deployment, RECIPIENT, "--strict")
    sample = (SAMPLES / "sample.edxml").read_bytes()
    with deployment.hub() as gateway:
        endpoint = f"{gateway.url}/vxp"  # the SDK's service.endpoint
        # Each agency's software keeps one SDK object for every call, as many do.
        sender = SdkService(endpoint, sender_id, sender_secret)
        recipient = SdkService(endpoint, recipient_id, recipient_secret)

        # sendEdoc: the raw file and CRLF; the answer is ASCII JSON with DocId.
        doc_id = str(succeeded(sender.send_edoc(sample, sender=SENDER))["DocId"])
        assert sender.last_response is not None and sender.last_response.content.isascii()
        assert dict(sender.last_headers)["XroadVnpt-hash-file"] != ""

        # getReceivedEdocList, twice with the same timestamp and signature (a reused object).
        [package] = wait_for(lambda: succeeded(recipient.get_received_edoc_list())["data"])
        signature = dict(recipient.last_headers)["XroadVnpt-hash-header"]
        assert set(package) >= RECEIVED_FIELDS
        assert (package["from"], package["to"], package["messageType"], package["serviceType"]) == (
            SENDER,
            [RECIPIENT],
            "edoc",
            "eDoc",
        )
        again = succeeded(recipient.get_received_edoc_list())
        assert dict(recipient.last_headers)["XroadVnpt-hash-header"] == signature
        assert again["data"] == [package]
        assert succeeded(recipient.count_receive_edoc())["count"] == 1
        assert succeeded(recipient.count_receive_status())["count"] == 0

        # getEdoc and downloadEdoc: the same sealed edXML.
        content = base64.b64decode(str(succeeded(recipient.get_edoc(package["docId"]))["data"]))
        assert b"<edXML:OrganId>000.00.00.H62</edXML:OrganId>" in content  # the hub's TraceHeader
        downloaded = recipient.download_edoc(package["docId"])
        assert (downloaded.status_code, downloaded.content) == (200, content)

        # updateStatus with `docid`, while `docId` is left over from getEdoc: both name this package.
        succeeded(recipient.update_status(package["docId"], "done"))
        sent_keys = [name for name, _ in recipient.last_headers]
        assert {"XroadVnpt-docId", "XroadVnpt-docid", "XroadVnpt-filePath"} <= set(sent_keys)
        assert succeeded(recipient.get_received_edoc_list())["data"] == []
        assert succeeded(recipient.count_receive_edoc())["count"] == 0

        # A leftover docId naming another package than this call's docid: refused, naming both.
        confused = SdkService(endpoint, recipient_id, recipient_secret)
        succeeded(confused.get_edoc(package["docId"]))
        description = fail(confused.update_status("another-package", "done"), "10")
        assert package["docId"] in description and "another-package" in description

        # The same object goes on to the next package: the `docid` its updateStatus left does not hold
        # up the next getEdoc's `docId`.
        spec = DocumentSpec(
            sender=SENDER,
            recipients=[RECIPIENT],
            code_number="78",
            code_notation="VP-SDK",
            subject="V/v thử phần mềm dùng SDK",
            promulgation_date=date(2026, 11, 20),
        )
        succeeded(sender.send_edoc(build_document(spec), sender=SENDER))
        [following] = wait_for(lambda: succeeded(recipient.get_received_edoc_list())["data"])
        assert following["docId"] != package["docId"]
        following_content = base64.b64decode(str(succeeded(recipient.get_edoc(following["docId"]))["data"]))
        assert b"VP-SDK" in following_content and following["code"] == "78/VP-SDK"
        succeeded(recipient.update_status(following["docId"], "done"))

        # getSentEdocList: one row per recipient, in the SDK's fields.
        rows = succeeded(sender.get_sent_edoc_list(doc_id))["data"]
        assert isinstance(rows, list) and all(set(row) >= SENT_FIELDS for row in rows)
        assert {row["toCode"]: row["sendStatus"] for row in rows} == {RECIPIENT: "done", THIRD: "initial"}
        assert {row["senderDocId"] for row in rows} == {doc_id}

        # The recipient reports 01 (đã đến) with a status message; the sender sees it per recipient.
        status = build_status(
            StatusSpec(
                reporter=RECIPIENT,
                original_sender_id=SENDER,
                original_code=str(package["code"]),
                original_document_id=str(package["documentId"]),
                status_code="01",
                timestamp="2026/11/21 08:30:00",
                description="Đã đến",
            )
        )
        succeeded(recipient.send_edoc(status, sender=RECIPIENT, message_type="status"))
        rows = succeeded(sender.get_sent_edoc_list(doc_id))["data"]
        assert isinstance(rows, list)
        assert {row["toCode"]: row["receiveStatus"] for row in rows} == {RECIPIENT: "01", THIRD: ""}
        [report] = wait_for(lambda: succeeded(sender.get_received_edoc_list("status"))["data"])
        assert (report["from"], report["messageType"]) == (RECIPIENT, "status")
        assert succeeded(sender.count_receive_status())["count"] == 1

        # The directory, three ways; an unknown extra signed key is accepted.
        vendor = SdkService(endpoint, sender_id, sender_secret)
        agencies = succeeded(answer(vendor.request("getAgenciesList", extra={"vendorTrace": "qlvb-7.2"})))
        assert {row["code"] for row in agencies["data"]} >= {SENDER, RECIPIENT, "000.00.00.G22"}
        qd20 = succeeded(sender.get_agencies_list_qd20())["data"]
        assert all(set(row) == {"id", "code", "name", "mail", "code102"} for row in qd20)
        units = {row["code"]: row for row in succeeded(sender.get_synchronize_unit())["data"]}
        assert units[CLOSED]["deleted"] is True and units[SENDER]["deleted"] is False
        assert "operators" in fail(sender.register_agency(b'{"code":"000.00.77.H62","name":"X"}'), "10")
        assert "operators" in fail(sender.delete_agency(RECIPIENT), "10")

        # A system in strict mode: a new SDK object per call works, a reused one does not.
        assert succeeded(SdkService(endpoint, strict_id, strict_secret).get_agencies_list())
        reused = SdkService(endpoint, strict_id, strict_secret)
        succeeded(reused.get_agencies_list())
        assert "strict mode" in fail(reused.get_agencies_list(), "15")
        old = SdkService(endpoint, strict_id, strict_secret, now=datetime.now(VIETNAM) - timedelta(hours=2))
        assert "strict mode" in fail(old.get_agencies_list(), "15")
        # …while the same old object is fine for a system in the default mode.
        succeeded(
            SdkService(
                endpoint, sender_id, sender_secret, now=datetime.now(VIETNAM) - timedelta(hours=2)
            ).get_agencies_list()
        )

        # Refused, each with ErrorCode 15 and HTTP 401.
        wrong_secret = SdkService(endpoint, recipient_id, "not-the-secret").get_received_edoc_list()
        unknown = SdkService(endpoint, "no-such-system", recipient_secret).get_received_edoc_list()
        tamperer = SdkService(endpoint, recipient_id, recipient_secret)
        tamperer.params.put("Content-Type", "application/json")
        tamperer.params.put("docId", package["docId"])
        tampered = [
            (name, "someone-elses" if name == "XroadVnpt-docId" else value)
            for name, value in tamperer.headers()
        ]
        tampered_answer = tamperer.send("getEdoc", tampered, body=b"{}").json()
        for refused, reason in (
            (wrong_secret, "does not match"),
            (unknown, "không tồn tại hoặc đã bị vô hiệu hóa"),  # the SDK sends no Accept-Language: vi
            (tampered_answer, "differs from its signed value"),
        ):
            assert reason in fail(refused, "15")
        assert wrong_secret["http_status"] == unknown["http_status"] == 401
