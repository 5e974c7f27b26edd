"""The worker's HTTP/1.1 client (connectors.http11) and qlvb-push on it: what goes on the wire, which
connections are reused, and how every way an exchange can end becomes an outcome."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.receiver import Receiver

from connectors.base import Job, OutcomeKind
from connectors.http11 import Answer, Http11Client, InvalidEndpoint, TransportFailure
from connectors.qlvb_push import QlvbPushConnector

LOOPBACK = ipaddress.ip_address("127.0.0.1")
PAYLOAD = "<edXML>văn bản</edXML>".encode()
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def post(client: Http11Client, server: Server) -> Answer:
    return await client.post(f"http://127.0.0.1:{server.port}/", content=PAYLOAD, headers={}, timeout=10)


def job(endpoint: str, *, timeout: float = 10.0) -> Job:
    return Job(
        delivery_id="delivery-1",
        document_id="document-1",
        edxml_document_id="000.00.01.H62,2026/11/27,12/UBND-VP",
        sender_code="000.00.01.H62",
        recipient_code="000.00.02.H62",
        message_type="edoc",
        endpoint=endpoint,
        timeout_seconds=timeout,
        attempt=1,
        payload=PAYLOAD,
    )


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    """A raw TCP server that counts connections and hands each one to `handler`."""

    handler: Handler
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, *, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler)
        listening = await asyncio.start_server(server.on_connection, "127.0.0.1", 0, ssl=tls)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append(listening)
        return server

    yield start
    for listening in servers:
        listening.close()


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
    while True:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()


async def one_answer_then_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
) -> None:
    """Answers as if the connection were kept alive, then closes it: what a receiver does when its
    keep-alive timeout ends just as the next request comes."""
    await server.read_request(reader)
    writer.write(OK)
    await writer.drain()


async def test_the_connector_s_post_carries_the_document_and_its_headers() -> None:
    connector = QlvbPushConnector()
    assert isinstance(connector.client, Http11Client)
    try:
        with Receiver() as qlvb:
            outcome = await connector.deliver(job(qlvb.url("/qlvb/a?x=1")))
            assert outcome.kind is OutcomeKind.DELIVERED
            assert outcome.http_status == 200
            [arrival] = qlvb.at("/qlvb/a")
            assert arrival.body == PAYLOAD
            assert arrival.idempotency_key == "delivery-1"
            assert arrival.headers["content-type"] == "application/xml"
            assert arrival.headers["x-lienthong-edxml-document-id"] == "000.00.01.H62,2026/11/27,12/UBND-VP"
            assert arrival.headers["host"] == f"127.0.0.1:{qlvb.port}"
    finally:
        await connector.close()


async def test_answers_are_classified_as_with_httpx_retry_after_included() -> None:
    connector = QlvbPushConnector()
    try:
        with Receiver() as qlvb:
            # uvicorn answers with chunked bodies: read to the end, then the connection is reused.
            qlvb.script("/s", [503, 404, 429], retry_after="7")
            first, second, third = [await connector.deliver(job(qlvb.url("/s"))) for _ in range(3)]
            assert (first.kind, first.http_status, first.retry_after) == (OutcomeKind.TRANSIENT, 503, 7)
            assert first.error == "HTTP 503: not now"
            assert (second.kind, second.http_status) == (OutcomeKind.PERMANENT, 404)
            assert (third.kind, third.retry_after) == (OutcomeKind.TRANSIENT, 7)
            assert (await connector.deliver(job(qlvb.url("/s")))).kind is OutcomeKind.DELIVERED
    finally:
        await connector.close()


async def test_one_kept_alive_connection_serves_request_after_request(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(keep_alive)
    client = Http11Client()
    try:
        for _ in range(20):
            answer = await post(client, server)
            assert (answer.status_code, answer.text) == (200, "ok")
        assert server.connections == 1
        assert len(server.requests) == 20
        # Concurrent requests open more connections, and all of them are kept.
        await asyncio.gather(*(post(client, server) for _ in range(5)))
        assert server.connections == 5
    finally:
        await client.aclose()


async def test_a_connection_the_server_closed_is_replaced_without_a_failure(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(one_answer_then_close)
    client = Http11Client()
    try:
        for _ in range(10):
            answer = await post(client, server)
            assert answer.status_code == 200
        assert len(server.requests) == 10
    finally:
        await client.aclose()


async def test_connection_close_and_a_body_ending_with_the_connection(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    async def until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(
            b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n" + "lỗi máy chủ".encode()
        )
        await writer.drain()

    server = await serve(until_eof)
    client = Http11Client()
    try:
        for _ in range(3):
            answer = await post(client, server)
            assert (answer.status_code, answer.text) == (500, "lỗi máy chủ")
        assert server.connections == 3
    finally:
        await client.aclose()


async def test_an_interim_100_continue_is_skipped(serve: Callable[..., Awaitable[Server]]) -> None:
    async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(interim)
    client = Http11Client()
    try:
        answer = await post(client, server)
        assert answer.status_code == 201
    finally:
        await client.aclose()


async def test_no_answer_in_time_is_a_transient_outcome_and_the_connection_is_dropped(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    answered = asyncio.Event()

    async def silent_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        await answered.wait()  # the first request never gets its answer on this connection
        writer.write(OK)

    server = await serve(silent_once)
    connector = QlvbPushConnector()
    try:
        outcome = await connector.deliver(job(f"http://127.0.0.1:{server.port}/", timeout=0.5))
        assert outcome.kind is OutcomeKind.TRANSIENT
        assert outcome.error == "no answer within 0.5 s"
        answered.set()
        # The late answer must not be read as the answer to the next request: a new connection.
        second = await connector.deliver(job(f"http://127.0.0.1:{server.port}/", timeout=10))
        assert second.kind is OutcomeKind.DELIVERED
        assert server.connections == 2
    finally:
        await connector.close()


async def test_a_connection_lost_mid_answer_is_transient_and_not_resent(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()

    server = await serve(half)
    connector = QlvbPushConnector()
    try:
        outcome = await connector.deliver(job(f"http://127.0.0.1:{server.port}/"))
        assert outcome.kind is OutcomeKind.TRANSIENT
        assert "TransportFailure" in (outcome.error or "")
        assert len(server.requests) == 1
    finally:
        await connector.close()


async def test_nobody_listening_is_transient() -> None:
    connector = QlvbPushConnector()
    try:
        with Receiver() as qlvb:
            port = qlvb.port
        outcome = await connector.deliver(job(f"http://127.0.0.1:{port}/gone"))
        assert outcome.kind is OutcomeKind.TRANSIENT
        assert "cannot connect" in (outcome.error or "")
    finally:
        await connector.close()


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://127.0.0.1/x", "http:///x", "http://127.0.0.1:99999/x", "http://qlvb .example/x", "qlvb"],
)
async def test_an_endpoint_the_client_cannot_use_is_permanent(endpoint: str) -> None:
    connector = QlvbPushConnector()
    try:
        outcome = await connector.deliver(job(endpoint))
        assert outcome.kind is OutcomeKind.PERMANENT
        assert (outcome.error or "").startswith("bad endpoint")
    finally:
        await connector.close()


async def test_header_values_cannot_smuggle_lines() -> None:
    client = Http11Client()
    with pytest.raises(InvalidEndpoint):
        await client.post("http://127.0.0.1:9/", content=b"", headers={"X-A": "b\r\nX-B: 1"}, timeout=1)


async def test_credentials_and_non_ascii_paths_are_written_as_httpx_writes_them(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(keep_alive)
    client = Http11Client()
    try:
        url = f"http://qlvb:m%E1%BA%ADt@127.0.0.1:{server.port}/nhận/văn bản?cơ quan=1".replace(" ", "%20")
        await client.post(url, content=b"", headers={}, timeout=10)
        async with httpx.AsyncClient() as reference:
            await reference.post(url, content=b"")
        ours, theirs = (request.split(b"\r\n") for request in server.requests)
        assert ours[0] == theirs[0]  # the request line
        assert [h for h in ours if h.lower().startswith(b"authorization")] == [
            h for h in theirs if h.lower().startswith(b"authorization")
        ]
    finally:
        await client.aclose()


def tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qlvb.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_https_is_verified_against_the_trusted_certificates(
    serve: Callable[..., Awaitable[Server]], tmp_path: Path
) -> None:
    cert, key = tls_files(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = await serve(keep_alive, tls=server_tls)
    url = f"https://127.0.0.1:{server.port}/"

    # The default trust (httpx's: certifi) does not know this certificate: no request goes out.
    default = Http11Client()
    with pytest.raises(TransportFailure):
        await default.post(url, content=PAYLOAD, headers={}, timeout=10)
    await default.aclose()
    assert server.requests == []

    trusting = Http11Client(tls=ssl.create_default_context(cafile=str(cert)))
    try:
        for _ in range(3):
            assert (await trusting.post(url, content=PAYLOAD, headers={}, timeout=10)).status_code == 200
        assert len(server.requests) == 3
    finally:
        await trusting.aclose()


def test_behind_a_proxy_the_connector_posts_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert isinstance(QlvbPushConnector().client, httpx.AsyncClient)


async def test_a_large_document_arrives_whole_written_in_slices(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(keep_alive)
    client = Http11Client()
    content = bytes(range(256)) * (12 * 1024)  # 3 MB: written slice by slice with flow control
    try:
        for _ in range(2):
            answer = await client.post(
                f"http://127.0.0.1:{server.port}/", content=content, headers={}, timeout=30
            )
            assert answer.status_code == 200
        assert [request.split(b"\r\n\r\n", 1)[1] == content for request in server.requests] == [True, True]
        assert server.connections == 1
    finally:
        await client.aclose()


async def test_an_answer_before_the_whole_body_is_read_is_the_answer(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    async def refuse_early(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large"
        )
        await writer.drain()

    server = await serve(refuse_early)
    connector = QlvbPushConnector()
    try:
        big = replace(job(f"http://127.0.0.1:{server.port}/"), payload=b"x" * (8 * 1024 * 1024))
        outcome = await connector.deliver(big)
        assert (outcome.kind, outcome.http_status) == (OutcomeKind.PERMANENT, 413)
    finally:
        await connector.close()
