"""Agency identification codes (mã định danh) and the patterns that select them.

A code is at most 35 characters of `0-9`, `A-Z` and `.`, in dot-separated groups. Read right to
left: the last group is level 1 (cấp 1: a ministry, a province, a special body, e.g. `H62`), the
group before it level 2 (cấp 2), then level 3 and level 4. A group of zeros means "the body itself at
the level above": `000.00.00.H62` is UBND tỉnh, `000.00.31.H62` a district's UBND, `000.21.31.H62` a
commune under that district. The same reading applies to the older 3-group codes (`00.41.H29`) and to
codes of any other length. Everything here is pure: no I/O, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_LENGTH = 35
_ALLOWED = re.compile(r"[0-9A-Z.]")
_GROUP = re.compile(r"[0-9A-Z]+")
_WILDCARD = "*"


class InvalidAgencyCode(ValueError):
    """The text is not a valid agency code or code pattern; `reason` says why."""

    def __init__(self, text: str, reason: str, *, what: str = "agency code") -> None:
        super().__init__(f"invalid {what} {text!r}: {reason}")
        self.text = text
        self.reason = reason


def _is_zero(group: str) -> bool:
    return set(group) == {"0"}


def _check_groups(text: str, *, what: str) -> list[str]:
    """The groups of `text` if it satisfies the character rules of a code, else InvalidAgencyCode."""
    if not text:
        raise InvalidAgencyCode(text, "it is empty", what=what)
    if len(text) > MAX_LENGTH:
        raise InvalidAgencyCode(
            text, f"it has {len(text)} characters, at most {MAX_LENGTH} are allowed", what=what
        )
    for position, char in enumerate(text, start=1):
        if not _ALLOWED.fullmatch(char):
            hint = " (letters must be upper case)" if "a" <= char <= "z" else ""
            raise InvalidAgencyCode(
                text,
                f"character {char!r} at position {position} is not allowed: only 0-9, A-Z and '.'{hint}",
                what=what,
            )
    if text.startswith("."):
        raise InvalidAgencyCode(text, "it starts with '.' (empty first group)", what=what)
    if text.endswith("."):
        raise InvalidAgencyCode(text, "it ends with '.' (empty last group)", what=what)
    if ".." in text:
        position = text.index("..") + 1
        raise InvalidAgencyCode(text, f"empty group: '..' at position {position}", what=what)
    groups = text.split(".")
    if _is_zero(groups[-1]):
        raise InvalidAgencyCode(
            text,
            f"the level-1 group (cấp 1) {groups[-1]!r} is all zeros; it must name a ministry, "
            "province or other body, e.g. 'H62'",
            what=what,
        )
    return groups


@dataclass(frozen=True, slots=True, order=True)
class AgencyCode:
    """A valid mã định danh. `str(code)` is the code as written; equal codes are equal text.

    Build one with `AgencyCode.parse(text)`; the constructor validates too, so no invalid code exists.
    Parsing is strict: no trimming, no case folding (the caller decides what input it tolerates).
    """

    value: str

    def __post_init__(self) -> None:
        _check_groups(self.value, what="agency code")

    @classmethod
    def parse(cls, text: str) -> AgencyCode:
        return cls(text)

    def __str__(self) -> str:
        return self.value

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups left to right, so `groups[-1]` is level 1."""
        return tuple(self.value.split("."))

    @property
    def level1(self) -> str:
        """The level-1 group (cấp 1): the ministry, province or special body, e.g. 'H62'."""
        return self.groups[-1]

    @property
    def parent(self) -> AgencyCode | None:
        """The body one level up, by the code alone (the directory may say otherwise), or None for a
        level-1 body such as `000.00.00.H62`.

        The deepest non-zero group (the leftmost) is replaced by zeros of the same width:
        `000.21.31.H53` -> `000.00.31.H53` -> `000.00.00.H53` -> None. A code that skips a level
        (`000.21.00.H53`) hangs directly under the body above the gap (`000.00.00.H53`).
        """
        groups = list(self.groups)
        for index, group in enumerate(groups[:-1]):
            if not _is_zero(group):
                groups[index] = "0" * len(group)
                return AgencyCode(".".join(groups))
        return None

    def ancestors(self) -> tuple[AgencyCode, ...]:
        """The parent, its parent, … up to the level-1 body; empty for a level-1 body."""
        chain: list[AgencyCode] = []
        code = self.parent
        while code is not None:
            chain.append(code)
            code = code.parent
        return tuple(chain)

    def is_under(self, other: AgencyCode) -> bool:
        """True if this code is `other` or one of its descendants (trực thuộc)."""
        return self == other or other in self.ancestors()


class Specificity(NamedTuple):
    """How precisely a pattern names its codes; compares as a tuple, higher is more specific."""

    exact: bool  # an exact code beats every wildcard
    groups: int  # then the longer suffix beats the shorter; `*` has none


@dataclass(frozen=True, slots=True)
class CodePattern:
    """A selector over codes, for routing rules and directory queries.

    - an exact code, `000.00.02.H62`: that code only, not the bodies under it;
    - `*`: every code;
    - `*.<groups>`: every code whose last groups are these, i.e. the subtree of that body:
      `*.H62` is the whole province, `*.31.H62` district 31 and everything under it
      (`000.00.31.H62`, `000.12.31.H62`, `000.21.31.H62`).

    The groups after `*.` may not be all zeros (`*.00.H62` is refused). Zeros mean "the body itself
    at the level above", so a zero group does not select a subtree: by suffix matching `*.00.H62`
    would take UBND tỉnh and any body coded directly under it without a level 2, but not the sở
    (`000.00.02.H62`) nor the districts, which is not what anyone writing it means. Write `*.H62`
    for the whole province or the exact code `000.00.00.H62` for the body itself. With this rule a
    suffix pattern matches exactly the codes that are under its root (the suffix padded with zero
    groups to the code's length).

    Of two different patterns that match the same code, one is always strictly more specific, so
    "the most specific rule wins" is `max(matching, key=lambda p: p.specificity)` without ties.
    """

    text: str
    # Derived from `text` by `parse`; build patterns only through it.
    _exact: AgencyCode | None = field(compare=False, repr=False)
    _suffix: tuple[str, ...] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> CodePattern:
        if text == _WILDCARD:
            return cls(text, None, ())
        if not text.startswith(_WILDCARD):
            if _WILDCARD in text:
                raise InvalidAgencyCode(
                    text, "'*' may only stand first, as '*' or '*.<groups>' (e.g. '*.H62')", what="pattern"
                )
            return cls(text, _parse_pattern_code(text), ())
        if not text.startswith(_WILDCARD + "."):
            raise InvalidAgencyCode(
                text, "'*' must be followed by '.' and groups, e.g. '*.H62'", what="pattern"
            )
        suffix_text = text[2:]
        if _WILDCARD in suffix_text:
            raise InvalidAgencyCode(text, "only one '*' is allowed, as the first group", what="pattern")
        try:
            groups = _check_groups(suffix_text, what="pattern")
        except InvalidAgencyCode as error:
            raise InvalidAgencyCode(text, f"after '*.': {error.reason}", what="pattern") from None
        zeros = [group for group in groups if _is_zero(group)]
        if zeros:
            raise InvalidAgencyCode(
                text,
                f"zero group {zeros[0]!r}: zeros mean 'the body itself at the level above' and select no "
                f"subtree; use '*.{groups[-1]}' for everything under {groups[-1]}, or an exact code",
                what="pattern",
            )
        return cls(text, None, tuple(groups))

    def __str__(self) -> str:
        return self.text

    @property
    def specificity(self) -> Specificity:
        if self._exact is not None:
            return Specificity(exact=True, groups=len(self._exact.groups))
        return Specificity(exact=False, groups=len(self._suffix))

    def matches(self, code: AgencyCode) -> bool:
        if self._exact is not None:
            return code == self._exact
        if not self._suffix:
            return True
        groups = code.groups
        return len(groups) >= len(self._suffix) and groups[-len(self._suffix) :] == self._suffix


def _parse_pattern_code(text: str) -> AgencyCode:
    try:
        return AgencyCode.parse(text)
    except InvalidAgencyCode as error:
        raise InvalidAgencyCode(text, error.reason, what="pattern") from None
