"""Properties of AgencyCode and CodePattern over generated codes."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.agencies.codes import AgencyCode, CodePattern, InvalidAgencyCode

ALLOWED = string.digits + string.ascii_uppercase


def _is_zero(group: str) -> bool:
    return set(group) == {"0"}


def _nonzero(group: str) -> bool:
    return not _is_zero(group)


def _lower_group(width: int, values: list[str]) -> st.SearchStrategy[str]:
    """A level 2-4 group: often zeros (the convention), often a small value (so that generated codes
    share subtrees), sometimes anything."""
    return st.one_of(
        st.just("0" * width),
        st.sampled_from(values).map(lambda v: v.zfill(width)),
        st.text(string.digits, min_size=width, max_size=width),
    )


LEVEL1 = st.one_of(
    st.sampled_from(["H62", "H29", "G22", "K62"]),
    st.builds(lambda letter, n: f"{letter}{n:02d}", st.sampled_from("ABGHKXY"), st.integers(0, 99)),
)
SMALL = ["1", "12", "21", "30", "31"]

# The QCVN 102 layout (4 groups) and the older 3-group form.
REALISTIC_CODES = st.one_of(
    st.tuples(_lower_group(3, SMALL), _lower_group(2, SMALL), _lower_group(2, SMALL), LEVEL1),
    st.tuples(_lower_group(2, SMALL), _lower_group(2, SMALL), LEVEL1),
).map(lambda groups: ".".join(groups))

# Anything the character rules allow: 1+ groups of 0-9A-Z, at most 35 characters.
ANY_CODES = (
    st.lists(st.text(ALLOWED, min_size=1, max_size=6), min_size=1, max_size=8)
    .filter(lambda groups: _nonzero(groups[-1]))
    .map(".".join)
    .filter(lambda text: len(text) <= 35)
)

CODES = st.one_of(REALISTIC_CODES, ANY_CODES)


@given(CODES)
def test_valid_codes_round_trip(text: str) -> None:
    parsed = AgencyCode.parse(text)
    assert str(parsed) == text
    assert AgencyCode.parse(str(parsed)) == parsed
    assert parsed.level1 == text.split(".")[-1]


@given(CODES, st.data())
def test_a_forbidden_character_anywhere_is_refused(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(text)))
    bad = data.draw(st.sampled_from(["a", "h", " ", "-", "_", "/", "Đ", "ơ", "*", ","]))
    broken = text[:position] + bad + text[position:]
    with pytest.raises(InvalidAgencyCode) as caught:
        AgencyCode.parse(broken)
    if len(broken) > 35:  # the length is checked first
        assert "at most 35" in caught.value.reason
    else:
        assert f"character {bad!r} at position {position + 1}" in caught.value.reason


@given(CODES)
def test_parent_chain_is_finite_and_ends_at_a_level1_body(text: str) -> None:
    start = AgencyCode.parse(text)
    chain = [start, *start.ancestors()]
    nonzero = [sum(_nonzero(g) for g in c.groups) for c in chain]
    # each step clears exactly one group, so the chain is as long as the code has non-zero groups
    assert nonzero == list(range(nonzero[0], 0, -1))
    root = chain[-1]
    assert root.parent is None
    assert [g for g in root.groups[:-1] if _nonzero(g)] == []
    for child, parent in itertools.pairwise(chain):
        assert child.parent == parent
        assert [len(g) for g in child.groups] == [len(g) for g in parent.groups]
        assert child.level1 == parent.level1
        assert child.is_under(parent) and not parent.is_under(child)
    assert all(start.is_under(c) for c in chain)


@given(CODES)
def test_the_level1_pattern_and_the_wildcard_match_every_code(text: str) -> None:
    parsed = AgencyCode.parse(text)
    assert CodePattern.parse("*." + parsed.level1).matches(parsed)
    assert CodePattern.parse("*").matches(parsed)
    assert CodePattern.parse(text).matches(parsed)


SUFFIXES = st.lists(st.sampled_from(["1", "12", "21", "30", "31", "012", "031"]), max_size=3).flatmap(
    lambda lower: LEVEL1.map(lambda level1: (*lower, level1))
)


def _own_suffix(code: AgencyCode, k: int) -> tuple[str, ...]:
    """The code's last k groups, zero groups made non-zero (a pattern may not contain them)."""
    return tuple(g if _nonzero(g) else g[:-1] + "1" for g in code.groups[-k:])


@given(REALISTIC_CODES, st.data())
def test_a_pattern_matches_exactly_the_codes_under_its_root(text: str, data: st.DataObject) -> None:
    parsed = AgencyCode.parse(text)
    # Suffixes taken from the code itself match it often; random ones mostly do not.
    suffix = data.draw(
        st.one_of(SUFFIXES, st.integers(1, len(parsed.groups)).map(lambda k: _own_suffix(parsed, k)))
    )
    pattern = CodePattern.parse("*." + ".".join(suffix))
    groups = parsed.groups
    if len(groups) < len(suffix):
        assert not pattern.matches(parsed)
        return
    # The root of the pattern in this code's shape: the suffix, padded with zero groups of the
    # code's widths (for '*.31.H62' and a 4-group code: '000.00.31.H62').
    padding = ["0" * len(g) for g in groups[: len(groups) - len(suffix)]]
    root = AgencyCode.parse(".".join([*padding, *suffix]))
    assert pattern.matches(parsed) == parsed.is_under(root)


@given(REALISTIC_CODES, st.lists(SUFFIXES, max_size=6))
def test_the_most_specific_matching_pattern_is_unique(text: str, suffixes: list[tuple[str, ...]]) -> None:
    parsed = AgencyCode.parse(text)
    own = [parsed.groups[-k:] for k in range(1, len(parsed.groups) + 1)]
    candidates = {"*", text, *("*." + ".".join(s) for s in [*suffixes, *own] if all(map(_nonzero, s)))}
    matching = [p for p in map(CodePattern.parse, candidates) if p.matches(parsed)]
    specificities = [p.specificity for p in matching]
    assert len(set(specificities)) == len(matching)
    assert str(max(matching, key=lambda p: p.specificity)) == text
