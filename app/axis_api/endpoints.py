"""`/vxp/<operation>`: the national axis's own protocol (docs/axis-protocol.md), served by the hub, so
that agency software written for the axis connects to the hub by changing only its base URL.

Every request is checked the same way before its operation runs: the signing headers
(`app.axis.protocol.read_request`), the system (unknown or revoked: 15), the HMAC and the clock (15),
then the replay guard (15). A system serves exactly the agency it was created for. Received packages
are the agency's inbox deliveries (`docId` = the hub's delivery id); sent ones are the hub's
documents (`docId` = the hub's document id). Every answer, refusals and unexpected failures included,
is the protocol's JSON with the HTTP status of its ErrorCode, never FastAPI's own error body.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.orm import selectinload

from app.auth.audience import VxpSystem
from app.auth.usage import usage_recorder
from app.axis.protocol import (
    FILE_PART,
    HTTP_STATUS,
    PENDING,
    PREFIX,
    SERVICE_TYPE,
    AckStatus,
    ErrorCode,
    MessageType,
    Operation,
    ProtocolError,
    SignedRequest,
    decode_description,
    failure,
    file_hash,
    ok,
    read_request,
    verify,
)
from app.axis_api.systems import first_time, system_secret
from app.config import Settings
from app.delivery.inbox import acknowledge_pickup, awaiting_pickup, note_processing, refuse_pickup
from app.documents.endpoints import edxml_from_request
from app.documents.service import Submitter, payload, record_rejection, submit_document
from app.edxml.formats import format_timestamp, parse_date
from app.kit.clock import VIETNAM, utcnow
from app.kit.cpu import set_caller
from app.kit.db import Database
from app.kit.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, Problem
from app.kit.http import media_type
from app.kit.ratelimit import limiter
from app.models import Agency, AgencyStatus, Channel, Delivery, DeliveryState, Document
from app.sealing.seal import Sealer
from app.statuses.service import submit_status

log = logging.getLogger(__name__)

#: At most this many packages per getReceivedEdocList, oldest first: acknowledge them and ask again.
RECEIVED_LIST_LIMIT = 1000

#: getSentEdocList: a delivery's state as the axis reports a recipient's.
SENT_STATUS: dict[DeliveryState, str] = {
    DeliveryState.QUEUED: PENDING,
    DeliveryState.SENDING: PENDING,
    DeliveryState.RETRYING: PENDING,
    DeliveryState.AWAITING_PICKUP: AckStatus.INITIAL.value,
    DeliveryState.DELIVERED: AckStatus.DONE.value,
    DeliveryState.FAILED: AckStatus.FAIL.value,
    DeliveryState.DISCARDED: AckStatus.FAIL.value,
}

# Directory problems of a recipient or of the sender, by problem code (app.documents.service).
_RECIPIENT_CODES = {
    "unknown-agency": ErrorCode.UNKNOWN_RECIPIENT,
    "no-route": ErrorCode.UNKNOWN_RECIPIENT,
    "agency-suspended": ErrorCode.RECIPIENT_LOCKED,
    "agency-closed": ErrorCode.RECIPIENT_LOCKED,
}
_SENDER_PATH = "/From/"


class Answer(BaseModel):
    """Every answer: `status`, `ErrorCode`, `ErrorDesc`, and the operation's data (`DocId`, `data`)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["OK", "FAIL"]
    ErrorCode: str
    ErrorDesc: str


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Answer, "description": "OK (ErrorCode 0), with the operation's data"},
    400: {"model": Answer, "description": "ErrorCode 10 (invalid request) or 21 (file error)"},
    401: {"model": Answer, "description": "ErrorCode 15: signature, system id, timestamp or replay"},
    404: {"model": Answer, "description": "ErrorCode 11: unknown docId"},
    500: {"model": Answer, "description": "ErrorCode 20: system error (503 with Retry-After: unavailable)"},
}

router = APIRouter(prefix="/vxp", dependencies=[VxpSystem])


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: the system, the one agency it serves, and its signed parameters."""

    system_id: str
    agency_code: str
    signed: SignedRequest

    def param(self, name: str) -> str:
        return self.signed.param(name) or ""

    def required(self, name: str) -> str:
        value = self.param(name)
        if not value:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, f"the parameter {PREFIX}{name} is missing")
        return value


Operate = Callable[[Request, Caller], Awaitable[dict[str, object]]]


async def _serve(request: Request, operation: Operation, operate: Operate) -> JSONResponse:
    """Authenticate, run the operation, and answer in the protocol's shape whatever happens."""
    caller: Caller | None = None
    try:
        caller = await _authenticate(request)
        data = await operate(request, caller)
    except ProtocolError as error:
        return _refused(operation, caller, error.code, error.description)
    except HubError as error:
        if error.status == 429:
            return _answer(failure(ErrorCode.SYSTEM_ERROR, error.detail), 429, error.headers)
        if error.status >= 500:
            log.warning("vxp %s: %s", operation.value, error.detail)
            status = 503 if error.status == 503 else 500
            return _answer(failure(ErrorCode.SYSTEM_ERROR, error.detail), status, error.headers)
        code = ErrorCode.UNKNOWN_DOCUMENT if error.status == 404 else ErrorCode.INVALID_REQUEST
        return _refused(operation, caller, code, error.detail)
    except DataError:  # a value the database cannot take (PostgreSQL: a NUL character in text)
        return _refused(operation, caller, ErrorCode.INVALID_REQUEST, "a parameter holds a NUL character")
    except (OSError, OperationalError, InterfaceError) as error:
        log.warning("vxp %s: the database is unavailable: %s", operation.value, type(error).__name__)
        return _answer(
            failure(ErrorCode.SYSTEM_ERROR, "the hub is temporarily unavailable; try again later"),
            503,
            {"Retry-After": "5"},
        )
    except Exception:
        log.exception("vxp %s: unexpected error", operation.value)
        return _answer(failure(ErrorCode.SYSTEM_ERROR, "an unexpected error occurred; try again later"), 500)
    return _answer(ok(**data), HTTP_STATUS[ErrorCode.OK])


def edge_refusal(error: HubError) -> JSONResponse:
    """A refusal of the HTTP edge (headers too large, too many requests, a body too slow) on a `/vxp`
    path, in the protocol's shape: ErrorCode 10 with the edge's own HTTP status."""
    return _answer(failure(ErrorCode.INVALID_REQUEST, error.detail), error.status, error.headers)


def _answer(body: dict[str, object], status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _refused(
    operation: Operation | None, caller: Caller | None, code: ErrorCode, description: str
) -> JSONResponse:
    who = f"system {caller.system_id} ({caller.agency_code})" if caller else "an unauthenticated caller"
    log.info("vxp %s from %s refused: ErrorCode %s: %s", operation or "?", who, code.value, description)
    return _answer(failure(code, description), HTTP_STATUS[code])


async def _authenticate(request: Request) -> Caller:
    signed = read_request(request.headers)
    database: Database = request.app.state.database
    async with database.reading() as session:
        found = await system_secret(session, request.app.state.master_key, signed.system_id)
    if found is None:
        raise ProtocolError(
            ErrorCode.BAD_CREDENTIALS, f"the system id {signed.system_id} is unknown or revoked"
        )
    system, secret = found
    now = utcnow()
    verify(signed, secret, now_ms=int(now.timestamp() * 1000))
    limiter(request.app.state, "vxp").take(f"vxp:{system.id}")
    set_caller(f"vxp:{system.id}")
    usage_recorder(request.app.state).seen_system(system.id, system.last_used_at)
    if not await first_time(database, system_id=system.id, signature=signed.signature, now=now):
        raise ProtocolError(
            ErrorCode.BAD_CREDENTIALS,
            "this signed request was already received (a replay): sign each request anew, with a new "
            "timestamp",
        )
    return Caller(system_id=system.id, agency_code=system.agency_code, signed=signed)


def _parameters(*names: tuple[str, bool, str]) -> dict[str, Any]:
    """The OpenAPI description of an operation's headers: the signing headers, then its own."""
    signing = (
        ("systemid", True, "your system id (`lienthong vxp-system create`)"),
        ("timestamp", True, "milliseconds since the Unix epoch; at most 300 s from the hub's clock"),
        ("sign-header-key", True, "the signed logical header names, joined with `;`"),
        ("sign-header", True, "a JSON object of the signed logical headers and their values (ASCII)"),
        ("hash-header", True, "hex HMAC-SHA256 of sign-header under your secret"),
    )
    return {
        "parameters": [
            {
                "name": PREFIX + name,
                "in": "header",
                "required": required,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, required, description in (*signing, *names)
        ]
    }


_SERVICE_TYPE = ("servicetype", True, "`eDoc`")
_DOC_ID = ("docId", True, "the package's id")


def _service_type(caller: Caller, *, required: bool) -> None:
    value = caller.required("servicetype") if required else caller.param("servicetype")
    if value and value.lower() != SERVICE_TYPE.lower():
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{PREFIX}servicetype must be {SERVICE_TYPE}, not {value!r}"
        )


def _message_type(value: str) -> MessageType:
    try:
        return MessageType(value.lower())
    except ValueError:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{PREFIX}messagetype must be edoc or status, not {value!r}"
        ) from None


def _day_start(caller: Caller, name: str, *, plus_days: int = 0) -> datetime | None:
    """The start of the day a `yyyy/MM/dd` parameter names, in Vietnam time (None when absent)."""
    value = caller.param(name)
    if not value:
        return None
    day = parse_date(value)
    if day is None:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{PREFIX}{name} must be a date yyyy/MM/dd, not {value!r}"
        )
    return datetime.combine(day + timedelta(days=plus_days), time(), VIETNAM)


# sendEdoc


class _FileError(BadRequest):
    """ErrorCode 21: the multipart body cannot be read, or the file does not match `hash-file`."""

    kind = "file-error"


_SEND_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {FILE_PART: {"type": "string", "format": "binary"}},
                "required": [FILE_PART],
            }
        }
    },
}


@router.post(
    "/sendEdoc",
    responses={
        **_RESPONSES,
        403: {"model": Answer, "description": "ErrorCode 19: `from` is not the agency of this system"},
        422: {"model": Answer, "description": "ErrorCode 18, 22 or 23: recipient unknown, invalid, locked"},
    },
    openapi_extra={
        "requestBody": _SEND_BODY,
        **_parameters(
            ("from", True, "the sending agency: the agency of your system"),
            _SERVICE_TYPE,
            ("messagetype", True, "`edoc` (a document) or `status` (a status message)"),
            ("hash-file", True, "hex SHA-256 of the file"),
        ),
    },
)
async def send_edoc(request: Request) -> JSONResponse:
    """Send a document or a status message (multipart, part `file_doc`). `DocId`: the hub's id of it,
    which getSentEdocList takes. Sending the same bytes again answers the same DocId."""
    return await _serve(request, Operation.SEND_EDOC, _send_edoc)


async def _send_edoc(request: Request, caller: Caller) -> dict[str, object]:
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    sealer: Sealer = request.app.state.sealer
    submitter = Submitter(Channel.VXP, caller.agency_code, system_id=caller.system_id)
    body: bytes | None = None
    try:
        message_type = _checked_send_parameters(caller)
        body = await _file(request, settings.max_body_bytes)
        if file_hash(body) != caller.param("hash-file").lower():
            raise _FileError(f"{PREFIX}hash-file is not the SHA-256 of the file received; send it again")
        if message_type is MessageType.STATUS:
            status = await submit_status(database, sealer, submitter, body, hub_code=settings.hub_code)
            doc_id, created = status.receipt.id, status.created
        else:
            document = await submit_document(database, sealer, submitter, body, hub_code=settings.hub_code)
            doc_id, created = document.receipt.id, document.created
    except HubError as error:
        await record_rejection(database, submitter, body, error)
        if error.status >= 500:
            raise
        raise ProtocolError(_send_error_code(error), _describe(error)) from None
    if created:
        request.app.state.dispatch.relay.wake()
    return {"DocId": doc_id}


def _checked_send_parameters(caller: Caller) -> MessageType:
    """The parameters of sendEdoc, as HubErrors so that a refusal is logged like any other."""
    try:
        sender = caller.required("from")
        _service_type(caller, required=True)
        message_type = _message_type(caller.required("messagetype"))
        caller.required("hash-file")
    except ProtocolError as error:
        raise BadRequest(error.description) from None
    if sender != caller.agency_code:
        raise Forbidden(f"this system serves {caller.agency_code}; it cannot send for {sender}")
    return message_type


async def _file(request: Request, limit: int) -> bytes:
    if media_type(request) != "multipart/form-data":
        raise BadRequest(f"send the file as the part {FILE_PART} of a multipart/form-data body")
    try:
        return await edxml_from_request(request, limit)
    except BadRequest as error:
        if error.errors:  # a readable form without the part
            raise
        raise _FileError(error.detail) from None


def _send_error_code(error: HubError) -> ErrorCode:
    """The ErrorCode of a refused send, from the status and problems of the hub's own refusal."""
    if isinstance(error, _FileError):
        return ErrorCode.FILE_ERROR
    if error.status == 403:
        return ErrorCode.SENDER_NOT_SERVED
    if error.status == 415:
        return ErrorCode.NOT_EDXML
    if error.status != 422:
        return ErrorCode.INVALID_REQUEST
    codes = set()
    for problem in error.errors:
        directory = _RECIPIENT_CODES.get(problem.code)
        if directory is None:
            return ErrorCode.NOT_EDXML  # the document itself is wrong: that says most
        codes.add(ErrorCode.SENDER_NOT_SERVED if _SENDER_PATH in problem.path else directory)
    for code in (ErrorCode.SENDER_NOT_SERVED, ErrorCode.UNKNOWN_RECIPIENT, ErrorCode.RECIPIENT_LOCKED):
        if code in codes:
            return code
    return ErrorCode.NOT_EDXML


def _describe(error: HubError) -> str:
    """The refusal with every problem's path and message."""
    if not error.errors:
        return error.detail
    return f"{error.detail}: " + "; ".join(_problem(p) for p in error.errors)


def _problem(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}"


# getReceivedEdocList


@router.post(
    "/getReceivedEdocList",
    responses=_RESPONSES,
    openapi_extra=_parameters(
        ("servicetype", False, "`eDoc`"),
        ("messagetype", False, "`edoc` (default) or `status`"),
        ("fromDate", False, "yyyy/MM/dd: received on or after that day (Vietnam time)"),
        ("toDate", False, "yyyy/MM/dd: received on or before that day (Vietnam time)"),
    ),
)
async def get_received_edoc_list(request: Request) -> JSONResponse:
    """The packages waiting for your agency, oldest first (at most 1000 a call). `docId` is the hub's
    delivery id: getEdoc it, then updateStatus done (or fail)."""
    return await _serve(request, Operation.GET_RECEIVED_EDOC_LIST, _received)


async def _received(request: Request, caller: Caller) -> dict[str, object]:
    _service_type(caller, required=False)
    kind = _message_type(caller.param("messagetype") or MessageType.EDOC)
    received_from = _day_start(caller, "fromDate")
    received_before = _day_start(caller, "toDate", plus_days=1)
    database: Database = request.app.state.database
    async with database.reading() as session:
        rows = await awaiting_pickup(
            session,
            caller.agency_code,
            limit=RECEIVED_LIST_LIMIT,
            kind=kind.value,
            received_from=received_from,
            received_before=received_before,
        )
    return {
        "data": [
            {
                "docId": delivery.id,
                "from": document.sender_code,
                "to": [caller.agency_code],
                "messageType": document.kind,
                "status": AckStatus.INITIAL.value,
                "created_time": format_timestamp(document.received_at),
                "documentId": document.edxml_document_id,
                "code": f"{document.code_number}/{document.code_notation}",
            }
            for delivery, document in rows
        ]
    }


# getEdoc


@router.post("/getEdoc", responses=_RESPONSES, openapi_extra=_parameters(_DOC_ID))
async def get_edoc(request: Request) -> JSONResponse:
    """The whole edXML of a package for your agency, as the hub sealed it, in base64 (`data`)."""
    return await _serve(request, Operation.GET_EDOC, _edoc)


async def _edoc(request: Request, caller: Caller) -> dict[str, object]:
    doc_id = caller.required("docId")
    database: Database = request.app.state.database
    async with database.reading() as session:
        row = (
            await session.execute(
                select(Delivery.recipient_code, Document.sealed_sha256)
                .join(Document, Document.id == Delivery.document_id)
                .where(Delivery.id == doc_id)
            )
        ).first()
        if row is None or row.recipient_code != caller.agency_code:
            raise _unknown_package(doc_id, caller)
        content = await payload(session, row.sealed_sha256)
    return {"data": base64.b64encode(content).decode("ascii")}


def _unknown_package(doc_id: str, caller: Caller) -> ProtocolError:
    return ProtocolError(ErrorCode.UNKNOWN_DOCUMENT, f"no package {doc_id} for {caller.agency_code}")


# updateStatus


@router.post(
    "/updateStatus",
    responses=_RESPONSES,
    openapi_extra=_parameters(
        _DOC_ID,
        ("status", True, "`processing`, `done` (stored safely) or `fail` (refused)"),
        ("description", False, "why it failed: percent-encoded UTF-8"),
    ),
)
async def update_status(request: Request) -> JSONResponse:
    """Acknowledge a package: `done` takes it out of the list (delivered), `fail` refuses it (the
    delivery fails with your description), `processing` changes nothing."""
    return await _serve(request, Operation.UPDATE_STATUS, _update_status)


async def _update_status(request: Request, caller: Caller) -> dict[str, object]:
    doc_id = caller.required("docId")
    value = caller.required("status")
    try:
        status = AckStatus(value.lower())
    except ValueError:
        status = AckStatus.INITIAL
    if status is AckStatus.INITIAL:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{PREFIX}status must be processing, done or fail, not {value!r}"
        )
    description = decode_description(caller.param("description"))
    via = f"updateStatus {status.value} by system {caller.system_id}"
    database: Database = request.app.state.database
    try:
        async with database.transaction() as session:
            if status is AckStatus.DONE:
                await acknowledge_pickup(
                    session, delivery_id=doc_id, recipient_code=caller.agency_code, via=via
                )
            elif status is AckStatus.FAIL:
                await refuse_pickup(
                    session,
                    delivery_id=doc_id,
                    recipient_code=caller.agency_code,
                    description=description,
                    via=via,
                )
            else:
                await note_processing(session, delivery_id=doc_id, recipient_code=caller.agency_code, via=via)
    except NotFound:
        raise _unknown_package(doc_id, caller) from None
    except Conflict as error:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, error.detail) from None
    return {}


# getSentEdocList


@router.post("/getSentEdocList", responses=_RESPONSES, openapi_extra=_parameters(_DOC_ID))
async def get_sent_edoc_list(request: Request) -> JSONResponse:
    """Where each recipient of a package your agency sent stands: `pending` (on its way), `initial`
    (waiting for the recipient to take it), `done`, or `fail` (with the reason)."""
    return await _serve(request, Operation.GET_SENT_EDOC_LIST, _sent)


async def _sent(request: Request, caller: Caller) -> dict[str, object]:
    doc_id = caller.required("docId")
    database: Database = request.app.state.database
    async with database.reading() as session:
        document = await session.scalar(
            select(Document).where(Document.id == doc_id).options(selectinload(Document.deliveries))
        )
    if document is None or document.sender_code != caller.agency_code:
        raise ProtocolError(ErrorCode.UNKNOWN_DOCUMENT, f"{caller.agency_code} sent no package {doc_id}")
    return {
        "data": [
            {
                "to": delivery.recipient_code,
                "status": SENT_STATUS[DeliveryState(delivery.state)],
                "updated_time": format_timestamp(delivery.updated_at),
                "description": delivery.last_error or "",
            }
            for delivery in document.deliveries
        ]
    }


# getAgenciesList


@router.post("/getAgenciesList", responses=_RESPONSES, openapi_extra=_parameters())
async def get_agencies_list(request: Request) -> JSONResponse:
    """The hub's agency directory: `id` and `code` are the mã định danh, `pid` the parent's, and
    `status` is active, suspended or closed."""
    return await _serve(request, Operation.GET_AGENCIES_LIST, _agencies)


async def _agencies(request: Request, caller: Caller) -> dict[str, object]:
    database: Database = request.app.state.database
    async with database.reading() as session:
        # As on the axis, a closed code is no longer listed (its successor names it as old code).
        agencies = await session.scalars(
            select(Agency).where(Agency.status != AgencyStatus.CLOSED).order_by(Agency.code)
        )
        return {
            "data": [
                {
                    "id": agency.code,
                    "code": agency.code,
                    "pid": agency.parent_code or "",
                    "name": agency.name,
                    "mail": agency.email or "",
                    "oldCode": agency.old_code or "",
                    "status": agency.status,
                }
                for agency in agencies
            ]
        }


# Anything else under /vxp: still the protocol's JSON, not FastAPI's 404 or 405.

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("", methods=_METHODS, include_in_schema=False)
@router.api_route("/{operation:path}", methods=_METHODS, include_in_schema=False)
async def not_an_operation(request: Request) -> JSONResponse:
    operation = request.url.path.removeprefix(router.prefix).strip("/")
    if operation in {o.value for o in Operation}:
        description = f"{operation} is called with POST, not {request.method}"
    else:
        known = ", ".join(o.value for o in Operation)
        description = f"no operation {operation!r}; the operations are {known}"
    return _refused(None, None, ErrorCode.INVALID_REQUEST, description)
