"""Logging in and out (đăng nhập): the form, throttled per user name and per address; a signed
session cookie on success; every attempt in the admin log."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.audit.log import record_admin_action
from app.auth.audience import Public
from app.console.deps import Person, safe_next
from app.console.rendering import SECURITY_HEADERS, redirect, render
from app.i18n import gettext as _
from app.kit.deps import DatabaseDep, SettingsDep
from app.kit.errors import Forbidden
from app.users import sessions
from app.users.service import authenticate
from app.users.throttle import LoginThrottle

router = APIRouter()


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _form(
    request: Request,
    settings: SettingsDep,
    *,
    error: str = "",
    status: int = 200,
    name: str = "",
    next_path: str = "/admin",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    known = request.cookies.get(sessions.LOGIN_NONCE_COOKIE)
    nonce = known or secrets.token_urlsafe(16)
    request.state.login_nonce = nonce
    response = render(
        request,
        "pages/login.html",
        page="login",
        error=error,
        status_code=status,
        username=name,
        next_path=next_path,
        headers=headers,
    )
    if known is None:
        sessions.set_cookie(response, settings, sessions.LOGIN_NONCE_COOKIE, nonce, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Public])
async def login_page(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    return _form(request, settings, next_path=safe_next(next))


@router.post("/login", response_class=HTMLResponse, dependencies=[Public])
async def login(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/admin",
) -> Response:
    key = sessions.signing_key(request)
    nonce = request.cookies.get(sessions.LOGIN_NONCE_COOKIE)
    if not sessions.csrf_valid(key, "login:" + nonce if nonce else None, csrf_token):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again")
    name = username.strip().lower()
    address = _address(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.retry_after(name=name, address=address)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        return _form(
            request,
            settings,
            status=429,
            name=name,
            next_path=safe_next(next),
            error=_("Too many failed logins. Try again in {minutes} minutes.").format(minutes=minutes),
            headers={"Retry-After": str(math.ceil(wait))},
        )
    async with database.transaction() as session:
        result = await authenticate(session, name=name, password=password, address=address)
    if result.user is None:
        throttle.failed(name=name, address=address)
        return _form(
            request,
            settings,
            status=401,
            name=name,
            next_path=safe_next(next),
            error=_("Wrong user name or password, or the account is disabled."),
        )
    throttle.succeeded(name=name)
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    sessions.set_cookie(
        response,
        settings,
        sessions.SESSION_COOKIE,
        sessions.issue(key, result.user),
        max_age=int(settings.console_session_hours * 3600),
    )
    sessions.clear_cookie(response, settings, sessions.LOGIN_NONCE_COOKIE)
    return response


@router.post("/logout")
async def logout(
    request: Request, principal: Person, database: DatabaseDep, settings: SettingsDep
) -> Response:
    async with database.transaction() as session:
        record_admin_action(session, actor=principal.actor, action="user.logout", target=principal.holder)
    response = redirect("/admin/login", message=_("You are logged out."))
    sessions.clear_cookie(response, settings, sessions.SESSION_COOKIE)
    return response
