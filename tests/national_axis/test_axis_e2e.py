"""The hub as a provincial node of the national document axis, end to end with real processes on
loopback: the axis simulator (`lienthong dev axis-sim`), the hub (`lienthong serve`, and with
RabbitMQ `lienthong worker`), a QLVB receiving by push, and the axis's other side (Văn phòng Chính
phủ, 000.00.00.G22) played with the axis client under its own credentials."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.axis_messages import axis_document, status_about
from support.axis_sim import G22, G22_SECRET, HUB_SYSTEM, AxisSimulator
from support.delivery import all_in, attempts, rows, set_endpoint
from support.deployment import Deployment, Gateway
from support.hub import RECIPIENT, SENDER
from support.receiver import Receiver, until

from app.auth.service import create_credential
from app.axis.client import AxisClient
from app.edxml import build_document
from app.kit.db import Database
from app.models import Role

pytestmark = pytest.mark.slow

THIRD = "000.00.03.H62"  # Sở Tư pháp: no endpoint in the demo directory, so it pulls from its inbox
SHAPES = pytest.mark.parametrize(
    ("broker", "database_url"),
    [
        pytest.param("embedded", "sqlite", id="embedded-sqlite"),
        pytest.param("rabbitmq", "postgresql", id="rabbitmq-postgresql"),
    ],
    indirect=True,
)


@pytest.fixture
def axis(tmp_path: Path) -> Iterator[AxisSimulator]:
    logs = tmp_path / "axis-logs"
    logs.mkdir()
    with AxisSimulator(logs) as simulator:
        yield simulator


@pytest.fixture
def node(deployment: Deployment, axis: AxisSimulator) -> Deployment:
    """The hub's processes, pointed at the simulator, polling it twice a second."""
    deployment.configure(**axis.hub_settings, axis_poll_seconds=0.5)
    return deployment


@pytest.fixture
async def tokens(database: Database) -> dict[str, str]:
    issued = {}
    async with database.transaction() as session:
        for agency in (SENDER, RECIPIENT, THIRD):
            _, issued[agency] = await create_credential(session, role=Role.AGENCY, agency_code=agency)
    return issued


@pytest.fixture
async def g22(axis: AxisSimulator) -> AsyncIterator[AxisClient]:
    """Văn phòng Chính phủ's own system on the axis."""
    async with AxisClient(axis.url, G22, G22_SECRET, timeout=10) as client:
        yield client


async def view(client: httpx.AsyncClient, gateway: Gateway, document_id: str, token: str) -> dict[str, Any]:
    answer = await client.get(
        f"{gateway.url}/api/v1/documents/{document_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def inbox(client: httpx.AsyncClient, gateway: Gateway, token: str) -> list[dict[str, Any]]:
    answer = await client.get(f"{gateway.url}/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def timeline(document: dict[str, Any], recipient: str) -> list[str]:
    delivery = next(d for d in document["deliveries"] if d["recipient"] == recipient)
    return [entry["code"] for entry in delivery["statuses"]]


@SHAPES
async def test_a_document_to_g22_reaches_the_axis_and_its_statuses_come_back(
    node: Deployment, axis: AxisSimulator, g22: AxisClient, tokens: dict[str, str]
) -> None:
    sent = axis_document(SENDER, G22)
    async with httpx.AsyncClient(timeout=10) as client:
        with node.hub() as gateway:
            answer = await gateway.submit(client, build_document(sent), tokens[SENDER])
            assert answer.status_code == 201, answer.text
            receipt = answer.json()
            assert [(d["recipient"], d["connector"]) for d in receipt["deliveries"]] == [
                (G22, "national-axis")
            ]

            # The axis receives the sealed document, in the sender's name, and G22 sees it waiting.
            [package] = await until(lambda: axis.packages(documentId=receipt["document_id"]), timeout=30)
            assert package["senderSystem"] == HUB_SYSTEM and package["from"] == SENDER
            assert package["sha256"] == receipt["sealed_sha256"]
            [waiting] = await g22.received()
            assert waiting.doc_id == package["docId"]
            assert hashlib.sha256(await g22.get_edoc(waiting.doc_id)).hexdigest() == receipt["sealed_sha256"]
            await g22.update_status(waiting.doc_id, "done")

            async def delivered() -> dict[str, Any] | None:
                seen = await view(client, gateway, receipt["id"], tokens[SENDER])
                return seen if seen["deliveries"][0]["state"] == "delivered" else None

            seen = await until(delivered, timeout=30)
            assert seen["deliveries"][0]["remote_id"] == package["docId"]

            # G22 reports 03 then 06; the hub fetches both, puts them on the timeline, and carries
            # them to the sender's inbox.
            for code in ("03", "06"):
                await g22.send_edoc(
                    status_about(sent, receipt["document_id"], reporter=G22, code=code),
                    from_code=G22,
                    message_type="status",
                )

            async def both_on_the_timeline() -> bool:
                return timeline(await view(client, gateway, receipt["id"], tokens[SENDER]), G22) == [
                    "03",
                    "06",
                ]

            await until(both_on_the_timeline, timeout=30)
            statuses = await until(
                lambda: _exactly(inbox(client, gateway, tokens[SENDER]), 2, kind="status"), timeout=30
            )
            assert {item["document_id"] for item in statuses} == {receipt["document_id"]}
            # ... and acknowledges them to the axis once stored.
            acks = [p["acks"][HUB_SYSTEM]["status"] for p in axis.packages(messageType="status")]
            assert acks == ["done", "done"]


async def _exactly(items: Any, number: int, **match: str) -> list[dict[str, Any]] | None:
    found = [item for item in await items if all(item.get(k) == v for k, v in match.items())]
    return found if len(found) == number else None


@SHAPES
async def test_a_document_from_the_axis_reaches_local_agencies_and_their_status_goes_back(
    node: Deployment, axis: AxisSimulator, g22: AxisClient, tokens: dict[str, str], database: Database
) -> None:
    incoming = axis_document(G22, RECIPIENT, THIRD)
    body = build_document(incoming)
    with Receiver() as qlvb:
        await set_endpoint(database, RECIPIENT, qlvb.url("/so-noi-vu"))
        async with httpx.AsyncClient(timeout=10) as client:
            with node.hub() as gateway:
                doc_id = await g22.send_edoc(body, from_code=G22)

                # Pushed to Sở Nội vụ's QLVB, parked in Sở Tư pháp's inbox, acknowledged to the axis.
                [arrival] = qlvb.wait_for(lambda arrivals: len(arrivals) >= 1, timeout=30)
                assert arrival.headers["x-lienthong-sender"] == G22
                [parked] = await until(lambda: _exactly(inbox(client, gateway, tokens[THIRD]), 1), timeout=30)
                assert parked["sender"] == G22 and parked["kind"] == "edoc"
                await until(lambda: axis.packages(docId=doc_id)[0]["acks"][HUB_SYSTEM]["status"] == "done")
                [stored] = await rows(database, "SELECT id, received_via, external_id FROM documents")
                assert (stored.received_via, stored.external_id) == ("axis", doc_id)

                # The axis hands the same document again (a second DocId): recognised, acknowledged,
                # not stored twice.
                again = await g22.send_edoc(body, from_code=G22)
                await until(lambda: axis.packages(docId=again)[0]["acks"][HUB_SYSTEM]["status"] == "done")
                assert len(await rows(database, "SELECT id FROM documents")) == 1

                # Sở Nội vụ's QLVB reports 01 (đã đến): it travels to G22 through the axis.
                reported = await client.post(
                    f"{gateway.url}/api/v1/statuses",
                    content=status_about(
                        incoming, arrival_document_id(arrival), reporter=RECIPIENT, code="01"
                    ),
                    headers={
                        "Authorization": f"Bearer {tokens[RECIPIENT]}",
                        "Content-Type": "application/xml",
                    },
                )
                assert reported.status_code == 202, reported.text
                assert [(d["recipient"], d["connector"]) for d in reported.json()["routed_to"]] == [
                    (G22, "national-axis")
                ]
                [waiting] = await until(lambda: g22.received("status"), timeout=30)
                assert (waiting.sender, waiting.message_type) == (RECIPIENT, "status")
                assert b"<edXML:StatusCode>01</edXML:StatusCode>" in await g22.get_edoc(waiting.doc_id)
    assert len(qlvb.at("/so-noi-vu")) == 1  # the replayed package was not delivered again


def arrival_document_id(arrival: Any) -> str:
    return str(arrival.headers["x-lienthong-edxml-document-id"]).replace("%2C", ",")


@pytest.mark.parametrize(
    ("broker", "database_url"),
    [pytest.param("embedded", "postgresql", id="embedded-postgresql")],
    indirect=True,
)
async def test_the_axis_down_or_failing_delays_but_loses_nothing(
    node: Deployment, axis: AxisSimulator, g22: AxisClient, tokens: dict[str, str], database: Database
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        with node.hub() as gateway:
            # Failing: two 503s from sendEdoc, then the retry schedule delivers.
            axis.fault("sendEdoc", count=2, http_status=503, error_code="20")
            first = (
                await gateway.submit(client, build_document(axis_document(SENDER, G22)), tokens[SENDER])
            ).json()
            delivery = first["deliveries"][0]["id"]
            await until(lambda: all_in(database, [delivery], "delivered"), timeout=30)
            assert axis.packages(documentId=first["document_id"])
            outcomes = [outcome for _, outcome, _ in await attempts(database, delivery)]
            assert outcomes == ["transient", "transient", "delivered"]

            # Down: sends wait in retrying, and fetches of the axis's documents stop.
            axis.stop()
            second = (
                await gateway.submit(client, build_document(axis_document(SENDER, G22)), tokens[SENDER])
            ).json()
            waiting = second["deliveries"][0]["id"]
            await until(lambda: _attempted(database, waiting, 2), timeout=30)
            await until(lambda: _axis_problem(client, gateway, "cannot reach"), timeout=30)
            axis.start()  # back, with an empty memory, on the same address

            # Sends resume, and so does polling.
            await until(lambda: axis.packages(documentId=second["document_id"]), timeout=60)
            incoming = await g22.send_edoc(build_document(axis_document(G22, THIRD)), from_code=G22)
            await until(
                lambda: axis.packages(docId=incoming)[0]["acks"][HUB_SYSTEM]["status"] == "done", timeout=30
            )

            # A fetch that fails is not acknowledged; the next round takes the package in.
            axis.fault("getEdoc", count=3, http_status=503, error_code="20")
            later = await g22.send_edoc(build_document(axis_document(G22, THIRD)), from_code=G22)
            await until(lambda: _fault_used(axis), timeout=30)
            assert axis.packages(docId=later)[0]["acks"][HUB_SYSTEM]["status"] == "initial"
            await until(
                lambda: axis.packages(docId=later)[0]["acks"][HUB_SYSTEM]["status"] == "done", timeout=30
            )

            # An acknowledgement that fails leaves the package listed; taken again, it is recognised.
            axis.fault("updateStatus", count=1, http_status=503, error_code="20")
            last = await g22.send_edoc(build_document(axis_document(G22, THIRD)), from_code=G22)
            await until(
                lambda: axis.packages(docId=last)[0]["acks"][HUB_SYSTEM]["status"] == "done", timeout=30
            )
            from_axis = await rows(database, "SELECT external_id FROM documents WHERE received_via = 'axis'")
            assert sorted(row.external_id for row in from_axis) == sorted([incoming, later, last])
            duplicates = await rows(
                database, "SELECT document_id FROM exchange_log WHERE event = 'duplicate'"
            )
            assert len(duplicates) == 1
            assert len(await inbox(client, gateway, tokens[THIRD])) == 3


async def _axis_problem(client: httpx.AsyncClient, gateway: Gateway, text: str) -> bool:
    """Whether the gateway's /readyz reports this problem with the axis (the gateway stays ready)."""
    ready = await client.get(f"{gateway.url}/readyz")
    axis = ready.json()["axis"]
    return (
        ready.status_code == 200
        and axis["polling"] == "this process"
        and text in (axis["last_problem"] or "")
    )


async def _attempted(database: Database, delivery_id: str, number: int) -> bool:
    """At least `number` attempts have ended, all of them transient failures (one may be under way)."""
    ended = await rows(
        database,
        "SELECT outcome FROM attempts WHERE delivery_id = :d AND ended_at IS NOT NULL",
        d=delivery_id,
    )
    return len(ended) >= number and all(row.outcome == "transient" for row in ended)


def _fault_used(axis: AxisSimulator) -> bool:
    answer = httpx.get(f"{axis.url}/_sim/faults")
    return answer.status_code == 200 and not answer.json()["data"]
