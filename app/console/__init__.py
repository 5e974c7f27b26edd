"""The operators' web console at `/admin` (Vietnamese by default): server-rendered Jinja2 pages with
htmx for partial refresh, no build step.

Layout: one module per thing operators look at, in `app/console/pages/` (`overview.py`,
`deliveries.py`, `admin_log.py`, `account.py`, `login.py`), each with an APIRouter and its templates
in `templates/pages/`; they are registered in one place, `PAGES` below, and listed in one menu,
`navigation.NAVIGATION`. Every page is built from the same components (`templates/components/`):
table with keyset pagination, filter form, description list, confirmation dialog, badge, flash
message. Pages never query the database themselves: they call the domain's services (for
deliveries, `app.delivery.admin`), the same functions the admin API (`/api/v1/admin/…`) and the CLI
call.

To add a page (say, Routes):
 1. `app/console/pages/routes.py` with `router = APIRouter()`, handlers taking `Person` (anyone
    logged in) or `Admin` (changes) from `app.console.deps`, calling the routing service and
    returning `render(request, "pages/routes.html", principal=..., page="routes", ...)`; a change is
    a POST form (with `{{ csrf() }}`) answered by `redirect(path, message=...)`;
 2. `templates/pages/routes.html` extending `layout.html`, using the component macros;
 3. add the module to `PAGES` below, and set `ready=True` on its entry in `navigation.NAVIGATION`;
 4. run `python -m app.i18n` and translate the new messages in the Vietnamese catalogue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from app.config import Settings
from app.console.deps import LoginRequired, login_redirect
from app.console.pages import (
    account,
    admin_log,
    agencies,
    audit,
    connectors,
    credentials,
    deliveries,
    keys,
    language,
    login,
    overview,
    reports,
    routes,
)
from app.console.rendering import error_page
from app.kit.errors import HubError, problem_response
from app.users.throttle import LoginThrottle

PAGES = [
    login,
    language,
    overview,
    deliveries,
    connectors,
    agencies,
    routes,
    credentials,
    keys,
    reports,
    admin_log,
    audit,
    account,
]
STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console on the app: its pages, its static files and its login redirect."""
    app.state.login_throttle = LoginThrottle(
        per_name=settings.login_failures_per_name,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_throttle_seconds,
    )
    for page in PAGES:
        app.include_router(page.router, prefix="/admin", include_in_schema=False)
    app.mount("/admin/static", StaticFiles(directory=STATIC), name="console-static")

    async def on_login_required(request: Request, _exc: Exception) -> Response:
        return login_redirect(request)

    async def on_hub_error(request: Request, exc: Exception) -> Response:
        # The console's pages answer people with a page; everything else keeps problem+json.
        assert isinstance(exc, HubError)
        if not request.url.path.startswith("/admin") or request.url.path.startswith("/admin/static"):
            return problem_response(exc, request)
        return error_page(request, exc)

    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(HubError, on_hub_error)
