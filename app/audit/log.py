"""Writing to the two append-only logs. Entries are added to the caller's session, so they commit or
roll back together with the change they describe."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AdminLogEntry, ExchangeLogEntry


class ExchangeEvent(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    STORED = "stored"
    ROUTED = "routed"
    DUPLICATE = "duplicate"


def record_exchange(
    session: AsyncSession,
    event: ExchangeEvent,
    *,
    document_id: str | None = None,
    delivery_id: str | None = None,
    agency_code: str | None = None,
    credential_id: str | None = None,
    sha256: str | None = None,
    **detail: Any,
) -> ExchangeLogEntry:
    entry = ExchangeLogEntry(
        event=event,
        document_id=document_id,
        delivery_id=delivery_id,
        agency_code=agency_code,
        credential_id=credential_id,
        sha256=sha256,
        detail=detail,
    )
    session.add(entry)
    return entry


def record_admin_action(
    session: AsyncSession, *, actor: str, action: str, target: str = "", **detail: Any
) -> AdminLogEntry:
    entry = AdminLogEntry(actor=actor, action=action, target=target, detail=detail)
    session.add(entry)
    return entry
