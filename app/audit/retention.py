"""Retention (thời hạn lưu trữ): the bytes of documents older than `payload_retention_days` are
purged; their digests, the log entries and the proofs stay, so an evidence bundle of a purged
document still proves what was exchanged. Only documents whose deliveries are all settled are
purged, and every purge is itself an admin-log entry."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record_admin_action
from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.models import Delivery, DeliveryState, Document, Payload

log = logging.getLogger(__name__)

UNSETTLED = (
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.RETRYING,
    DeliveryState.AWAITING_PICKUP,
)
BATCH = 500


async def purge_payloads(session: AsyncSession, *, before: datetime, actor: str) -> int:
    """Empty the payloads of settled documents received before `before`; how many were purged."""
    unsettled = exists().where(Delivery.document_id == Document.id, Delivery.state.in_(UNSETTLED))
    old = select(Document.original_sha256, Document.sealed_sha256).where(
        Document.received_at < before, ~unsettled
    )
    digests: set[str] = set()
    for original, sealed in await session.execute(old):
        digests.update((original, sealed))
    if not digests:
        return 0
    # A payload still needed by a newer or unsettled document (the same bytes sent again) stays.
    keep = (
        select(Document.original_sha256)
        .where(or_(Document.received_at >= before, unsettled))
        .union(select(Document.sealed_sha256).where(or_(Document.received_at >= before, unsettled)))
    )
    needed = set(await session.scalars(keep))
    wanted = sorted(digests - needed)
    purged = 0
    now = utcnow()
    for start in range(0, len(wanted), BATCH):
        result = await session.execute(
            update(Payload)
            .where(Payload.sha256.in_(wanted[start : start + BATCH]), Payload.purged_at.is_(None))
            .values(content=b"", purged_at=now)
        )
        purged += result.rowcount  # type: ignore[attr-defined]
    if purged:
        record_admin_action(
            session,
            actor=actor,
            action="payloads.purge",
            target="payloads",
            purged=purged,
            before=before.isoformat(),
        )
    return purged


async def run_retention(database: Database, settings: Settings, *, interval: float = 3600.0) -> None:
    """Purge once an hour while the gateway runs."""
    assert settings.payload_retention_days
    while True:
        try:
            before = utcnow() - timedelta(days=settings.payload_retention_days)
            async with database.transaction() as session:
                purged = await purge_payloads(session, before=before, actor="system:retention")
            if purged:
                log.info("retention: purged %d payloads received before %s", purged, before.isoformat())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the next hour tries again
            log.warning("retention failed: %s: %s", type(error).__name__, error)
        await asyncio.sleep(interval)
