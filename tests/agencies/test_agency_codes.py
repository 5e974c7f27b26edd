"""AgencyCode and CodePattern on hand-picked examples from edxml.md §3."""

from __future__ import annotations

import dataclasses

import pytest

from app.agencies.codes import AgencyCode, CodePattern, InvalidAgencyCode


def code(text: str) -> AgencyCode:
    return AgencyCode.parse(text)


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "000.00.00.G22",
        "000.00.02.H62",
        "000.21.31.H53",
        "000.00.80.G24",
        "00.41.H29",  # older 3-group form
        "000.00.00.K62",  # another letter class
        "000.00.00.Z99",
        "H62",
        "1.2.3.4.5.6.7.8.H62",
        "A" * 35,
    ],
)
def test_valid_codes_parse_and_print_as_written(text: str) -> None:
    parsed = AgencyCode.parse(text)
    assert str(parsed) == text
    assert ".".join(parsed.groups) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("0" * 32 + ".H62", "36 characters, at most 35"),
        ("000.00.00.h62", "character 'h' at position 11 .*upper case"),
        (" 000.00.00.H62", "character ' ' at position 1"),
        ("000-00-00-H62", "character '-' at position 4"),
        ("000.00.00.Đ62", "character 'Đ' at position 11"),
        ("000.00.00.H62\n", r"character '\\n' at position 14"),
        (".00.00.H62", "starts with '.'"),
        ("000.00.00.", "ends with '.'"),
        ("000.00..H62", "empty group: '..' at position 7"),
        ("000.00.00.000", "level-1 group .* all zeros"),
        ("0", "level-1 group .* all zeros"),
    ],
)
def test_invalid_codes_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidAgencyCode, match=reason) as caught:
        AgencyCode.parse(text)
    assert caught.value.text == text
    assert isinstance(caught.value, ValueError)
    assert repr(text) in str(caught.value)


def test_the_constructor_validates_too() -> None:
    with pytest.raises(InvalidAgencyCode):
        AgencyCode("000.00.00.h62")


def test_codes_are_immutable_hashable_and_ordered() -> None:
    a, b = code("000.00.02.H62"), code("000.00.02.H62")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, code("000.00.03.H62")}) == 2
    assert sorted([code("000.00.03.H62"), a]) == [a, code("000.00.03.H62")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.value = "000.00.03.H62"  # type: ignore[misc]


# --- hierarchy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level1"),
    [("000.00.02.H62", "H62"), ("000.21.31.H53", "H53"), ("00.41.H29", "H29"), ("000.00.80.G24", "G24")],
)
def test_level1_is_the_last_group(text: str, level1: str) -> None:
    assert code(text).level1 == level1


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        ("000.21.31.H53", ["000.00.31.H53", "000.00.00.H53"]),  # commune -> district -> province
        ("000.12.31.H53", ["000.00.31.H53", "000.00.00.H53"]),  # office under a district
        ("000.00.31.H53", ["000.00.00.H53"]),
        ("000.00.02.H62", ["000.00.00.H62"]),  # a sở
        ("000.00.80.G24", ["000.00.00.G24"]),  # a central body's local branch
        ("001.21.31.H53", ["000.21.31.H53", "000.00.31.H53", "000.00.00.H53"]),
        ("000.21.00.H53", ["000.00.00.H53"]),  # skips level 2: hangs under the province
        ("00.41.H29", ["00.00.H29"]),  # 3-group form
        ("12.41.H29", ["00.41.H29", "00.00.H29"]),
        ("000.00.00.H53", []),
        ("00.00.H29", []),
        ("H62", []),
    ],
)
def test_parent_chain_zeroes_the_deepest_group_first(text: str, chain: list[str]) -> None:
    assert [str(a) for a in code(text).ancestors()] == chain
    expected_parent = chain[0] if chain else None
    parent = code(text).parent
    assert (str(parent) if parent else None) == expected_parent


@pytest.mark.parametrize(
    ("text", "other", "under"),
    [
        ("000.21.31.H53", "000.21.31.H53", True),  # self
        ("000.21.31.H53", "000.00.31.H53", True),
        ("000.21.31.H53", "000.00.00.H53", True),
        ("000.00.31.H53", "000.21.31.H53", False),  # a parent is not under its child
        ("000.21.31.H53", "000.00.30.H53", False),  # another district
        ("000.21.31.H53", "000.12.31.H53", False),  # a sibling
        ("000.21.31.H53", "000.00.00.H62", False),  # another province
        ("000.21.31.H53", "000.21.00.H53", False),  # same groups at other levels is not ancestry
        ("00.41.H29", "000.00.00.H29", False),  # old and new forms do not mix
        ("00.41.H29", "00.00.H29", True),
        ("000.00.80.G24", "000.00.00.G24", True),
    ],
)
def test_is_under_means_descendant_or_self(text: str, other: str, under: bool) -> None:
    assert code(text).is_under(code(other)) is under


# --- patterns --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["*", "*.H62", "*.31.H62", "*.12.30.H62", "000.00.02.H62", "00.41.H29"])
def test_patterns_print_as_written(text: str) -> None:
    assert str(CodePattern.parse(text)) == text
    assert CodePattern.parse(text) == CodePattern.parse(text)
    assert hash(CodePattern.parse(text)) == hash(CodePattern.parse(text))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("*.", r"after '\*\.': it is empty"),
        ("*H62", r"'\*' must be followed by '\.'"),
        ("**", r"'\*' must be followed by '\.'"),
        ("*.*.H62", r"only one '\*'"),
        ("H62.*", r"'\*' may only stand first"),
        ("000.*.31.H62", r"'\*' may only stand first"),
        ("*.h62", "character 'h'"),
        ("*..H62", "empty first group"),
        ("*.00.H62", "zero group '00'.*'\\*\\.H62'"),
        ("*.000.00.31.H62", "zero group '000'"),
        ("*.31.000", "level-1 group"),
        ("000.00.00.h62", "character 'h'"),
        ("*." + "1" * 36, "36 characters, at most 35"),
    ],
)
def test_invalid_patterns_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidAgencyCode, match=reason) as caught:
        CodePattern.parse(text)
    assert caught.value.text == text
    assert "pattern" in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("*", ["000.00.00.H62", "00.41.H29", "H62", "000.00.80.G24"], []),
        (
            "*.H62",
            ["000.00.00.H62", "000.00.02.H62", "000.21.30.H62", "00.41.H62", "H62"],
            ["000.00.00.H29", "000.00.00.K62", "000.00.00.H620"],
        ),
        (
            "*.31.H62",
            ["000.00.31.H62", "000.12.31.H62", "000.21.31.H62", "001.21.31.H62"],
            ["000.00.00.H62", "000.00.30.H62", "000.31.00.H62", "000.00.31.H53", "H62"],
        ),
        (
            "000.00.02.H62",
            ["000.00.02.H62"],
            ["000.11.02.H62", "000.00.00.H62", "000.00.02.H29"],  # an exact code is not a subtree
        ),
    ],
)
def test_pattern_matching(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    parsed = CodePattern.parse(pattern)
    assert [c for c in matching if not parsed.matches(code(c))] == []
    assert [c for c in not_matching if parsed.matches(code(c))] == []


def test_most_specific_pattern_wins() -> None:
    target = code("000.12.30.H62")
    ordered = ["*", "*.H62", "*.30.H62", "*.12.30.H62", "000.12.30.H62"]
    patterns = [CodePattern.parse(p) for p in ordered]
    assert all(p.matches(target) for p in patterns)
    by_specificity = sorted(reversed(patterns), key=lambda p: p.specificity)
    assert [str(p) for p in by_specificity] == ordered
    assert len({p.specificity for p in patterns}) == len(patterns)

    rules = [*patterns, CodePattern.parse("*.31.H62"), CodePattern.parse("000.00.30.H62")]
    matching = [p for p in rules if p.matches(target)]
    assert str(max(matching, key=lambda p: p.specificity)) == "000.12.30.H62"
    matching.remove(CodePattern.parse("000.12.30.H62"))
    assert str(max(matching, key=lambda p: p.specificity)) == "*.12.30.H62"


def test_an_exact_code_beats_a_longer_suffix() -> None:
    assert CodePattern.parse("H62").specificity > CodePattern.parse("*.1.2.3.4.H62").specificity
