"""The transparency log's tree in the database: its size, its nodes, proofs read from them, and the
signed checkpoints. Appending is the integrator's (app/audit/integrator.py); everything here reads.

Leaves are `log_leaves` (level 0) and every perfect subtree above them is a `log_nodes` row, so a
range's hash is at most log2(n) rows folded together and a proof costs one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import merkle
from app.models import LogCheckpoint, LogLeaf, LogNode, LogTimestamp


class TreeError(LookupError):
    """A size or index the log does not have (yet)."""


async def tree_size(session: AsyncSession) -> int:
    """How many leaves are integrated."""
    last = await session.scalar(select(func.max(LogLeaf.leaf_index)))
    return 0 if last is None else int(last) + 1


async def node_hashes(session: AsyncSession, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of perfect subtrees (level 0: leaves); TreeError if one is missing."""
    wanted = set(nodes)
    found: dict[merkle.Node, bytes] = {}
    leaves = sorted(index for level, index in wanted if level == 0)
    if leaves:
        rows = await session.execute(
            select(LogLeaf.leaf_index, LogLeaf.leaf_hash).where(LogLeaf.leaf_index.in_(leaves))
        )
        found.update(((0, int(i)), bytes(h)) for i, h in rows)
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        if level > 0:
            by_level.setdefault(level, []).append(index)
    if by_level:
        node_rows = await session.execute(
            select(LogNode.level, LogNode.node_index, LogNode.hash).where(
                or_(
                    *(
                        and_(LogNode.level == level, LogNode.node_index.in_(indexes))
                        for level, indexes in by_level.items()
                    )
                )
            )
        )
        found.update(((int(level), int(i)), bytes(h)) for level, i, h in node_rows)
    missing = wanted - found.keys()
    if missing:
        raise TreeError(f"the tree lacks {len(missing)} node(s), e.g. {min(missing)}")
    return found


async def range_hashes(session: AsyncSession, ranges: Sequence[merkle.Range]) -> list[bytes]:
    """The hash of each range, from the stored perfect subtrees, in one or two queries."""
    parts = [merkle.perfect_nodes(start, end) for start, end in ranges]
    stored = await node_hashes(session, (node for nodes in parts for node in nodes))
    return [merkle.fold([stored[node] for node in nodes]) for nodes in parts]


async def root_at(session: AsyncSession, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return (await range_hashes(session, [(0, size)]))[0]


async def border(session: AsyncSession, size: int) -> merkle.CompactRange:
    """The right border of the tree of `size` leaves, to extend it."""
    nodes = merkle.perfect_nodes(0, size)
    stored = await node_hashes(session, nodes)
    return merkle.CompactRange(size, [stored[node] for node in nodes])


async def inclusion_proof(session: AsyncSession, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise TreeError(f"leaf {index} is not in a tree of size {size}")
    if size > await tree_size(session):
        raise TreeError(f"the log has fewer than {size} leaves")
    return await range_hashes(session, merkle.inclusion_ranges(index, size))


async def consistency_proof(session: AsyncSession, old: int, new: int) -> list[bytes]:
    if not 0 <= old <= new:
        raise TreeError(f"no consistency proof from size {old} to size {new}")
    if new > await tree_size(session):
        raise TreeError(f"the log has fewer than {new} leaves")
    return await range_hashes(session, merkle.consistency_ranges(old, new))


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    timestamp_token: bytes | None


async def latest_checkpoint(session: AsyncSession) -> StoredCheckpoint | None:
    row = (
        await session.execute(
            select(LogCheckpoint, LogTimestamp.token)
            .outerjoin(LogTimestamp, LogTimestamp.checkpoint_size == LogCheckpoint.size)
            .order_by(LogCheckpoint.size.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    checkpoint, token = row
    return StoredCheckpoint(checkpoint.size, checkpoint.root_hash, checkpoint.note, token)


async def checkpoint_covering(session: AsyncSession, index: int) -> StoredCheckpoint | None:
    """The latest checkpoint, if it covers leaf `index`; else None (the next one will)."""
    latest = await latest_checkpoint(session)
    if latest is None or latest.size <= index:
        return None
    return latest
