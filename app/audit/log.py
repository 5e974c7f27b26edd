"""Writing to the two append-only logs. Entries are written in the caller's transaction, so they
commit or roll back together with the change they describe."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.db import table_of
from app.models import AdminLogEntry, ExchangeLogEntry


class ExchangeEvent(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    STORED = "stored"
    ROUTED = "routed"
    DUPLICATE = "duplicate"
    DELIVERY_STATE = "delivery-state"  # a delivery changed state: detail has from, to, reason
    PICKUP_PROCESSING = "pickup-processing"  # the recipient's system is working on a parked delivery
    PICKUP_OVERDUE = "pickup-overdue"  # a parked delivery was not picked up in time (an alert)


def exchange_entry(
    event: ExchangeEvent,
    *,
    at: datetime | None = None,
    document_id: str | None = None,
    delivery_id: str | None = None,
    agency_code: str | None = None,
    credential_id: str | None = None,
    sha256: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """One exchange-log row, to be written with `append_exchange`."""
    return {
        "at": at or utcnow(),
        "event": event.value,
        "document_id": document_id,
        "delivery_id": delivery_id,
        "agency_code": agency_code,
        "credential_id": credential_id,
        "sha256": sha256,
        "detail": detail,
    }


async def append_exchange(session: AsyncSession, *entries: dict[str, Any]) -> None:
    """Write exchange-log rows in one statement."""
    await session.execute(insert(table_of(ExchangeLogEntry)), list(entries))


def record_admin_action(
    session: AsyncSession, *, actor: str, action: str, target: str = "", **detail: Any
) -> AdminLogEntry:
    entry = AdminLogEntry(actor=actor, action=action, target=target, detail=detail)
    session.add(entry)
    return entry
