"""The `qlvb-push` connector against a real HTTP server on 127.0.0.1: what goes out, how each kind of
answer (or none) is read, and what a receiver cannot make it do (follow a redirect, hold a large
answer, wait past the timeout)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from support.delivery import BytesPayload
from support.processes import free_port
from support.receiver import Receiver

from connectors.base import Job, OutcomeKind
from connectors.qlvb_push import ANSWER_PREVIEW_BYTES, QlvbPushConnector, _proxy_for


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def push() -> AsyncIterator[QlvbPushConnector]:
    connector = QlvbPushConnector(max_connections=4)
    yield connector
    await connector.close()


def job(endpoint: str, *, timeout: float = 5.0, attempt: int = 1, payload: bytes = b"<edXML/>") -> Job:
    return Job(
        delivery_id="01JDELIVERY",
        document_id="01JDOCUMENT",
        edxml_document_id="000.00.01.H62,2026/12/02,7/QĐ-UBND",
        sender_code="000.00.01.H62",
        recipient_code="000.00.02.H62",
        message_type="edoc",
        endpoint=endpoint,
        timeout_seconds=timeout,
        attempt=attempt,
        payload=BytesPayload(payload),
    )


async def test_a_push_carries_the_bytes_and_the_delivery_s_headers(
    qlvb: Receiver, push: QlvbPushConnector
) -> None:
    outcome = await push.deliver(job(qlvb.url("/in"), attempt=3, payload=b"<edXML>\xc3\xa1</edXML>"))
    assert (outcome.kind, outcome.http_status) == (OutcomeKind.DELIVERED, 200)
    [arrival] = qlvb.at("/in")
    assert arrival.body == b"<edXML>\xc3\xa1</edXML>"
    assert arrival.idempotency_key == "01JDELIVERY"
    assert arrival.headers["content-type"] == "application/xml"
    assert arrival.headers["x-lienthong-document"] == "01JDOCUMENT"
    assert arrival.headers["x-lienthong-message-type"] == "edoc"
    assert arrival.headers["x-lienthong-edxml-document-id"] == "000.00.01.H62,2026/12/02,7/Q%C4%90-UBND"
    assert arrival.headers["x-lienthong-sender"] == "000.00.01.H62"
    assert arrival.headers["x-lienthong-recipient"] == "000.00.02.H62"
    assert arrival.headers["x-lienthong-attempt"] == "3"


async def test_connections_are_reused_between_pushes(qlvb: Receiver, push: QlvbPushConnector) -> None:
    for _ in range(5):
        assert (await push.deliver(job(qlvb.url("/in")))).kind is OutcomeKind.DELIVERED
    assert len({arrival.client_port for arrival in qlvb.at("/in")}) == 1


async def test_a_redirect_is_a_refusal_and_is_not_followed(qlvb: Receiver, push: QlvbPushConnector) -> None:
    qlvb.script("/moved", [302])
    qlvb.answer("/moved", headers={"location": qlvb.url("/elsewhere")})
    outcome = await push.deliver(job(qlvb.url("/moved")))
    assert (outcome.kind, outcome.http_status) == (OutcomeKind.PERMANENT, 302)
    assert [a.path for a in qlvb.arrivals] == ["/moved"]


async def test_a_busy_receiver_is_tried_again_when_it_asks(qlvb: Receiver, push: QlvbPushConnector) -> None:
    qlvb.script("/busy", [503], retry_after="12")
    outcome = await push.deliver(job(qlvb.url("/busy")))
    assert (outcome.kind, outcome.http_status, outcome.retry_after) == (OutcomeKind.TRANSIENT, 503, 12)
    assert outcome.error == "HTTP 503: not now"


async def test_only_the_start_of_a_large_refusal_is_read(qlvb: Receiver, push: QlvbPushConnector) -> None:
    qlvb.script("/big", [400])
    qlvb.answer("/big", body=b"x" * (20 * 1024 * 1024))
    outcome = await push.deliver(job(qlvb.url("/big")))
    assert (outcome.kind, outcome.http_status) == (OutcomeKind.PERMANENT, 400)
    assert outcome.error == "HTTP 400: " + "x" * ANSWER_PREVIEW_BYTES


async def test_no_answer_within_the_timeout_is_transient(qlvb: Receiver, push: QlvbPushConnector) -> None:
    qlvb.answer("/slow", delay=3.0)
    outcome = await push.deliver(job(qlvb.url("/slow"), timeout=0.5))
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.error == "no answer within 0.5 s"


async def test_no_listener_is_transient_and_a_bad_endpoint_permanent(push: QlvbPushConnector) -> None:
    refused = await push.deliver(job(f"http://127.0.0.1:{free_port()}/in"))
    assert refused.kind is OutcomeKind.TRANSIENT and refused.http_status is None
    for endpoint in ("not a url", "ftp://127.0.0.1/in", "http://"):
        outcome = await push.deliver(job(endpoint))
        assert outcome.kind is OutcomeKind.PERMANENT
        assert outcome.error is not None and outcome.error.startswith(f"bad endpoint {endpoint!r}")


class ClosingOnReuse:
    """A receiver whose idle timeout runs out just as the next request arrives on a kept-alive
    connection: it answers the first request of each connection with 200 (keeping the connection
    open) and closes the connection, unanswered, when a second request comes on it."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, str]] = []  # (connection number, Idempotency-Key)
        self._connections = 0

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/in"

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        try:
            for answered in (True, False):
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                fields = {
                    name.lower(): value for name, _, value in (line.partition(": ") for line in head[1:])
                }
                await reader.readexactly(int(fields["content-length"]))
                self.requests.append((number, fields["idempotency-key"]))
                if answered:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection (the end of the test)
        writer.close()


async def test_a_kept_alive_connection_closed_as_the_request_went_out_is_tried_again_at_once(
    push: QlvbPushConnector,
) -> None:
    receiver = ClosingOnReuse()
    async with receiver as receiver_url:
        first = await push.deliver(job(receiver_url))
        second = await push.deliver(job(receiver_url))
    assert (first.kind, second.kind) == (OutcomeKind.DELIVERED, OutcomeKind.DELIVERED), second.error
    # The second POST went out on the first connection, was dropped, and went again on a new one.
    assert [number for number, _ in receiver.requests] == [1, 1, 2]
    assert {key for _, key in receiver.requests} == {"01JDELIVERY"}


def test_the_proxy_comes_from_the_environment_unless_no_proxy_names_the_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "HTTPS_PROXY", "no_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.tinh.gov.vn:3128")
    monkeypatch.setenv("NO_PROXY", "qlvb.sotc.gov.vn")
    _proxy_for.cache_clear()
    try:
        assert _proxy_for("http", "qlvb.sotnmt.gov.vn") == "http://proxy.tinh.gov.vn:3128"
        assert _proxy_for("http", "qlvb.sotc.gov.vn") is None
        assert _proxy_for("https", "qlvb.sotnmt.gov.vn") is None  # HTTPS_PROXY is not set
    finally:
        _proxy_for.cache_clear()
