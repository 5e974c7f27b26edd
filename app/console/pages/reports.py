"""Báo cáo chỉ số: the indicators of a period (month, quarter, year) for an agency's subtree (default:
the province), rolled up, with a month-by-month trend (an inline SVG chart), the children with the
most overdue documents, a drill-down to a child's page and to an agency's documents, the XLSX and
CSV exports (the API's own) and, for admins, a paper count entered for an agency and month
(admin-logged). Everything comes from `app.reports.service`; the page holds no SQL."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.audit.log import record_admin_action
from app.console.deps import Admin, Person
from app.console.forms import refusal
from app.console.rendering import redirect, render
from app.i18n import gettext as _
from app.kit.clock import vietnam_now
from app.kit.deps import DatabaseDep, ReadingSessionDep, SettingsDep
from app.kit.errors import BadRequest, HubError
from app.reports.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from app.reports.periods import InvalidPeriod, Period
from app.reports.service import (
    ELECTRONIC_TARGET,
    DocumentFilter,
    PaperEntry,
    TrendPoint,
    agency_documents,
    indicator_report,
    monthly_trend,
    set_paper_counts,
    top_rows,
)

router = APIRouter()
BACK = "/admin/reports"
PeriodText = Annotated[str, Query(max_length=7)]
AgencyText = Annotated[str, Query(max_length=35)]


def _period(text: str) -> Period:
    try:
        return Period.parse(text or vietnam_now().strftime("%Y-%m"))
    except InvalidPeriod as error:
        raise BadRequest(str(error)) from None


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request,
    principal: Person,
    session: ReadingSessionDep,
    settings: SettingsDep,
    period: PeriodText = "",
    agency: AgencyText = "",
) -> HTMLResponse:
    chosen = _period(period.strip())
    report = await indicator_report(
        session,
        period=chosen,
        hub_code=settings.hub_code,
        agency=agency.strip() or None,
        rollup=True,
        snapshot_max_age=settings.report_snapshot_max_age,
    )
    trend = await monthly_trend(
        session,
        period=chosen,
        hub_code=settings.hub_code,
        agency=report.scope,
        snapshot_max_age=settings.report_snapshot_max_age,
    )
    return render(
        request,
        "pages/reports.html",
        principal=principal,
        page="reports",
        report=report,
        period=chosen.label,
        agency=agency.strip(),
        top=top_rows(report.rows[1:], "overdue"),
        chart=_chart(trend),
        target=ELECTRONIC_TARGET,
        month=(chosen.months() or [""])[-1],
    )


@router.get("/reports/documents", response_class=HTMLResponse)
async def documents_page(
    request: Request,
    principal: Person,
    session: ReadingSessionDep,
    agency: AgencyText,
    period: PeriodText = "",
    which: DocumentFilter = DocumentFilter.RECEIVED,
) -> HTMLResponse:
    chosen = _period(period.strip())
    lines = await agency_documents(session, agency=agency, period=chosen, which=which, limit=200)
    return render(
        request,
        "pages/report_documents.html",
        principal=principal,
        page="reports",
        agency=agency,
        period=chosen.label,
        which=which.value,
        filters=[f.value for f in DocumentFilter],
        lines=lines,
    )


@router.get("/reports/export")
async def export(
    principal: Person,
    session: ReadingSessionDep,
    settings: SettingsDep,
    period: PeriodText = "",
    agency: AgencyText = "",
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "xlsx",
) -> Response:
    """The same file as GET /api/v1/reports/indicators?rollup=true&format=…"""
    report = await indicator_report(
        session,
        period=_period(period.strip()),
        hub_code=settings.hub_code,
        agency=agency.strip() or None,
        rollup=True,
        snapshot_max_age=settings.report_snapshot_max_age,
    )
    stem = f"indicators-{report.period.label}-{report.scope}".replace("..", "_")
    if format == "csv":
        content, media_type = to_csv(report), CSV_MEDIA_TYPE
    else:
        content, media_type = await asyncio.to_thread(to_xlsx, report), XLSX_MEDIA_TYPE
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}.{format}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/reports/paper-counts")
async def paper_count_action(
    principal: Admin,
    database: DatabaseDep,
    agency: Annotated[str, Form(max_length=35)],
    month: Annotated[str, Form(max_length=7)],
    paper_sent: Annotated[int, Form(ge=0, le=10_000_000)],
    source: Annotated[str, Form(max_length=200)] = "",
    period: Annotated[str, Form(max_length=7)] = "",
    scope: Annotated[str, Form(max_length=35)] = "",
) -> RedirectResponse:
    back = f"{BACK}?period={period}&agency={scope}" if period else BACK
    entry = PaperEntry(agency.strip(), month.strip(), paper_sent, source.strip())
    try:
        async with database.transaction() as session:
            await set_paper_counts(session, [entry], actor=principal.actor)
            record_admin_action(
                session,
                actor=principal.actor,
                action="report.paper-counts",
                target=entry.month,
                entries=[[entry.agency_code, entry.month, entry.paper_sent]],
            )
    except HubError as error:
        return redirect(back, message=refusal(error), kind="error")
    return redirect(
        back,
        message=_("Paper count of {agency} for {month} saved.").format(
            agency=entry.agency_code, month=entry.month
        ),
    )


# --- the trend chart: inline SVG, no script --------------------------------------------------------

WIDTH, HEIGHT, LEFT, BOTTOM = 640, 220, 40, 30


def _chart(points: list[TrendPoint]) -> dict[str, object]:
    """Bars of the documents received each month, and a line of the share completed (06)."""
    highest = max([p.row.received for p in points] + [1])
    step = (WIDTH - LEFT) / max(len(points), 1)
    plot = HEIGHT - BOTTOM - 10
    bars, line = [], []
    for i, point in enumerate(points):
        x = LEFT + i * step
        height = plot * point.row.received / highest
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(10 + plot - height, 1),
                "width": round(step * 0.7, 1),
                "height": round(height, 1),
                "month": point.month,
                "row": point.row,
            }
        )
        share = point.row.completed_06_share
        if share is not None:
            line.append(f"{x + step / 2:.1f},{10 + plot - plot * share:.1f}")
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bottom": HEIGHT - BOTTOM + 14,
        "base": 10 + plot,
        "left": LEFT,
        "highest": highest,
        "bars": bars,
        "line": " ".join(line),
    }
