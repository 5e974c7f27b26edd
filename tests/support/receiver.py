"""A QLVB receiver on 127.0.0.1 for tests: records every arrival and answers as scripted.

with Receiver() as qlvb:                 # a real HTTP server in a background thread
    qlvb.script("/a", [503, 503, 503])   # then 200 for ever
    ... qlvb.url("/a") is the agency's endpoint ...
    qlvb.wait_for(lambda arrivals: len(arrivals) >= 4, timeout=30)
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from support.processes import free_port


@dataclass(frozen=True)
class Arrival:
    path: str
    idempotency_key: str
    headers: dict[str, str]
    body: bytes  # empty when the receiver keeps no bodies
    at: float  # time.monotonic()
    status: int
    sha256: str  # of the body
    client_port: int = 0  # the connection it came on


@dataclass(frozen=True)
class Answer:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None: "ok", or "not now" for a refusal
    delay: float = 0.0


class Receiver:
    def __init__(self, *, keep_bodies: bool = True) -> None:
        self.keep_bodies = keep_bodies  # False: only each body's SHA-256 (a large document's test)
        self.port = free_port()
        self.arrivals: list[Arrival] = []
        self._scripts: dict[str, deque[int]] = defaultdict(deque)
        self._retry_after: dict[str, str] = {}
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def url(self, path: str = "/edxml") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, statuses: list[int], *, retry_after: str | None = None) -> None:
        """Answer these statuses to the next requests on `path`, then 200."""
        with self._lock:
            self._scripts[path].extend(statuses)
            if retry_after is not None:
                self._retry_after[path] = retry_after

    def answer(
        self,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer every request on `path` with these headers and this body, `delay` seconds late."""
        with self._lock:
            self._answers[path] = Answer(headers or {}, body, delay)

    def at(self, path: str) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.path == path]

    def wait_for(self, condition: Callable[[list[Arrival]], bool], *, timeout: float = 30.0) -> list[Arrival]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.arrivals)
            if condition(snapshot):
                return snapshot
            time.sleep(0.02)  # polling interval of the wait
        raise TimeoutError(
            f"the receiver's condition did not hold within {timeout} s ({len(self.arrivals)} arrivals)"
        )

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        chunks, digest = [], hashlib.sha256()
        while True:
            message = await receive()
            digest.update(message.get("body", b""))
            if self.keep_bodies:
                chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            status = self._scripts[path].popleft() if self._scripts[path] else 200
            self.arrivals.append(
                Arrival(
                    path,
                    headers.get("idempotency-key", ""),
                    headers,
                    body,
                    time.monotonic(),
                    status,
                    digest.hexdigest(),
                    scope["client"][1],
                )
            )
            retry_after = self._retry_after.get(path)
            answer = self._answers.get(path, Answer())
        response_headers = [(b"content-type", b"text/plain")]
        if retry_after and status in (429, 503):
            response_headers.append((b"retry-after", retry_after.encode()))
        response_headers += [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        if answer.delay:
            await asyncio.sleep(answer.delay)  # the scripted slowness itself, not a synchronisation
        default_body = b"ok" if status < 300 else b"not now"
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send(
            {"type": "http.response.body", "body": default_body if answer.body is None else answer.body}
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


async def until(condition: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Wait (asynchronously) until `condition()` (sync or async) is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
