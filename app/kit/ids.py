"""Identifiers.

Hub ids are UUIDv7-shaped (time-ordered) so that new rows land at the end of PostgreSQL indexes and
ids sort by creation time, which cursors over the inbox rely on.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def id_floor(millis: int) -> str:
    """The smallest id `new_id()` can give at `millis` (milliseconds since the epoch): ids made at
    or after that moment sort at or above it, earlier ones below, so a time range over rows with
    such ids is a range over their primary key."""
    return str(uuid.UUID(int=(millis & ((1 << 48) - 1)) << 80))
