"""Who is looking at a console page: a logged-in person (session cookie only; bearer credentials are
for the API). Someone not logged in is sent to the login page; an auditor who tries to change
something gets 403, as does any state-changing request without its CSRF token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from app.auth.audience import Audience, declares
from app.auth.deps import staff_principal
from app.auth.service import Principal
from app.kit.db import Database
from app.kit.deps import DatabaseDep
from app.kit.errors import Forbidden, HubError
from app.models import Role
from app.operations.maintenance import MaintenanceCache, MaintenanceState, maintenance_state


class LoginRequired(HubError):
    status, kind, title = 401, "login-required", "Log in to the console"


@declares(Audience.CONSOLE)
async def console_principal(request: Request, database: DatabaseDep) -> Principal:
    principal = await staff_principal(request, database, None)
    if principal is None:
        raise LoginRequired("log in to the console")
    # Every page shows the maintenance banner while the switch is on (the gateway's cached view).
    request.state.maintenance = await current_maintenance(request, database)
    return principal


async def current_maintenance(request: Request, database: Database) -> MaintenanceState:
    cache: MaintenanceCache | None = getattr(request.app.state, "maintenance", None)
    if cache is not None:
        return await cache.current()
    async with database.reading() as session:
        return await maintenance_state(session)


async def console_admin(principal: Annotated[Principal, Depends(console_principal)]) -> Principal:
    if principal.role is not Role.ADMIN:
        raise Forbidden(f"this needs the role admin; {principal.actor} has {principal.role.value}")
    return principal


Person = Annotated[Principal, Depends(console_principal)]
Admin = Annotated[Principal, Depends(console_admin)]


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/admin/login?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        # htmx follows a redirect inside the fragment; ask it to load the login page instead.
        return RedirectResponse(location, status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after login or a language switch: a console path only (no open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin"
