"""Nhật ký quản trị: every administrative action, who did it and why, filterable."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from app.console.deps import Person
from app.console.forms import field_errors, local_moment
from app.console.rendering import render
from app.delivery.admin import AdminLogFilter, AdminLogPage, admin_log
from app.kit.deps import ReadingSessionDep

router = APIRouter()


@router.get("/log", response_class=HTMLResponse)
async def admin_log_page(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    query = request.query_params
    errors: dict[str, str] = {}
    page = AdminLogPage(items=[], next_cursor=None)
    try:
        where = AdminLogFilter(
            actor=query.get("actor"),
            action=query.get("action"),
            target=query.get("target"),
            since=local_moment(query.get("since")),
            until=local_moment(query.get("until")),
        )
        page = await admin_log(session, where, cursor=query.get("cursor") or None)
    except ValidationError as error:
        errors = field_errors(error)
    except ValueError as error:
        errors = {"cursor": str(error)}
    return render(
        request,
        "pages/admin_log.html",
        principal=principal,
        page="admin-log",
        log=page,
        errors=errors,
        query=query,
        log_query=urlencode([(k, v) for k, v in query.multi_items() if k != "cursor" and v]),
    )
