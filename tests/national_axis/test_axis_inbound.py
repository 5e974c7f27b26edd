"""The inbound poller (app.axis.inbound.AxisInbound) driven round by round, in this process, against
the real axis simulator (`lienthong dev axis-sim`, a process of its own) and the real database
(SQLite and PostgreSQL): what each round takes in, refuses or leaves, how it acknowledges each
package to the axis, and what it stores. Văn phòng Chính phủ (000.00.00.G22) plays the axis's other
side with its own credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from support.axis_messages import STATUS_TIMESTAMP, axis_document, status_about
from support.axis_sim import G22, G22_SECRET, HUB_SECRET, HUB_SYSTEM, AxisSimulator
from support.delivery import rows
from support.hub import RECIPIENT, SENDER

from app.axis.client import AxisAgency, AxisClient, ReceivedPackage
from app.axis.inbound import AxisInbound, RoundReport
from app.config import Settings
from app.documents.service import IntakeResult, Submitter, submit_document
from app.edxml import build_document
from app.kit.db import Database
from app.kit.secrets import load_master_key
from app.models import AdminLogEntry, Channel, ExchangeLogEntry
from app.sealing.seal import Sealer
from app.sealing.service import load_active_sealer

pytestmark = pytest.mark.slow

TO_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To/OrganId"
RESPONSE_FOR_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Status/ResponseFor/DocumentId"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AxisSimulator]:
    """One simulator process for the module; each test starts it afresh through `axis`."""
    with AxisSimulator(tmp_path_factory.mktemp("axis-logs")) as running:
        yield running


@pytest.fixture
def axis(simulator: AxisSimulator) -> AxisSimulator:
    """The simulator with no packages, no faults, its initial directory and no replay memory."""
    httpx.post(f"{simulator.url}/_sim/reset").raise_for_status()
    return simulator


@pytest.fixture
def hub_settings(settings: Settings, axis: AxisSimulator) -> Settings:
    return settings.model_copy(update={**axis.hub_settings, "axis_timeout_seconds": 10.0})


@pytest.fixture
async def sealer(database: Database, hub_settings: Settings) -> Sealer:
    async with database.reading() as session:
        return await load_active_sealer(session, load_master_key(hub_settings))


@pytest.fixture
async def hub_client(axis: AxisSimulator) -> AsyncIterator[AxisClient]:
    """The hub's own system on the axis (hub-h62, serving *.H62)."""
    async with AxisClient(axis.url, HUB_SYSTEM, HUB_SECRET, timeout=10) as client:
        yield client


@pytest.fixture
async def g22(axis: AxisSimulator) -> AsyncIterator[AxisClient]:
    """Văn phòng Chính phủ's system on the axis."""
    async with AxisClient(axis.url, G22, G22_SECRET, timeout=10) as client:
        yield client


class Poller:
    """An AxisInbound and how many times it signalled that something new was stored."""

    def __init__(self, database: Database, client: AxisClient, settings: Settings, sealer: Sealer) -> None:
        self.wakes = 0
        self.inbound = AxisInbound(database, client, settings, sealer=lambda: sealer, on_stored=self._woken)

    def _woken(self) -> None:
        self.wakes += 1

    async def poll_once(self) -> RoundReport:
        return await self.inbound.poll_once()


@pytest.fixture
def poller(database: Database, hub_client: AxisClient, hub_settings: Settings, sealer: Sealer) -> Poller:
    return Poller(database, hub_client, hub_settings, sealer)


def ack(axis: AxisSimulator, doc_id: str) -> dict[str, Any]:
    """The hub's acknowledgement of a package, as the simulator holds it."""
    [package] = axis.packages(docId=doc_id)
    acknowledgement: dict[str, Any] = package["acks"][HUB_SYSTEM]
    return acknowledgement


async def exchange_log(database: Database, event: str) -> list[ExchangeLogEntry]:
    async with database.reading() as session:
        found = await session.scalars(
            select(ExchangeLogEntry).where(ExchangeLogEntry.event == event).order_by(ExchangeLogEntry.id)
        )
        return list(found)


async def test_a_document_from_g22_is_stored_routed_and_acknowledged_done(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)
    assert ack(axis, doc_id)["status"] == "initial"

    report = await poller.poll_once()

    assert report == RoundReport(stored=[doc_id])
    [stored] = await rows(database, "SELECT id, sender_code, received_via, external_id FROM documents")
    assert (stored.sender_code, stored.received_via, stored.external_id) == (G22, "axis", doc_id)
    routed = await rows(
        database,
        "SELECT recipient_code, connector, state FROM deliveries WHERE document_id = :d",
        d=stored.id,
    )
    assert [tuple(row) for row in routed] == [(RECIPIENT, "inbox", "queued")]
    assert ack(axis, doc_id) == {"to": [RECIPIENT], "status": "done", "description": ""}
    [entry] = await exchange_log(database, "stored")
    assert (entry.document_id, entry.detail["channel"], entry.detail["axis_doc_id"]) == (
        stored.id,
        "axis",
        doc_id,
    )
    assert poller.wakes == 1

    # Acknowledged done, the package is no longer listed: the next round has nothing to do.
    assert await poller.poll_once() == RoundReport()
    assert len(await rows(database, "SELECT id FROM documents")) == 1
    assert poller.wakes == 1


async def test_a_document_the_hub_refuses_is_acknowledged_fail_with_the_reason(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    # Suspended in the province's directory only: the axis still accepts documents for it.
    async with database.transaction() as session:
        await session.execute(
            text("UPDATE agencies SET status = 'suspended' WHERE code = :code"), {"code": RECIPIENT}
        )
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)

    report = await poller.poll_once()

    assert report == RoundReport(refused=[doc_id])
    refusal = ack(axis, doc_id)
    assert refusal["status"] == "fail"
    assert f"{TO_PATH}: {RECIPIENT}" in refusal["description"]
    assert "suspended" in refusal["description"]
    [rejected] = await exchange_log(database, "rejected")
    assert rejected.detail["channel"] == "axis" and rejected.detail["axis_doc_id"] == doc_id
    assert rejected.detail["problems"] == [f"{TO_PATH}: agency-suspended"]
    assert await rows(database, "SELECT id FROM documents") == []
    assert await rows(database, "SELECT id FROM deliveries") == []
    assert poller.wakes == 0
    assert await poller.poll_once() == RoundReport()  # refused once, not listed again


async def test_the_same_bytes_handed_twice_are_stored_once_and_both_acknowledged_done(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    body = build_document(axis_document(G22, RECIPIENT))
    first = await g22.send_edoc(body, from_code=G22)
    second = await g22.send_edoc(body, from_code=G22)
    assert first != second

    report = await poller.poll_once()

    assert report == RoundReport(stored=[first, second])
    [stored] = await rows(database, "SELECT id, external_id FROM documents")
    assert stored.external_id == first
    assert ack(axis, first)["status"] == ack(axis, second)["status"] == "done"
    [duplicate] = await exchange_log(database, "duplicate")
    assert (duplicate.document_id, duplicate.detail["axis_doc_id"]) == (stored.id, second)
    assert len(await rows(database, "SELECT id FROM deliveries")) == 1
    assert poller.wakes == 1


async def test_a_status_from_g22_goes_on_the_timeline_and_to_the_local_sender(
    poller: Poller,
    axis: AxisSimulator,
    g22: AxisClient,
    database: Database,
    hub_settings: Settings,
    sealer: Sealer,
) -> None:
    # Văn phòng UBND tỉnh sends a document to G22 through the hub (no worker runs: it stays queued).
    sent = axis_document(SENDER, G22)
    original = await _submit_locally(database, sealer, hub_settings, build_document(sent))
    [to_g22] = original.receipt.deliveries
    assert (to_g22.recipient, to_g22.connector) == (G22, "national-axis")

    doc_id = await g22.send_edoc(
        status_about(sent, original.receipt.document_id, reporter=G22), from_code=G22, message_type="status"
    )
    report = await poller.poll_once()

    assert report == RoundReport(stored=[doc_id])
    assert ack(axis, doc_id)["status"] == "done"
    [message] = await rows(
        database,
        "SELECT id, related_id, sender_code, received_via, external_id FROM documents WHERE kind = 'status'",
    )
    assert (message.related_id, message.sender_code) == (original.receipt.id, G22)
    assert (message.received_via, message.external_id) == ("axis", doc_id)
    [timeline] = await rows(
        database,
        "SELECT delivery_id, message_id, reporter_code, status_code, reported_at FROM status_reports",
    )
    assert tuple(timeline) == (to_g22.id, message.id, G22, "03", STATUS_TIMESTAMP)
    carried = await rows(
        database, "SELECT recipient_code, connector FROM deliveries WHERE document_id = :d", d=message.id
    )
    assert [tuple(row) for row in carried] == [(SENDER, "inbox")]
    assert poller.wakes == 1


async def test_a_status_about_a_document_the_hub_never_saw_is_acknowledged_fail(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    never_sent = axis_document(SENDER, G22)
    unknown_id = f"{SENDER},2026/11/20,{never_sent.code_number}/{never_sent.code_notation}"
    doc_id = await g22.send_edoc(
        status_about(never_sent, unknown_id, reporter=G22), from_code=G22, message_type="status"
    )

    report = await poller.poll_once()

    assert report == RoundReport(refused=[doc_id])
    refusal = ack(axis, doc_id)
    assert refusal["status"] == "fail"
    # The reason names where the problem is and what it is (the problem's message, not its code).
    assert f"{RESPONSE_FOR_PATH}: no document {unknown_id!r} sent by {SENDER}" in refusal["description"]
    [rejected] = await exchange_log(database, "rejected")
    assert rejected.detail["axis_doc_id"] == doc_id
    assert rejected.detail["problems"] == [f"{RESPONSE_FOR_PATH}: unknown-document"]
    assert await rows(database, "SELECT id FROM documents") == []


async def directory_syncs(database: Database) -> list[str]:
    """The actors of the directory syncs in the admin log, oldest first."""
    async with database.reading() as session:
        actors = await session.scalars(
            select(AdminLogEntry.actor)
            .where(AdminLogEntry.action == "directory.sync")
            .order_by(AdminLogEntry.id)
        )
        return list(actors)


async def test_a_second_replica_does_nothing_while_the_first_holds_the_lease(
    poller: Poller,
    axis: AxisSimulator,
    g22: AxisClient,
    database: Database,
    hub_settings: Settings,
    sealer: Sealer,
) -> None:
    assert await poller.poll_once() == RoundReport()  # the first replica takes the lease
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)
    async with AxisClient(axis.url, HUB_SYSTEM, HUB_SECRET, timeout=10) as client:
        other = Poller(database, client, hub_settings, sealer)
        assert other.inbound.holder != poller.inbound.holder

        assert await other.poll_once() == RoundReport(held=False)
        assert await other.inbound.scheduled_round() == RoundReport(held=False)

    # It neither took the package nor read the directory.
    assert ack(axis, doc_id)["status"] == "initial"
    assert await rows(database, "SELECT id FROM documents") == []
    assert await directory_syncs(database) == []
    assert other.wakes == 0

    assert await poller.poll_once() == RoundReport(stored=[doc_id])
    assert ack(axis, doc_id)["status"] == "done"


async def test_a_scheduled_round_syncs_the_directory_when_due_then_polls(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    new_code = "000.00.41.H62"
    entries = [
        {"code": G22, "name": "Văn phòng Chính phủ"},
        {"code": "000.00.00.H62", "name": "Ủy ban nhân dân tỉnh Vĩnh Phúc"},
        {"code": RECIPIENT, "name": "Sở Nội vụ tỉnh Vĩnh Phúc", "parent_code": "000.00.00.H62"},
        {"code": new_code, "name": "Sở Dân tộc tỉnh Vĩnh Phúc", "parent_code": "000.00.00.H62"},
    ]
    httpx.put(f"{axis.url}/_sim/directory", json=entries).raise_for_status()
    first = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)

    assert await poller.inbound.scheduled_round() == RoundReport(stored=[first])

    assert await directory_syncs(database) == ["axis:directory-sync"]
    [added] = await rows(
        database, "SELECT status, source, parent_code FROM agencies WHERE code = :c", c=new_code
    )
    assert tuple(added) == ("active", "axis", "000.00.00.H62")
    assert ack(axis, first)["status"] == "done"

    # The next sync is hours away: the next round only polls.
    second = await g22.send_edoc(build_document(axis_document(G22, new_code)), from_code=G22)
    assert await poller.inbound.scheduled_round() == RoundReport(stored=[second])
    assert await directory_syncs(database) == ["axis:directory-sync"]
    [routed] = await rows(
        database,
        "SELECT d.recipient_code FROM deliveries d JOIN documents m ON m.id = d.document_id "
        "WHERE m.external_id = :x",
        x=second,
    )
    assert routed.recipient_code == new_code  # the code the sync added receives at once


async def test_a_package_that_cannot_be_fetched_is_left_for_the_next_round(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)
    axis.fault("getEdoc", count=1)

    assert await poller.poll_once() == RoundReport(left=[doc_id])
    assert ack(axis, doc_id)["status"] == "initial"
    assert await rows(database, "SELECT id FROM documents") == []

    assert await poller.poll_once() == RoundReport(stored=[doc_id])
    assert ack(axis, doc_id)["status"] == "done"
    [stored] = await rows(database, "SELECT external_id FROM documents")
    assert stored.external_id == doc_id


async def test_a_package_stored_but_not_acknowledged_is_recognised_next_round(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)
    axis.fault("updateStatus", count=1)

    assert await poller.poll_once() == RoundReport(left=[doc_id])
    assert ack(axis, doc_id)["status"] == "initial"
    assert len(await rows(database, "SELECT id FROM documents")) == 1  # stored before acknowledging

    assert await poller.poll_once() == RoundReport(stored=[doc_id])
    assert ack(axis, doc_id)["status"] == "done"
    assert len(await rows(database, "SELECT id FROM documents")) == 1
    assert len(await exchange_log(database, "duplicate")) == 1
    assert poller.wakes == 1


async def test_a_directory_row_the_hub_cannot_store_does_not_stop_the_polling(
    poller: Poller, axis: AxisSimulator, g22: AxisClient, database: Database
) -> None:
    # The simulator refuses such a directory; the real axis's list is not checked by anyone.
    listed = await poller.inbound.client.agencies()
    long_name = [
        replace(row, name=row.name + " (tên dài)" * 40) if row.code == RECIPIENT else row for row in listed
    ]

    async def agencies() -> list[AxisAgency]:
        return long_name

    poller.inbound.client.agencies = agencies  # type: ignore[method-assign]
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)

    assert await poller.inbound.scheduled_round() == RoundReport(stored=[doc_id])
    assert ack(axis, doc_id)["status"] == "done"
    [stored] = await rows(database, "SELECT name FROM agencies WHERE code = :c", c=RECIPIENT)
    assert len(stored.name) == 300  # kept as far as the directory holds


async def _submit_locally(
    database: Database, sealer: Sealer, settings: Settings, body: bytes
) -> IntakeResult:
    """Văn phòng UBND tỉnh submits `body` through the hub's intake (as its REST API would)."""
    return await submit_document(
        database, sealer, Submitter(Channel.API, SENDER), body, hub_code=settings.hub_code
    )


async def _sent_locally(database: Database, sealer: Sealer, settings: Settings, *recipients: str) -> bytes:
    """A document Văn phòng UBND tỉnh sends through the hub; returns its sealed bytes."""
    result = await _submit_locally(
        database, sealer, settings, build_document(axis_document(SENDER, *recipients))
    )
    [sealed] = await rows(
        database,
        "SELECT p.content FROM payloads p JOIN documents d ON d.sealed_sha256 = p.sha256 WHERE d.id = :i",
        i=result.receipt.id,
    )
    return bytes(sealed.content)


async def test_the_axis_does_not_hand_the_hub_its_own_packages(
    poller: Poller,
    axis: AxisSimulator,
    hub_client: AxisClient,
    database: Database,
    hub_settings: Settings,
    sealer: Sealer,
) -> None:
    # Sent to G22 and to a local agency: the hub delivers to the local one itself.
    sealed = await _sent_locally(database, sealer, hub_settings, G22, RECIPIENT)
    doc_id = await hub_client.send_edoc(sealed, from_code=SENDER)
    [package] = axis.packages(docId=doc_id)
    assert list(package["acks"]) == [G22]
    assert await hub_client.received() == []
    assert await poller.poll_once() == RoundReport()


async def test_its_own_package_handed_back_is_acknowledged_as_a_repeat(
    poller: Poller, database: Database, hub_settings: Settings, sealer: Sealer
) -> None:
    """An axis that did hand a hub its own package back (this simulator does not) gets `done`, and the
    hub keeps one document."""
    sealed = await _sent_locally(database, sealer, hub_settings, G22, RECIPIENT)
    echo = ReceivedPackage("echo-1", SENDER, (RECIPIENT,), "edoc", "initial", "", "", "")
    acknowledged: list[tuple[str, str]] = []

    async def received(message_type: str = "edoc", **_: object) -> list[ReceivedPackage]:
        return [echo] if message_type == "edoc" and not acknowledged else []

    async def get_edoc(doc_id: str) -> bytes:
        assert doc_id == echo.doc_id
        return sealed

    async def update_status(doc_id: str, status: str, description: str = "") -> None:
        acknowledged.append((doc_id, status))

    client = poller.inbound.client
    client.received, client.get_edoc, client.update_status = received, get_edoc, update_status  # type: ignore[method-assign]

    assert await poller.poll_once() == RoundReport(stored=["echo-1"])
    assert acknowledged == [("echo-1", "done")]
    assert len(await rows(database, "SELECT id FROM documents")) == 1
    [repeat] = await exchange_log(database, "duplicate")
    assert repeat.detail["axis_doc_id"] == "echo-1"
    assert poller.wakes == 0


class _FailingSealer(Sealer):
    """A hub that fails half-way through the intake (after validation, before the store)."""

    def __init__(self, working: Sealer) -> None:
        super().__init__(working.identity, key_id=working.key_id)

    def seal_tree(self, root: Any, **_: Any) -> bytes:  # `seal` comes here too
        raise RuntimeError("the hub failed while sealing")


async def test_nothing_is_acknowledged_before_it_is_stored(
    axis: AxisSimulator,
    g22: AxisClient,
    hub_client: AxisClient,
    hub_settings: Settings,
    sealer: Sealer,
    database: Database,
) -> None:
    failing = AxisInbound(
        database, hub_client, hub_settings, sealer=lambda: _FailingSealer(sealer), on_stored=lambda: None
    )
    doc_id = await g22.send_edoc(build_document(axis_document(G22, RECIPIENT)), from_code=G22)
    with pytest.raises(RuntimeError, match="failed while sealing"):
        await failing.poll_once()
    assert ack(axis, doc_id)["status"] == "initial"
    assert await rows(database, "SELECT id FROM documents") == []
    await failing.release()

    working = AxisInbound(database, hub_client, hub_settings, sealer=lambda: sealer, on_stored=lambda: None)
    assert await working.poll_once() == RoundReport(stored=[doc_id])
    assert ack(axis, doc_id)["status"] == "done"
