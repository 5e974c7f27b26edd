"""Payloads (a message's bytes as received and as sealed): written into storage and read back
without holding a large one more often than needed.

Written with the rest of the message (`payload_writes`), a large payload a slice at a time: on
PostgreSQL by COPY, hex-encoded as it is sent (asyncpg encodes an INSERT's parameter whole, and holds
a 48 MB payload about three times over while doing it); on SQLite inserted as a `zeroblob` and
filled by incremental blob I/O (a bound parameter is copied twice: the binding and the record).

Where the bytes only pass through the hub — a push to a QLVB, a send to the national axis, the
inbox download — they are read a slice at a time (`StoredPayload.chunks`, each slice in its own
short read: `substr` of the bytea on PostgreSQL, which reads only the slice's TOAST chunks;
incremental blob I/O on SQLite) and written out as they come: the process holds a slice per
transfer, never the whole document, and no copy per recipient (a payload smaller than a slice is
read with the worker's claim instead, `HeldPayload`). Read whole (`payload`) only where
the answer is the whole thing at once: the /vxp getEdoc answer (base64 in JSON).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy import LargeBinary, Select, case, func, insert, make_url, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import Database, one_of, table_of
from app.kit.errors import HubError, NotFound
from app.models import Payload

#: Bytes read per slice: 48 round trips for a 48 MiB document, a few milliseconds of CPU in all.
#: Also the size from which PostgreSQL gets a payload by COPY.
CHUNK_BYTES = 1024 * 1024
_COLUMNS = ("sha256", "size", "content", "created_at", "purged_at")


def payload_writes(
    database: Database, payloads: Mapping[str, bytes], *, at: datetime
) -> tuple[list[dict[str, Any]], Callable[[AsyncSession], Awaitable[None]] | None]:
    """How a message's payloads (digest -> bytes) are stored with the rest of it: the rows the
    store's statement inserts, and the writing of the large ones a slice at a time, to run first in
    the same transaction (`Database.write_at_once(first=...)`; None when there is none)."""
    large = {d: c for d, c in payloads.items() if len(c) >= CHUNK_BYTES}
    rows = [
        {"sha256": digest, "size": len(content), "content": content, "created_at": at}
        for digest, content in payloads.items()
        if digest not in large
    ]
    if not large:
        return rows, None
    write = _copy if database.is_postgres else _fill_blobs

    async def write_large(session: AsyncSession) -> None:
        await write(session, large, at=at)

    return rows, write_large


async def _copy(session: AsyncSession, payloads: Mapping[str, bytes], *, at: datetime) -> None:
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter begins the transaction with the first statement it runs.
        await connection.exec_driver_sql("SELECT 1")
    try:
        await driver.copy_to_table(
            table_of(Payload).name, source=_copy_text(payloads, at=at), columns=_COLUMNS, format="text"
        )
    except asyncpg.IntegrityConstraintViolationError as error:  # as the INSERT would raise it
        raise IntegrityError(f"COPY {table_of(Payload).name}", None, error) from error


async def _copy_text(payloads: Mapping[str, bytes], *, at: datetime) -> AsyncIterator[bytes]:
    """COPY's text format, one line per payload; the content as bytea's hex form (`\\x…`, the
    backslash escaped for COPY), encoded a slice at a time."""
    for digest, content in payloads.items():
        yield f"{digest}\t{len(content)}\t\\\\x".encode()
        view = memoryview(content)
        for start in range(0, len(content), CHUNK_BYTES):
            yield binascii.hexlify(view[start : start + CHUNK_BYTES])
        yield f"\t{at.isoformat()}\t\\N\n".encode()


async def _fill_blobs(session: AsyncSession, payloads: Mapping[str, bytes], *, at: datetime) -> None:
    """SQLite: each payload inserted as a zeroblob (kept unwritten: `content` is the record's last
    field), then written a slice at a time through the store's own connection."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    for digest, content in payloads.items():
        blank = func.zeroblob(len(content))
        row = {"sha256": digest, "size": len(content), "created_at": at, "content": blank}
        await session.execute(insert(Payload).values(row))
        # aiosqlite runs each call on its connection's thread; blob I/O has no call of its own there.
        await driver._execute(_write_blob, driver._conn, digest, content)


def _write_blob(connection: sqlite3.Connection, sha256: str, content: bytes) -> None:
    [rowid] = connection.execute("SELECT rowid FROM payloads WHERE sha256 = ?", (sha256,)).fetchone()
    view = memoryview(content)
    with connection.blobopen("payloads", "content", rowid) as blob:
        for start in range(0, len(content), CHUNK_BYTES):
            blob.write(view[start : start + CHUNK_BYTES])


class Body(Protocol):
    """Bytes a connector sends without holding them whole: their size, SHA-256 and slices."""

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class PayloadUnavailable(Exception):
    """A slice could not be read (the database is away, or the payload was purged meanwhile): the
    transfer that needed it failed, and may succeed later."""


@dataclass(frozen=True, slots=True)
class StoredPayload:
    """A payload in storage, read a slice at a time when it is sent."""

    database: Database
    sha256: str
    size: int

    async def chunks(self) -> AsyncIterator[bytes]:
        for offset in range(0, self.size, CHUNK_BYTES):
            length = min(CHUNK_BYTES, self.size - offset)
            try:
                if self.database.is_postgres:
                    chunk = await self._postgres_slice(offset, length)
                else:
                    path = make_url(self.database.url).database or ""
                    chunk = await asyncio.to_thread(_sqlite_slice, path, self.sha256, offset, length)
            except (SQLAlchemyError, sqlite3.Error) as error:
                raise PayloadUnavailable(f"payload {self.sha256} cannot be read: {error}") from error
            if chunk is None or len(chunk) != length:
                raise PayloadUnavailable(f"payload {self.sha256} was purged while it was being read")
            yield chunk

    async def _postgres_slice(self, offset: int, length: int) -> bytes | None:
        piece = func.substr(Payload.content, offset + 1, length, type_=LargeBinary)
        async with self.database.reading() as session:
            return await session.scalar(
                select(piece).where(Payload.sha256 == self.sha256, Payload.purged_at.is_(None))
            )


def _sqlite_slice(path: str, sha256: str, offset: int, length: int) -> bytes | None:
    """A slice by SQLite's incremental blob I/O, on a short-lived read-only connection of its own
    (`substr` would read the whole blob for every slice: five times the CPU for 48 MiB; a connection
    kept for the whole transfer would hold a WAL snapshot for as long as a slow receiver takes)."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
        row = connection.execute(
            "SELECT rowid FROM payloads WHERE sha256 = ? AND purged_at IS NULL", (sha256,)
        ).fetchone()
        if row is None:
            return None
        with connection.blobopen("payloads", "content", row[0], readonly=True) as blob:
            blob.seek(offset)
            return blob.read(length)


@dataclass(frozen=True)
class HeldPayload:
    """A payload smaller than a slice, read with the query that found it: sent from memory, without
    a round trip of its own (the common case: most documents are a few kilobytes)."""

    sha256: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.content


async def stored_payloads(
    session: AsyncSession, database: Database, digests: Iterable[str]
) -> dict[str, HeldPayload | StoredPayload]:
    """The payloads with these digests that storage still holds (not purged), by digest: the
    bytes of those smaller than a slice, read now; the others, to be read a slice at a time."""
    wanted = set(digests)
    if not wanted:
        return {}
    rows = await session.execute(_stored(database.is_postgres), {"digests": list(wanted)})
    return {
        row.sha256: StoredPayload(database, row.sha256, row.size)
        if row.content is None
        else HeldPayload(row.sha256, row.content)
        for row in rows
    }


@functools.cache
def _stored(postgres: bool) -> Select[str, int, bytes | None]:
    """`stored_payloads`' statement, built once: every batch of a worker runs it."""
    small = case((Payload.size < CHUNK_BYTES, Payload.content), else_=None)
    return select(Payload.sha256, Payload.size, small.label("content")).where(
        one_of(Payload.sha256, "digests", postgres=postgres), Payload.purged_at.is_(None)
    )


async def stored_payload(session: AsyncSession, database: Database, sha256: str) -> StoredPayload:
    """One payload to be sent a slice at a time; 404 when retention purged its bytes."""
    query = select(Payload.size, Payload.purged_at).where(Payload.sha256 == sha256)
    row = _present(sha256, (await session.execute(query)).first())
    return StoredPayload(database, sha256, row.size)


async def payload(session: AsyncSession, sha256: str) -> bytes:
    """One payload's bytes, whole; 404 when retention purged them."""
    query = select(Payload.content, Payload.purged_at).where(Payload.sha256 == sha256)
    content: bytes = _present(sha256, (await session.execute(query)).first()).content
    return content


def _present(sha256: str, row: Any) -> Any:
    """The row of a payload whose bytes storage holds."""
    if row is None:
        raise HubError(f"payload {sha256} is missing from storage")
    if row.purged_at is not None:
        raise NotFound(
            f"payload {sha256} was purged by retention on {row.purged_at:%Y-%m-%d} (its digest stays)"
        )
    return row
