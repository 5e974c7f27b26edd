"""The language switch: Tiếng Việt (default) or English, remembered in a cookie."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from app.auth.audience import Public
from app.console.deps import safe_next
from app.console.rendering import SECURITY_HEADERS, set_locale_cookie
from app.i18n import normalise
from app.kit.deps import SettingsDep

router = APIRouter()


@router.get("/lang/{locale}", dependencies=[Public])
async def switch_language(locale: str, settings: SettingsDep, next: str | None = None) -> RedirectResponse:
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    set_locale_cookie(response, settings, normalise(locale))
    return response
