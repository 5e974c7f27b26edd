"""The integrator: takes new exchange-log and admin-log entries into the transparency log, in order,
and signs a checkpoint when the tree has grown.

Entries are written by intake and by admin actions in their own transactions, as always; nothing
there waits for the tree. The integrator runs beside them (in the gateway, one replica at a time
under the lease `audit-integrator`, or `lienthong audit integrate`): each round it reads the entries
that have no leaf yet, hashes their canonical bytes, appends them as leaves with the perfect subtrees
they complete, all in one transaction. Two integrators cannot both append: leaf indexes are primary
keys, the second one's transaction fails and its next round starts from the tree as it is.

An entry whose transaction commits late (its id lower than entries already integrated) is still
taken: each round looks back `LOOKBACK` ids behind the highest integrated one, and every
`SWEEP_EVERY` rounds over the whole log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.canonical import entry_leaf_hash
from app.audit.keys import ensure_log_key
from app.audit.note import checkpoint_text, sign_note
from app.audit.tree import border, tree_size
from app.config import Settings
from app.kit import lease
from app.kit.clock import utcnow
from app.kit.db import Database, table_of, write_many
from app.kit.rounds import Rounds
from app.models import AdminLogEntry, ExchangeLogEntry, LogCheckpoint, LogLeaf, LogNode, LogSource

log = logging.getLogger(__name__)

LEASE = "audit-integrator"
LOOKBACK = 1000
SWEEP_EVERY = 300
BATCH = 5000
SQLITE_BATCH = 500
SLICE = 128

SOURCES: dict[LogSource, Table] = {
    LogSource.EXCHANGE: table_of(ExchangeLogEntry),
    LogSource.ADMIN: table_of(AdminLogEntry),
}


async def pending_ids(session: AsyncSession, source: LogSource, *, limit: int, sweep: bool) -> list[int]:
    """The ids of one log's entries that have no leaf yet, lowest first."""
    table = SOURCES[source]
    leaves = table_of(LogLeaf)
    floor = -1
    if not sweep:
        highest = await session.scalar(
            select(func.max(leaves.c.entry_id)).where(leaves.c.source == source.value)
        )
        floor = -1 if highest is None else int(highest) - LOOKBACK
    if session.get_bind().dialect.name == "postgresql":
        # Planned for the floor it is given: the generic plan PostgreSQL switches a prepared
        # statement to cannot know that `id > floor` is the last thousand entries, and reads the
        # whole log (159 ms a round within a 30-s benchmark at 50 documents/s, bench/README.md).
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    # A set difference of ids alone, not an anti-join nor a join back to the entries: planned on
    # statistics taken while the log was small, or for a LIMIT of 1, those became nested loops over
    # both ranges (50-69 ms a call at 160 documents/s); EXCEPT is hashed or sorted, linear whatever
    # the estimates.
    pending = (
        select(table.c.id)
        .where(table.c.id > floor)
        .except_(select(leaves.c.entry_id).where(leaves.c.source == source.value, leaves.c.entry_id > floor))
        .order_by(table.c.id)
        .limit(limit)
    )
    return list(await session.scalars(pending))


async def hashed_entries(
    session: AsyncSession, source: LogSource, ids: Sequence[int]
) -> list[tuple[datetime, LogSource, int, bytes]]:
    """(time, log, id, leaf hash) of these entries, read and hashed `SLICE` at a time: each slice is
    a round trip of its own, so that a large round leaves the gateway's event loop to intake between
    slices instead of holding it for the whole round (intake p99 at 50 documents/s: 68 ms with the
    integrator's rounds in one piece, 32 ms without an integrator; bench/README.md)."""
    table = SOURCES[source]
    hashed = []
    for start in range(0, len(ids), SLICE):
        rows = await session.execute(
            select(table).where(table.c.id.in_(ids[start : start + SLICE])).order_by(table.c.id)
        )
        for row in rows.mappings():
            hashed.append((row["at"], source, row["id"], entry_leaf_hash(source, row)))
    return hashed


async def integrate(session: AsyncSession, *, limit: int = BATCH, sweep: bool = False) -> int:
    """Append up to `limit` pending entries of both logs as leaves; how many were appended."""
    pending: list[tuple[datetime, LogSource, int, bytes]] = []
    for source in SOURCES:
        ids = await pending_ids(session, source, limit=limit, sweep=sweep)
        pending += await hashed_entries(session, source, ids)
    if not pending:
        return 0
    pending.sort()  # by time, then log, then id: the order both logs happened in
    pending = pending[:limit]
    size = await tree_size(session)
    compact = await border(session, size)
    now = utcnow()
    leaves: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for _at, source, entry_id, hashed in pending:
        leaves.append(
            {
                "leaf_index": compact.size,
                "source": source.value,
                "entry_id": entry_id,
                "leaf_hash": hashed,
                "integrated_at": now,
            }
        )
        for level, index, value in compact.append(hashed):
            nodes.append({"level": level, "node_index": index, "hash": value})
    await write_many(session, (table_of(LogLeaf), leaves), (table_of(LogNode), nodes))
    return len(leaves)


async def sign_checkpoint(
    session: AsyncSession, settings: Settings, master_key: bytes
) -> LogCheckpoint | None:
    """Sign a checkpoint of the tree as it is, unless the latest one already has this size."""
    size = await tree_size(session)
    latest = await session.scalar(select(func.max(LogCheckpoint.size)))
    if size == 0 or (latest is not None and latest >= size):
        return None
    signer = await ensure_log_key(session, master_key, settings.log_origin)
    root = (await border(session, size)).root()
    now = utcnow()
    note = sign_note(checkpoint_text(signer.name, size, root, now), signer.name, signer.private_key)
    checkpoint = LogCheckpoint(size=size, root_hash=root, note=note, key_id=signer.id, created_at=now)
    session.add(checkpoint)
    await session.flush()
    return checkpoint


@dataclass
class IntegratorState:
    integrated: int = 0
    last_checkpoint_size: int = 0
    last_error: str | None = None


class Integrator:
    """The background task: integrate, then checkpoint at most every `audit_checkpoint_seconds`."""

    def __init__(self, database: Database, settings: Settings, master_key: bytes) -> None:
        self.database = database
        self.settings = settings
        self.master_key = master_key
        self.state = IntegratorState()
        self._holder = lease.holder_name()
        self.pace = Rounds()
        self._rounds = 0
        self._last_checkpoint_at = utcnow() - timedelta(days=1)

    def wake(self) -> None:
        self.pace.wake()

    async def stop(self) -> None:
        """Finish the round under way and hand the lease over (see app/kit/rounds.py)."""
        await self.pace.stop()

    async def round(self, *, checkpoint: bool | None = None) -> int:
        """One round: integrate everything pending, sign a checkpoint if due (or if asked). Writes
        only when there is something to write (on SQLite every write takes the one writer lock)."""
        total = 0
        sweep = self._rounds % SWEEP_EVERY == 0
        self._rounds += 1
        # SQLite has one writer at a time: short transactions there, so intake never waits long.
        limit = BATCH if self.database.is_postgres else SQLITE_BATCH
        while await self._anything_pending(sweep=sweep):
            async with self.database.transaction() as session:
                added = await integrate(session, limit=limit, sweep=sweep)
            total += added
            sweep = False  # one batch from the start is enough; the rest follow the highest id
            if added < limit:
                break
        self.state.integrated += total
        due = utcnow() - self._last_checkpoint_at >= timedelta(seconds=self.settings.audit_checkpoint_seconds)
        if (checkpoint or (checkpoint is None and due)) and await self._tree_grew():
            async with self.database.transaction() as session:
                signed = await sign_checkpoint(session, self.settings, self.master_key)
            if signed is not None:
                self._last_checkpoint_at = utcnow()
                self.state.last_checkpoint_size = signed.size
        return total

    async def _anything_pending(self, *, sweep: bool) -> bool:
        async with self.database.reading() as session:
            for source in SOURCES:
                if await pending_ids(session, source, limit=1, sweep=sweep):
                    return True
        return False

    async def _tree_grew(self) -> bool:
        async with self.database.reading() as session:
            latest = await session.scalar(select(func.max(LogCheckpoint.size)))
            return await tree_size(session) > (latest or 0)

    async def run(self) -> None:
        held_until = utcnow() - timedelta(seconds=1)
        with self.pace.running():
            try:
                while not self.pace.stopping:
                    try:
                        held_until = await self._renew(held_until)
                        if held_until > utcnow():
                            await self.round()
                        self.state.last_error = None
                    except Exception as error:  # a database hiccup: the next round starts over
                        self.state.last_error = f"{type(error).__name__}: {error}"
                        log.warning("transparency log: integration failed: %s", self.state.last_error)
                    await self.pace.wait(self.settings.audit_integrate_seconds)
            finally:
                if held_until > utcnow():
                    # Hand the lease over at once on a clean stop; if that cannot be quick, it runs out.
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(1.0):
                            await lease.release(self.database, LEASE, self._holder)

    async def _renew(self, held_until: datetime) -> datetime:
        """Take or renew the lease when a third of it is left, not every round; until when it is held
        (in the past while another replica holds it)."""
        seconds = max(30.0, 10 * self.settings.audit_integrate_seconds)
        if held_until - utcnow() >= timedelta(seconds=seconds / 3):
            return held_until
        if await lease.hold(self.database, LEASE, self._holder, seconds=seconds):
            return utcnow() + timedelta(seconds=seconds)
        return utcnow() - timedelta(seconds=1)
