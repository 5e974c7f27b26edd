"""`/api/v1/reports/`: the indicators for auditors and admins (JSON, CSV, XLSX), the paper counts
and the working calendar (admins change them; every change is in the admin log)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from app.audit.log import record_admin_action
from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.kit.deps import ReadingSessionDep, SessionDep, SettingsDep
from app.kit.errors import BadRequest
from app.reports.calendar import DayException
from app.reports.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from app.reports.periods import FIRST_YEAR, LAST_YEAR, InvalidPeriod, Period
from app.reports.schemas import (
    CalendarDay,
    CalendarYearIn,
    CalendarYearOut,
    IndicatorReportOut,
    PaperCountOut,
    PaperCountsIn,
    PaperCountsOut,
    WrittenOut,
)
from app.reports.service import (
    PaperEntry,
    indicator_report,
    paper_counts,
    set_paper_counts,
    set_year_exceptions,
    year_exceptions,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR)]


def period_of(period: str | None, since: date | None, until: date | None) -> Period:
    """The period from `period`, or from `since`/`until` (both needed)."""
    try:
        if period is not None:
            if since is not None or until is not None:
                raise BadRequest("give either period or since/until, not both")
            return Period.parse(period)
        if since is None or until is None:
            raise BadRequest("give period (YYYY-MM, YYYY-Qn, YYYY) or both since and until (YYYY-MM-DD)")
        return Period.between(since, until)
    except InvalidPeriod as error:
        raise BadRequest(str(error)) from None


@router.get(
    "/indicators",
    response_model=IndicatorReportOut,
    responses={200: {"content": {CSV_MEDIA_TYPE: {}, XLSX_MEDIA_TYPE: {}}}},
)
async def indicators(
    session: ReadingSessionDep,
    settings: SettingsDep,
    _principal: StaffPrincipal,
    period: Annotated[str | None, Query(max_length=7, description="YYYY-MM, YYYY-Qn or YYYY")] = None,
    since: Annotated[date | None, Query(description="first day, with until instead of period")] = None,
    until: Annotated[date | None, Query(description="last day, included")] = None,
    agency: Annotated[str | None, Query(max_length=35, description="the subtree of this agency")] = None,
    rollup: Annotated[bool, Query(description="one row for the subtree, then one per child")] = False,
    as_of: Annotated[
        datetime | None,
        Query(
            description="count from the tables, statuses up to this time "
            "(default: the recent snapshot, or now)"
        ),
    ] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response | IndicatorReportOut:
    """The indicators of a period per agency, or rolled up over the code hierarchy."""
    if as_of is not None and as_of.tzinfo is None:
        raise BadRequest("as_of needs a time zone offset")
    report = await indicator_report(
        session,
        period=period_of(period, since, until),
        hub_code=settings.hub_code,
        agency=agency,
        rollup=rollup,
        as_of=as_of,
        snapshot_max_age=settings.report_snapshot_max_age,
    )
    stem = f"indicators-{report.period.label}-{report.scope}".replace("..", "_")
    if format == "csv":
        return Response(
            to_csv(report),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    if format == "xlsx":
        return Response(
            await asyncio.to_thread(to_xlsx, report),
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
        )
    return IndicatorReportOut.model_validate(report.as_dict())


@router.get("/paper-counts", response_model=PaperCountsOut)
async def list_paper_counts(
    session: ReadingSessionDep,
    _principal: StaffPrincipal,
    period: Annotated[str, Query(max_length=7, description="YYYY-MM, YYYY-Qn or YYYY")],
    agency: Annotated[str | None, Query(max_length=35)] = None,
) -> PaperCountsOut:
    """The paper counts entered for the months of a period."""
    months = period_of(period, None, None).months() or []
    rows = await paper_counts(session, months=months, agency=agency)
    return PaperCountsOut(
        items=[
            PaperCountOut(
                agency=r.agency_code,
                month=r.month,
                paper_sent=r.paper_sent,
                source=r.source,
                entered_by=r.entered_by,
                entered_at=r.entered_at.isoformat(),
            )
            for r in rows
        ]
    )


@router.post("/paper-counts", response_model=WrittenOut)
async def enter_paper_counts(
    session: SessionDep, principal: AdminPrincipal, body: PaperCountsIn
) -> WrittenOut:
    """Enter or correct paper counts, one per agency and month (admin-logged)."""
    entries = [PaperEntry(e.agency, e.month, e.paper_sent, e.source) for e in body.entries]
    written = await set_paper_counts(session, entries, actor=principal.actor)
    record_admin_action(
        session,
        actor=principal.actor,
        action="report.paper-counts",
        target=",".join(sorted({e.month for e in entries})),
        entries=[[e.agency_code, e.month, e.paper_sent] for e in entries][:500],
    )
    return WrittenOut(written=written)


@router.get("/holidays/{year}", response_model=CalendarYearOut)
async def get_holidays(session: ReadingSessionDep, _principal: StaffPrincipal, year: Year) -> CalendarYearOut:
    """The working calendar's exceptions for a year, and whether they were set or are the defaults."""
    days, source = await year_exceptions(session, year)
    return CalendarYearOut(
        year=year,
        source=source,
        days=[CalendarDay(day=d.day, name=d.name, working=d.working) for d in days],
    )


@router.put("/holidays/{year}", response_model=CalendarYearOut)
async def set_holidays(
    session: SessionDep, principal: AdminPrincipal, year: Year, body: CalendarYearIn
) -> CalendarYearOut:
    """Replace the year's holidays and worked weekend days (an empty list restores the defaults)."""
    days = [DayException(d.day, d.name, d.working) for d in body.days]
    await set_year_exceptions(session, year, days)
    record_admin_action(
        session,
        actor=principal.actor,
        action="report.holidays",
        target=str(year),
        days=[[d.day.isoformat(), d.name, d.working] for d in days],
    )
    return await get_holidays(session, principal, year)
