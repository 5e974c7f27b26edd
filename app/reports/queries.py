"""Every query of the indicator reports: a few aggregate statements over documents, deliveries and
status reports for one period, each grouped by agency, so the database does the counting and
Python only adds small per-agency results together.

Days are counted in Vietnam local time as integers (days since 1970-01-01), the same on both
databases; the working-day lag of a handling step is the difference of two entries of the
working-day index, which the query receives as a small inline table (`cal`) built from the working
calendar (app.reports.calendar).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import VIETNAM
from app.kit.db import UTCDateTime

EPOCH = date(1970, 1, 1)

#: The status codes that show a recipient got at least that far (a later step implies the earlier).
REACHED_01 = ("01", "03", "04", "05", "06")  # đã đến
REACHED_03 = ("03", "04", "05", "06")  # đã tiếp nhận
DONE_06 = ("06",)  # hoàn thành
RECALLED = "13"  # lấy lại


def day_number(day: date) -> int:
    return (day - EPOCH).days


@dataclass
class Facts:
    """The additive facts of one agency (or, summed, of a subtree) in one period."""

    sent: Counter[str] = field(default_factory=Counter)  # key: "<kind>:<business_type>:<channel>"
    received: Counter[str] = field(default_factory=Counter)  # key: "<kind>:<business_type>:<channel>"
    delivery_states: Counter[str] = field(default_factory=Counter)  # deliveries to the agency by state
    handling: Counter[str] = field(default_factory=Counter)  # expected, withdrawn, reached_01, …
    days_to_03: Counter[int] = field(default_factory=Counter)  # working days -> deliveries
    days_to_06: Counter[int] = field(default_factory=Counter)

    def add(self, other: Facts) -> None:
        for mine, theirs in (
            (self.sent, other.sent),
            (self.received, other.received),
            (self.delivery_states, other.delivery_states),
            (self.handling, other.handling),
        ):
            mine.update(theirs)
        self.days_to_03.update(other.days_to_03)
        self.days_to_06.update(other.days_to_06)

    def to_json(self) -> dict[str, dict[str, int]]:
        return {
            "sent": dict(self.sent),
            "received": dict(self.received),
            "delivery_states": dict(self.delivery_states),
            "handling": dict(self.handling),
            "days_to_03": {str(k): v for k, v in self.days_to_03.items()},
            "days_to_06": {str(k): v for k, v in self.days_to_06.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, dict[str, int]]) -> Facts:
        return cls(
            sent=Counter(data["sent"]),
            received=Counter(data["received"]),
            delivery_states=Counter(data["delivery_states"]),
            handling=Counter(data["handling"]),
            days_to_03=Counter({int(k): v for k, v in data["days_to_03"].items()}),
            days_to_06=Counter({int(k): v for k, v in data["days_to_06"].items()}),
        )

    @property
    def has_traffic(self) -> bool:
        return bool(self.sent) or bool(self.received)


def _local_day(postgres: bool, column: str) -> str:
    """SQL for the Vietnam local day number of a stored UTC instant."""
    if postgres:
        return f"(CAST(timezone('Asia/Ho_Chi_Minh', {column}) AS DATE) - DATE '1970-01-01')"
    return f"CAST(julianday(date({column}, '+7 hours')) - 2440587.5 AS INTEGER)"


def _date_day(postgres: bool, column: str) -> str:
    """SQL for the day number of a DATE column."""
    if postgres:
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _codes(codes: tuple[str, ...]) -> str:
    return ", ".join(f"'{code}'" for code in codes)  # constants of this module, never input


_RANGE = (bindparam("start", type_=UTCDateTime), bindparam("end", type_=UTCDateTime))


async def collect(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    working_index: dict[date, int],
) -> dict[str, Facts]:
    """The facts of every agency with traffic in [start, end), statuses counted up to `as_of`."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # These few queries are short but look expensive to the planner, whose JIT compilation would
        # then cost seconds. The settings are reset on the pooled connection afterwards.
        await session.execute(text("SET jit = off"))
        await session.execute(text("SET work_mem = '64MB'"))  # the period's aggregates in memory
        # A period's rows are written together (time-ordered ids, in time order), so following the
        # indexes from the period's documents reads few pages; the default cost of a random page
        # (4, for spinning disks) makes the planner scan whole deliveries and status tables instead.
        await session.execute(text("SET random_page_cost = 1.1"))
    try:
        return await _collect(session, start=start, end=end, as_of=as_of, working_index=working_index)
    finally:
        if postgres:
            await session.execute(text("RESET jit"))
            await session.execute(text("RESET work_mem"))
            await session.execute(text("RESET random_page_cost"))


async def _collect(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    working_index: dict[date, int],
) -> dict[str, Facts]:
    facts: dict[str, Facts] = {}

    def of(code: str) -> Facts:
        return facts.setdefault(code, Facts())

    params = {"start": start, "end": end}
    sent = text(
        "SELECT sender_code, kind, business_type, received_via, count(*) FROM documents "
        "WHERE received_at >= :start AND received_at < :end "
        "GROUP BY sender_code, kind, business_type, received_via"
    ).bindparams(*_RANGE)
    for code, kind, business_type, channel, count in await session.execute(sent, params):
        of(code).sent[f"{kind}:{business_type}:{channel}"] += count

    received = text(
        "SELECT dl.recipient_code, doc.kind, doc.business_type, doc.received_via, dl.state, count(*) "
        "FROM documents doc JOIN deliveries dl ON dl.document_id = doc.id "
        "WHERE doc.received_at >= :start AND doc.received_at < :end "
        "GROUP BY dl.recipient_code, doc.kind, doc.business_type, doc.received_via, dl.state"
    ).bindparams(*_RANGE)
    for code, kind, business_type, channel, state, count in await session.execute(received, params):
        row = of(code)
        row.received[f"{kind}:{business_type}:{channel}"] += count
        row.delivery_states[state] += count

    for code, what, lag, count in await session.execute(
        _handling_statement(
            session.get_bind().dialect.name == "postgresql",
            working_index,
            day_number(as_of.astimezone(VIETNAM).date()),
        ),
        {**params, "as_of": as_of},
    ):
        row = of(code)
        if what == "03":
            row.days_to_03[int(lag)] += count
        elif what == "06":
            row.days_to_06[int(lag)] += count
        else:
            row.handling[what] += count
    return facts


def _handling_statement(postgres: bool, working_index: dict[date, int], today: int) -> TextClause:
    """Per recipient: how its new documents of the period were handled, and the working-day lags.

    One row per delivery of a new document (h), then three groupings of it: the counts (one row per
    measure), the lags to 03 and the lags to 06."""
    calendar = ", ".join(f"({day_number(day)}, {index})" for day, index in working_index.items())
    local = _local_day(postgres, "doc.received_at")
    due = _date_day(postgres, "doc.due_date")
    # Each measure: a condition on one delivery of h; all but `withdrawn` count expected deliveries only.
    measures = {
        "expected": "expected = 1",
        "withdrawn": "withdrawn = 1",
        "reached_01": "expected = 1 AND t01 IS NOT NULL",
        "reached_03": "expected = 1 AND t03 IS NOT NULL",
        "reached_06": "expected = 1 AND t06 IS NOT NULL",
        "pending_03": "expected = 1 AND t03 IS NULL",
        "overdue": f"expected = 1 AND due IS NOT NULL AND due < {today} AND t06 IS NULL",
        "completed_late": "expected = 1 AND due IS NOT NULL AND d06 > due",
        "directives": "expected = 1 AND steering_type = 1",
        "directives_open": "expected = 1 AND steering_type = 1 AND t06 IS NULL",
    }
    counts = " UNION ALL ".join(
        f"SELECT agency, '{name}', 0, sum(CASE WHEN {condition} THEN 1 ELSE 0 END) FROM h GROUP BY agency"  # noqa: S608
        for name, condition in measures.items()
    )
    # Only integers and this module's constants are written into the text; values are bound.
    sql = f"""
WITH cal(day, idx) AS (VALUES {calendar}),
s AS (
  SELECT sr.delivery_id,
         min(CASE WHEN sr.status_code IN ({_codes(REACHED_01)}) THEN sr.received_at END) AS t01,
         min(CASE WHEN sr.status_code IN ({_codes(REACHED_03)}) THEN sr.received_at END) AS t03,
         min(CASE WHEN sr.status_code IN ({_codes(DONE_06)}) THEN sr.received_at END) AS t06,
         max(CASE WHEN sr.status_code = '{RECALLED}' THEN 1 ELSE 0 END) AS recalled
  FROM status_reports sr JOIN documents o ON o.id = sr.document_id
  WHERE o.received_at >= :start AND o.received_at < :end AND o.kind = 'edoc' AND o.business_type = 0
    AND sr.received_at >= :start AND sr.received_at <= :as_of
  GROUP BY sr.delivery_id
),
f AS (
  SELECT dl.recipient_code AS agency, dl.state, {local} AS d0, {due} AS due, doc.steering_type,
         s.t01, s.t03, s.t06,
         CASE WHEN coalesce(s.recalled, 0) = 1 OR EXISTS (
           SELECT 1 FROM documents r WHERE r.related_id = doc.id AND r.business_type = 1
             AND r.kind = 'edoc' AND r.received_at <= :as_of) THEN 1 ELSE 0 END AS withdrawn
  FROM documents doc
  JOIN deliveries dl ON dl.document_id = doc.id
  LEFT JOIN s ON s.delivery_id = dl.id
  WHERE doc.kind = 'edoc' AND doc.business_type = 0
    AND doc.received_at >= :start AND doc.received_at < :end
),
h AS (
  SELECT agency, due, steering_type, t01, t03, t06, withdrawn,
         CASE WHEN withdrawn = 0 AND state NOT IN ('failed', 'discarded') THEN 1 ELSE 0 END AS expected,
         {_local_day(postgres, "t06")} AS d06,
         c3.idx - c0.idx AS lag03, c6.idx - c0.idx AS lag06
  FROM f
  LEFT JOIN cal c0 ON c0.day = f.d0
  LEFT JOIN cal c3 ON c3.day = {_local_day(postgres, "f.t03")}
  LEFT JOIN cal c6 ON c6.day = {_local_day(postgres, "f.t06")}
)
{counts}
UNION ALL SELECT agency, '03', lag03, count(*) FROM h WHERE expected = 1 AND lag03 IS NOT NULL
  GROUP BY agency, lag03
UNION ALL SELECT agency, '06', lag06, count(*) FROM h WHERE expected = 1 AND lag06 IS NOT NULL
  GROUP BY agency, lag06
"""  # noqa: S608
    return text(sql).bindparams(*_RANGE, bindparam("as_of", type_=UTCDateTime))
