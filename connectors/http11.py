"""The worker's HTTP/1.1 client for pushing documents: kept-alive connections reused without a scan
of the pool on every request.

httpx (through httpcore) walks every pooled connection before and after each request and polls each
idle socket to see whether it expired: measured with bench/push.py (32 POSTs at a time), a third of
a POST's CPU went there, and half to anyio's stream layer. Here each origin keeps a stack of idle
connections; a request takes the most recently used one that is still open (the event loop has
already told us which the server closed), writes the request, and the response is parsed by
httptools (llhttp, as uvicorn uses).
A request that finds a reused connection closed under it before any answer came is sent once more
on a new connection (the receiver dedupes by Idempotency-Key; delivery is at-least-once anyway).

What it does not do, on purpose: redirects (an answer is an answer), proxies (the caller uses httpx
when the environment configures one), HTTP/2, request bodies other than bytes.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, unquote, urlsplit

import httptools
import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK = 256 * 1024  # a body larger than this is written in slices, with the socket's flow control
_PATH_SAFE = "/:@!$&'()*+,;=%-._~?#[]"


class InvalidEndpoint(ValueError):
    """A URL this client cannot send to (not http/https, no host, a control character)."""


class TransportFailure(ConnectionError):
    """No answer: the connection could not be made, or was lost before the whole answer came."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: the status, the headers (names lower-cased) and the body as text."""

    status_code: int
    headers: Mapping[str, str]
    text: str


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port
    head: bytes  # the request line and the Host (and Authorization) header lines


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise InvalidEndpoint(f"unsupported protocol {parts.scheme or '(none)'!r}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise InvalidEndpoint(str(error)) from None
    if not parts.hostname:
        raise InvalidEndpoint("no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidEndpoint(f"the host {parts.hostname!r} cannot be written in ASCII") from None
    # Written as httpx writes it: characters outside ASCII percent-encoded, the rest left alone.
    path = quote(parts.path or "/", safe=_PATH_SAFE) + (
        f"?{quote(parts.query, safe=_PATH_SAFE)}" if parts.query else ""
    )
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in host + path):
        raise InvalidEndpoint("a control character or a space in the URL")
    authority = f"[{host}]" if ":" in host else host
    if parts.port:
        authority += f":{port}"
    lines = [f"POST {path} HTTP/1.1", f"Host: {authority}"]
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(credentials).decode()}")
    head = "\r\n".join(lines) + "\r\n"
    return _Target((parts.scheme, host, port), head.encode("ascii"))


class _Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time."""

    def __init__(self, idle: list[_Connection]) -> None:
        self.idle = idle
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.answer: asyncio.Future[Answer] | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.started = False  # some of the answer came
        self.headers_done = False  # all of its headers came
        self.until_eof = False
        self.writable = asyncio.Event()
        self.writable.set()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's has the interface, not the class

    def data_received(self, data: bytes) -> None:
        self.started = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(TransportFailure(f"unreadable answer: {error}"))

    def eof_received(self) -> bool | None:
        # An answer without Content-Length or chunking ends with the connection.
        if self.answer is not None and not self.answer.done() and self.headers_done and self.until_eof:
            self.on_message_complete(keep_alive=False)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()
        if self in self.idle:
            self.idle.remove(self)
        self._fail(
            TransportFailure(
                f"the connection was closed: {exc}" if exc else "the server closed the connection"
            )
        )

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = self.parser.get_status_code() >= 200  # not an interim answer
        # Neither Content-Length nor chunked: the body ends with the connection.
        self.until_eof = "content-length" not in self.headers and "transfer-encoding" not in self.headers

    def on_body(self, body: bytes) -> None:
        if sum(map(len, self.body)) < 4096:  # the caller reads only the beginning
            self.body.append(body)

    def on_message_complete(self, *, keep_alive: bool | None = None) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self.headers, self.body, self.headers_done = {}, [], False
            return
        text = b"".join(self.body).decode("utf-8", errors="replace")
        reusable = self.parser.should_keep_alive() if keep_alive is None else keep_alive
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(Answer(status, self.headers, text))
        if not reusable:
            self.close()

    # requests

    async def send(self, head: bytes, content: bytes) -> Answer:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.headers, self.body, self.started, self.headers_done = {}, [], False, False
        try:
            if len(content) <= CHUNK:
                self.transport.write(head + content)
            else:
                # A large document goes in slices of itself, as fast as the socket takes them: the
                # transport never buffers a copy of the whole of it.
                self.transport.write(head)
                view = memoryview(content)
                for start in range(0, len(content), CHUNK):
                    await self.writable.wait()
                    if self.closed:
                        break  # the answer (or the failure) is already there
                    self.transport.write(view[start : start + CHUNK])
            return await self.answer
        finally:
            self.answer = None

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def _fail(self, error: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http11Client:
    """POSTs with kept-alive connections per origin; at most `max_connections` requests at once."""

    def __init__(self, *, max_connections: int = 100, tls: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._tls = tls  # made on first use when not given

    async def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109 - httpx.AsyncClient.post's signature: the connector calls either
    ) -> Answer:
        """Raises InvalidEndpoint, TimeoutError (no whole answer within `timeout` seconds, connecting
        included) or TransportFailure."""
        target = _target(url)
        if any(c in name + value for name, value in headers.items() for c in "\r\n\0"):
            raise InvalidEndpoint("a line break in a header")  # it would start a header of its own
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = b"".join([target.head, lines.encode("latin-1"), b"Content-Length: %d\r\n\r\n" % len(content)])
        async with self._slots, asyncio.timeout(timeout):
            idle = self._idle.setdefault(target.origin, [])
            while idle:
                connection = idle.pop()
                if connection.closed:
                    continue
                try:
                    return await self._exchange(connection, head, content, idle)
                except TransportFailure:
                    if connection.started:
                        raise
                    # A kept-alive connection the server closed as we reused it: once more, anew.
            return await self._exchange(await self._connect(target, idle), head, content, idle)

    async def _exchange(
        self, connection: _Connection, head: bytes, content: bytes, idle: list[_Connection]
    ) -> Answer:
        try:
            answer = await connection.send(head, content)
        except BaseException:
            connection.close()  # a timeout or a cancellation leaves the connection mid-answer
            raise
        if not connection.closed:
            idle.append(connection)
        return answer

    async def _connect(self, target: _Target, idle: list[_Connection]) -> _Connection:
        scheme, host, port = target.origin
        tls = self._tls_context() if scheme == "https" else None
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(idle), host, port, ssl=tls, server_hostname=host if tls else None
            )
        except (OSError, ssl.SSLError) as error:
            raise TransportFailure(f"cannot connect to {host}:{port}: {error}") from None
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        # httpx's default context: the same trust (certifi's bundle), host names checked.
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in list(idle):
                connection.close()
        self._idle.clear()
