"""`/api/v1/documents`: agency software submits edXML documents and reads them back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Protocol, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from app.auth.deps import AgencyPrincipal, PartyPrincipal
from app.auth.service import Principal
from app.config import Settings
from app.documents.payloads import stored_payload
from app.documents.schemas import DeliveryEventOut, DeliveryOut, DocumentOut, Receipt, StatusOut
from app.documents.service import (
    Submitter,
    record_rejection,
    signature_outcome,
    submit_document,
    visible_document,
)
from app.edxml import STATUS_MEANINGS
from app.kit.cpu import off_loop
from app.kit.db import Database
from app.kit.deps import DatabaseDep, ReadingSessionDep, SettingsDep
from app.kit.errors import BadRequest, HubError, Problem
from app.kit.http import XML_REQUEST_BODY, media_type, read_body, read_xml_body
from app.kit.ratelimit import limiter
from app.models import Document
from app.sealing.deps import SealerDep
from app.sealing.seal import Sealer

R = TypeVar("R", bound="Submission", covariant=True)


class Submission(Protocol):
    @property
    def created(self) -> bool: ...


router = APIRouter(prefix="/api/v1/documents", tags=["documents"])

EDXML_REQUEST_BODY = {
    "required": True,
    "content": {
        **XML_REQUEST_BODY["content"],
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file_doc": {"type": "string", "format": "binary"}},
                "required": ["file_doc"],
            }
        },
    },
}


async def edxml_from_request(request: Request, limit: int) -> bytes:
    """The edXML bytes: the raw body, or the `file_doc` part of a multipart form."""
    if media_type(request) != "multipart/form-data":
        return await read_xml_body(request, limit, what="the edXML document (or a multipart part file_doc)")
    body = await read_body(request, limit)
    # Parsing a multipart body costs CPU in proportion to its line breaks (1.8 s for 48 MB of them):
    # off the event loop, on a loop of the worker thread's own.
    part = await off_loop(asyncio.run, _file_doc_part(request.headers, body, limit))
    if part is None:
        raise BadRequest(
            "the multipart body has no file part named file_doc",
            [Problem("/file_doc", "required", "attach the .edxml file as the part file_doc")],
        )
    return part


async def _file_doc_part(headers: Headers, body: bytes, limit: int) -> bytes | None:
    async def one_chunk() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(
            headers, one_chunk(), max_files=1, max_fields=10, max_part_size=limit
        ).parse()
    except MultiPartException as error:
        raise BadRequest(f"the multipart body cannot be read: {error.message}") from None
    part = form.get("file_doc")
    if part is None or isinstance(part, str):
        return None
    return await part.read()


class Pipeline(Protocol[R]):
    async def __call__(
        self, database: Database, sealer: Sealer, submitter: Submitter, body: bytes, *, hub_code: str
    ) -> R: ...


async def take_in(
    request: Request,
    response: Response,
    principal: Principal,
    database: Database,
    settings: Settings,
    sealer: Sealer,
    pipeline: Pipeline[R],
) -> R:
    """Read the edXML from the request and run it through `pipeline` in the caller's name: a refusal
    is logged and raised; something new wakes the relay; the same bytes again answer 200."""
    body: bytes | None = None
    submitter = Submitter.of(principal)
    limiter(request.app.state, "intake").take(f"credential:{principal.credential_id}")
    try:
        body = await edxml_from_request(request, settings.max_body_bytes)
        result = await pipeline(database, sealer, submitter, body, hub_code=settings.hub_code)
    except HubError as error:
        await record_rejection(database, submitter, body, error)
        raise
    if result.created:
        request.app.state.dispatch.wake()
    else:
        response.status_code = 200
    return result


@router.post(
    "",
    response_model=Receipt,
    status_code=201,
    openapi_extra={"requestBody": EDXML_REQUEST_BODY},
    responses={200: {"model": Receipt, "description": "the same bytes were accepted before"}},
)
async def submit(
    request: Request,
    response: Response,
    principal: AgencyPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    sealer: SealerDep,
) -> Receipt:
    """Submit an edXML document; 201 with the receipt, or 200 with the original receipt for the
    same bytes sent again."""
    result = await take_in(request, response, principal, database, settings, sealer, submit_document)
    response.headers["Location"] = f"/api/v1/documents/{result.receipt.id}"
    return result.receipt


@router.get("/{document_id}", response_model=DocumentOut)
async def get_document(
    document_id: str, session: ReadingSessionDep, principal: PartyPrincipal
) -> DocumentOut:
    """Metadata, deliveries and each delivery's history."""
    document = await visible_document(session, principal, document_id)
    return _document_out(document)


@router.get(
    "/{document_id}/edxml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "the sealed edXML as forwarded"}},
)
async def get_edxml(
    document_id: str, session: ReadingSessionDep, database: DatabaseDep, principal: PartyPrincipal
) -> Response:
    """The sealed edXML exactly as the hub forwards it, streamed from storage a slice at a time."""
    document = await visible_document(session, principal, document_id)
    sealed = await stored_payload(session, database, document.sealed_sha256)
    return StreamingResponse(
        sealed.chunks(),
        media_type="application/xml",
        headers={
            "Content-Length": str(sealed.size),
            "ETag": f'"{document.sealed_sha256}"',
            "Content-Disposition": f'attachment; filename="{document.id}.edxml"',
        },
    )


def _document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        kind=document.kind,
        received_via=document.received_via,
        document_id=document.edxml_document_id,
        business_type=document.business_type,
        related_id=document.related_id,
        sender=document.sender_code,
        subject=document.subject,
        code_number=document.code_number,
        code_notation=document.code_notation,
        promulgation_date=document.promulgation_date,
        received_at=document.received_at,
        sha256=document.original_sha256,
        sealed_sha256=document.sealed_sha256,
        seal_key_id=document.seal_key_id,
        sender_signature=signature_outcome(document),
        deliveries=[
            DeliveryOut(
                id=d.id,
                recipient=d.recipient_code,
                connector=d.connector,
                state=d.state,
                attempt_count=d.attempt_count,
                next_attempt_at=d.next_attempt_at,
                last_error=d.last_error,
                remote_id=d.remote_id,
                history=[
                    DeliveryEventOut(at=e.at, from_state=e.from_state, to_state=e.to_state, reason=e.reason)
                    for e in d.events
                ],
                statuses=[
                    StatusOut(
                        code=s.status_code,
                        meaning=STATUS_MEANINGS.get(s.status_code, ""),
                        reporter=s.reporter_code,
                        description=s.description,
                        reported_at=s.reported_at,
                        received_at=s.received_at,
                        message_id=s.message_id,
                    )
                    for s in d.statuses
                ],
            )
            for d in document.deliveries
        ],
    )
