"""The indicators on hand-built traffic whose every figure was worked out by hand (SQLite and
PostgreSQL): a holiday inside a handling time, a revoke, documents without statuses, a failed
delivery, a closed agency whose figures go to its successor, the period's edges in Vietnam time,
a status that came after the report's time, roll-ups over the hierarchy, and paper counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from support.traffic import Traffic, vn

from app.kit.clock import VIETNAM, utcnow
from app.kit.db import Database
from app.models import ReportSnapshot
from app.reports.calendar import DayException
from app.reports.periods import Period
from app.reports.service import (
    DocumentFilter,
    IndicatorRow,
    PaperEntry,
    agency_documents,
    indicator_report,
    monthly_trend,
    refresh_snapshot,
    row_dict,
    set_paper_counts,
    set_year_exceptions,
    top_rows,
)

HUB = "000.00.00.H62"
SENDER = "000.00.01.H62"  # Văn phòng UBND tỉnh
R = "000.00.02.H62"  # Sở Nội vụ: the recipient whose handling is measured
CLOSED = "000.00.04.H62"  # Sở KH&ĐT, closed; successor 000.00.05.H62
SUCCESSOR = "000.00.05.H62"
OTHER = "000.00.06.H62"
DISTRICT = "000.00.30.H62"
COMMUNE = "000.21.30.H62"
G22 = "000.00.00.G22"
AS_OF = vn("2026-12-10 12:00")


@pytest.fixture
async def traffic(database: Database) -> Database:
    t = Traffic()
    d1 = t.document(SENDER, R, "2026-11-19 09:00", via="vxp")
    t.status(d1, R, SENDER, "01", "2026-11-19 10:00")
    t.status(d1, R, SENDER, "03", "2026-11-23 09:00")  # Fri 20 is a holiday: 1 working day
    t.status(d1, R, SENDER, "06", "2026-11-25 16:00")  # Mon, Tue, Wed: 3
    t.document(SENDER, R, "2026-11-02 09:00", due=date(2026, 11, 10))  # no status at all: overdue
    d3 = t.document(SENDER, R, "2026-11-03 08:00", due=date(2026, 11, 10), steering=1)
    t.status(d3, R, SENDER, "03", "2026-11-03 15:00")  # 0 working days
    t.status(d3, R, SENDER, "06", "2026-11-12 09:00")  # 7 working days, after the due date
    d4 = t.document(SENDER, R, "2026-11-04 08:00", due=date(2026, 11, 6), steering=1)
    t.document(SENDER, R, "2026-11-05 08:00", business_type=1, related=d4[0])  # revokes d4
    t.document(SENDER, R, "2026-11-05 09:00", state="failed")
    d7 = t.document(SENDER, R, "2026-11-04 10:00", steering=1)
    t.status(d7, R, SENDER, "03", "2026-11-09 10:00")  # Thu, Fri, Mon: 3
    d8 = t.document(SENDER, CLOSED, "2026-11-06 09:00")
    t.status(d8, CLOSED, SENDER, "03", "2026-11-06 11:00")
    d9 = t.document(G22, R, "2026-11-10 09:00", via="axis")
    t.status(d9, R, G22, "03", "2026-12-11 09:00")  # after the report's time: not counted
    t.document(SENDER, OTHER, "2026-10-31 23:30")  # October in Vietnam, though November 1st is near
    t.document(SENDER, OTHER, "2026-11-30 23:30")  # still November in Vietnam (16:30 UTC)
    t.document(SENDER, COMMUNE, "2026-11-16 09:00")
    await t.write(database)
    async with database.transaction() as session:
        await set_year_exceptions(session, 2026, [DayException(date(2026, 11, 20), "test holiday")])
    return database


def by_code(rows: list[IndicatorRow]) -> dict[str, IndicatorRow]:
    return {row.agency: row for row in rows}


async def test_one_agency_figures(traffic: Database) -> None:
    async with traffic.reading() as session:
        report = await indicator_report(session, period=Period.parse("2026-11"), hub_code=HUB, as_of=AS_OF)
    rows = by_code(report.rows)
    r = rows[R]
    assert (r.received, r.received_new, r.received_revoke) == (8, 7, 1)
    assert (r.received_api, r.received_vxp, r.received_axis) == (6, 1, 1)
    assert (r.withdrawn, r.expected_to_handle) == (1, 5)
    assert (r.acknowledged_01, r.registered_03, r.completed_06) == (3, 3, 2)
    assert r.registered_03_share == 0.6
    assert (r.median_working_days_to_03, r.p90_working_days_to_03) == (1.0, 3)
    assert (r.median_working_days_to_06, r.p90_working_days_to_06) == (5.0, 7)
    assert (r.overdue, r.completed_late, r.not_registered_03) == (1, 1, 2)
    assert (r.directives, r.directives_open) == (2, 1)
    assert (r.failed, r.discarded, r.delivered) == (1, 0, 7)
    assert r.sent == 0 and r.sent_status == 6
    assert not r.no_traffic

    s = rows[SENDER]
    assert (s.sent, s.sent_new, s.sent_revoke, s.sent_vxp) == (10, 9, 1, 1)
    assert s.received == 0 and s.received_status == 6 + 1

    # The closed agency has no row; its figures are its successor's.
    assert CLOSED not in rows
    successor = rows[SUCCESSOR]
    assert successor.merged_codes == CLOSED
    assert (successor.received, successor.registered_03, successor.median_working_days_to_03) == (1, 1, 0.0)

    assert rows[OTHER].received == 1  # the October document is not in November
    assert rows["000.00.07.H62"].no_traffic
    assert G22 not in rows  # outside the province


async def test_rollup_over_the_hierarchy(traffic: Database) -> None:
    async with traffic.reading() as session:
        report = await indicator_report(
            session, period=Period.parse("2026-11"), hub_code=HUB, rollup=True, as_of=AS_OF
        )
        district = await indicator_report(
            session, period=Period.parse("2026-11"), hub_code=HUB, agency=DISTRICT, as_of=AS_OF
        )
    province, *children = report.rows
    assert province.agency == HUB and province.rollup
    assert province.received == 8 + 1 + 1 + 1  # R, the successor, OTHER, the commune
    assert province.sent == 10 and province.sent_status == 7
    assert province.registered_03 == 3 + 1
    # Medians are recomputed from every handling time of the subtree, never averaged.
    assert province.median_working_days_to_03 == 0.5  # 0, 0, 1, 3
    rolled = by_code(children)
    assert rolled[DISTRICT].received == 1 and rolled[DISTRICT].agencies == 5
    assert rolled[DISTRICT].agencies_without_traffic == 4
    assert sum(row.received for row in children) == province.received
    # The suspended commune of Tam Đảo counts as an agency but not as one without traffic.
    assert rolled["000.00.34.H62"].agencies == 2 and rolled["000.00.34.H62"].agencies_without_traffic == 1
    assert [row.agency for row in district.rows] == [
        DISTRICT,
        "000.12.30.H62",
        COMMUNE,
        "000.22.30.H62",
        "000.23.30.H62",
    ]


async def test_quarter_and_range(traffic: Database) -> None:
    async with traffic.reading() as session:
        quarter = await indicator_report(session, period=Period.parse("2026-Q4"), hub_code=HUB, as_of=AS_OF)
        days = await indicator_report(
            session, period=Period.between(date(2026, 11, 30), date(2026, 11, 30)), hub_code=HUB, as_of=AS_OF
        )
    assert by_code(quarter.rows)[OTHER].received == 2
    assert by_code(days.rows)[OTHER].received == 1
    assert by_code(days.rows)[R].received == 0


async def test_paper_counts_and_the_electronic_share(traffic: Database) -> None:
    async with traffic.transaction() as session:
        await set_paper_counts(
            session,
            [
                PaperEntry(SENDER, "2026-11", 1, "Sổ đăng ký văn bản đi VP UBND tỉnh"),
                PaperEntry(R, "2026-11", 2, "Báo cáo văn thư Sở Nội vụ"),
            ],
            actor="test",
        )
    async with traffic.reading() as session:
        report = await indicator_report(session, period=Period.parse("2026-11"), hub_code=HUB, as_of=AS_OF)
        rolled = await indicator_report(
            session, period=Period.parse("2026-11"), hub_code=HUB, rollup=True, as_of=AS_OF
        )
        ranged = await indicator_report(
            session, period=Period.between(date(2026, 11, 1), date(2026, 11, 15)), hub_code=HUB, as_of=AS_OF
        )
    rows = by_code(report.rows)
    assert rows[SENDER].electronic_share == 0.9  # 9 new documents sent electronically, 1 on paper
    assert rows[SENDER].meets_target is True
    assert rows[SENDER].electronic_share_source == "Sổ đăng ký văn bản đi VP UBND tỉnh"
    assert (rows[R].electronic_share, rows[R].meets_target) == (0.0, False)
    other = rows[OTHER]
    assert other.paper_sent is None and other.electronic_share is None and other.meets_target is None
    assert other.electronic_share_source == f"no paper count entered for {OTHER} 2026-11"
    assert rolled.rows[0].electronic_share is None
    assert rolled.rows[0].electronic_share_source.startswith("no paper count entered for")
    assert "whole months" in by_code(ranged.rows)[SENDER].electronic_share_source


async def test_drill_down_trend_and_ranking(traffic: Database) -> None:
    november = Period.parse("2026-11")
    async with traffic.reading() as session:

        async def subjects(which: DocumentFilter) -> list[str]:
            lines = await agency_documents(session, agency=R, period=november, which=which, as_of=AS_OF)
            return [line.received_at.astimezone(VIETNAM).strftime("%d %H:%M") for line in lines]

        assert await subjects(DocumentFilter.RECEIVED) == [
            "19 09:00",
            "10 09:00",
            "05 09:00",
            "04 10:00",
            "04 08:00",
            "03 08:00",
            "02 09:00",
        ]
        assert await subjects(DocumentFilter.OVERDUE) == ["02 09:00"]
        assert await subjects(DocumentFilter.NOT_REGISTERED) == ["10 09:00", "02 09:00"]
        assert await subjects(DocumentFilter.DIRECTIVES_OPEN) == ["04 10:00"]
        assert await subjects(DocumentFilter.FAILED) == ["05 09:00"]
        [first] = await agency_documents(session, agency=R, period=november, as_of=AS_OF, limit=1)
        assert first.registered_03_at == vn("2026-11-23 09:00") and first.completed_06_at == vn(
            "2026-11-25 16:00"
        )
        revoked = await agency_documents(session, agency=R, period=november, as_of=AS_OF)
        assert [line.withdrawn for line in revoked].count(True) == 1

        trend = await monthly_trend(session, period=Period.parse("2026-Q4"), hub_code=HUB, as_of=AS_OF)
        assert [(point.month, point.row.received) for point in trend] == [
            ("2026-10", 1),
            ("2026-11", 11),
            ("2026-12", 0),
        ]
        report = await indicator_report(session, period=november, hub_code=HUB, as_of=AS_OF)
    assert [row.agency for row in top_rows(report.rows, "overdue")] == [R]
    assert [row.agency for row in top_rows(report.rows, "received", limit=2)] == [R, SUCCESSOR]


async def test_a_snapshot_is_read_until_it_is_old(traffic: Database) -> None:
    november = Period.parse("2026-11")
    async with traffic.reading() as session:
        counted = await indicator_report(session, period=november, hub_code=HUB, as_of=AS_OF)
    async with traffic.transaction() as session:
        assert await refresh_snapshot(session, november, as_of=AS_OF) > 0
    later = Traffic()
    later.document(SENDER, OTHER, "2026-11-20 09:00")
    await later.write(traffic)
    async with traffic.reading() as session:
        cached = await indicator_report(session, period=november, hub_code=HUB, snapshot_max_age=3600)
        stale = await indicator_report(session, period=november, hub_code=HUB, snapshot_max_age=1e-9)
        fixed = await indicator_report(
            session, period=november, hub_code=HUB, as_of=AS_OF, snapshot_max_age=3600
        )
    assert cached.as_of == AS_OF
    assert [row_dict(r) for r in cached.rows] == [row_dict(r) for r in counted.rows]
    assert by_code(stale.rows)[OTHER].received == 2  # counted from the tables, with the new document
    assert by_code(fixed.rows)[OTHER].received == 2  # an explicit as_of always counts


async def test_the_trend_reads_months_with_a_snapshot(traffic: Database) -> None:
    """October is a settled month (before the previous one) and November the previous month; a
    document written after their snapshots shows that the trend reads them, while December, which
    has none, is counted live; an old snapshot or an explicit as_of counts live."""
    year_end = Period.parse("2026-Q4")
    async with traffic.reading() as session:
        live = await monthly_trend(session, period=year_end, hub_code=HUB, as_of=AS_OF)
    async with traffic.transaction() as session:
        for month in ("2026-10", "2026-11"):
            await refresh_snapshot(session, Period.parse(month), as_of=AS_OF)
    async with traffic.reading() as session:
        read = await monthly_trend(session, period=year_end, hub_code=HUB, snapshot_max_age=3600)
    assert [p.month for p in read] == [p.month for p in live]
    assert [row_dict(p.row) for p in read] == [row_dict(p.row) for p in live]  # the same figures

    later = Traffic()
    later.document(SENDER, OTHER, "2026-10-20 09:00")
    later.document(SENDER, OTHER, "2026-11-20 09:00")
    later.document(SENDER, OTHER, "2026-12-01 09:00")
    await later.write(traffic)
    async with traffic.reading() as session:
        read = await monthly_trend(session, period=year_end, hub_code=HUB, snapshot_max_age=3600)
        counted = await monthly_trend(
            session, period=year_end, hub_code=HUB, as_of=AS_OF, snapshot_max_age=3600
        )
        october = await indicator_report(
            session, period=Period.parse("2026-10"), hub_code=HUB, snapshot_max_age=3600
        )
    assert [(p.month, p.row.received) for p in read] == [("2026-10", 1), ("2026-11", 11), ("2026-12", 1)]
    assert [(p.month, p.row.received) for p in counted] == [("2026-10", 2), ("2026-11", 12), ("2026-12", 1)]
    assert october.as_of == AS_OF and by_code(october.rows)[OTHER].received == 1  # a whole past month too

    # A settled month's snapshot is read far longer than a recent one's, but not forever.
    async with traffic.transaction() as session:
        for label in ("2026-10", "2026-11"):
            snapshot = await session.get(ReportSnapshot, label)
            assert snapshot is not None
            snapshot.computed_at = utcnow() - timedelta(hours=5)
    async with traffic.reading() as session:
        read = await monthly_trend(session, period=year_end, hub_code=HUB, snapshot_max_age=3600)
        aged = await monthly_trend(session, period=year_end, hub_code=HUB, snapshot_max_age=600)
    assert [p.row.received for p in read] == [1, 12, 1]  # October from its snapshot, November live
    assert [p.row.received for p in aged] == [2, 12, 1]  # 5 h > 24 × 10 min: October live too
