"""Tài khoản: the person's own account — the password change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.console.deps import Person
from app.console.rendering import redirect, render
from app.i18n import gettext as _
from app.kit.deps import DatabaseDep, SettingsDep
from app.users import sessions
from app.users.passwords import WeakPassword
from app.users.service import change_password, get_user

router = APIRouter()


@router.get("/account", response_class=HTMLResponse)
async def account_page(request: Request, principal: Person) -> HTMLResponse:
    return render(request, "pages/account.html", principal=principal, page="account", errors={})


@router.post("/account/password", response_class=HTMLResponse)
async def password_change(
    request: Request,
    principal: Person,
    database: DatabaseDep,
    settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=200)] = "",
    new_password: Annotated[str, Form(max_length=200)] = "",
    confirm_password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if new_password != confirm_password:
        errors["confirm_password"] = _("The two new passwords differ.")
    else:
        try:
            async with database.transaction() as session:
                user = await get_user(session, principal.holder)
                await change_password(
                    session, user, current=current_password, new=new_password, actor=principal.actor
                )
                cookie = sessions.issue(sessions.signing_key(request), user)
        except WeakPassword:
            errors["new_password"] = _("The new password needs at least 10 characters and not the user name.")
        except ValueError:
            errors["current_password"] = _("The current password is not right.")
    if errors:
        return render(
            request, "pages/account.html", principal=principal, page="account", errors=errors, status_code=400
        )
    # A new password ends every session (the epoch moved on): this one continues with a new cookie.
    response = redirect("/admin/account", message=_("Your password was changed."))
    sessions.set_cookie(
        response,
        settings,
        sessions.SESSION_COOKIE,
        cookie,
        max_age=int(settings.console_session_hours * 3600),
    )
    return response
