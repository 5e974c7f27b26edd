"""sendEdoc has no idempotency key: a send whose answer is lost may have left the package with the
axis. The `national-axis` connector asks the axis before it sends again, so the axis never holds a
document twice (issue 10). Against the simulator as a real process, with real timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from support.axis_messages import axis_document
from support.axis_sim import G22, HUB_SECRET, HUB_SYSTEM, AxisSimulator
from support.delivery import BytesPayload
from support.hub import SENDER

from app.axis.client import AxisClient
from app.edxml import build_document, read_document
from app.kit.clock import vietnam_now
from connectors.base import Job, OutcomeKind
from connectors.national_axis import NationalAxisConnector

pytestmark = pytest.mark.slow

TIMEOUT = 1.0  # the hub's timeout of one call to the axis, in these tests
LATE = 3.0  # how late the axis answers a send it has already stored


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AxisSimulator]:
    with AxisSimulator(tmp_path_factory.mktemp("axis")) as simulator:
        yield simulator


@pytest.fixture
def axis(simulator: AxisSimulator) -> AxisSimulator:
    """The simulator, emptied (no packages, no faults) for this test."""
    httpx.post(f"{simulator.url}/_sim/reset").raise_for_status()
    return simulator


@pytest.fixture
async def connector(axis: AxisSimulator) -> AsyncIterator[NationalAxisConnector]:
    connector = NationalAxisConnector(AxisClient(axis.url, HUB_SYSTEM, HUB_SECRET, timeout=TIMEOUT))
    yield connector
    await connector.close()


def job(payload: bytes, document_id: str, attempt: int) -> Job:
    return Job(
        delivery_id="delivery-1",
        document_id="hub-document-1",
        edxml_document_id=document_id,
        sender_code=SENDER,
        recipient_code=G22,
        message_type="edoc",
        endpoint=None,
        timeout_seconds=TIMEOUT,
        attempt=attempt,
        payload=BytesPayload(payload),
    )


async def test_a_send_that_times_out_after_the_axis_stored_it_yields_exactly_one_package(
    axis: AxisSimulator, connector: NationalAxisConnector
) -> None:
    payload = build_document(axis_document(SENDER, G22))
    axis.fault("sendEdoc", http_status=None, answer_delay_seconds=LATE)  # stored, then answered late

    outcome = await connector.deliver(job(payload, _document_id(payload), attempt=1))

    [package] = axis.packages(senderSystem=HUB_SYSTEM)
    assert axis.content(package["docId"]) == payload
    assert outcome.kind is OutcomeKind.DELIVERED, outcome
    assert outcome.remote_id == package["docId"]
    assert outcome.detail is not None and "already held" in outcome.detail


async def test_the_next_attempt_asks_before_sending_again(
    axis: AxisSimulator, connector: NationalAxisConnector
) -> None:
    """The send timed out and so did the question right after it: the attempt is a transient
    failure; the next attempt finds the package and does not send it again."""
    payload = build_document(axis_document(SENDER, G22))
    document_id = _document_id(payload)
    axis.fault("sendEdoc", http_status=None, answer_delay_seconds=LATE)
    axis.fault("getSentEdocList", http_status=None, delay_seconds=LATE)  # no answer in time either

    first = await connector.deliver(job(payload, document_id, attempt=1))
    assert first.kind is OutcomeKind.TRANSIENT and first.http_status is None, first
    second = await connector.deliver(job(payload, document_id, attempt=2))

    [package] = axis.packages(senderSystem=HUB_SYSTEM)
    assert (second.kind, second.remote_id) == (OutcomeKind.DELIVERED, package["docId"])


async def test_a_send_the_axis_refused_is_sent_again_once(
    axis: AxisSimulator, connector: NationalAxisConnector
) -> None:
    """An answer (503) says the axis did not take it: nothing to look up, the next attempt sends."""
    payload = build_document(axis_document(SENDER, G22))
    document_id = _document_id(payload)
    axis.fault("sendEdoc", http_status=503)
    first = await connector.deliver(job(payload, document_id, attempt=1))
    assert (first.kind, first.http_status) == (OutcomeKind.TRANSIENT, 503), first
    assert axis.packages(senderSystem=HUB_SYSTEM) == []
    second = await connector.deliver(job(payload, document_id, attempt=2))

    [package] = axis.packages(senderSystem=HUB_SYSTEM)
    assert (second.kind, second.remote_id, second.detail) == (OutcomeKind.DELIVERED, package["docId"], None)


def _document_id(payload: bytes) -> str:
    return read_document(payload, today=vietnam_now().date()).document_id
