"""The HTTP edge: limits every request meets before any route runs (docs/security.md).

`EdgeGuard` is a small ASGI middleware that refuses, as problem+json:

- a request with more than `max_header_count` headers, or headers larger than `max_header_bytes`
  in all (431) — the server (`lienthong serve` runs uvicorn on h11 with the same byte limit) refuses
  a larger header block before it is even held in memory;
- a request from a client address that already has `max_requests_per_client` requests in progress
  (429 with Retry-After); the operator's probes (`/healthz`, `/readyz`, `/metrics`) are not counted,
  so they keep answering while a client floods the hub;
- a body whose next part does not arrive within `receive_timeout` seconds (408): a client that
  promises a Content-Length it never sends no longer holds a request open forever;
- a NUL character in the path or the query (400), which PostgreSQL cannot take as text.

A reverse proxy in front should add what a process cannot do for itself: TLS, a timeout on
receiving the headers, a cap on connections per client, and the client's address in
X-Forwarded-For (uvicorn trusts it from the addresses in `--forwarded-allow-ips`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.errors import (
    BadRequest,
    HeadersTooLarge,
    HubError,
    Problem,
    RequestTimeout,
    TooManyRequests,
    problem_response,
)

OPERATOR_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class EdgeGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_count: int,
        max_header_bytes: int,
        receive_timeout: float,
        max_requests_per_client: int,
        uncounted_paths: Collection[str] = OPERATOR_PATHS,
        answers: Mapping[str, Callable[[HubError], Response]] | None = None,
    ) -> None:
        self.app = app
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes
        self.receive_timeout = receive_timeout
        self.max_requests_per_client = max_requests_per_client
        self.uncounted_paths = uncounted_paths
        # Paths (by prefix) whose protocol answers refusals in its own shape, not problem+json.
        self.answers = dict(answers or {})
        self.in_progress: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > self.max_header_count:
            await self._refuse(
                HeadersTooLarge(f"{len(headers)} headers; at most {self.max_header_count} are accepted"),
                scope,
                receive,
                send,
            )
            return
        size = sum(len(name) + len(value) for name, value in headers)
        if size > self.max_header_bytes:
            await self._refuse(
                HeadersTooLarge(f"{size} bytes of headers; at most {self.max_header_bytes} are accepted"),
                scope,
                receive,
                send,
            )
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            # PostgreSQL cannot store or compare text with NUL: refused here, for every route at once.
            error = BadRequest(
                "the request's path or query holds a NUL character",
                [Problem("/", "nul-character", "remove the NUL (%00) character")],
            )
            await self._refuse(error, scope, receive, send)
            return
        if scope["path"] in self.uncounted_paths:
            await self.app(scope, self._timed(receive), send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        count = self.in_progress.get(client, 0)
        if count >= self.max_requests_per_client:
            await self._refuse(
                TooManyRequests(
                    f"this address already has {count} requests in progress; "
                    f"at most {self.max_requests_per_client} at once",
                    retry_after=1,
                ),
                scope,
                receive,
                send,
            )
            return
        self.in_progress[client] = count + 1
        try:
            await self.app(scope, self._timed(receive), send)
        finally:
            left = self.in_progress[client] - 1
            if left:
                self.in_progress[client] = left
            else:
                del self.in_progress[client]

    def _timed(self, receive: Receive) -> Receive:
        """`receive` with a deadline on each part of the body, until the body is complete (after
        that the app only listens for a disconnect, which may rightly take as long as a response)."""
        body_complete = False
        timeout = self.receive_timeout

        async def timed_receive() -> Message:
            nonlocal body_complete
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"no part of the request body arrived within {timeout:g} s; send the body as "
                    "its Content-Length promises"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        return timed_receive

    async def _refuse(self, error: HubError, scope: Scope, receive: Receive, send: Send) -> None:
        answer = next((a for prefix, a in self.answers.items() if scope["path"].startswith(prefix)), None)
        response = answer(error) if answer is not None else problem_response(error, Request(scope))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
