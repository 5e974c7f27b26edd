"""Rendering console pages: the Jinja2 environment (i18n extension, formatting filters, the
component macros), the request's locale, flash messages, and the security headers every page gets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.auth.service import Principal
from app.config import Settings
from app.console.navigation import visible
from app.i18n import (
    DEFAULT_LOCALE,
    LOCALES,
    N_,
    format_date,
    format_datetime,
    format_number,
    format_relative,
    gettext,
    ngettext,
    normalise,
    use_locale,
)
from app.kit.errors import HubError
from app.models import Role
from app.users import sessions

TEMPLATES = Path(__file__).parent / "templates"
LOCALE_COOKIE = "lienthong_lang"
FLASH_COOKIE = "lienthong_flash"

_CSRF_INPUT = Markup('<input type="hidden" name="{}" value="{}">')  # values are escaped by format()

SECURITY_HEADERS = {
    # Scripts and styles only from the hub itself; nothing inline, no framing.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Translations follow the current locale (set around each render), so one environment serves all.
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: gettext(message), lambda s, p, n: ngettext(s, p, n), newstyle=True
    )
    environment.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks: whitespace as in the catalogue
    environment.filters.update(
        datetime=format_datetime, date=format_date, number=format_number, relative=format_relative
    )
    return environment


ENVIRONMENT = _environment()


def request_locale(request: Request) -> str:
    """`?lang=en` for one page, else the language switch's cookie, else Vietnamese."""
    return normalise(request.query_params.get("lang") or request.cookies.get(LOCALE_COOKIE) or DEFAULT_LOCALE)


def render(
    request: Request,
    template: str,
    *,
    principal: Principal | None = None,
    page: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page (or, for htmx, a fragment) in the person's language, with the layout's context."""
    locale = request_locale(request)
    flash = read_flash(request)
    csrf = csrf_for(request, login=page == "login")
    with use_locale(locale):
        html = ENVIRONMENT.get_template(template).render(
            request=request,
            principal=principal,
            is_admin=principal is not None and principal.role is Role.ADMIN,
            navigation=visible(principal.role) if principal else [],
            page=page,
            locale=locale,
            locales=LOCALES,
            csrf_token=csrf,
            csrf_field=sessions.CSRF_FIELD,
            csrf=lambda: _CSRF_INPUT.format(sessions.CSRF_FIELD, csrf),
            flash=flash,
            maintenance=getattr(request.state, "maintenance", None),
            **context,
        )
    response = HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/admin")
    return response


def csrf_for(request: Request, *, login: bool = False) -> str:
    """The CSRF token of the request's session, or for the login form, of its login nonce."""
    key = sessions.signing_key(request)
    found = None if login else sessions.request_session(request)
    if found is not None:
        return sessions.csrf_token(key, found.nonce)
    nonce = getattr(request.state, "login_nonce", None) or request.cookies.get(sessions.LOGIN_NONCE_COOKIE)
    return sessions.csrf_token(key, "login:" + nonce) if nonce else ""


def redirect(path: str, *, message: str = "", kind: str = "success") -> RedirectResponse:
    """After a change: back to a page (303, so the browser GETs it), with a flash message for it."""
    response = RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
    if message:
        payload = base64.urlsafe_b64encode(json.dumps({"text": message, "kind": kind}).encode()).decode()
        response.set_cookie(FLASH_COOKIE, payload, path="/admin", httponly=True, samesite="strict")
    return response


def read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(value, dict):
        return None
    return {"text": str(value.get("text", ""))[:500], "kind": str(value.get("kind", "success"))}


def set_locale_cookie(response: Response, settings: Settings, locale: str) -> None:
    sessions.set_cookie(response, settings, LOCALE_COOKIE, normalise(locale), max_age=365 * 24 * 3600)


UNEXPECTED = N_("Something went wrong")
ERROR_TITLES = {
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Not possible in this state"),
}


def error_page(request: Request, error: HubError) -> HTMLResponse:
    """A refused or failed console request, as a page in the person's language (the detail, meant
    for operators, stays as the service wrote it)."""
    with use_locale(request_locale(request)):
        title = gettext(ERROR_TITLES.get(error.status, UNEXPECTED))
    return render(
        request,
        "pages/error.html",
        status_code=error.status,
        title=title,
        detail=error.detail,
        headers=error.headers,
    )
