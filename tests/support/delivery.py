"""What delivery tests share: fresh documents to send, and reading deliveries back from the database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import count, pairwise
from typing import Any

from sqlalchemy import Row, insert, text

from app.edxml import DocumentSpec, build_document
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.ids import new_id
from app.models import Delivery, DeliveryState, Document, Payload
from support.hub import SENDER

_numbers = count(9000)


def document(*recipients: str) -> bytes:
    """A new document (fresh CodeNumber, so a fresh DocumentId) from the demo sender."""
    return build_document(
        DocumentSpec(
            sender=SENDER,
            recipients=list(recipients),
            code_number=str(next(_numbers)),
            code_notation="VP-SC",
            subject="V/v chuyển văn bản điện tử qua trục liên thông",
            promulgation_date=date(2026, 11, 20),
            attachments=[("Văn bản.pdf", "application/pdf", b"%PDF-1.4 delivery")],
        )
    )


async def rows(database: Database, sql: str, **params: object) -> list[Row[Any]]:
    async with database.reading() as session:
        return list(await session.execute(text(sql), params))


async def set_endpoint(database: Database, code: str, url: str) -> None:
    """The agency receives by QLVB push at `url` (routing picks `qlvb-push` for it)."""
    async with database.transaction() as session:
        await session.execute(
            text("UPDATE agencies SET endpoint = :u WHERE code = :c"), {"u": url, "c": code}
        )


async def states(database: Database, ids: Sequence[str]) -> dict[str, str]:
    found = await rows(database, "SELECT id, state FROM deliveries")
    return {row.id: row.state for row in found if row.id in ids}


async def all_in(database: Database, ids: Sequence[str], *wanted: str) -> bool:
    current = await states(database, ids)
    return len(current) == len(ids) and all(state in wanted for state in current.values())


async def attempts(database: Database, delivery_id: str) -> list[tuple[int, str | None, int | None]]:
    found = await rows(
        database,
        "SELECT number, outcome, http_status, ended_at FROM attempts WHERE delivery_id = :d ORDER BY number",
        d=delivery_id,
    )
    assert all(row.ended_at is not None for row in found), "an attempt was left open"
    return [(row.number, row.outcome, row.http_status) for row in found]


async def history(database: Database, delivery_id: str) -> list[Row[Any]]:
    return await rows(
        database,
        "SELECT from_state, to_state, reason FROM delivery_events WHERE delivery_id = :d ORDER BY id",
        d=delivery_id,
    )


async def delivery(database: Database, delivery_id: str) -> Row[Any]:
    [row] = await rows(database, "SELECT * FROM deliveries WHERE id = :d", d=delivery_id)
    return row


async def direct_deliveries(
    database: Database, count: int, *, state: DeliveryState = DeliveryState.QUEUED
) -> list[str]:
    """`count` deliveries of one document, due now, written directly (no gateway is running); returns
    their ids."""
    now = utcnow()
    document_id, ids = new_id(), [new_id() for _ in range(count)]
    async with database.transaction() as session:
        await session.execute(
            insert(Payload),
            [{"sha256": document_id.ljust(64, "0"), "size": 1, "content": b"x", "created_at": now}],
        )
        await session.execute(
            insert(Document),
            [
                {
                    "id": document_id,
                    "edxml_document_id": document_id,
                    "business_type": 0,
                    "sender_code": "000.00.01.H62",
                    "subject": "s",
                    "code_number": "1",
                    "code_notation": "X",
                    "received_at": now,
                    "original_sha256": document_id.ljust(64, "0"),
                    "sealed_sha256": document_id.ljust(64, "0"),
                    "sender_signature": "absent",
                }
            ],
        )
        await session.execute(
            insert(Delivery),
            [
                {
                    "id": delivery_id,
                    "document_id": document_id,
                    "recipient_code": f"R{n:05d}",
                    "connector": "inbox",
                    "state": state.value,
                    "attempt_count": 0,
                    "next_attempt_at": now - timedelta(seconds=1),
                    "created_at": now,
                    "updated_at": now,
                }
                for n, delivery_id in enumerate(ids)
            ],
        )
    return ids


async def untruthful_histories(database: Database, ids: Sequence[str] | None = None) -> list[str]:
    """What is wrong with the recorded histories (all deliveries, or `ids`); empty when each is one
    unbroken chain of transitions from `queued` to the delivery's current state, never leaving a
    settled end (delivered, discarded), and the exchange log tells the same transitions in the same
    order."""
    wanted = None if ids is None else set(ids)
    current = {r.id: r.state for r in await rows(database, "SELECT id, state FROM deliveries")}
    events: dict[str, list[tuple[str | None, str]]] = {key: [] for key in current}
    for r in await rows(
        database, "SELECT delivery_id, from_state, to_state FROM delivery_events ORDER BY id"
    ):
        events[r.delivery_id].append((r.from_state, r.to_state))
    logged: dict[str, list[tuple[str | None, str]]] = {key: [] for key in current}
    for r in await rows(
        database, "SELECT delivery_id, detail FROM exchange_log WHERE event = 'delivery-state' ORDER BY id"
    ):
        detail = r.detail if isinstance(r.detail, dict) else json.loads(r.detail)
        logged[r.delivery_id].append((detail["from_state"], detail["to_state"]))
    problems: list[str] = []
    for key, state in current.items():
        if wanted is not None and key not in wanted:
            continue
        chain = events[key]
        if not chain or chain[0] != (None, "queued"):
            problems.append(f"{key}: does not start queued: {chain[:1]}")
            continue
        for (_, before), (after_from, after_to) in pairwise(chain):
            if after_from != before:
                problems.append(f"{key}: {after_from} -> {after_to} recorded while it was {before}")
            if before in ("delivered", "discarded"):
                problems.append(f"{key}: left {before} for {after_to}")
        if chain[-1][1] != state:
            problems.append(f"{key}: history ends {chain[-1][1]}, the delivery is {state}")
        if logged[key] != chain[1:]:
            problems.append(f"{key}: the exchange log says {logged[key]}, the history {chain[1:]}")
    return problems


@dataclass(frozen=True)
class BytesPayload:
    """A payload held in memory for connector tests, sent as the worker sends a stored one: its size,
    its SHA-256 and its slices (`app.documents.payloads.Body`)."""

    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.content), 1000):
            yield self.content[start : start + 1000]
