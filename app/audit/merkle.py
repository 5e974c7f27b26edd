"""The Merkle tree of RFC 9162 (§2.1), pure: hashes, tree heads, inclusion and consistency proofs.

No I/O here. Proofs are described as lists of *ranges* `[start, end)` of leaves whose subtree hashes
make up the proof; storage turns each range into a hash (a stored perfect subtree, or a few of them
folded with `fold`). Leaf indexes start at 0.

Vietnamese: cây Merkle của nhật ký minh bạch; bằng chứng bao hàm (inclusion), bằng chứng nhất quán
(consistency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
Node = tuple[int, int]  # (level, index): the perfect subtree of leaves [index·2^level, (index+1)·2^level)


def leaf_hash(data: bytes) -> bytes:
    """HASH(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (not leaf data)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up the tree range [start, end), left to right.

    Valid for every range that is a subtree of some RFC 9162 tree (all ranges proofs name): `start` is
    a multiple of the largest power of two not above `end - start`."""
    nodes: list[Node] = []
    position = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        nodes.append((level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from the hashes of its perfect subtrees (left to right): the largest
    subtree is always split off first, so they combine from the right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """PATH(index, D[size]) as ranges, from the leaf's sibling up to the root's other child."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old: int, new: int) -> list[Range]:
    """PROOF(old, D[new]) as ranges (RFC 9162 §2.1.4.1); empty when old is 0 or old == new."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    ranges: list[Range] = []
    start, end, m, whole = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            whole = False
    ranges.reverse()
    return ranges


def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError(f"a hash is not {HASH_SIZE} bytes")


class ProofError(ValueError):
    """A proof that does not verify, with the reason."""


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_hashes(leaf, *proof)
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is high")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """ProofError unless `leaf` is at `index` of the tree of `size` leaves with `expected_root`."""
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of size {size}")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """ProofError unless the tree of `new` leaves with `new_root` extends the one of `old` leaves with
    `old_root` (RFC 9162 §2.1.4.2)."""
    if not 0 <= old <= new:
        raise ProofError(f"a tree of size {new} cannot extend one of size {old}")
    if old == new:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for size {old}")
        return
    if old == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    _check_hashes(old_root, new_root, *proof)
    path = list(proof)
    if old & (old - 1) == 0:  # old is a power of two: its root is the first node of the path
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = path[0]
    fr = sr = first
    for node in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {old}")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {new}")


class CompactRange:
    """The right border of a growing tree: one perfect subtree per 1-bit of the size, O(log n) memory.

    `append` returns the perfect subtrees it completes (level ≥ 1), so storage can keep them."""

    def __init__(self, size: int = 0, border: Iterable[bytes] = ()) -> None:
        self.size = size
        self.border = list(border)  # hashes of perfect_nodes(0, size), left to right
        if len(self.border) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} border nodes")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        completed: list[tuple[int, int, bytes]] = []
        index = self.size
        value = leaf
        level = 0
        while index & 1:
            value = node_hash(self.border.pop(), value)
            index >>= 1
            level += 1
            completed.append((level, index, value))
        self.border.append(value)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return fold(self.border) if self.border else EMPTY_ROOT
