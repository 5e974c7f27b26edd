"""The indicator reports as typed rows, for the API, the CLI, the report documents and the console.

`indicator_report()` is the one entry point: it reads the directory, the working calendar and the
paper counts, runs the period's aggregate queries (app.reports.queries), attributes what closed
agencies carried to their successors, and returns one row per agency, or one row per subtree of the
code hierarchy when rolled up. The definitions of every column are in docs/reports.md.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, delete, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.agencies.codes import AgencyCode, InvalidAgencyCode
from app.kit.clock import VIETNAM, utcnow
from app.kit.errors import BadRequest, NotFound
from app.models import (
    Agency,
    AgencyStatus,
    Delivery,
    Document,
    Holiday,
    MessageKind,
    PaperCount,
    ReportSnapshot,
    StatusReport,
)
from app.reports.calendar import DEFAULT_EXCEPTIONS, DayException, WorkingCalendar
from app.reports.periods import MAX_DAYS, Period, previous_month
from app.reports.queries import DONE_06, REACHED_03, RECALLED, Facts, collect

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

#: The province's target for the share of documents exchanged electronically between state bodies.
ELECTRONIC_TARGET = 0.9


@dataclass(slots=True)
class IndicatorRow:
    """One line of an indicator report: an agency, or a subtree of the hierarchy rolled up."""

    agency: str
    name: str
    parent: str | None
    status: str
    rollup: bool  # True: the agency and everything under it
    agencies: int  # agencies counted in the row (1 unless rolled up)
    agencies_without_traffic: int  # active agencies that neither sent nor received anything
    no_traffic: bool
    merged_codes: str  # closed agencies whose figures are counted here (their successor's row)
    sent: int
    sent_api: int
    sent_vxp: int
    sent_axis: int
    sent_hub: int
    sent_new: int
    sent_revoke: int
    sent_update: int
    sent_replace: int
    sent_status: int
    received: int
    received_api: int
    received_vxp: int
    received_axis: int
    received_hub: int
    received_new: int
    received_revoke: int
    received_update: int
    received_replace: int
    received_status: int
    expected_to_handle: int
    withdrawn: int
    acknowledged_01: int
    registered_03: int
    completed_06: int
    acknowledged_01_share: float | None
    registered_03_share: float | None
    completed_06_share: float | None
    median_working_days_to_03: float | None
    p90_working_days_to_03: int | None
    median_working_days_to_06: float | None
    p90_working_days_to_06: int | None
    not_registered_03: int
    overdue: int
    completed_late: int
    directives: int
    directives_open: int
    delivered: int
    failed: int
    discarded: int
    paper_sent: int | None
    electronic_share: float | None
    electronic_target: float
    meets_target: bool | None
    electronic_share_source: str  # where the paper counts come from, or why there is no share


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(IndicatorRow))


@dataclass(frozen=True, slots=True)
class IndicatorReport:
    period: Period
    as_of: datetime
    scope: str  # the agency whose subtree the report covers
    rollup: bool
    rows: list[IndicatorRow]
    calendar_note: str  # years whose holidays are unknown, if any

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "since": self.period.first.isoformat(),
            "until": self.period.last.isoformat(),
            "as_of": self.as_of.isoformat(),
            "agency": self.scope,
            "rollup": self.rollup,
            "calendar_note": self.calendar_note,
            "rows": [row_dict(row) for row in self.rows],
        }


def row_dict(row: IndicatorRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in COLUMNS}


# --- statistics ---------------------------------------------------------------------------------


def median(histogram: Counter[int]) -> float | None:
    """The median of the values counted in `histogram` (the mean of the two middle ones for an even
    count), or None when it is empty."""
    n = sum(histogram.values())
    if n == 0:
        return None
    low, high = _nth(histogram, (n - 1) // 2), _nth(histogram, n // 2)
    return (low + high) / 2


def p90(histogram: Counter[int]) -> int | None:
    """The 90th percentile by the nearest-rank method: the smallest value with at least 90% of the
    values at or below it."""
    n = sum(histogram.values())
    if n == 0:
        return None
    return _nth(histogram, math.ceil(0.9 * n) - 1)


def _nth(histogram: Counter[int], index: int) -> int:
    """The value at 0-based position `index` of the sorted values."""
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > index:
            return value
    raise IndexError(index)


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


# --- the working calendar -----------------------------------------------------------------------


async def configured_exceptions(session: AsyncSession, years: Iterable[int]) -> dict[int, list[DayException]]:
    """The calendar exceptions operators set, by year."""
    years = sorted(set(years))
    rows = await session.scalars(
        select(Holiday).where(extract("year", Holiday.day).in_(years)).order_by(Holiday.day)
    )
    result: dict[int, list[DayException]] = {}
    for row in rows:
        result.setdefault(row.day.year, []).append(DayException(row.day, row.name, row.working))
    return result


async def working_calendar(session: AsyncSession, years: Iterable[int]) -> WorkingCalendar:
    years = list(years)
    return WorkingCalendar.build(years, await configured_exceptions(session, years))


async def year_exceptions(session: AsyncSession, year: int) -> tuple[list[DayException], str]:
    """The exceptions of one year and where they come from: "configured", "default" or "none"."""
    configured = (await configured_exceptions(session, [year])).get(year)
    if configured:
        return configured, "configured"
    calendar = WorkingCalendar.build([year], {})
    if year in calendar.years_without_data:
        return [], "none"
    return list(DEFAULT_EXCEPTIONS[year]), "default"


async def set_year_exceptions(session: AsyncSession, year: int, days: Sequence[DayException]) -> None:
    """Replace the exceptions of `year` (an empty list goes back to the defaults)."""
    for day in days:
        if day.day.year != year:
            raise BadRequest(f"{day.day.isoformat()} is not in {year}")
        if day.working and day.day.weekday() < 5:
            raise BadRequest(f"{day.day.isoformat()} is a weekday: only a Saturday or Sunday can be worked")
    if len({d.day for d in days}) != len(days):
        raise BadRequest("a day is listed twice")
    await session.execute(delete(Holiday).where(extract("year", Holiday.day) == year))
    session.add_all(Holiday(day=d.day, name=d.name, working=d.working) for d in days)
    await session.flush()


# --- paper counts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperEntry:
    agency_code: str
    month: str
    paper_sent: int
    source: str


async def set_paper_counts(session: AsyncSession, entries: Sequence[PaperEntry], *, actor: str) -> int:
    """Enter or correct paper counts (one per agency and month); returns how many were written."""
    codes = {e.agency_code for e in entries}
    known = set(await session.scalars(select(Agency.code).where(Agency.code.in_(codes))))
    for entry in entries:
        if entry.agency_code not in known:
            raise BadRequest(f"{entry.agency_code} is not in the agency directory")
        if not _MONTH.fullmatch(entry.month):
            raise BadRequest(f"paper counts are monthly: {entry.month!r} is not YYYY-MM")
        if not 0 <= entry.paper_sent <= 10_000_000:
            raise BadRequest(f"{entry.agency_code} {entry.month}: a count is between 0 and 10,000,000")
    for entry in entries:
        await session.merge(
            PaperCount(
                agency_code=entry.agency_code,
                month=entry.month,
                paper_sent=entry.paper_sent,
                source=entry.source,
                entered_by=actor,
                entered_at=utcnow(),
            )
        )
    await session.flush()
    return len(entries)


async def paper_counts(
    session: AsyncSession, *, months: Sequence[str], agency: str | None = None
) -> list[PaperCount]:
    query = (
        select(PaperCount)
        .where(PaperCount.month.in_(months))
        .order_by(PaperCount.agency_code, PaperCount.month)
    )
    if agency:
        query = query.where(PaperCount.agency_code == agency)
    return list(await session.scalars(query))


# --- the directory as a tree --------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    agency: Agency
    parent: str | None
    children: list[str]


def _tree(agencies: Sequence[Agency]) -> dict[str, _Node]:
    """The directory as a tree: the parent is the agency's parent_code, else the nearest ancestor by
    its code that is in the directory."""
    by_code = {a.code: a for a in agencies}
    nodes = {a.code: _Node(a, None, []) for a in agencies}
    for agency in agencies:
        parent = agency.parent_code if agency.parent_code in by_code else _code_parent(agency.code, by_code)
        if parent == agency.code:
            parent = None
        nodes[agency.code].parent = parent
        if parent is not None:
            nodes[parent].children.append(agency.code)
    for node in nodes.values():
        node.children.sort()
    return nodes


def _code_parent(code: str, known: dict[str, Agency]) -> str | None:
    try:
        ancestors = AgencyCode.parse(code).ancestors()
    except InvalidAgencyCode:
        return None
    return next((str(a) for a in ancestors if str(a) in known), None)


def _subtree(nodes: dict[str, _Node], root: str) -> list[str]:
    found, stack, seen = [], [root], set()
    while stack:
        code = stack.pop()
        if code in seen:  # a directory with a cycle in parent codes: count each agency once
            continue
        seen.add(code)
        found.append(code)
        stack.extend(reversed(nodes[code].children))
    return found


def _successor(nodes: dict[str, _Node], code: str) -> str:
    """Where a closed agency's figures are counted: its successor (following the chain), or itself."""
    seen = {code}
    current = code
    while True:
        agency = nodes[current].agency
        nxt = agency.successor_code
        if agency.status != AgencyStatus.CLOSED or not nxt or nxt not in nodes or nxt in seen:
            return current
        seen.add(nxt)
        current = nxt


def province_root(hub_code: str) -> str:
    """The level-1 body of the hub's code: the province (UBND tỉnh, 000.00.00.H62)."""
    code = AgencyCode.parse(hub_code)
    ancestors = code.ancestors()
    return str(ancestors[-1]) if ancestors else str(code)


# --- the report -----------------------------------------------------------------------------------


async def _calendar_for(session: AsyncSession, period: Period, as_of: datetime) -> WorkingCalendar:
    as_of_day = as_of.astimezone(VIETNAM).date()
    if as_of < period.start or (as_of_day - period.last).days > MAX_DAYS:
        raise BadRequest(f"as_of must be after the period's start and at most {MAX_DAYS} days after its end")
    return await working_calendar(session, range(period.first.year, max(period.last, as_of_day).year + 1))


async def period_facts(
    session: AsyncSession, period: Period, as_of: datetime
) -> tuple[dict[str, Facts], WorkingCalendar]:
    """Every agency's facts in `period`, counted now from the tables, and the calendar used."""
    calendar = await _calendar_for(session, period, as_of)
    last_day = max(period.last, as_of.astimezone(VIETNAM).date())
    facts = await collect(
        session,
        start=period.start,
        end=period.end,
        as_of=as_of,
        working_index=calendar.index(period.first, last_day),
    )
    return facts, calendar


async def refresh_snapshot(session: AsyncSession, period: Period, *, as_of: datetime | None = None) -> int:
    """Count the period's facts now and keep them as its snapshot; returns the agencies counted."""
    as_of = as_of or utcnow()
    facts, _ = await period_facts(session, period, as_of)
    await session.merge(
        ReportSnapshot(
            period=period.label,
            as_of=as_of,
            facts={code: f.to_json() for code, f in facts.items()},
            computed_at=utcnow(),
        )
    )
    await session.flush()
    return len(facts)


def snapshot_periods(today: date) -> list[Period]:
    """The periods the background keeps snapshots of: this month and the previous one, this quarter,
    this year (Vietnam dates)."""
    month = Period.parse(f"{today.year:04d}-{today.month:02d}")
    quarter = Period.parse(f"{today.year:04d}-Q{(today.month - 1) // 3 + 1}")
    return [month, previous_month(today), quarter, Period.parse(f"{today.year:04d}")]


#: The months before the previous one that keep snapshots too ("settled" months: their documents are
#: all in, only late statuses still change their figures), so a year's trend reads no month live.
SETTLED_MONTHS = 11
#: A settled month's snapshot is read while younger than this many times `snapshot_max_age` (48 h
#: at the default interval); the background recounts one settled month per round, so each is
#: recounted about every 11 rounds.
SETTLED_AGE_FACTOR = 24


def settled_months(today: date) -> list[Period]:
    """The SETTLED_MONTHS months before the previous one (Vietnam dates), oldest first."""
    months = []
    first = previous_month(today).first
    for _ in range(SETTLED_MONTHS):
        period = previous_month(first)
        months.append(period)
        first = period.first
    return months[::-1]


async def settled_due(session: AsyncSession, today: date) -> list[Period]:
    """The settled months to recount now: every one without a snapshot, or else the one whose
    snapshot is the oldest."""
    months = settled_months(today)
    rows = await session.execute(
        select(ReportSnapshot.period, ReportSnapshot.computed_at).where(
            ReportSnapshot.period.in_([m.label for m in months])
        )
    )
    computed = {label: at for label, at in rows}
    missing = [m for m in months if m.label not in computed]
    if missing:
        return missing
    return [min(months, key=lambda m: computed[m.label])] if months else []


async def usable_snapshot(
    session: AsyncSession, period: Period, *, max_age: float, now: datetime | None = None
) -> ReportSnapshot | None:
    """The one place that decides between a snapshot and counting live: the period's snapshot if it
    is fresh enough, else None. Fresh enough: computed less than `max_age` seconds ago; for a settled
    month (a month before the previous one, whose snapshot was taken after the month ended) less
    than SETTLED_AGE_FACTOR × `max_age` ago. `max_age` 0 never reads a snapshot."""
    if max_age <= 0:
        return None
    snapshot = await session.get(ReportSnapshot, period.label)
    if snapshot is None:
        return None
    now = now or utcnow()
    limit = max_age
    months = period.months()
    if (
        months is not None
        and len(months) == 1
        and period.after <= previous_month(now.astimezone(VIETNAM).date()).first
        and snapshot.as_of >= period.end
    ):
        limit = SETTLED_AGE_FACTOR * max_age
    return snapshot if (now - snapshot.computed_at).total_seconds() <= limit else None


async def indicator_report(
    session: AsyncSession,
    *,
    period: Period,
    hub_code: str,
    agency: str | None = None,
    rollup: bool = False,
    as_of: datetime | None = None,
    snapshot_max_age: float = 0,
) -> IndicatorReport:
    """The indicators of `period` for the subtree of `agency` (default: the province of the hub).

    Not rolled up: one row per agency of the subtree. Rolled up: the subtree as one row, then one
    row per direct child's subtree (a district with its communes, a sở, …). Statuses and revokes are
    counted up to `as_of` (default: now). Without `as_of`, the period's snapshot is used when one
    was computed less than `snapshot_max_age` seconds ago; the report's `as_of` is then the
    snapshot's (see `usable_snapshot`)."""
    snapshot = None
    if as_of is None:
        snapshot = await usable_snapshot(session, period, max_age=snapshot_max_age)
    as_of = snapshot.as_of if snapshot is not None else (as_of or utcnow())
    agencies = list(await session.scalars(select(Agency)))
    nodes = _tree(agencies)
    root = agency or province_root(hub_code)
    if root not in nodes:
        raise NotFound(f"no agency {root} in the directory")

    if snapshot is not None:
        calendar = await _calendar_for(session, period, as_of)
        facts_by_code = {code: Facts.from_json(facts) for code, facts in snapshot.facts.items()}
    else:
        facts_by_code, calendar = await period_facts(session, period, as_of)

    # Each agency's own facts, closed agencies' counted at their successors.
    own: dict[str, Facts] = {}
    merged: dict[str, list[str]] = {}
    for code, facts in facts_by_code.items():
        target = code if code in nodes else _code_parent(code, {c: n.agency for c, n in nodes.items()})
        if target is None:
            continue  # an agency of no known body: outside every subtree
        successor = _successor(nodes, target)
        if successor != target:
            merged.setdefault(successor, []).append(target)
        own.setdefault(successor, Facts()).add(facts)

    months = period.months()
    paper = await _paper_by_agency(session, months) if months else {}

    def row(code: str, members: list[str], rolled: bool) -> IndicatorRow:
        node = nodes[code]
        total = Facts()
        for member in members:
            if member in own:
                total.add(own[member])
        counted = [m for m in members if _counted(nodes[m].agency, own)]
        active = [m for m in counted if nodes[m].agency.status == AgencyStatus.ACTIVE]
        without = sum(1 for m in active if not (m in own and own[m].has_traffic))
        return _build_row(
            node,
            total,
            rollup=rolled,
            agencies=len(counted),
            agencies_without_traffic=without,
            merged=sorted(c for m in members for c in merged.get(m, [])),
            paper=_paper_for(members=counted, months=months, paper=paper, nodes=nodes),
        )

    subtree = _subtree(nodes, root)
    rows: list[IndicatorRow]
    if rollup:
        rows = [row(root, subtree, True)]
        rows += [row(child, _subtree(nodes, child), True) for child in nodes[root].children]
    else:
        rows = [row(code, [code], False) for code in subtree if _counted(nodes[code].agency, own)]
    unknown = sorted(calendar.years_without_data)
    note = (
        f"no holidays are known for {', '.join(map(str, unknown))}: only weekends are off" if unknown else ""
    )
    return IndicatorReport(period, as_of, root, rollup, rows, note)


def _counted(agency: Agency, own: dict[str, Facts]) -> bool:
    """An agency has a row unless it is closed (its figures are at its successor's) with nothing left
    of its own."""
    return agency.status != AgencyStatus.CLOSED or agency.code in own


@dataclass(frozen=True, slots=True)
class _Paper:
    count: int | None
    source: str


async def _paper_by_agency(session: AsyncSession, months: list[str]) -> dict[tuple[str, str], PaperCount]:
    return {(p.agency_code, p.month): p for p in await paper_counts(session, months=months)}


def _paper_for(
    *,
    members: list[str],
    months: list[str] | None,
    paper: dict[tuple[str, str], PaperCount],
    nodes: dict[str, _Node],
) -> _Paper:
    if months is None:
        return _Paper(None, "paper counts are monthly; the period does not cover whole months")
    needed = [m for m in members if nodes[m].agency.status == AgencyStatus.ACTIVE]
    missing = [(code, month) for code in needed for month in months if (code, month) not in paper]
    if missing:
        example = ", ".join(f"{code} {month}" for code, month in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return _Paper(None, f"no paper count entered for {example}{more}")
    counts = [paper[(code, month)] for code in needed for month in months]
    sources = sorted({p.source for p in counts if p.source})
    return _Paper(sum(p.paper_sent for p in counts), "; ".join(sources) or "entered by operators")


def _build_row(
    node: _Node,
    facts: Facts,
    *,
    rollup: bool,
    agencies: int,
    agencies_without_traffic: int,
    merged: list[str],
    paper: _Paper,
) -> IndicatorRow:
    sent, received, handling = facts.sent, facts.received, facts.handling

    def total(
        counter: Counter[str], kind: str, business_type: str | None = None, channel: str | None = None
    ) -> int:
        result = 0
        for key, count in counter.items():
            k, b, c = key.split(":")
            if k == kind and business_type in (None, b) and channel in (None, c):
                result += count
        return result

    expected = handling["expected"]
    sent_new = total(sent, "edoc", "0")
    electronic_share = None
    if paper.count is not None:
        electronic_share = _share(sent_new, sent_new + paper.count)
    return IndicatorRow(
        agency=node.agency.code,
        name=node.agency.name,
        parent=node.parent,
        status=node.agency.status,
        rollup=rollup,
        agencies=agencies,
        agencies_without_traffic=agencies_without_traffic,
        no_traffic=not facts.has_traffic,
        merged_codes=" ".join(merged),
        sent=total(sent, "edoc"),
        sent_api=total(sent, "edoc", channel="api"),
        sent_vxp=total(sent, "edoc", channel="vxp"),
        sent_axis=total(sent, "edoc", channel="axis"),
        sent_hub=total(sent, "edoc", channel="hub"),
        sent_new=sent_new,
        sent_revoke=total(sent, "edoc", "1"),
        sent_update=total(sent, "edoc", "2"),
        sent_replace=total(sent, "edoc", "3"),
        sent_status=total(sent, "status"),
        received=total(received, "edoc"),
        received_api=total(received, "edoc", channel="api"),
        received_vxp=total(received, "edoc", channel="vxp"),
        received_axis=total(received, "edoc", channel="axis"),
        received_hub=total(received, "edoc", channel="hub"),
        received_new=total(received, "edoc", "0"),
        received_revoke=total(received, "edoc", "1"),
        received_update=total(received, "edoc", "2"),
        received_replace=total(received, "edoc", "3"),
        received_status=total(received, "status"),
        expected_to_handle=expected,
        withdrawn=handling["withdrawn"],
        acknowledged_01=handling["reached_01"],
        registered_03=handling["reached_03"],
        completed_06=handling["reached_06"],
        acknowledged_01_share=_share(handling["reached_01"], expected),
        registered_03_share=_share(handling["reached_03"], expected),
        completed_06_share=_share(handling["reached_06"], expected),
        median_working_days_to_03=median(facts.days_to_03),
        p90_working_days_to_03=p90(facts.days_to_03),
        median_working_days_to_06=median(facts.days_to_06),
        p90_working_days_to_06=p90(facts.days_to_06),
        not_registered_03=handling["pending_03"],
        overdue=handling["overdue"],
        completed_late=handling["completed_late"],
        directives=handling["directives"],
        directives_open=handling["directives_open"],
        delivered=facts.delivery_states["delivered"],
        failed=facts.delivery_states["failed"],
        discarded=facts.delivery_states["discarded"],
        paper_sent=paper.count,
        electronic_share=electronic_share,
        electronic_target=ELECTRONIC_TARGET,
        meets_target=None if electronic_share is None else electronic_share >= ELECTRONIC_TARGET,
        electronic_share_source=paper.source,
    )


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{text!r} is not a date YYYY-MM-DD") from None


# --- files operators import -----------------------------------------------------------------------

_PAPER_COLUMNS = {
    "agency": ("agency", "agency_code", "code", "ma_dinh_danh", "madinhdanh"),
    "month": ("month", "thang"),
    "paper_sent": ("paper_sent", "so_van_ban_giay", "sovanbangiay", "paper"),
    "source": ("source", "nguon"),
}


class ImportFileError(ValueError):
    """A file operators import has problems; the message lists them all, by line."""


def _columns(header: list[str], wanted: dict[str, tuple[str, ...]], required: set[str]) -> dict[str, int]:
    normalised = [h.strip().lower().lstrip("\ufeff") for h in header]
    found = {}
    for name, spellings in wanted.items():
        position = next((i for i, h in enumerate(normalised) if h in spellings), None)
        if position is not None:
            found[name] = position
    missing = sorted(required - set(found))
    if missing:
        raise ImportFileError(f"line 1: missing column(s) {', '.join(missing)}")
    return found


def read_paper_csv(text: str) -> list[PaperEntry]:
    """Paper counts from CSV: agency, month (YYYY-MM), paper_sent, and optionally source."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ImportFileError("the file is empty")
    columns = _columns(rows[0], _PAPER_COLUMNS, {"agency", "month", "paper_sent"})
    entries, problems = [], []
    for number, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue

        def get(name: str, values: list[str] = values) -> str:
            position = columns.get(name)
            return values[position].strip() if position is not None and position < len(values) else ""

        month, count = get("month"), get("paper_sent")
        if not _MONTH.fullmatch(month):
            problems.append(f"line {number}: month {month!r} is not YYYY-MM")
        if not count.isdigit() or len(count) > 8:
            problems.append(f"line {number}: paper_sent {count!r} is not a whole number")
        if not get("agency"):
            problems.append(f"line {number}: no agency code")
        if not problems:
            entries.append(PaperEntry(get("agency"), month, int(count), get("source")[:300]))
    if problems:
        raise ImportFileError("; ".join(problems[:20]))
    return entries


def read_calendar_csv(text: str, year: int) -> list[DayException]:
    """A year's calendar exceptions from CSV: day (YYYY-MM-DD), name, and optionally working (1 for a
    weekend day worked)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ImportFileError("the file is empty")
    columns = _columns(
        rows[0],
        {"day": ("day", "date", "ngay"), "name": ("name", "ten"), "working": ("working", "lam_bu")},
        {"day", "name"},
    )
    days, problems = [], []
    for number, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        cells = {name: values[i].strip() if i < len(values) else "" for name, i in columns.items()}
        try:
            day = date.fromisoformat(cells["day"])
        except ValueError:
            problems.append(f"line {number}: {cells['day']!r} is not a date YYYY-MM-DD")
            continue
        if day.year != year:
            problems.append(f"line {number}: {day.isoformat()} is not in {year}")
        days.append(DayException(day, cells["name"][:200], cells.get("working", "") in ("1", "true", "x")))
    if problems:
        raise ImportFileError("; ".join(problems[:20]))
    return days


# --- for the console: trends, rankings, drill-down to documents ----------------------------------


@dataclass(frozen=True, slots=True)
class TrendPoint:
    month: str
    row: IndicatorRow  # the agency's subtree rolled up, in that month


async def monthly_trend(
    session: AsyncSession,
    *,
    period: Period,
    hub_code: str,
    agency: str | None = None,
    as_of: datetime | None = None,
    snapshot_max_age: float = 0,
) -> list[TrendPoint]:
    """The subtree of `agency` (default: the province) rolled up, month by month over `period`
    (whole months, at most 36). Without `as_of`, each month is read from its snapshot when
    `indicator_report` finds one fresh enough (recent and settled months), else counted live."""
    months = period.months()
    if not months or len(months) > 36:
        raise BadRequest("a trend covers whole months, at most 36")
    points = []
    for month in months:
        report = await indicator_report(
            session,
            period=Period.parse(month),
            hub_code=hub_code,
            agency=agency,
            rollup=True,
            as_of=as_of,
            snapshot_max_age=snapshot_max_age,
        )
        points.append(TrendPoint(month, report.rows[0]))
    return points


def top_rows(rows: Iterable[IndicatorRow], column: str, limit: int = 10) -> list[IndicatorRow]:
    """The rows with the highest value of a numeric column (e.g. the most overdue agencies); rows
    without a value or with 0 are left out."""
    if column not in COLUMNS:
        raise BadRequest(f"no column {column!r}")
    ranked = [r for r in rows if isinstance(getattr(r, column), int | float) and getattr(r, column)]
    return sorted(ranked, key=lambda r: (-getattr(r, column), r.agency))[:limit]


class DocumentFilter(StrEnum):
    """Which of an agency's received documents a drill-down lists (the definitions of the columns
    of the same names)."""

    RECEIVED = "received"
    NOT_REGISTERED = "not_registered_03"
    OVERDUE = "overdue"
    DIRECTIVES_OPEN = "directives_open"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One received document of a drill-down, with how far its recipient got."""

    document_id: str  # the hub's id: GET /api/v1/documents/{id}
    edxml_document_id: str
    sender: str
    subject: str
    received_at: datetime
    due_date: date | None
    steering_type: int | None
    delivery_state: str
    registered_03_at: datetime | None
    completed_06_at: datetime | None
    withdrawn: bool


async def agency_documents(
    session: AsyncSession,
    *,
    agency: str,
    period: Period,
    which: DocumentFilter = DocumentFilter.RECEIVED,
    as_of: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[DocumentLine]:
    """The new documents `agency` received in `period`, filtered as the report counts them: the
    drill-down behind a row's figures (newest first)."""
    as_of = as_of or utcnow()
    status = (
        select(
            StatusReport.delivery_id,
            func.min(case((StatusReport.status_code.in_(REACHED_03), StatusReport.received_at))).label("t03"),
            func.min(case((StatusReport.status_code.in_(DONE_06), StatusReport.received_at))).label("t06"),
            func.max(case((StatusReport.status_code == RECALLED, 1), else_=0)).label("recalled"),
        )
        .where(
            StatusReport.received_at <= as_of,
            StatusReport.delivery_id.in_(select(Delivery.id).where(Delivery.recipient_code == agency)),
        )
        .group_by(StatusReport.delivery_id)
        .subquery()
    )
    revoke = aliased(Document)
    revoked = (
        select(revoke.id)
        .where(
            revoke.related_id == Document.id,
            revoke.business_type == 1,
            revoke.kind == MessageKind.DOCUMENT,
            revoke.received_at <= as_of,
        )
        .exists()
    )
    withdrawn = or_(func.coalesce(status.c.recalled, 0) == 1, revoked)
    query = (
        select(Document, Delivery.state, status.c.t03, status.c.t06, withdrawn.label("withdrawn"))
        .join(Delivery, Delivery.document_id == Document.id)
        .outerjoin(status, status.c.delivery_id == Delivery.id)
        .where(
            Delivery.recipient_code == agency,
            Document.kind == MessageKind.DOCUMENT,
            Document.business_type == 0,
            Document.received_at >= period.start,
            Document.received_at < period.end,
        )
        .order_by(Document.received_at.desc(), Document.id)
        .limit(limit)
        .offset(offset)
    )
    expected = and_(~withdrawn, Delivery.state.not_in(("failed", "discarded")))
    if which is DocumentFilter.NOT_REGISTERED:
        query = query.where(expected, status.c.t03.is_(None))
    elif which is DocumentFilter.OVERDUE:
        today = as_of.astimezone(VIETNAM).date()
        query = query.where(expected, Document.due_date < today, status.c.t06.is_(None))
    elif which is DocumentFilter.DIRECTIVES_OPEN:
        query = query.where(expected, Document.steering_type == 1, status.c.t06.is_(None))
    elif which is DocumentFilter.FAILED:
        query = query.where(Delivery.state == "failed")
    return [
        DocumentLine(
            document_id=document.id,
            edxml_document_id=document.edxml_document_id,
            sender=document.sender_code,
            subject=document.subject,
            received_at=document.received_at,
            due_date=document.due_date,
            steering_type=document.steering_type,
            delivery_state=state,
            registered_03_at=_aware(t03),
            completed_06_at=_aware(t06),
            withdrawn=bool(is_withdrawn),
        )
        for document, state, t03, t06, is_withdrawn in await session.execute(query)
    ]


def _aware(value: datetime | str | None) -> datetime | None:
    """A timestamp from an aggregate (SQLite gives it back as text, without the column's type)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
