"""Agency software that speaks only the national axis's protocol, against the hub's `/vxp` as a real
process: credentials from `lienthong vxp-system create`, then send, list, fetch and acknowledge, and
the refusals the protocol promises. The client (tests/support/vxp_client.py) shares no code with the
hub."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time

import pytest
from support.deployment import LIENTHONG, Deployment
from support.hub import RECIPIENT, SAMPLES, SENDER
from support.processes import REPO, wait_for
from support.vxp_client import VxpClient

pytestmark = pytest.mark.slow

THIRD = "000.00.03.H62"


def create_system(deployment: Deployment, agency: str) -> tuple[str, str]:
    """`lienthong vxp-system create`: the last line of its output is `SYSTEM_ID SECRET`."""
    done = subprocess.run(
        [sys.executable, *LIENTHONG, "vxp-system", "create", "--agency", agency],
        cwd=REPO,
        env={**os.environ, **deployment.env},
        capture_output=True,
        text=True,
        check=True,
    )
    system_id, secret = done.stdout.strip().splitlines()[-1].split(" ")
    return system_id, secret


@pytest.mark.parametrize(
    ("broker", "database_url"),
    [
        pytest.param("embedded", "sqlite", id="embedded-sqlite"),
        pytest.param("rabbitmq", "postgresql", id="rabbitmq-postgresql"),
    ],
    indirect=True,
)
async def test_software_speaking_the_axis_protocol_works_against_the_hub(deployment: Deployment) -> None:
    sender_id, sender_secret = create_system(deployment, SENDER)
    recipient_id, recipient_secret = create_system(deployment, RECIPIENT)
    sample = (SAMPLES / "sample.edxml").read_bytes()
    with deployment.hub() as gateway:
        base = f"{gateway.url}/vxp"
        sender = VxpClient(base, sender_id, sender_secret)
        recipient = VxpClient(base, recipient_id, recipient_secret)

        sent = sender.send(sample, sender=SENDER)
        assert (sent["status"], sent["ErrorCode"], sent["http_status"]) == ("OK", "0", 200), sent
        doc_id = sent["DocId"]

        # Delivery to the inbox is asynchronous: list until the package is there.
        [package] = wait_for(lambda: recipient.waiting()["data"])
        assert (package["from"], package["to"], package["messageType"]) == (SENDER, [RECIPIENT], "edoc")
        assert package["documentId"] == "000.00.01.H62,2026/11/20,1234/VP-KSTT"
        content = base64.b64decode(recipient.fetch(package["docId"])["data"])
        assert b"<edXML:OrganId>000.00.00.H62</edXML:OrganId>" in content  # the hub's TraceHeader
        assert hashlib.sha256(content).hexdigest() != hashlib.sha256(sample).hexdigest()  # sealed

        assert recipient.acknowledge(package["docId"], "done")["status"] == "OK"
        assert recipient.waiting()["data"] == []
        progress = {row["to"]: row["status"] for row in sender.sent(doc_id)["data"]}
        assert progress == {RECIPIENT: "done", THIRD: "initial"}
        assert {row["code"] for row in sender.agencies()["data"]} >= {SENDER, RECIPIENT, "000.00.00.G22"}

        # Refused, each with the protocol's error answer and nothing done.
        wrong_secret = VxpClient(base, recipient_id, "not-the-secret").waiting()
        unknown = VxpClient(base, "no-such-system", recipient_secret).waiting()
        stale = recipient.call(
            "getReceivedEdocList",
            {"servicetype": "eDoc", "messagetype": "edoc"},
            timestamp_ms=int((time.time() - 301) * 1000),
        ).json()
        replayed_headers = recipient.headers({"servicetype": "eDoc", "messagetype": "edoc"})
        first = recipient.call("getReceivedEdocList", headers=replayed_headers).json()
        replay = recipient.call("getReceivedEdocList", headers=replayed_headers).json()
        assert first["status"] == "OK"
        for refused, reason in (
            (wrong_secret, "does not match"),
            (unknown, "unknown or revoked"),
            (stale, "behind the server's clock"),
            (replay, "replay"),
        ):
            assert (refused["status"], refused["ErrorCode"]) == ("FAIL", "15"), refused
            assert reason in refused["ErrorDesc"]
        assert wrong_secret["http_status"] == unknown["http_status"] == 401
        tampered = recipient.headers({"docId": doc_id})
        tampered["XroadVnpt-docId"] = "someone-elses"
        assert recipient.call("getEdoc", headers=tampered).json()["ErrorCode"] == "15"
