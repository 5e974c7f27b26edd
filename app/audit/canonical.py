"""The canonical bytes of a log entry: what a transparency-log leaf hashes.

An entry is written as one JSON object with these members, and nothing else:

- exchange log: `log` = "exchange_log", `id`, `at`, `event`, `document_id`, `delivery_id`,
  `agency_code`, `credential_id`, `sha256`, `detail`;
- admin log: `log` = "admin_log", `id`, `at`, `actor`, `action`, `target`, `detail`.

`at` is UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always six fraction digits); absent values are `null`;
`detail` is the entry's JSON object. Serialisation: keys sorted by code point at every level, no
whitespace (`,` and `:` separators), strings as UTF-8 without `\\u` escapes except those JSON
requires (`"`, `\\`, control characters), integers in decimal; no NaN or infinity. This is Python's
`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`
encoded as UTF-8, and, for the strings and integers the hub writes, RFC 8785 (JCS) as well.

The leaf hash is SHA-256(0x00 || canonical bytes) (RFC 9162 §2.1.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.audit.merkle import leaf_hash
from app.models import LogSource

EXCHANGE_FIELDS = (
    "id",
    "at",
    "event",
    "document_id",
    "delivery_id",
    "agency_code",
    "credential_id",
    "sha256",
)
ADMIN_FIELDS = ("id", "at", "actor", "action", "target")


def timestamp(value: datetime) -> str:
    """`at` as the canonical form writes it."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in a log entry")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_entry(source: LogSource | str, row: Mapping[Any, Any]) -> dict[str, Any]:
    """The entry as the JSON object its canonical bytes encode."""
    source = LogSource(source)
    fields = EXCHANGE_FIELDS if source is LogSource.EXCHANGE else ADMIN_FIELDS
    entry: dict[str, Any] = {"log": source.value}
    for name in fields:
        entry[name] = timestamp(row[name]) if name == "at" else row[name]
    entry["detail"] = dict(row["detail"] or {})
    return entry


def canonical_bytes(source: LogSource | str, row: Mapping[Any, Any]) -> bytes:
    return dumps(canonical_entry(source, row))


def entry_leaf_hash(source: LogSource | str, row: Mapping[Any, Any]) -> bytes:
    return leaf_hash(canonical_bytes(source, row))
