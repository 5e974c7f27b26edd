"""`qlvb-push`: POST the sealed edXML to the recipient agency's QLVB endpoint.

The body is streamed from storage a slice at a time, with its Content-Length: a 50 MB document is
never held whole by the worker. Every attempt carries the delivery id as `Idempotency-Key`, so a
receiver can recognise a repeat (delivery is at-least-once), and the document's metadata in headers
(non-ASCII values percent-encoded). 2xx is delivered; connection errors, timeouts, 408, 429, 5xx and
a payload slice that cannot be read are worth another try later (honouring Retry-After); any other
answer will not change by retrying. Redirects are not followed (a 3xx is such an answer).

The client is aiohttp's: one session whose connections to each receiver are kept alive and reused.
Measured against httpx with the same receiver (bench/http_clients.py), it spends a tenth of the CPU
per POST; httpx's pool checks every idle connection on each request. A POST whose kept-alive
connection the receiver closed as it went out is sent again at once, in the same attempt (a
receiver may therefore see an attempt's number twice, with the same Idempotency-Key). Of an
answer, only the status, the headers (aiohttp's limits: 8 KB a line, 128 fields) and the first
`ANSWER_PREVIEW_BYTES` of a refusal's body are read: a receiver cannot make the worker hold a large
answer.
"""

from __future__ import annotations

import functools
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import aiohttp
import httpx
from yarl import URL

from app.documents.payloads import PayloadUnavailable
from connectors.base import Job, Outcome, OutcomeKind

TRANSIENT_STATUSES = frozenset({408, 429})
ANSWER_PREVIEW_BYTES = 200  # of a refusal's body, for the attempt's error


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(status: int, *, retry_after: str | None = None, text: str = "") -> Outcome:
    """The outcome of an answer: its status, its Retry-After header and the start of its body."""
    if 200 <= status < 300:
        return Outcome(OutcomeKind.DELIVERED, http_status=status)
    error = f"HTTP {status}: {text}"
    if status in TRANSIENT_STATUSES or status >= 500:
        return Outcome(
            OutcomeKind.TRANSIENT,
            http_status=status,
            error=error,
            retry_after=retry_after_seconds(retry_after),
        )
    return Outcome(OutcomeKind.PERMANENT, http_status=status, error=error)


@functools.cache
def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy for a receiver, from HTTP(S)_PROXY and NO_PROXY, looked up once per receiver: with
    `trust_env` aiohttp reads the environment and ~/.netrc again for every request (5% of the
    worker's CPU)."""
    proxies = urllib.request.getproxies_environment()
    if urllib.request.proxy_bypass(host):  # NO_PROXY (on Linux, the environment only)
        return None
    return proxies.get(scheme)


class QlvbPushConnector:
    name = "qlvb-push"
    needs_payload = True

    def __init__(self, *, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The session, opened on first use (aiohttp binds it to the running event loop)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                # The same trust as the hub's other clients: certifi's roots, or SSL_CERT_FILE/_DIR.
                ssl=httpx.create_ssl_context(),
            )
            # HTTP(S)_PROXY and NO_PROXY are honoured (`_proxy_for`), as they were with httpx.
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def deliver(self, job: Job) -> Outcome:
        if not job.endpoint:
            return Outcome(OutcomeKind.PERMANENT, error=f"{job.recipient_code} has no delivery endpoint")
        assert job.payload is not None
        headers = {
            "Content-Type": "application/xml",
            "Content-Length": str(job.payload.size),  # streamed from storage, with its length
            "Idempotency-Key": job.delivery_id,
            "X-Lienthong-Document": job.document_id,
            "X-Lienthong-Message-Type": job.message_type,  # edoc, or status for a status message
            "X-Lienthong-Edxml-Document-Id": quote(job.edxml_document_id, safe=",/"),
            "X-Lienthong-Sender": job.sender_code,
            "X-Lienthong-Recipient": job.recipient_code,
            "X-Lienthong-Attempt": str(job.attempt),
        }
        try:
            try:
                return await self._post(job.endpoint, job, headers)
            except aiohttp.ServerDisconnectedError:
                # The receiver closed a kept-alive connection just as this request went out on it
                # (its idle timeout, 5 s on Apache and uvicorn, ran out in that moment). aiohttp resends
                # only idempotent methods; the Idempotency-Key makes this POST one: once more, at once.
                return await self._post(job.endpoint, job, headers)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as error:
            return Outcome(
                OutcomeKind.PERMANENT, error=f"bad endpoint {job.endpoint!r} ({type(error).__name__})"
            )
        except TimeoutError:
            return Outcome(OutcomeKind.TRANSIENT, error=f"no answer within {job.timeout_seconds:g} s")
        except (aiohttp.ClientError, PayloadUnavailable) as error:
            return Outcome(OutcomeKind.TRANSIENT, error=f"{type(error).__name__}: {error}")

    async def _post(self, endpoint: str, job: Job, headers: dict[str, str]) -> Outcome:
        assert job.payload is not None
        # As httpx's timeout was: for a connection (a free one from the pool, or a new one), and for
        # each read of the answer; the worker's attempt deadline bounds the whole.
        timeout = aiohttp.ClientTimeout(
            total=None, connect=job.timeout_seconds, sock_read=job.timeout_seconds
        )
        url = URL(endpoint)
        async with self._client().post(
            url,
            proxy=_proxy_for(url.scheme, url.host or ""),
            data=job.payload.chunks(),
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            if 200 <= response.status < 300:  # the body is not read: the status says it all
                return classify(response.status)
            preview = await response.content.read(ANSWER_PREVIEW_BYTES)
            return classify(
                response.status,
                retry_after=response.headers.get("Retry-After"),
                text=preview.decode(errors="replace"),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
