"""The guides exist in Vietnamese and in English, kept in step; one terminology for both.

Every guide in docs/ is a pair, docs/NAME.md (English) and docs/NAME.vi.md (Vietnamese), and so is the
README (README.md and README.vi.md). The two of a pair have the same section headings structure: the
same number of headings of each level, in the same order. docs/thuat-ngu.md (the terminology) is
bilingual in itself and bench/README.md is for the developers who run the benchmarks: both are exempt.

docs/thuat-ngu.csv is the terminology in a form a program reads; the hub's own names (status codes,
delivery states, business document types) must agree with it, and docs/thuat-ngu.md must show every row.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from app.edxml.model import STATUS_MEANINGS, BusinessDocType
from app.models import DeliveryState

ROOT = Path(__file__).resolve().parents[1]
VI_SUFFIX = ".vi.md"
#: Guides written once, in both languages at once (or for developers only), relative to the root.
EXEMPT = frozenset({"docs/thuat-ngu.md"})
GLOSSARY_COLUMNS = ["key", "vi", "en", "edxml", "source", "note"]

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+\S")


def heading_levels(text: str) -> list[int]:
    """The level of every ATX heading (`#` … `######`) in order, leaving out fenced code blocks."""
    levels: list[int] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if opening:
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is not None:
            continue
        heading = _HEADING.match(line)
        if heading:
            levels.append(len(heading.group(1)))
    return levels


def guide_pairs(root: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(English, Vietnamese) pairs of the guides under `root`, and a problem for every guide alone."""
    english: set[Path] = set()
    vietnamese: set[Path] = set()
    candidates = [*sorted((root / "docs").glob("*.md")), root / "README.md", root / "README.vi.md"]
    for path in candidates:
        if not path.exists() or path.relative_to(root).as_posix() in EXEMPT:
            continue
        (vietnamese if path.name.endswith(VI_SUFFIX) else english).add(path)
    pairs: list[tuple[Path, Path]] = []
    problems: list[str] = []
    for path in sorted(english):
        partner = path.with_name(path.name[: -len(".md")] + VI_SUFFIX)
        if partner in vietnamese:
            pairs.append((path, partner))
        else:
            problems.append(f"{path.relative_to(root)} has no Vietnamese version {partner.relative_to(root)}")
    for path in sorted(vietnamese):
        partner = path.with_name(path.name[: -len(VI_SUFFIX)] + ".md")
        if partner not in english:
            problems.append(f"{path.relative_to(root)} has no English version {partner.relative_to(root)}")
    return pairs, problems


def heading_problem(english: Path, vietnamese: Path, root: Path) -> str | None:
    """Why the two guides' section headings do not correspond, or None when they do."""
    en = heading_levels(english.read_text(encoding="utf-8"))
    vi = heading_levels(vietnamese.read_text(encoding="utf-8"))
    if en == vi:
        return None
    counts = {level: (en.count(level), vi.count(level)) for level in sorted(set(en) | set(vi))}
    first = next((i for i, (a, b) in enumerate(zip(en, vi, strict=False)) if a != b), min(len(en), len(vi)))
    return (
        f"{english.relative_to(root)} and {vietnamese.relative_to(root)} differ in their headings: "
        + ", ".join(f"{'#' * level} {a} vs {b}" for level, (a, b) in counts.items())
        + f"; the first difference is heading number {first + 1}"
    )


def language_problems(root: Path) -> list[str]:
    pairs, problems = guide_pairs(root)
    for english, vietnamese in pairs:
        problem = heading_problem(english, vietnamese, root)
        if problem:
            problems.append(problem)
    return problems


def test_every_guide_exists_in_both_languages_with_the_same_headings() -> None:
    assert language_problems(ROOT) == []


def test_the_readme_and_its_vietnamese_version_point_at_each_other() -> None:
    english = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    vietnamese = (ROOT / "README.vi.md").read_text(encoding="utf-8").splitlines()
    assert any("README.vi.md" in line for line in english[:5]), "README.md links to README.vi.md at its top"
    assert any("README.md" in line for line in vietnamese[:5]), (
        "README.vi.md links back to README.md at its top"
    )


# The checker itself, on small trees of its own: it must notice what it is there to notice.


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_checker_accepts_matching_pairs_and_ignores_headings_in_code(tmp_path: Path) -> None:
    _write(tmp_path, "README.md", "# Hub\n\n## Two commands\n\n```sh\n# a shell comment\n```\n")
    _write(tmp_path, "README.vi.md", "# Hub\n\n## Hai lệnh\n\n```sh\n# chú thích\n# thêm một dòng\n```\n")
    _write(tmp_path, "docs/guide.md", "# Guide\n## A\n### a\n## B\n")
    _write(tmp_path, "docs/guide.vi.md", "# Hướng dẫn\n## A\n### a\n## B\n")
    _write(tmp_path, "docs/thuat-ngu.md", "# Thuật ngữ / Terminology\n")
    assert language_problems(tmp_path) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"docs/security.md": "# S\n"}, "docs/security.md has no Vietnamese version docs/security.vi.md"),
        ({"docs/audit.vi.md": "# K\n"}, "docs/audit.vi.md has no English version docs/audit.md"),
        ({"docs/ops.md": "# O\n## A\n## B\n", "docs/ops.vi.md": "# O\n## A\n"}, "## 2 vs 1"),
        ({"docs/ops.md": "# O\n## A\n### x\n", "docs/ops.vi.md": "# O\n### x\n## A\n"}, "heading number 2"),
        ({"README.vi.md": "# H\n"}, "README.vi.md has no English version README.md"),
    ],
)
def test_the_checker_names_a_lone_guide_or_a_heading_without_counterpart(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        _write(tmp_path, name, text)
    problems = language_problems(tmp_path)
    assert len(problems) == 1
    assert expected in problems[0]


# The terminology.


def glossary() -> list[dict[str, str]]:
    with (ROOT / "docs" / "thuat-ngu.csv").open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == GLOSSARY_COLUMNS
        return list(reader)


def _by_key() -> dict[str, dict[str, str]]:
    return {row["key"]: row for row in glossary()}


def test_the_glossary_has_one_row_per_key_each_with_both_languages() -> None:
    rows = glossary()
    keys = [row["key"] for row in rows]
    assert len(keys) == len(set(keys)), "a key appears twice"
    for row in rows:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", row["key"]), row["key"]
        assert row["vi"].strip() and row["en"].strip() and row["source"].strip(), row["key"]


def test_the_glossary_page_shows_every_row_of_the_glossary() -> None:
    page = (ROOT / "docs" / "thuat-ngu.md").read_text(encoding="utf-8")
    table_rows = [line for line in page.splitlines() if line.startswith("|")]
    for row in glossary():
        assert any(row["vi"] in line and row["en"] in line for line in table_rows), (
            f"docs/thuat-ngu.md has no table row with {row['vi']!r} and {row['en']!r} ({row['key']})"
        )


def test_the_status_codes_are_named_as_the_hub_names_them() -> None:
    rows = _by_key()
    for code, meaning in STATUS_MEANINGS.items():
        row = rows[f"status-{code}"]
        assert row["vi"].casefold() == meaning.casefold()
        assert row["edxml"] == f"StatusCode {code}"
    listed = {key.removeprefix("status-") for key in rows if key.startswith("status-")}
    assert listed == set(STATUS_MEANINGS)


def test_every_delivery_state_and_business_document_type_has_its_term() -> None:
    rows = _by_key()
    for state in DeliveryState:
        assert rows[f"delivery-{state.value.replace('_', '-')}"]["edxml"] == f"`{state.value}`"
    for doc_type in BusinessDocType:
        assert rows[f"business-{doc_type.name.lower()}"]["edxml"] == f"BussinessDocType {doc_type.value}"
