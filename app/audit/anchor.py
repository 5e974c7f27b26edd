"""RFC 3161 timestamps on checkpoints (neo thời gian), from the configured TSA, never in the way of
exchange.

The anchoring loop asks the TSA to timestamp the latest checkpoint that has none; older checkpoints
need no token of their own: each is consistent with the anchored one after it. When the TSA fails,
nothing waits on it: the loop logs a warning, tries again later, and the time since the oldest
checkpoint left unanchored is exported as `lienthong_log_unanchored_seconds` (0 when all is
anchored), for alerting. Tokens are stored as the TSA's whole TimeStampResp (DER, a `.tsr` file).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime

import httpx
from rfc3161_client import HashAlgorithm, PKIStatus, TimestampRequestBuilder, decode_timestamp_response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.models import LogCheckpoint, LogTimestamp

log = logging.getLogger(__name__)

METRIC = "lienthong_log_unanchored_seconds"


class AnchorError(Exception):
    """The TSA did not give a usable timestamp, with the reason."""


async def request_timestamp(client: httpx.AsyncClient, url: str, message: bytes) -> bytes:
    """A TimeStampResp (DER) from the TSA over SHA-256(message), checked to be granted, over this
    message and with our nonce."""
    request = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    try:
        answer = await client.post(
            url, content=request.as_bytes(), headers={"Content-Type": "application/timestamp-query"}
        )
    except httpx.HTTPError as error:
        raise AnchorError(f"the TSA does not answer: {type(error).__name__}") from None
    if answer.status_code != 200:
        raise AnchorError(f"the TSA answered HTTP {answer.status_code}")
    try:
        response = decode_timestamp_response(answer.content)
    except ValueError as error:
        raise AnchorError(f"unreadable TSA answer: {error}") from None
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise AnchorError(f"the TSA refused: status {response.status}")
    info = response.tst_info
    if info.message_imprint.message != hashlib.sha256(message).digest():
        raise AnchorError("the TSA timestamped another message")
    if info.nonce != request.nonce:
        raise AnchorError("the TSA's answer carries another nonce")
    return answer.content


def timestamp_time(token: bytes) -> datetime:
    """When the TSA says it saw the message."""
    return decode_timestamp_response(token).tst_info.gen_time


async def unanchored_since(session: AsyncSession) -> datetime | None:
    """Creation time of the oldest checkpoint newer than the latest anchored one; None if every
    checkpoint is covered (or there is none)."""
    anchored = await session.scalar(select(func.max(LogTimestamp.checkpoint_size)))
    query = select(func.min(LogCheckpoint.created_at))
    if anchored is not None:
        query = query.where(LogCheckpoint.size > anchored)
    return await session.scalar(query)


class AnchorState:
    """What the metric reads: since when the log has had a checkpoint without a timestamp."""

    def __init__(self) -> None:
        self.since: datetime | None = None
        self.last_error: str | None = None

    def unanchored_seconds(self) -> float:
        return 0.0 if self.since is None else max(0.0, (utcnow() - self.since).total_seconds())


_STATE = AnchorState()


def unanchored_seconds() -> float:
    """`lienthong_log_unanchored_seconds`: for /metrics (0 when anchoring is off or caught up)."""
    return _STATE.unanchored_seconds()


def _register_metric() -> None:
    try:
        from prometheus_client import REGISTRY, Gauge
    except ImportError:  # pragma: no cover - prometheus_client is a dependency
        return
    if METRIC in getattr(REGISTRY, "_names_to_collectors", {}):
        return
    gauge = Gauge(
        METRIC, "Seconds since the oldest checkpoint without an RFC 3161 timestamp (0: all anchored)"
    )
    gauge.set_function(unanchored_seconds)


_register_metric()


async def anchor_once(database: Database, client: httpx.AsyncClient, settings: Settings) -> bool:
    """Timestamp the latest checkpoint if it has no token; True if one was stored."""
    async with database.reading() as session:
        latest = await session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1))
        if latest is None or await session.get(LogTimestamp, latest.size) is not None:
            _STATE.since = await unanchored_since(session)
            return False
    token = await request_timestamp(client, settings.audit_tsa_url, latest.note.encode("utf-8"))
    async with database.transaction() as session:
        session.add(LogTimestamp(checkpoint_size=latest.size, token=token, tsa_url=settings.audit_tsa_url))
    async with database.reading() as session:
        _STATE.since = await unanchored_since(session)
    return True


class Anchoring:
    """The loop: anchor every `audit_checkpoint_seconds`; failures are logged and retried."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.state = _STATE

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.settings.audit_tsa_timeout_seconds) as client:
            while True:
                try:
                    await anchor_once(self.database, client, self.settings)
                    self.state.last_error = None
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the TSA or the database: exchange is not concerned
                    self.state.last_error = f"{type(error).__name__}: {error}"
                    async with self.database.reading() as session:
                        self.state.since = await unanchored_since(session)
                    log.warning(
                        "checkpoint not anchored (chưa đóng dấu thời gian): %s; not anchored for %.0f s",
                        self.state.last_error,
                        self.state.unanchored_seconds(),
                    )
                await asyncio.sleep(self.settings.audit_checkpoint_seconds)
