"""Kết nối: each connector's health (attempts and success rate over the last hour, the deliveries it
has not settled, the oldest due, the last error) and each endpoint's; pausing and resuming a
connector or one agency's endpoint on it; "test this endpoint"; and the maintenance switch. Every
change is confirmed in a dialog and admin-logged by the service with the person's name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.console.deps import Admin, Person
from app.console.forms import refusal
from app.console.rendering import redirect, render
from app.delivery.pauses import list_pauses, pause, resume
from app.i18n import gettext as _
from app.kit.deps import DatabaseDep, ReadingSessionDep, SettingsDep
from app.kit.errors import HubError
from app.operations.connectors import connector_health, endpoint_health, test_endpoint
from app.operations.maintenance import MAX_MESSAGE, MaintenanceCache, set_maintenance

router = APIRouter()
BACK = "/admin/connectors"


@router.get("/connectors", response_class=HTMLResponse)
async def connectors_page(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    return render(
        request,
        "pages/connectors.html",
        principal=principal,
        page="connectors",
        connectors=await connector_health(session),
        endpoints=await endpoint_health(session),
        pauses=await list_pauses(session),
    )


@router.post("/connectors/pause")
async def pause_action(
    principal: Admin,
    database: DatabaseDep,
    connector: Annotated[str, Form(max_length=50)],
    agency_code: Annotated[str, Form(max_length=50)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    scope = f"{connector}/{agency_code}" if agency_code.strip() else connector
    try:
        async with database.transaction() as session:
            await pause(
                session,
                connector=connector,
                agency_code=agency_code.strip() or None,
                reason=reason.strip(),
                actor=principal.actor,
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    return redirect(BACK, message=_("{scope} is paused.").format(scope=scope))


@router.post("/connectors/resume")
async def resume_action(
    principal: Admin,
    database: DatabaseDep,
    connector: Annotated[str, Form(max_length=50)],
    agency_code: Annotated[str, Form(max_length=50)] = "",
) -> RedirectResponse:
    scope = f"{connector}/{agency_code}" if agency_code.strip() else connector
    try:
        async with database.transaction() as session:
            await resume(
                session, connector=connector, agency_code=agency_code.strip() or None, actor=principal.actor
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    return redirect(BACK, message=_("{scope} is resumed: its deliveries go out again.").format(scope=scope))


@router.post("/connectors/test")
async def test_action(
    principal: Admin,
    database: DatabaseDep,
    settings: SettingsDep,
    agency_code: Annotated[str, Form(max_length=50)],
) -> RedirectResponse:
    try:
        async with database.transaction() as session:
            result = await test_endpoint(
                session, agency_code=agency_code.strip(), settings=settings, actor=principal.actor
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    if result.reachable:
        text = _("{endpoint} answered HTTP {status} in {ms} ms.").format(
            endpoint=result.endpoint, status=result.status, ms=result.latency_ms
        )
        return redirect(BACK, message=text)
    text = _("{endpoint} did not answer: {error}").format(endpoint=result.endpoint, error=result.error)
    return redirect(BACK, message=text, kind="error")


@router.post("/maintenance")
async def maintenance_action(
    request: Request,
    principal: Admin,
    database: DatabaseDep,
    on: Annotated[bool, Form()],
    message: Annotated[str, Form(max_length=MAX_MESSAGE)] = "",
    back: Annotated[str, Form(max_length=200)] = BACK,
) -> RedirectResponse:
    async with database.transaction() as session:
        state = await set_maintenance(session, on=on, message=message, actor=principal.actor)
    cache: MaintenanceCache | None = getattr(request.app.state, "maintenance", None)
    if cache is not None:
        cache.remember(state)  # this gateway applies it at once
    target = back if back in (BACK, "/admin") else BACK
    if on:
        return redirect(target, message=_("Maintenance mode is on: intake answers 503."))
    return redirect(target, message=_("Maintenance mode is off: intake is open again."))
