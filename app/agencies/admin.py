"""`/api/v1/admin/agencies`: the directory as operators manage it — search with every field, add,
edit the endpoint and its timeout, suspend, reactivate, close with a successor, import a directory
file with a dry-run preview. (Certificates and signature policy: `app.sealing.endpoints`.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from app.agencies.directory_file import DirectoryFileError, FileFormat, read_directory_file
from app.agencies.service import (
    create_agency,
    get_agency,
    import_directory,
    preview_import,
    search_agencies,
    set_agency_status,
    update_agency,
)
from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.kit.deps import ReadingSessionDep, SessionDep, SettingsDep
from app.kit.errors import BadRequest, Problem
from app.kit.http import media_type, read_body
from app.kit.text import StorableText
from app.models import AgencyStatus

router = APIRouter(prefix="/api/v1/admin/agencies", tags=["admin: agencies"])


class AgencyAdminOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    parent_code: str | None
    status: str
    successor_code: str | None
    old_code: str | None
    endpoint: str | None
    endpoint_timeout_seconds: float | None
    email: str | None
    signature_policy: str
    source: str
    updated_at: datetime


class AgencyAdminPage(BaseModel):
    items: list[AgencyAdminOut]
    next_cursor: str | None


class AgencyIn(BaseModel):
    code: StorableText = Field(max_length=35)
    name: StorableText = Field(max_length=300)
    parent_code: StorableText | None = Field(default=None, max_length=35)
    endpoint: StorableText | None = Field(
        default=None, max_length=500, description="QLVB endpoint for pushed delivery"
    )
    endpoint_timeout_seconds: float | None = Field(default=None, description="default: the hub's setting")
    email: StorableText | None = Field(default=None, max_length=100)


class AgencyPatch(BaseModel):
    """Only the fields sent change; `null` clears an optional one."""

    name: StorableText | None = Field(default=None, max_length=300)
    parent_code: StorableText | None = Field(default=None, max_length=35)
    endpoint: StorableText | None = Field(default=None, max_length=500)
    endpoint_timeout_seconds: float | None = None
    email: StorableText | None = Field(default=None, max_length=100)


class StatusChange(BaseModel):
    reason: StorableText = Field(default="", max_length=1000)


class Closing(StatusChange):
    successor_code: StorableText | None = Field(
        default=None, max_length=35, description="the code that replaces it"
    )


class ImportedRecord(BaseModel):
    code: str
    name: str
    parent_code: str | None
    status: str
    endpoint: str | None


class ChangedRecord(BaseModel):
    code: str
    name: str
    changes: dict[str, list[Any]] = Field(description="field -> [now, after the import]")


class ImportOut(BaseModel):
    dry_run: bool
    added: list[ImportedRecord]
    changed: list[ChangedRecord]
    unchanged: int


@router.get("", response_model=AgencyAdminPage)
async def search(
    session: ReadingSessionDep,
    _principal: StaffPrincipal,
    q: Annotated[str | None, Query(max_length=100, description="part of a code or a name")] = None,
    parent: Annotated[str | None, Query(max_length=35)] = None,
    agency_status: Annotated[AgencyStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=35)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AgencyAdminPage:
    """The directory with every field operators manage."""
    rows = await search_agencies(
        session, q=q, parent=parent, status=agency_status, after=cursor, limit=limit + 1
    )
    items = [AgencyAdminOut.model_validate(a) for a in rows[:limit]]
    return AgencyAdminPage(items=items, next_cursor=items[-1].code if len(rows) > limit else None)


@router.get("/{code}", response_model=AgencyAdminOut)
async def one(code: str, session: ReadingSessionDep, _principal: StaffPrincipal) -> AgencyAdminOut:
    return AgencyAdminOut.model_validate(await get_agency(session, code))


@router.post("", response_model=AgencyAdminOut, status_code=status.HTTP_201_CREATED)
async def add(body: AgencyIn, session: SessionDep, principal: AdminPrincipal) -> AgencyAdminOut:
    """Add an agency (409 if its code is known)."""
    fields = body.model_dump(exclude={"code", "name"}, exclude_none=True)
    agency = await create_agency(session, code=body.code, name=body.name, actor=principal.actor, **fields)
    return AgencyAdminOut.model_validate(agency)


@router.patch("/{code}", response_model=AgencyAdminOut)
async def edit(
    code: str, body: AgencyPatch, session: SessionDep, principal: AdminPrincipal
) -> AgencyAdminOut:
    """Edit name, parent, endpoint, endpoint timeout, e-mail."""
    changes = body.model_dump(include=body.model_fields_set)
    if not changes:
        raise BadRequest("nothing to change", [Problem("/", "empty", "send at least one field")])
    return AgencyAdminOut.model_validate(
        await update_agency(session, code=code, actor=principal.actor, **changes)
    )


@router.post("/{code}/suspend", response_model=AgencyAdminOut)
async def suspend(
    code: str, body: StatusChange, session: SessionDep, principal: AdminPrincipal
) -> AgencyAdminOut:
    """Suspend (tạm ngừng): documents to and from it are refused until reactivated."""
    agency = await set_agency_status(
        session, code=code, status=AgencyStatus.SUSPENDED, actor=principal.actor, reason=body.reason
    )
    return AgencyAdminOut.model_validate(agency)


@router.post("/{code}/activate", response_model=AgencyAdminOut)
async def activate(
    code: str, body: StatusChange, session: SessionDep, principal: AdminPrincipal
) -> AgencyAdminOut:
    agency = await set_agency_status(
        session, code=code, status=AgencyStatus.ACTIVE, actor=principal.actor, reason=body.reason
    )
    return AgencyAdminOut.model_validate(agency)


@router.post("/{code}/close", response_model=AgencyAdminOut)
async def close(code: str, body: Closing, session: SessionDep, principal: AdminPrincipal) -> AgencyAdminOut:
    """Close (giải thể, sáp nhập), naming the successor that takes its documents."""
    agency = await set_agency_status(
        session,
        code=code,
        status=AgencyStatus.CLOSED,
        actor=principal.actor,
        successor_code=body.successor_code,
        reason=body.reason,
    )
    return AgencyAdminOut.model_validate(agency)


@router.post(
    "/import",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_file(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: AdminPrincipal,
    dry_run: Annotated[bool, Query(description="only say what would change")] = True,
) -> ImportOut:
    """Import a directory file (CSV or JSON, as `lienthong agency import`). By default a dry run: what
    would be added and changed, field by field; `?dry_run=false` applies it. A file with problems is
    refused with every problem listed."""
    body = await read_body(request, settings.max_body_bytes)
    kind = media_type(request)
    file_format: FileFormat | None = (
        "json" if kind.endswith("json") else "csv" if kind in ("text/csv", "application/csv") else None
    )
    try:
        records = read_directory_file(body, format=file_format)
    except DirectoryFileError as error:
        raise BadRequest(
            "the directory file cannot be imported",
            [
                Problem(
                    f"/{error.position_kind}/{p.position}" if p.position is not None else "/",
                    "invalid",
                    error.describe(p),
                )
                for p in error.problems
            ],
        ) from None
    preview = await preview_import(session, records)
    if not dry_run:
        await import_directory(session, records, actor=principal.actor, source="admin API upload")
    return ImportOut(
        dry_run=dry_run,
        added=[
            ImportedRecord(
                code=r.code, name=r.name, parent_code=r.parent_code, status=r.status, endpoint=r.endpoint
            )
            for r in preview.added
        ],
        changed=[
            ChangedRecord(code=c.code, name=c.name, changes={f: list(v) for f, v in c.changes.items()})
            for c in preview.changed
        ],
        unchanged=preview.unchanged,
    )
