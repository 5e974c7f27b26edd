"""Nhật ký trao đổi: the auditors' pages (admins and auditors, read-only). The search over the
exchange log or the admin log with the API's filters and keyset pages, its streamed export, one
entry with its proof status, a document's full trail and its evidence bundle, and the latest
checkpoint. Everything goes through `app.audit.service` and `app.audit.bundle`, the functions the
auditors' API calls; every search, export and bundle is recorded in the admin log with the person's
name, as the API records its callers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import QueryParams

from app.audit import service
from app.audit.bundle import build_bundle
from app.audit.log import ExchangeEvent, record_admin_action
from app.audit.note import NoteError, parse_checkpoint
from app.audit.service import EntryFilter
from app.audit.tree import latest_checkpoint
from app.console.deps import Person
from app.console.forms import local_moment
from app.console.rendering import render
from app.documents.service import visible_document
from app.kit.deps import DatabaseDep
from app.kit.errors import BadRequest, NotFound
from app.models import DeliveryState, LogSource

router = APIRouter()
PAGE_SIZE = 50
FILTERS = ("log", "since", "until", "agency", "document_id", "code", "event", "state", "actor")


def _filter(query: QueryParams) -> tuple[EntryFilter, dict[str, str]]:
    """The form's filters as the service takes them, and one message per field it cannot read."""
    errors: dict[str, str] = {}
    try:
        log = LogSource(query.get("log") or LogSource.EXCHANGE.value)
    except ValueError:
        errors["log"] = "exchange_log or admin_log"
        log = LogSource.EXCHANGE
    moments: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        value = local_moment(query.get(name))
        if isinstance(value, str):
            errors[name] = "a date and time, e.g. 2026-12-01T08:00"
            value = None
        moments[name] = value
    text = {name: (query.get(name) or "").strip() or None for name in FILTERS[3:]}
    f = EntryFilter(log, moments["since"], moments["until"], **text)
    return f, errors


def _query_string(query: QueryParams, *skip: str) -> str:
    return urlencode([(k, v) for k, v in query.multi_items() if k in FILTERS and k not in skip and v])


async def _checkpoint(database: Any) -> dict[str, Any] | None:
    """The latest signed checkpoint as the page shows it: size, root, time, anchored or not."""
    async with database.reading() as session:
        stored = await latest_checkpoint(session)
    if stored is None:
        return None
    try:
        parsed, _ = parse_checkpoint(stored.note)
        at = parsed.time
    except NoteError:
        at = None
    return {
        "size": stored.size,
        "root": service.b64([stored.root])[0],
        "at": at,
        "anchored": stored.timestamp_token is not None,
        "note": stored.note,
    }


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, principal: Person, database: DatabaseDep) -> HTMLResponse:
    query = request.query_params
    f, errors = _filter(query)
    page = service.Page(items=[], next_cursor=None)
    if not errors:
        try:
            async with database.reading() as session:
                page = await service.search_entries(
                    session, f, cursor=query.get("cursor") or None, limit=PAGE_SIZE
                )
        except BadRequest as error:
            errors["form"] = error.detail
        else:
            async with database.transaction() as session:
                service.record_audit_access(
                    session, actor=principal.actor, action="audit.search", f=f, returned=len(page.items)
                )
    return render(
        request,
        "pages/audit.html",
        principal=principal,
        page="audit",
        f=f,
        entries=page,
        errors=errors,
        query=query,
        audit_query=_query_string(query),
        checkpoint=await _checkpoint(database),
        events=[e.value for e in ExchangeEvent],
        states=[s.value for s in DeliveryState],
        logs=[s.value for s in LogSource],
    )


@router.get("/audit/export")
async def audit_export(
    request: Request, principal: Person, database: DatabaseDep, format: Literal["csv", "jsonl"] = "csv"
) -> StreamingResponse:
    """The search's every matching entry, oldest first, streamed (CSV or JSON Lines)."""
    f, errors = _filter(request.query_params)
    if errors:
        raise BadRequest("; ".join(f"{name}: {message}" for name, message in errors.items()))
    service.check_filter(f)  # refuse before the stream starts: afterwards it could only be cut short
    async with database.transaction() as session:
        service.record_audit_access(session, actor=principal.actor, action="audit.export", f=f, format=format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/jsonl; charset=utf-8"
    return StreamingResponse(
        service.export_lines(database, f, format),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{f.log.value}.{format}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/audit/entries/{log}/{entry_id}", response_class=HTMLResponse)
async def audit_entry(
    request: Request, principal: Person, database: DatabaseDep, log: str, entry_id: int
) -> HTMLResponse:
    try:
        source = LogSource(log)
    except ValueError:
        raise NotFound(f"no log {log}") from None
    async with database.reading() as session:
        status = await service.entry_with_proof(session, source, entry_id)
    return render(
        request,
        "pages/audit_entry.html",
        principal=principal,
        page="audit",
        status=status,
        entry=status.entry.as_json(),
        proof=service.b64(status.proof),
        checkpoint=await _checkpoint(database),
    )


@router.get("/audit/documents/{document_id}", response_class=HTMLResponse)
async def document_trail_page(
    request: Request, principal: Person, database: DatabaseDep, document_id: str
) -> HTMLResponse:
    async with database.reading() as session:
        document = await visible_document(session, principal, document_id)
        trail = await service.document_trail(session, document.id)
    return render(
        request,
        "pages/audit_document.html",
        principal=principal,
        page="audit",
        document=document,
        trail=[(entry, entry.as_json()) for entry in trail],
        checkpoint=await _checkpoint(database),
    )


@router.get("/audit/documents/{document_id}/evidence")
async def document_evidence(
    request: Request, principal: Person, database: DatabaseDep, document_id: str
) -> Response:
    """Tải gói bằng chứng: the bundle `lienthong audit verify-bundle` checks with nothing else."""
    async with database.reading() as session:
        document = await visible_document(session, principal, document_id)
        content = await build_bundle(session, document.id, master_key=request.app.state.master_key)
    async with database.transaction() as session:
        record_admin_action(session, actor=principal.actor, action="audit.evidence", target=document.id)
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{document.id}.zip"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
