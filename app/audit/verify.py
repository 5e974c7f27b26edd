"""`lienthong audit verify`: recompute the transparency log from the database and hold it to every
signed checkpoint.

Only signatures are trusted: anyone with the database password can change rows, leaves and stored
hashes, but not sign a checkpoint without the log key (encrypted with the master key). So:

1. every checkpoint's signature is checked (with the stored log key, or the one pinned by the
   auditor);
2. the leaves are read in order with their entries, and each entry's leaf hash is recomputed from its
   canonical bytes: a changed, swapped or deleted entry, or a missing leaf, is named by its index;
3. the root at every checkpoint's size is recomputed both from the entries and from the stored leaf
   hashes: a tree rebuilt after a `TRUNCATE`, or reordered leaves, cannot reproduce the signed roots;
4. entries that are older than a grace period but were never integrated (inserted behind the
   integrator's back) are named too.

One pass, streaming: memory stays O(log n) whatever the size of the log.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import merkle
from app.audit.canonical import entry_leaf_hash
from app.audit.integrator import SOURCES
from app.audit.note import NoteError, verifier_key, verify_checkpoint
from app.kit.clock import utcnow
from app.kit.db import Database, table_of
from app.models import LogCheckpoint, LogKey, LogLeaf, LogSource

STREAM_BATCH = 5000


@dataclass
class Problem:
    message: str
    index: int | None = None  # the first leaf index it concerns, when there is one


@dataclass
class Report:
    size: int = 0
    checkpoints: int = 0
    latest_checkpoint: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def add(self, message: str, index: int | None = None) -> None:
        self.problems.append(Problem(message, index))


async def verify_log(
    session: AsyncSession,
    *,
    pinned_key: str | None = None,
    grace: timedelta = timedelta(minutes=2),
    held: Sequence[str] = (),
) -> Report:
    """Check the log in the database; `held` are checkpoints the auditor kept (notes), which the
    database must reproduce too."""
    report = Report()
    keys = {row.id: verifier_key(row.name, row.public_key) for row in await session.scalars(select(LogKey))}
    checkpoints: list[tuple[int, bytes]] = []
    for row in await session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size)):
        verifier = pinned_key or keys.get(row.key_id)
        if verifier is None:
            report.add(f"checkpoint of size {row.size}: its log key {row.key_id} is not in the database")
            continue
        try:
            signed = verify_checkpoint(row.note, verifier)
        except NoteError as error:
            report.add(f"checkpoint of size {row.size}: {error}")
            continue
        if signed.size != row.size or signed.root != row.root_hash:
            report.add(f"checkpoint of size {row.size}: its stored size or root differs from its signed note")
        checkpoints.append((signed.size, signed.root))
    names = {
        row.name: verifier_key(row.name, row.public_key) for row in await session.scalars(select(LogKey))
    }
    for number, note in enumerate(held, start=1):
        try:
            origin = note.split("\n", 1)[0]
            verifier = pinned_key or names.get(origin)
            if verifier is None:
                raise NoteError(f"no log key named {origin!r}")
            signed = verify_checkpoint(note, verifier)
        except NoteError as error:
            report.add(f"held checkpoint {number}: {error}")
            continue
        checkpoints.append((signed.size, signed.root))
    checkpoints = sorted(set(checkpoints))
    for (size, _), (next_size, _) in itertools.pairwise(checkpoints):
        if size == next_size:
            report.add(f"two different roots were signed for size {size}: the log was forked")
    report.checkpoints = len(checkpoints)
    report.latest_checkpoint = checkpoints[-1][0] if checkpoints else 0
    await _walk_leaves(session, report, checkpoints)
    await _unintegrated(session, report, grace)
    return report


async def _walk_leaves(session: AsyncSession, report: Report, checkpoints: list[tuple[int, bytes]]) -> None:
    leaves = table_of(LogLeaf)
    joined: FromClause = leaves
    columns: list[ColumnElement[Any]] = [
        leaves.c.leaf_index,
        leaves.c.source,
        leaves.c.entry_id,
        leaves.c.leaf_hash,
    ]
    spans: dict[str, tuple[int, int, list[str]]] = {}  # where each log's columns are in a row
    for source, table in SOURCES.items():
        alias = table.alias(source.value)
        joined = joined.outerjoin(
            alias, and_(leaves.c.source == source.value, alias.c.id == leaves.c.entry_id)
        )
        names = [column.name for column in alias.c]
        spans[source.value] = (len(columns), len(columns) + len(names), names)
        columns += [column.label(f"{source.value}__{column.name}") for column in alias.c]
    result = await session.stream(
        select(*columns)
        .select_from(joined)
        .order_by(leaves.c.leaf_index)
        .execution_options(yield_per=STREAM_BATCH)
    )
    recomputed = merkle.CompactRange()
    stored = merkle.CompactRange()
    pending = list(checkpoints)
    last_good = 0
    async for row in result:
        index, source_name, entry_id, stored_hash = row[0], row[1], row[2], bytes(row[3])
        if index != recomputed.size:
            report.add(f"leaves {recomputed.size}…{index - 1} are missing from the tree", recomputed.size)
            return
        source = LogSource(source_name)
        start, end, names = spans[source_name]
        entry = dict(zip(names, row[start:end], strict=True))
        if entry["id"] is None:
            report.add(f"leaf {index}: {source.value} entry {entry_id} is missing (deleted)", index)
            recomputed.append(stored_hash)  # keep going: later leaves are still checked one by one
        else:
            mine = entry_leaf_hash(source, entry)
            if mine != stored_hash:
                report.add(
                    f"leaf {index}: {source.value} entry {entry_id} differs from what was logged",
                    index,
                )
            recomputed.append(mine)
        stored.append(stored_hash)
        while pending and pending[0][0] == recomputed.size:
            size, root = pending.pop(0)
            if stored.root() != root:
                report.add(
                    f"the tree's leaves {last_good}…{size - 1} were rewritten: they do not give the root "
                    f"signed at size {size}",
                    last_good,
                )
            elif recomputed.root() != root and not report.problems:
                report.add(f"the entries give another root than the one signed at size {size}", last_good)
            last_good = size
    report.size = recomputed.size
    for size, _root in pending:
        report.add(
            f"the log has {recomputed.size} leaves but a checkpoint of size {size} was signed: "
            "entries were deleted, or the tree rebuilt shorter"
        )


async def _unintegrated(session: AsyncSession, report: Report, grace: timedelta) -> None:
    leaves = table_of(LogLeaf)
    cutoff = utcnow() - grace
    for source, table in SOURCES.items():
        integrated = exists().where(leaves.c.source == source.value, leaves.c.entry_id == table.c.id)
        rows = await session.execute(
            select(table.c.id, table.c.at)
            .where(~integrated, table.c.at < cutoff)
            .order_by(table.c.id)
            .limit(20)
        )
        for entry_id, at in rows:
            report.add(
                f"{source.value} entry {entry_id} (at {at:%Y-%m-%d %H:%M:%S}Z) is not in the "
                "transparency log (inserted behind the integrator's back, or the integrator is stopped)"
            )


async def verify_database(
    database: Database,
    *,
    pinned_key: str | None = None,
    grace: timedelta = timedelta(minutes=2),
    held: Sequence[str] = (),
) -> Report:
    """`verify_log` in one consistent snapshot (a streamed read needs a transaction on PostgreSQL)."""
    options = {"isolation_level": "REPEATABLE READ"} if database.is_postgres else {}
    async with database.sessionmaker() as session:
        await session.connection(execution_options=options)  # begins the transaction
        try:
            return await verify_log(session, pinned_key=pinned_key, grace=grace, held=held)
        finally:
            await session.rollback()
