"""`GET /api/v1/agencies`: the directory, for any credential."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.agencies.schemas import AgencyOut, AgencyPage
from app.agencies.service import search_agencies
from app.auth.deps import CurrentPrincipal
from app.kit.deps import ReadingSessionDep
from app.models import AgencyStatus

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])


@router.get("", response_model=AgencyPage)
async def list_agencies(
    session: ReadingSessionDep,
    _principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=100, description="part of a code or a name")] = None,
    parent: Annotated[str | None, Query(max_length=35, description="direct children of this code")] = None,
    status: AgencyStatus | None = None,
    cursor: Annotated[
        str | None, Query(max_length=35, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AgencyPage:
    rows = await search_agencies(session, q=q, parent=parent, status=status, after=cursor, limit=limit + 1)
    items = [
        AgencyOut(
            code=a.code,
            name=a.name,
            parent_code=a.parent_code,
            status=a.status,
            successor_code=a.successor_code,
            email=a.email,
            has_endpoint=bool(a.endpoint),
        )
        for a in rows[:limit]
    ]
    return AgencyPage(items=items, next_cursor=items[-1].code if len(rows) > limit else None)
