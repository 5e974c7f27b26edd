"""`/api/v1/admin/…`: the operators' delivery actions and the admin log, for machines (bearer
credentials of role admin or auditor) and for the console's own pages (a logged-in person). Auditors
read; only admins change. The handlers are thin: everything is in `app.delivery.admin`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError, model_validator

from app.auth.deps import StaffAdmin, StaffReader
from app.delivery.admin import (
    MAX_PAGE,
    Action,
    AdminLogFilter,
    AdminLogPage,
    DeliveryDetail,
    DeliveryFilter,
    DeliveryPage,
    DeliveryRow,
    act_on_many,
    act_on_one,
    admin_log,
    delivery_detail,
    list_deliveries,
)
from app.kit.deps import ReadingSessionDep, SessionDep
from app.kit.errors import BadRequest, Problem
from app.kit.text import StorableText
from app.models import DeliveryState

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def _invalid(error: ValidationError) -> BadRequest:
    return BadRequest(
        "The request's parameters are not valid",
        [
            Problem(path="/" + "/".join(str(p) for p in e["loc"]), code=e["type"], message=e["msg"])
            for e in error.errors()
        ],
    )


async def delivery_filter(
    state: DeliveryState | None = None,
    connector: Annotated[str | None, Query(max_length=40)] = None,
    sender: Annotated[
        str | None, Query(max_length=40, description="agency code or pattern (*.31.H62)")
    ] = None,
    recipient: Annotated[
        str | None, Query(max_length=40, description="agency code or pattern (*.31.H62)")
    ] = None,
    document_id: Annotated[str | None, Query(max_length=200, description="edXML DocumentId")] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    until: Annotated[datetime | None, Query(description="created before")] = None,
) -> DeliveryFilter:
    """The delivery list's filter from the query string (also used by the console's pages)."""
    try:
        return DeliveryFilter(
            state=state,
            connector=connector,
            sender=sender,
            recipient=recipient,
            document_id=document_id,
            since=since,
            until=until,
        )
    except ValidationError as error:
        raise _invalid(error) from None


FilterDep = Annotated[DeliveryFilter, Depends(delivery_filter)]
Cursor = Annotated[str | None, Query(max_length=40, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


class ActionIn(BaseModel):
    reason: StorableText = Field(default="", max_length=1000, description="why; required to discard")


class BulkIn(BaseModel):
    ids: list[Annotated[StorableText, Field(max_length=40)]] | None = Field(default=None, max_length=10_000)
    filter: DeliveryFilter | None = None
    reason: StorableText = Field(default="", max_length=1000, description="why; required to discard")

    @model_validator(mode="after")
    def _one_selection(self) -> BulkIn:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either ids or filter")
        return self


class BulkOut(BaseModel):
    changed: int
    skipped: int


@router.get("/deliveries", response_model=DeliveryPage)
async def deliveries(
    session: ReadingSessionDep, _who: StaffReader, where: FilterDep, cursor: Cursor = None, limit: Limit = 50
) -> DeliveryPage:
    """Deliveries, newest first, filtered; page on with `next_cursor`."""
    return await list_deliveries(session, where, cursor=cursor, limit=limit)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def delivery(delivery_id: str, session: ReadingSessionDep, _who: StaffReader) -> DeliveryDetail:
    """One delivery: its document, history, attempts, status timeline and the actions open to it."""
    return await delivery_detail(session, delivery_id)


async def _one(
    session: SessionDep, who: StaffAdmin, delivery_id: str, action: Action, body: ActionIn
) -> DeliveryRow:
    try:
        return await act_on_one(session, delivery_id, action, actor=who.actor, reason=body.reason)
    except ValueError as error:
        raise BadRequest(str(error)) from None


async def _many(session: SessionDep, who: StaffAdmin, action: Action, body: BulkIn) -> BulkOut:
    try:
        result = await act_on_many(
            session, action, actor=who.actor, reason=body.reason, ids=body.ids, where=body.filter
        )
    except ValueError as error:
        raise BadRequest(str(error)) from None
    return BulkOut(changed=len(result.changed), skipped=len(result.skipped))


@router.post("/deliveries/requeue", response_model=BulkOut)
async def requeue_many(body: BulkIn, session: SessionDep, who: StaffAdmin) -> BulkOut:
    """Requeue failed deliveries, by ids or by filter; the others are skipped."""
    return await _many(session, who, Action.REQUEUE, body)


@router.post("/deliveries/discard", response_model=BulkOut)
async def discard_many(body: BulkIn, session: SessionDep, who: StaffAdmin) -> BulkOut:
    """Discard deliveries (with a reason), by ids or by filter; delivered or discarded ones are skipped."""
    return await _many(session, who, Action.DISCARD, body)


@router.post("/deliveries/retry-now", response_model=BulkOut)
async def retry_many_now(body: BulkIn, session: SessionDep, who: StaffAdmin) -> BulkOut:
    """Make waiting retries due at once, by ids or by filter; the others are skipped."""
    return await _many(session, who, Action.RETRY_NOW, body)


@router.post("/deliveries/{delivery_id}/requeue", response_model=DeliveryRow)
async def requeue(
    delivery_id: str, session: SessionDep, who: StaffAdmin, body: ActionIn | None = None
) -> DeliveryRow:
    """A failed delivery is queued again, due now, with a fresh schedule of attempts (409 otherwise)."""
    return await _one(session, who, delivery_id, Action.REQUEUE, body or ActionIn())


@router.post("/deliveries/{delivery_id}/discard", response_model=DeliveryRow)
async def discard(delivery_id: str, body: ActionIn, session: SessionDep, who: StaffAdmin) -> DeliveryRow:
    """Nobody will deliver it: any delivery not yet delivered or discarded (409 otherwise)."""
    return await _one(session, who, delivery_id, Action.DISCARD, body)


@router.post("/deliveries/{delivery_id}/retry-now", response_model=DeliveryRow)
async def retry_now(
    delivery_id: str, session: SessionDep, who: StaffAdmin, body: ActionIn | None = None
) -> DeliveryRow:
    """A delivery waiting for its next retry is due at once (409 unless it is retrying)."""
    return await _one(session, who, delivery_id, Action.RETRY_NOW, body or ActionIn())


@router.get("/log", response_model=AdminLogPage)
async def log(
    session: ReadingSessionDep,
    _who: StaffReader,
    actor: Annotated[str | None, Query(max_length=200, description="part of who did it")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="action or its start, e.g. delivery.")
    ] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AdminLogPage:
    """The admin log (nhật ký quản trị), newest first."""
    try:
        where = AdminLogFilter(actor=actor, action=action, target=target, since=since, until=until)
        return await admin_log(session, where, cursor=cursor, limit=limit)
    except ValidationError as error:
        raise _invalid(error) from None
    except ValueError as error:
        raise BadRequest(str(error)) from None
