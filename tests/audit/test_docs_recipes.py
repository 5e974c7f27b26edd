"""The by-hand recipes of docs/audit.md (and .vi.md) work: their code, run as written, accepts what
the hub produces and refuses what it should."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import merkle
from app.audit.note import checkpoint_text, public_key_bytes, sign_note, verifier_key

DOCS = Path(__file__).resolve().parents[2] / "docs"


def recipes(name: str) -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(encoding="utf-8"), re.S)
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(block.split("\nentry = ")[0], namespace)  # the definitions, not the worked example
    return namespace


@pytest.mark.parametrize("name", ["audit.md", "audit.vi.md"])
def test_the_recipes_verify_what_the_hub_makes(name: str) -> None:
    code = recipes(name)
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(13)]
    key = Ed25519PrivateKey.generate()
    origin = "lienthong/000.00.00.H62"
    vkey = verifier_key(origin, public_key_bytes(key.public_key()))
    note = sign_note(checkpoint_text(origin, 13, merkle.root(leaves)), origin, key)
    assert code["verify_checkpoint"](note, vkey) == (13, merkle.root(leaves))
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        code["verify_checkpoint"](note.replace("\n13\n", "\n14\n"), vkey)
    for index in range(13):
        proof = [merkle.root(leaves[a:b]) for a, b in merkle.inclusion_ranges(index, 13)]
        assert code["root_from_inclusion"](index, 13, leaves[index], proof) == merkle.root(leaves)
    for old in range(1, 13):
        proof = [merkle.root(leaves[a:b]) for a, b in merkle.consistency_ranges(old, 13)]
        assert code["consistent"](old, 13, merkle.root(leaves[:old]), merkle.root(leaves), proof)
        assert not code["consistent"](old, 13, merkle.leaf_hash(b"other"), merkle.root(leaves), proof)
