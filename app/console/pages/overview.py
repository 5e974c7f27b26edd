"""Tổng quan: where the deliveries stand, what arrived, what waits, what failed, the axis and the
signing key. The figures refresh themselves (htmx polls the panel)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.axis.inbound import AxisInbound
from app.console.deps import Person
from app.console.rendering import render
from app.delivery.overview import Overview, overview
from app.i18n import local_time
from app.kit.clock import utcnow
from app.kit.deps import ReadingSessionDep
from app.models import DeliveryState
from app.operations.alerts import recent_alerts

router = APIRouter()
REFRESH_SECONDS = 10
RECENT_ALERTS = 10
CHART_WIDTH, CHART_HEIGHT = 720, 160
EXPIRY_WARNING = timedelta(days=30)


def _chart(data: Overview) -> dict[str, Any]:
    """Bars of the throughput chart, in SVG coordinates."""
    peak = max((count for _, count in data.throughput), default=0) or 1
    step = CHART_WIDTH / len(data.throughput)
    bars = []
    for index, (hour, count) in enumerate(data.throughput):
        height = round(count / peak * (CHART_HEIGHT - 20), 1)
        bars.append(
            {
                "x": round(index * step + 2, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(step - 4, 1),
                "height": height,
                "hour": hour,
                "count": count,
                "label": local_time(hour).strftime("%H:00"),
            }
        )
    return {"bars": bars, "peak": peak, "width": CHART_WIDTH, "height": CHART_HEIGHT}


async def _context(request: Request, session: ReadingSessionDep) -> dict[str, Any]:
    data = await overview(session)
    inbound: AxisInbound | None = getattr(request.app.state, "axis_inbound", None)
    not_after: datetime | None = data.signing_key_not_after
    return {
        "data": data,
        "states": [state.value for state in DeliveryState],
        "chart": _chart(data),
        "axis": inbound.state if inbound is not None else None,
        "key_expiring": not_after is not None and not_after - utcnow() < EXPIRY_WARNING,
        "refresh_seconds": REFRESH_SECONDS,
    }


@router.get("", response_class=HTMLResponse)
async def overview_page(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    return render(
        request,
        "pages/overview.html",
        principal=principal,
        page="overview",
        alerts=await recent_alerts(session, limit=RECENT_ALERTS),
        **await _context(request, session),
    )


@router.get("/overview/panel", response_class=HTMLResponse)
async def overview_panel(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    """The figures alone, for the page's polling."""
    return render(
        request,
        "pages/overview_panel.html",
        principal=principal,
        page="overview",
        **await _context(request, session),
    )
