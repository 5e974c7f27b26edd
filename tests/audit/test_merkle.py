"""The Merkle tree against the published RFC 6962/9162 vectors, and properties over any tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.audit import merkle

VECTORS = json.loads((Path(__file__).parent / "merkle_vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(data)) for data in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(h) for h in VECTORS["roots"]]


def hashes_of(ranges: list[tuple[int, int]], leaves: list[bytes]) -> list[bytes]:
    return [merkle.root(leaves[start:end]) for start, end in ranges]


def test_roots_of_every_size() -> None:
    for size, expected in enumerate(ROOTS):
        assert merkle.root(LEAVES[:size]) == expected


def test_the_compact_range_gives_the_same_roots_and_every_node() -> None:
    compact = merkle.CompactRange()
    assert compact.root() == ROOTS[0]
    nodes = {}
    for size, leaf in enumerate(LEAVES, start=1):
        for level, index, value in compact.append(leaf):
            nodes[(level, index)] = value
        assert compact.root() == ROOTS[size]
    for level, row in enumerate(VECTORS["nodes"][1:], start=1):
        for index, value in enumerate(row):
            assert nodes[(level, index)].hex() == value


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-of-{v['size']}")
def test_inclusion_vectors(vector: dict) -> None:
    index, size = vector["index"], vector["size"]
    proof = [bytes.fromhex(h) for h in vector["proof"]]
    assert hashes_of(merkle.inclusion_ranges(index, size), LEAVES) == proof
    merkle.verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=lambda v: f"{v['old']}-to-{v['new']}")
def test_consistency_vectors(vector: dict) -> None:
    old, new = vector["old"], vector["new"]
    proof = [bytes.fromhex(h) for h in vector["proof"]]
    assert hashes_of(merkle.consistency_ranges(old, new), LEAVES) == proof
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def test_perfect_nodes_fold_to_any_proof_range() -> None:
    for size in range(1, 9):
        for index in range(size):
            for start, end in merkle.inclusion_ranges(index, size):
                parts = [
                    merkle.root(LEAVES[i << level : (i + 1) << level])
                    for level, i in merkle.perfect_nodes(start, end)
                ]
                assert merkle.fold(parts) == merkle.root(LEAVES[start:end])


def test_degenerate_cases_refused() -> None:
    some = LEAVES[1]
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 0, some, [], merkle.EMPTY_ROOT)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(1, 1, some, [], some)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(2, 1, ROOTS[2], ROOTS[1], [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(1, 1, ROOTS[1], ROOTS[2], [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(1, 1, ROOTS[1], ROOTS[1], [ROOTS[1]])
    merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [])


def build(count: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


@st.composite
def inclusion_case(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=300))
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def consistency_case(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=1, max_value=300))
    return draw(st.integers(min_value=1, max_value=new)), new


def mutations(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    """One alteration of a proof: a flipped bit, a dropped, added or swapped element."""
    choices = ["append"]
    if proof:
        choices += ["flip", "drop"]
    if len(proof) > 1 and proof[0] != proof[1]:
        choices.append("swap")
    kind = data.draw(st.sampled_from(choices))
    altered = list(proof)
    if kind == "flip":
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        element = bytearray(altered[i])
        element[bit // 8] ^= 1 << (bit % 8)
        altered[i] = bytes(element)
    elif kind == "drop":
        del altered[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "swap":
        altered[0], altered[1] = altered[1], altered[0]
    else:
        altered.insert(data.draw(st.integers(0, len(proof))), merkle.leaf_hash(b"extra"))
    return altered


@given(inclusion_case(), st.data())
def test_any_inclusion_proof_verifies_and_any_altered_one_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    leaves = build(size)
    root = merkle.root(leaves)
    proof = hashes_of(merkle.inclusion_ranges(index, size), leaves)
    merkle.verify_inclusion(index, size, leaves[index], proof, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, leaves[index], mutations(proof, data), root)
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index)) if size > 1 else None
    if other is not None:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(other, size, leaves[index], proof, root)


@given(consistency_case(), st.data())
def test_any_consistency_proof_verifies_and_any_altered_one_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    leaves = build(new)
    old_root, new_root = merkle.root(leaves[:old]), merkle.root(leaves)
    proof = hashes_of(merkle.consistency_ranges(old, new), leaves)
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    if old == new:
        return
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, old_root, new_root, mutations(proof, data))
    rewritten = list(leaves)
    rewritten[data.draw(st.integers(0, old - 1))] = merkle.leaf_hash(b"rewritten")
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, merkle.root(rewritten[:old]), new_root, proof)
