"""What auditors (and the console, which calls these and writes no SQL of its own) ask of the log:
search both logs with filters and keyset pagination, stream an export, one entry with its proof
status, a document's full trail, the latest checkpoint and the proofs.

Every search and export is itself recorded in the admin log by the caller (`record_audit_access`):
who looked at what.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agencies.codes import CodePattern, InvalidAgencyCode
from app.audit import merkle
from app.audit.canonical import ADMIN_FIELDS, EXCHANGE_FIELDS, canonical_bytes, canonical_entry
from app.audit.integrator import SOURCES
from app.audit.keys import log_verifier_key
from app.audit.log import record_admin_action
from app.audit.note import parse_checkpoint
from app.audit.tree import StoredCheckpoint, inclusion_proof, latest_checkpoint
from app.kit.db import Database, table_of
from app.kit.errors import BadRequest, NotFound
from app.models import Delivery, Document, LogLeaf, LogSource

MAX_PAGE = 500


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class EntryFilter:
    """The auditor's filters, the same for search, export and the console."""

    log: LogSource = LogSource.EXCHANGE
    since: datetime | None = None
    until: datetime | None = None
    agency: str | None = None  # an exact code, or `*.<groups>` for a subtree (`*.H62`: the province)
    document_id: str | None = None  # the hub's id or the edXML DocumentId
    event: str | None = None  # exchange: the event; admin: the action
    actor: str | None = None  # exchange: the credential id; admin: the actor
    code: str | None = None  # the document's số/ký hiệu: `12/QĐ-UBND`, or either part alone
    state: str | None = None  # a delivery state the entry's document has a delivery in

    def described(self) -> dict[str, str]:
        return {
            name: value.isoformat() if isinstance(value, datetime) else str(value)
            for name, value in self.__dict__.items()
            if value is not None
        }


@dataclass
class Entry:
    """One log entry as auditors see it: its canonical fields and its leaf index, once integrated."""

    log: LogSource
    fields: dict[str, Any]
    leaf_index: int | None

    def as_json(self) -> dict[str, Any]:
        return {**canonical_entry(self.log, self.fields), "leaf_index": self.leaf_index}


@dataclass
class Page:
    items: list[Entry]
    next_cursor: str | None


def _agency_condition(column: Any, agency: str) -> ColumnElement[bool]:
    try:
        pattern = CodePattern.parse(agency)
    except InvalidAgencyCode as error:
        raise BadRequest(f"agency: {error}") from None
    if pattern.specificity.exact:
        return column == agency  # type: ignore[no-any-return]
    suffix = agency[2:] if agency.startswith("*.") else ""
    if not suffix:
        return column.is_not(None)  # type: ignore[no-any-return]
    return or_(column == suffix, column.like(f"%.{suffix}"))


def _document_condition(table: Any, f: EntryFilter) -> list[ColumnElement[bool]]:
    """Conditions that need the entry's document (DocumentId, số/ký hiệu, delivery state)."""
    conditions: list[ColumnElement[bool]] = []
    documents = table_of(Document)
    if f.document_id:
        by_edxml = select(documents.c.id).where(documents.c.edxml_document_id == f.document_id)
        conditions.append(or_(table.c.document_id == f.document_id, table.c.document_id.in_(by_edxml)))
    if f.code:
        number, _, notation = f.code.partition("/")
        if notation:
            which = and_(documents.c.code_number == number, documents.c.code_notation == notation)
        else:
            which = or_(documents.c.code_number == f.code, documents.c.code_notation == f.code)
        conditions.append(table.c.document_id.in_(select(documents.c.id).where(which)))
    if f.state:
        deliveries = table_of(Delivery)
        conditions.append(
            exists().where(deliveries.c.document_id == table.c.document_id, deliveries.c.state == f.state)
        )
    return conditions


def _query(f: EntryFilter) -> Select[Any]:
    table = SOURCES[f.log]
    leaves = table_of(LogLeaf)
    query = select(table, leaves.c.leaf_index).outerjoin(
        leaves, and_(leaves.c.source == f.log.value, leaves.c.entry_id == table.c.id)
    )
    conditions: list[ColumnElement[bool]] = []
    if f.since:
        conditions.append(table.c.at >= f.since)
    if f.until:
        conditions.append(table.c.at < f.until)
    if f.log is LogSource.EXCHANGE:
        if f.agency:
            conditions.append(_agency_condition(table.c.agency_code, f.agency))
        if f.event:
            conditions.append(table.c.event == f.event)
        if f.actor:
            conditions.append(table.c.credential_id == f.actor)
        conditions += _document_condition(table, f)
    else:
        if f.agency or f.code or f.state:
            raise BadRequest("agency, code and state filter the exchange log only")
        if f.event:
            conditions.append(table.c.action == f.event)
        if f.actor:
            conditions.append(table.c.actor == f.actor)
        if f.document_id:
            conditions.append(table.c.target == f.document_id)
    return query.where(*conditions)


def check_filter(f: EntryFilter) -> None:
    """BadRequest for filters that cannot be applied: before a response starts streaming."""
    _query(f)


def _entry(log: LogSource, row: Any) -> Entry:
    mapping = row._mapping
    names = EXCHANGE_FIELDS if log is LogSource.EXCHANGE else ADMIN_FIELDS
    fields = {name: mapping[name] for name in names}
    fields["detail"] = mapping["detail"]
    index = mapping["leaf_index"]
    return Entry(log, fields, None if index is None else int(index))


def encode_cursor(log: LogSource, entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"{log.value}:{entry_id}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, log: LogSource) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        name, _, value = text.partition(":")
        number = int(value)
        if name != log.value or not 0 <= number < 2**62:
            raise ValueError
        return number
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor: not a cursor of this log (take next_cursor as given)") from None


async def search_entries(
    session: AsyncSession,
    f: EntryFilter,
    *,
    cursor: str | None = None,
    limit: int = 100,
    order: Order = Order.DESC,
) -> Page:
    """One page of entries, newest first by default; `next_cursor` continues after the last one."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit: between 1 and {MAX_PAGE}")
    table = SOURCES[f.log]
    query = _query(f)
    if cursor:
        after = decode_cursor(cursor, f.log)
        query = query.where(table.c.id < after if order is Order.DESC else table.c.id > after)
    query = query.order_by(table.c.id.desc() if order is Order.DESC else table.c.id).limit(limit + 1)
    rows = list(await session.execute(query))
    items = [_entry(f.log, row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items, encode_cursor(f.log, items[-1].fields["id"]) if more and items else None)


async def stream_entries(database: Database, f: EntryFilter, *, batch: int = 2000) -> AsyncIterator[Entry]:
    """Every matching entry, oldest first, in keyset batches: memory stays constant whatever the
    number of rows, and no connection is held between batches."""
    table = SOURCES[f.log]
    after: int | None = None
    while True:
        query = _query(f)
        if after is not None:
            query = query.where(table.c.id > after)
        async with database.reading() as session:
            rows = list(await session.execute(query.order_by(table.c.id).limit(batch)))
        for row in rows:
            yield _entry(f.log, row)
        if len(rows) < batch:
            return
        after = rows[-1]._mapping["id"]


CSV_COLUMNS = (
    "log",
    "id",
    "at",
    "event",
    "document_id",
    "delivery_id",
    "agency_code",
    "actor",
    "target",
    "sha256",
    "leaf_index",
    "detail",
)


def csv_row(entry: Entry) -> list[Any]:
    e = entry.as_json()
    exchange = entry.log is LogSource.EXCHANGE
    return [
        e["log"],
        e["id"],
        e["at"],
        e["event"] if exchange else e["action"],
        e.get("document_id") or "",
        e.get("delivery_id") or "",
        e.get("agency_code") or "",
        (e.get("credential_id") or "") if exchange else e["actor"],
        e.get("target") or "",
        e.get("sha256") or "",
        "" if e["leaf_index"] is None else e["leaf_index"],
        json.dumps(e["detail"], ensure_ascii=False, sort_keys=True),
    ]


async def export_lines(database: Database, f: EntryFilter, format: str) -> AsyncIterator[bytes]:
    """The export as CSV (with a header line) or JSON Lines, a chunk of lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if format == "csv":
        buffer.write("\ufeff")  # spreadsheet programs then read the Vietnamese as UTF-8
        writer.writerow(CSV_COLUMNS)
    count = 0
    async for entry in stream_entries(database, f):
        if format == "csv":
            writer.writerow(csv_row(entry))
        else:
            buffer.write(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def record_audit_access(
    session: AsyncSession, *, actor: str, action: str, f: EntryFilter, **more: Any
) -> None:
    """Who looked at what: one admin-log entry per search or export."""
    record_admin_action(
        session, actor=actor, action=action, target=f.log.value, filters=f.described(), **more
    )


@dataclass
class ProofStatus:
    """Where an entry stands in the transparency log (for the console's entry page)."""

    entry: Entry
    checkpoint_size: int | None = None
    proof: list[bytes] = field(default_factory=list)
    verified: bool = False
    reason: str = ""


async def entry_with_proof(session: AsyncSession, log: LogSource, entry_id: int) -> ProofStatus:
    """One entry, its leaf index and its inclusion proof to the latest checkpoint, checked here."""
    table = SOURCES[log]
    leaves = table_of(LogLeaf)
    row = (
        await session.execute(
            select(table, leaves.c.leaf_index, leaves.c.leaf_hash)
            .outerjoin(leaves, and_(leaves.c.source == log.value, leaves.c.entry_id == table.c.id))
            .where(table.c.id == entry_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no {log.value} entry {entry_id}")
    status = ProofStatus(_entry(log, row))
    index = status.entry.leaf_index
    if index is None:
        status.reason = "not integrated yet"
        return status
    checkpoint = await latest_checkpoint(session)
    if checkpoint is None or checkpoint.size <= index:
        status.reason = "integrated; the next checkpoint will cover it"
        return status
    status.checkpoint_size = checkpoint.size
    status.proof = await inclusion_proof(session, index, checkpoint.size)
    leaf = merkle.leaf_hash(canonical_bytes(log, status.entry.fields))
    try:
        merkle.verify_inclusion(index, checkpoint.size, leaf, status.proof, checkpoint.root)
    except merkle.ProofError as error:
        status.reason = str(error)
    else:
        status.verified = True
        status.reason = f"in the log signed at size {checkpoint.size}"
    return status


async def document_trail(session: AsyncSession, document_id: str) -> list[Entry]:
    """Every log entry about a document, oldest first: its intake, routing, every delivery state,
    its status messages (each is a document of its own, related to this one) and the admin actions
    on it or its deliveries."""
    documents = table_of(Document)
    deliveries = table_of(Delivery)
    related = [
        document_id,
        *await session.scalars(select(documents.c.id).where(documents.c.related_id == document_id)),
    ]
    delivery_ids = list(
        await session.scalars(select(deliveries.c.id).where(deliveries.c.document_id == document_id))
    )
    leaves = table_of(LogLeaf)
    entries: list[Entry] = []
    for log, table, condition in (
        (
            LogSource.EXCHANGE,
            SOURCES[LogSource.EXCHANGE],
            SOURCES[LogSource.EXCHANGE].c.document_id.in_(related),
        ),
        (
            LogSource.ADMIN,
            SOURCES[LogSource.ADMIN],
            SOURCES[LogSource.ADMIN].c.target.in_(related + delivery_ids),
        ),
    ):
        rows = await session.execute(
            select(table, leaves.c.leaf_index)
            .outerjoin(leaves, and_(leaves.c.source == log.value, leaves.c.entry_id == table.c.id))
            .where(condition)
            .order_by(table.c.id)
        )
        entries += [_entry(log, row) for row in rows]
    entries.sort(key=lambda e: (e.fields["at"], e.log.value, e.fields["id"]))
    return entries


async def checkpoint_note(session: AsyncSession) -> StoredCheckpoint:
    checkpoint = await latest_checkpoint(session)
    if checkpoint is None:
        raise NotFound("the log has no checkpoint yet")
    return checkpoint


async def published_log_key(session: AsyncSession) -> str:
    key = await log_verifier_key(session)
    if key is None:
        raise NotFound("the log has no key yet (it is made with the first checkpoint)")
    return key


def checkpoint_size(note: str) -> int:
    return parse_checkpoint(note)[0].size


def b64(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]
