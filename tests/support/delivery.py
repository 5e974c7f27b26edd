"""What delivery tests share: fresh documents to send, and reading deliveries back from the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import count
from typing import Any

from sqlalchemy import Row, text

from app.edxml import DocumentSpec, build_document
from app.kit.db import Database
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
