"""`/api/v1/admin/routes`: the routing rules, for admins (auditors read). Changes apply to the next
document in every replica: intake reads the rules from the database each time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.kit.deps import ReadingSessionDep, SessionDep
from app.kit.text import StorableText
from app.routing.service import add_route, list_routes, remove_route, resolve_route, update_route

router = APIRouter(prefix="/api/v1/admin/routes", tags=["admin: routes"])


class RouteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    pattern: str
    connector: str = Field(description="qlvb-push, inbox, national-axis, or local (endpoint, else inbox)")
    description: str
    created_at: datetime


class RouteIn(BaseModel):
    pattern: StorableText = Field(
        max_length=40, description="an agency code, or a pattern like *.H62, *.30.H62, *"
    )
    connector: StorableText = Field(max_length=40, description="qlvb-push, inbox, national-axis or local")
    description: StorableText = Field(default="", max_length=300)


class RouteChange(BaseModel):
    pattern: StorableText | None = Field(default=None, max_length=40)
    connector: StorableText | None = Field(default=None, max_length=40)
    description: StorableText | None = Field(default=None, max_length=300)


class RouteResolutionOut(BaseModel):
    code: str
    rule_id: str | None
    pattern: str | None
    target: str | None
    connector: str | None = Field(description="what a delivery to this code would use now (null: refused)")
    agency_known: bool
    explanation: str


@router.get("", response_model=list[RouteOut])
async def get_routes(session: ReadingSessionDep, _principal: StaffPrincipal) -> list[RouteOut]:
    """Every routing rule, the most specific first (that is the order in which they win)."""
    return [RouteOut.model_validate(r) for r in await list_routes(session)]


@router.get("/resolve", response_model=RouteResolutionOut)
async def which_connector(
    session: ReadingSessionDep,
    _principal: StaffPrincipal,
    code: Annotated[str, Query(max_length=35, description="an agency code")],
) -> RouteResolutionOut:
    """Which rule and connector a document to this code would take now."""
    resolution = await resolve_route(session, code)
    return RouteResolutionOut(**{f: getattr(resolution, f) for f in RouteResolutionOut.model_fields})


@router.post("", response_model=RouteOut, status_code=status.HTTP_201_CREATED)
async def post_route(body: RouteIn, session: SessionDep, principal: AdminPrincipal) -> RouteOut:
    """Add a rule; 400 with every problem if it is not valid, 409 if its pattern has a rule."""
    route = await add_route(
        session,
        pattern=body.pattern,
        connector=body.connector,
        description=body.description,
        actor=principal.actor,
    )
    return RouteOut.model_validate(route)


@router.patch("/{route_id}", response_model=RouteOut)
async def patch_route(
    route_id: str, body: RouteChange, session: SessionDep, principal: AdminPrincipal
) -> RouteOut:
    """Change a rule's pattern, connector or description."""
    route = await update_route(
        session,
        route_id=route_id,
        actor=principal.actor,
        pattern=body.pattern,
        connector=body.connector,
        description=body.description,
    )
    return RouteOut.model_validate(route)


@router.delete("/{route_id}", response_model=RouteOut)
async def delete_route(route_id: str, session: SessionDep, principal: AdminPrincipal) -> RouteOut:
    """Remove a rule; answers the rule removed."""
    return RouteOut.model_validate(await remove_route(session, route_id=route_id, actor=principal.actor))
