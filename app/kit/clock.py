"""Time: the hub stores UTC; edXML dates and timestamps are Vietnam local time (UTC+7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7), "ICT")


def utcnow() -> datetime:
    return datetime.now(UTC)


def vietnam_now() -> datetime:
    return datetime.now(VIETNAM)
