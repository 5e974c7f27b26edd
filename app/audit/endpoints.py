"""`/api/v1/audit/`: the auditors' search and export (auditors and admins), and what anyone may fetch
to hold the hub to its history: the latest signed checkpoint, the log key, inclusion and consistency
proofs. `/api/v1/documents/{id}/evidence`: a document's evidence bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from app.audit import service
from app.audit.bundle import build_bundle
from app.audit.log import record_admin_action
from app.audit.service import EntryFilter, Order
from app.audit.tree import TreeError, consistency_proof, inclusion_proof
from app.auth.audience import Public
from app.auth.deps import CurrentPrincipal, StaffPrincipal
from app.documents.service import visible_document
from app.kit.deps import DatabaseDep, ReadingSessionDep
from app.kit.errors import BadRequest, NotFound
from app.models import LogSource

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
MAX_SIZE = 2**62  # beyond any log, within every database's integers
evidence_router = APIRouter(prefix="/api/v1/documents", tags=["documents"])


class EntriesOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class InclusionOut(BaseModel):
    index: int
    size: int
    hashes: list[str]


class ConsistencyOut(BaseModel):
    from_: int
    to: int
    hashes: list[str]

    model_config = {"populate_by_name": True, "alias_generator": lambda name: name.rstrip("_")}


async def entry_filter(
    log: LogSource = LogSource.EXCHANGE,
    since: datetime | None = None,
    until: datetime | None = None,
    agency: Annotated[str | None, Query(description="an exact code, or *.<groups> for a subtree")] = None,
    document_id: Annotated[str | None, Query(description="the hub's id or the edXML DocumentId")] = None,
    event: Annotated[str | None, Query(description="exchange log: the event; admin log: the action")] = None,
    actor: Annotated[
        str | None, Query(description="exchange log: the credential id; admin log: the actor")
    ] = None,
    code: Annotated[str | None, Query(description="số/ký hiệu: 12/QĐ-UBND, or either part")] = None,
    state: Annotated[str | None, Query(description="the document has a delivery in this state")] = None,
) -> EntryFilter:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise BadRequest(f"{name}: give a time zone (e.g. 2026-12-01T00:00:00+07:00)")
        try:
            if value is not None:
                value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise BadRequest(f"{name}: out of range") from None
    return EntryFilter(log, since, until, agency, document_id, event, actor, code, state)


@router.get("/entries", response_model=EntriesOut)
async def entries(
    principal: StaffPrincipal,
    database: DatabaseDep,
    f: Annotated[EntryFilter, Depends(entry_filter)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    order: Order = Order.DESC,
) -> EntriesOut:
    """Search the exchange log (default) or the admin log; each entry with its leaf index."""
    async with database.reading() as session:
        page = await service.search_entries(session, f, cursor=cursor, limit=limit, order=order)
    async with database.transaction() as session:
        service.record_audit_access(
            session, actor=principal.actor, action="audit.search", f=f, returned=len(page.items)
        )
    return EntriesOut(items=[e.as_json() for e in page.items], next_cursor=page.next_cursor)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/jsonl": {}}}},
)
async def export(
    principal: StaffPrincipal,
    database: DatabaseDep,
    f: Annotated[EntryFilter, Depends(entry_filter)],
    format: Literal["csv", "jsonl"] = "csv",
) -> StreamingResponse:
    """Every matching entry, oldest first, streamed: no row cap, constant memory."""
    service.check_filter(f)  # once the stream has begun, a refusal could only cut it short
    async with database.transaction() as session:
        service.record_audit_access(session, actor=principal.actor, action="audit.export", f=f, format=format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/jsonl; charset=utf-8"
    return StreamingResponse(
        service.export_lines(database, f, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{f.log.value}.{format}"'},
    )


@router.get("/checkpoint", dependencies=[Public], response_class=PlainTextResponse)
async def checkpoint(session: ReadingSessionDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint note)."""
    note = await service.checkpoint_note(session)
    return PlainTextResponse(note.note, headers={"Cache-Control": "no-cache"})


@router.get("/log-key", dependencies=[Public], response_class=PlainTextResponse)
async def log_key(session: ReadingSessionDep) -> PlainTextResponse:
    """The key that signs checkpoints, as signed-note verifiers take it (`name+id+base64`)."""
    return PlainTextResponse(await service.published_log_key(session) + "\n")


@router.get("/proofs/inclusion", dependencies=[Public], response_model=InclusionOut)
async def inclusion(
    session: ReadingSessionDep,
    index: Annotated[int, Query(ge=0, le=MAX_SIZE)],
    size: Annotated[int, Query(ge=1, le=MAX_SIZE)],
) -> InclusionOut:
    """RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""
    try:
        hashes = await inclusion_proof(session, index, size)
    except TreeError as error:
        raise NotFound(str(error)) from None
    return InclusionOut(index=index, size=size, hashes=service.b64(hashes))


@router.get(
    "/proofs/consistency", dependencies=[Public], response_model=ConsistencyOut, response_model_by_alias=True
)
async def consistency(
    session: ReadingSessionDep,
    from_: Annotated[int, Query(alias="from", ge=0, le=MAX_SIZE)],
    to: Annotated[int, Query(ge=0, le=MAX_SIZE)],
) -> ConsistencyOut:
    """RFC 9162 consistency proof between the trees of `from` and `to` leaves."""
    try:
        hashes = await consistency_proof(session, from_, to)
    except TreeError as error:
        raise NotFound(str(error)) from None
    return ConsistencyOut(from_=from_, to=to, hashes=service.b64(hashes))


@evidence_router.get(
    "/{document_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the evidence bundle"}},
)
async def evidence(
    request: Request, document_id: str, principal: CurrentPrincipal, database: DatabaseDep
) -> Response:
    """The document's evidence bundle: bytes, certificates, every log entry about it with its
    inclusion proof, the checkpoint and the log key; `lienthong audit verify-bundle` checks it."""
    async with database.reading() as session:
        document = await visible_document(session, principal, document_id)
        content = await build_bundle(session, document.id, master_key=request.app.state.master_key)
    if principal.is_staff:
        async with database.transaction() as session:
            record_admin_action(session, actor=principal.actor, action="audit.evidence", target=document.id)
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="evidence-{document.id}.zip"'},
    )
