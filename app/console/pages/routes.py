"""Định tuyến: the routing rules (most specific first), adding, editing and deleting one (each
checked by the routing service, confirmed in a dialog and admin-logged), and a "which connector
would this code take" box."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.console.deps import Admin, Person
from app.console.forms import refusal
from app.console.rendering import redirect, render
from app.i18n import gettext as _
from app.kit.deps import DatabaseDep, ReadingSessionDep
from app.kit.errors import HubError
from app.routing.service import (
    ROUTE_TARGETS,
    RouteResolution,
    add_route,
    list_routes,
    remove_route,
    resolve_route,
    update_route,
)

router = APIRouter()
BACK = "/admin/routes"


@router.get("/routes", response_class=HTMLResponse)
async def routes_page(
    request: Request, principal: Person, session: ReadingSessionDep, code: str = ""
) -> HTMLResponse:
    resolution: RouteResolution | None = None
    resolve_error = ""
    if code.strip():
        try:
            resolution = await resolve_route(session, code[:100])
        except HubError as error:
            resolve_error = refusal(error)
    return render(
        request,
        "pages/routes.html",
        principal=principal,
        page="routes",
        routes=await list_routes(session),
        targets=sorted(ROUTE_TARGETS),
        code=code,
        resolution=resolution,
        resolve_error=resolve_error,
    )


@router.post("/routes")
async def add_action(
    principal: Admin,
    database: DatabaseDep,
    pattern: Annotated[str, Form(max_length=100)],
    connector: Annotated[str, Form(max_length=50)],
    description: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    try:
        async with database.transaction() as session:
            route = await add_route(
                session, pattern=pattern, connector=connector, description=description, actor=principal.actor
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    return redirect(BACK, message=_("Rule {pattern} → {connector} added.").format(**_rule(route)))


@router.post("/routes/{route_id}")
async def update_action(
    route_id: str,
    principal: Admin,
    database: DatabaseDep,
    pattern: Annotated[str, Form(max_length=100)],
    connector: Annotated[str, Form(max_length=50)],
    description: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    try:
        async with database.transaction() as session:
            route = await update_route(
                session,
                route_id=route_id,
                pattern=pattern,
                connector=connector,
                description=description,
                actor=principal.actor,
            )
    except HubError as error:
        if error.status == 404:
            raise
        return redirect(BACK, message=refusal(error), kind="error")
    return redirect(BACK, message=_("Rule {pattern} → {connector} saved.").format(**_rule(route)))


@router.post("/routes/{route_id}/delete")
async def remove_action(route_id: str, principal: Admin, database: DatabaseDep) -> RedirectResponse:
    async with database.transaction() as session:
        route = await remove_route(session, route_id=route_id, actor=principal.actor)
    return redirect(BACK, message=_("Rule {pattern} → {connector} deleted.").format(**_rule(route)))


def _rule(route: object) -> dict[str, str]:
    return {"pattern": getattr(route, "pattern", ""), "connector": getattr(route, "connector", "")}
