"""`qlvb-push`: POST the sealed edXML to the recipient agency's QLVB endpoint.

Every attempt carries the delivery id as `Idempotency-Key`, so a receiver can recognise a repeat
(delivery is at-least-once), and the document's metadata in headers (non-ASCII values
percent-encoded). 2xx is delivered; connection errors, timeouts, 408, 429 and 5xx are worth another
try later (honouring Retry-After); any other answer will not change by retrying.

The POSTs go through the worker's own HTTP/1.1 client (`connectors.http11`: kept-alive connections
reused without httpx's per-request pool scan); through httpx when the environment configures a proxy
(HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), which httpx honours and the light client does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import quote
from urllib.request import getproxies

import httpx

from connectors.base import Job, Outcome, OutcomeKind
from connectors.http11 import Http11Client, InvalidEndpoint, TransportFailure

TRANSIENT_STATUSES = frozenset({408, 429})


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


class Answer(Protocol):
    """What `classify` reads of an answer: an httpx.Response or a connectors.http11.Answer."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...


def classify(response: Answer) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(OutcomeKind.DELIVERED, http_status=status)
    error = f"HTTP {status}: {response.text[:200]}"
    if status in TRANSIENT_STATUSES or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        return Outcome(OutcomeKind.TRANSIENT, http_status=status, error=error, retry_after=retry_after)
    return Outcome(OutcomeKind.PERMANENT, http_status=status, error=error)


class QlvbPushConnector:
    name = "qlvb-push"
    needs_payload = True

    def __init__(self, *, max_connections: int = 100) -> None:
        self.client: Http11Client | httpx.AsyncClient
        if any(scheme in getproxies() for scheme in ("http", "https", "all")):
            self.client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
                follow_redirects=False,
            )
        else:
            # One client for every endpoint: connections to each receiver are kept and reused.
            self.client = Http11Client(max_connections=max_connections)

    async def deliver(self, job: Job) -> Outcome:
        if not job.endpoint:
            return Outcome(OutcomeKind.PERMANENT, error=f"{job.recipient_code} has no delivery endpoint")
        assert job.payload is not None
        headers = {
            "Content-Type": "application/xml",
            "Idempotency-Key": job.delivery_id,
            "X-Lienthong-Document": job.document_id,
            "X-Lienthong-Message-Type": job.message_type,  # edoc, or status for a status message
            "X-Lienthong-Edxml-Document-Id": quote(job.edxml_document_id, safe=",/"),
            "X-Lienthong-Sender": job.sender_code,
            "X-Lienthong-Recipient": job.recipient_code,
            "X-Lienthong-Attempt": str(job.attempt),
        }
        try:
            response = await self.client.post(
                job.endpoint, content=job.payload, headers=headers, timeout=job.timeout_seconds
            )
        except (InvalidEndpoint, httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            return Outcome(OutcomeKind.PERMANENT, error=f"bad endpoint {job.endpoint!r}: {error}")
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(OutcomeKind.TRANSIENT, error=f"no answer within {job.timeout_seconds:g} s")
        except (TransportFailure, httpx.TransportError) as error:
            return Outcome(OutcomeKind.TRANSIENT, error=f"{type(error).__name__}: {error}")
        return classify(response)

    async def close(self) -> None:
        await self.client.aclose()
