"""`/vxp/<operation>`: the national axis's protocol exactly as its official client SDK speaks it
(docs/axis-protocol.md, shared/reference/vxp-sdk.md), served by the hub, so that agency software
built on the SDK connects to the hub by changing only its `service.endpoint`.

Every request is checked the same way before its operation runs: the signing headers
(`app.axis.protocol.read_request`: the SDK's prefixed JSON in any key order, verified exactly as
received), the system (unknown or revoked: 15), the HMAC (15), the source address when the system
has an allow-list (15), its rate limit (20, HTTP 429) and, for a system in strict mode only, the
freshness of the timestamp and that the signature is new (15). A system serves exactly the agency it
was created for. Received packages are the agency's inbox deliveries (`docId` = the hub's delivery
id); sent ones are the hub's documents (`DocId` = the hub's document id). Every answer, refusals and
unexpected failures included, is the protocol's ASCII-only JSON (downloadEdoc's success aside: the
raw edXML), never FastAPI's own error body.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.orm import selectinload

from app.auth.audience import VxpSystem
from app.auth.usage import usage_recorder
from app.axis.protocol import (
    CRLF,
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
    ascii_json,
    check_fresh,
    decode_description,
    failure,
    file_hash,
    ok,
    read_request,
    verify,
)
from app.axis_api.messages import describe, describe_hub_error, describe_protocol_error, vxp_locale
from app.axis_api.systems import first_time, source_allowed, system_secret
from app.config import Settings
from app.delivery.inbox import acknowledge_pickup, awaiting_pickup, note_processing, refuse_pickup
from app.documents.endpoints import edxml_from_request
from app.documents.payloads import payload
from app.documents.service import Submitter, record_rejection, submit_document
from app.edxml import STATUS_MEANINGS
from app.edxml.formats import format_timestamp, parse_date
from app.i18n import N_
from app.kit.clock import VIETNAM, utcnow
from app.kit.cpu import set_caller
from app.kit.db import Database
from app.kit.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, Problem
from app.kit.http import media_type, read_body
from app.kit.ratelimit import limiter
from app.models import (
    Agency,
    AgencySource,
    AgencyStatus,
    Channel,
    Delivery,
    DeliveryState,
    Document,
    StatusReport,
)
from app.sealing.seal import Sealer
from app.statuses.service import submit_status

log = logging.getLogger(__name__)

#: At most this many packages per getReceivedEdocList, oldest first: acknowledge them and ask again.
RECEIVED_LIST_LIMIT = 1000
#: getSentEdocList without a docId: the rows of at most this many documents, newest first.
SENT_LIST_DOCUMENTS = 100

#: getSentEdocList's sendStatus: a delivery's state as the axis reports a recipient's.
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
    """Every answer: `status`, `ErrorCode`, `ErrorDesc`, and the operation's data (`DocId`, `data`,
    `count`)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["OK", "FAIL"]
    ErrorCode: str
    ErrorDesc: str


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Answer, "description": "OK (ErrorCode 0), with the operation's data"},
    400: {"model": Answer, "description": "ErrorCode 10 (invalid request) or 21 (file error)"},
    401: {"model": Answer, "description": "ErrorCode 15: signature, system id, source address, strict mode"},
    404: {"model": Answer, "description": "ErrorCode 11: unknown docId"},
    429: {"model": Answer, "description": "ErrorCode 20: this system's rate limit (Retry-After)"},
    500: {"model": Answer, "description": "ErrorCode 20: system error (503 with Retry-After: unavailable)"},
}

router = APIRouter(prefix="/vxp", dependencies=[VxpSystem])


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: the system, the one agency it serves, and its signed parameters."""

    system_id: str
    agency_code: str
    signed: SignedRequest

    def param(self, name: str, *, spelled: bool = False) -> str:
        """A signed parameter by name, any case ("" when absent); ErrorCode 10 when two spellings
        (`docId`, `docid`) are signed with different values, unless `spelled` and one is signed
        exactly as `name` (SignedRequest.param)."""
        return self.signed.param(name, spelled=spelled) or ""

    def required(self, name: str, *, spelled: bool = False) -> str:
        value = self.param(name, spelled=spelled)
        if not value:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST, N_("the parameter {name} is missing"), name=PREFIX + name
            )
        return value


Operate = Callable[[Request, Caller], Awaitable[dict[str, object] | Response]]


async def _serve(request: Request, operation: Operation, operate: Operate) -> Response:
    """Authenticate, run the operation, and answer in the protocol's shape whatever happens."""
    caller: Caller | None = None
    locale = vxp_locale(request)  # ErrorDesc: Vietnamese unless Accept-Language asks for English
    try:
        caller = await _authenticate(request)
        data = await operate(request, caller)
    except _HubRefusal as error:
        shown = describe_hub_error(error.refusal, locale, error.code)
        return _refused(operation, caller, error.code, error.description, shown)
    except ProtocolError as error:
        return _refused(
            operation, caller, error.code, error.description, describe_protocol_error(error, locale)
        )
    except HubError as error:
        if error.status == 429:
            shown = describe_hub_error(error, locale, ErrorCode.SYSTEM_ERROR)
            return _answer(failure(ErrorCode.SYSTEM_ERROR, shown, operation), 429, error.headers)
        if error.status >= 500:
            log.warning("vxp %s: %s", operation.value, error.detail)
            status = 503 if error.status == 503 else 500
            shown = describe_hub_error(error, locale, ErrorCode.SYSTEM_ERROR)
            return _answer(failure(ErrorCode.SYSTEM_ERROR, shown, operation), status, error.headers)
        code = ErrorCode.UNKNOWN_DOCUMENT if error.status == 404 else ErrorCode.INVALID_REQUEST
        return _refused(operation, caller, code, error.detail, describe_hub_error(error, locale, code))
    except DataError:  # a value the database cannot take (PostgreSQL: a NUL character in text)
        nul = N_("a parameter holds a NUL character")
        return _refused(
            operation,
            caller,
            ErrorCode.INVALID_REQUEST,
            nul,
            describe(ErrorCode.INVALID_REQUEST, nul, locale),
        )
    except (OSError, OperationalError, InterfaceError) as error:
        log.warning("vxp %s: the database is unavailable: %s", operation.value, type(error).__name__)
        shown = describe(
            ErrorCode.SYSTEM_ERROR, N_("the hub is temporarily unavailable; try again later"), locale
        )
        return _answer(failure(ErrorCode.SYSTEM_ERROR, shown, operation), 503, {"Retry-After": "5"})
    except Exception:
        log.exception("vxp %s: unexpected error", operation.value)
        shown = describe(ErrorCode.SYSTEM_ERROR, N_("an unexpected error occurred; try again later"), locale)
        return _answer(failure(ErrorCode.SYSTEM_ERROR, shown, operation), 500)
    if isinstance(data, Response):
        return data
    return _answer(ok(**data), HTTP_STATUS[ErrorCode.OK])


def edge_refusal(error: HubError) -> Response:
    """A refusal of the HTTP edge (headers too large, too many requests, a body too slow) on a `/vxp`
    path, in the protocol's shape: ErrorCode 10 with the edge's own HTTP status."""
    return _answer(failure(ErrorCode.INVALID_REQUEST, error.detail), error.status, error.headers)


def _answer(body: dict[str, object], status: int, headers: dict[str, str] | None = None) -> Response:
    """ASCII-only JSON: the SDK reads sendEdoc's answer as US-ASCII."""
    return Response(ascii_json(body), status_code=status, headers=headers, media_type="application/json")


def _refused(
    operation: Operation | None,
    caller: Caller | None,
    code: ErrorCode,
    description: str,
    shown: str | None = None,
) -> Response:
    """Logged in English (`description`), answered in the caller's language (`shown`)."""
    who = f"system {caller.system_id} ({caller.agency_code})" if caller else "an unauthenticated caller"
    log.info("vxp %s from %s refused: ErrorCode %s: %s", operation or "?", who, code.value, description)
    return _answer(failure(code, shown or description, operation), HTTP_STATUS[code])


async def _authenticate(request: Request) -> Caller:
    signed = read_request(request.headers)
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    async with database.reading() as session:
        found = await system_secret(session, request.app.state.master_key, signed.system_id)
    if found is None:
        raise ProtocolError(
            ErrorCode.BAD_CREDENTIALS,
            N_("the system id {system} is unknown or revoked"),
            system=signed.system_id,
        )
    system, secret = found
    verify(signed, secret)
    address = request.client.host if request.client else None
    if not source_allowed(system, address):
        raise ProtocolError(
            ErrorCode.BAD_CREDENTIALS,
            f"system {system.id} may not call from {address}: it is limited to the addresses its "
            "operators allowed",
        )
    limiter(request.app.state, "vxp").take(f"vxp:{system.id}")
    set_caller(f"vxp:{system.id}")
    usage_recorder(request.app.state).seen_system(system.id, system.last_used_at)
    if system.strict:
        now = utcnow()
        check_fresh(signed, now=now, zone=settings.axis_zone)
        if not await first_time(database, system_id=system.id, signature=signed.signature, now=now):
            raise ProtocolError(
                ErrorCode.BAD_CREDENTIALS,
                "this signed request was already received, and this system is in strict mode, which "
                "refuses repeated signatures: build a new SDK service object for each call",
            )
    return Caller(system_id=system.id, agency_code=system.agency_code, signed=signed)


def _parameters(*names: tuple[str, bool, str]) -> dict[str, Any]:
    """The OpenAPI description of an operation's headers: the signing headers, then its own."""
    signing = (
        ("systemid", True, "your system id (`lienthong vxp-system create`)"),
        ("timestamp", True, "ddMMyyyy'T'HHmmss+SSSS, local time (the SDK's format)"),
        ("Content-Type", False, "signed by the SDK: application/json, application/octet-stream for sendEdoc"),
        ("sign-header-key", True, "the signed keys without the XroadVnpt- prefix, joined with `;`"),
        ("sign-header", True, 'a JSON object {"XroadVnpt-<key>": "<value>", …} of the signed keys'),
        ("hash-header", True, "hex HMAC-SHA256 of sign-header, as sent, under your secret"),
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
    """ErrorCode 21: the body cannot be read, or the file does not match `hash-file`."""

    kind = "file-error"


_SEND_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary", "description": "the file, then CRLF (the SDK)"}
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {FILE_PART: {"type": "string", "format": "binary"}},
                "required": [FILE_PART],
            }
        },
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
            ("hash-file", True, "SHA-256 of the file in hex, each byte without zero-padding (the SDK's)"),
        ),
    },
)
async def send_edoc(request: Request) -> Response:
    """Send a document or a status message: the raw file followed by CRLF (the SDK), or a multipart
    part `file_doc`. `DocId`: the hub's id of it, which getSentEdocList takes; `"DocId": ""` in a
    refusal. Sending the same bytes again answers the same DocId."""
    return await _serve(request, Operation.SEND_EDOC, _send_edoc)


async def _send_edoc(request: Request, caller: Caller) -> dict[str, object]:
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    sealer: Sealer = request.app.state.sealer
    submitter = Submitter(Channel.VXP, caller.agency_code, system_id=caller.system_id)
    body: bytes | None = None
    try:
        message_type = _checked_send_parameters(caller)
        body = await _file(request, settings.max_body_bytes, caller.param("hash-file"))
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
        raise _HubRefusal(_send_error_code(error), error) from None
    if created:
        request.app.state.dispatch.wake()
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


async def _file(request: Request, limit: int, hash_file: str) -> bytes:
    """The file: the `file_doc` part of a multipart body, or the raw body, which the SDK sends as the
    file followed by CRLF (taken off when `hash-file` is the hash without it). `hash-file` is
    compared in the SDK's unpadded hex; the usual 64-digit form is accepted too."""
    if media_type(request) == "multipart/form-data":
        try:
            candidates = [await edxml_from_request(request, limit)]
        except BadRequest as error:
            if error.errors:  # a readable form without the part
                raise
            raise _FileError(error.detail) from None
    else:
        body = await read_body(request, limit + len(CRLF))
        candidates = [body.removesuffix(CRLF), body] if body.endswith(CRLF) else [body]
    wanted = hash_file.lower()
    for content in candidates:
        if wanted in (file_hash(content), _padded_hash(content)):
            return content
    raise _FileError(
        f"{PREFIX}hash-file is not the SHA-256 of the file received (hex, each byte without "
        "zero-padding, over the file without the CRLF the SDK appends); send it again"
    )


def _padded_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


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


class _HubRefusal(ProtocolError):
    """A send the hub's own rules refuse: the HubError is kept to describe it in the caller's language."""

    def __init__(self, code: ErrorCode, refusal: HubError) -> None:
        super().__init__(code, _describe(refusal))
        self.refusal = refusal


def _describe(error: HubError) -> str:
    """The refusal with every problem's path and message."""
    if not error.errors:
        return error.detail
    return f"{error.detail}: " + "; ".join(_problem(p) for p in error.errors)


def _problem(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}"


# getReceivedEdocList, countReceiveEdoc, countReceiveStatus


@router.post(
    "/getReceivedEdocList",
    responses=_RESPONSES,
    openapi_extra=_parameters(
        ("servicetype", False, "`eDoc`"),
        ("messagetype", False, "`edoc` (default) or `status`"),
        ("fromDate", False, "yyyy/MM/dd: received on or after that day (Vietnam time); the hub's extension"),
        ("toDate", False, "yyyy/MM/dd: received on or before that day (Vietnam time); the hub's extension"),
    ),
)
async def get_received_edoc_list(request: Request) -> Response:
    """The packages waiting for your agency, oldest first (at most 1000 a call). `docId` is the hub's
    delivery id: getEdoc (or downloadEdoc) it, then updateStatus done (or fail)."""
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
                "serviceType": SERVICE_TYPE,
                "messageType": document.kind,
                "created_time": format_timestamp(document.received_at),
                "updated_time": format_timestamp(delivery.updated_at),
                "from": document.sender_code,
                "to": [caller.agency_code],
                "status": AckStatus.INITIAL.value,
                "status_desc": "",
                # Not in the SDK's model (its reader ignores them): for software that wants them.
                "documentId": document.edxml_document_id,
                "code": f"{document.code_number}/{document.code_notation}",
            }
            for delivery, document in rows
        ]
    }


@router.post("/countReceiveEdoc", responses=_RESPONSES, openapi_extra=_parameters())
async def count_receive_edoc(request: Request) -> Response:
    """`count`: how many documents wait for your agency."""
    return await _serve(request, Operation.COUNT_RECEIVE_EDOC, _counter(MessageType.EDOC))


@router.post("/countReceiveStatus", responses=_RESPONSES, openapi_extra=_parameters())
async def count_receive_status(request: Request) -> Response:
    """`count`: how many status messages wait for your agency."""
    return await _serve(request, Operation.COUNT_RECEIVE_STATUS, _counter(MessageType.STATUS))


def _counter(kind: MessageType) -> Operate:
    async def count(request: Request, caller: Caller) -> dict[str, object]:
        database: Database = request.app.state.database
        async with database.reading() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(Document, Document.id == Delivery.document_id)
                .where(
                    Delivery.recipient_code == caller.agency_code,
                    Delivery.state == DeliveryState.AWAITING_PICKUP,
                    Document.kind == kind.value,
                )
            )
        return {"count": int(waiting or 0)}

    return count


# getEdoc, downloadEdoc


@router.post(
    "/getEdoc",
    responses=_RESPONSES,
    openapi_extra=_parameters(_DOC_ID, ("filePath", False, "the SDK's local folder: ignored")),
)
async def get_edoc(request: Request) -> Response:
    """The whole edXML of a package for your agency, as the hub sealed it, in base64 (`data`)."""
    return await _serve(request, Operation.GET_EDOC, _edoc)


async def _edoc(request: Request, caller: Caller) -> dict[str, object]:
    content = await _package_content(request, caller)
    return {"data": base64.b64encode(content).decode("ascii")}


@router.get(
    "/downloadEdoc",
    responses={**_RESPONSES, 200: {"content": {"application/xml": {}}, "description": "the sealed edXML"}},
    openapi_extra=_parameters(_DOC_ID),
)
async def download_edoc(request: Request) -> Response:
    """The whole edXML of a package for your agency, as the hub sealed it: the raw body (GET)."""
    return await _serve(request, Operation.DOWNLOAD_EDOC, _download)


async def _download(request: Request, caller: Caller) -> Response:
    return Response(await _package_content(request, caller), media_type="application/xml")


async def _package_content(request: Request, caller: Caller) -> bytes:
    doc_id = caller.required("docId", spelled=True)  # as the SDK spells it here; a leftover docid waits
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
        return await payload(session, row.sealed_sha256)


def _unknown_package(doc_id: str, caller: Caller) -> ProtocolError:
    return ProtocolError(
        ErrorCode.UNKNOWN_DOCUMENT,
        N_("no package {doc_id} for {agency}"),
        doc_id=doc_id,
        agency=caller.agency_code,
    )


# updateStatus


@router.post(
    "/updateStatus",
    responses=_RESPONSES,
    openapi_extra=_parameters(
        ("docid", True, "the package's id (the SDK writes `docid`; `docId` is read the same)"),
        ("status", True, "`processing`, `done` (stored safely) or `fail` (refused)"),
        ("description", False, "why it failed: percent-encoded UTF-8 (the hub's extension)"),
    ),
)
async def update_status(request: Request) -> Response:
    """Acknowledge a package: `done` takes it out of the list (delivered), `fail` refuses it (the
    delivery fails with your description), `processing` changes nothing."""
    return await _serve(request, Operation.UPDATE_STATUS, _update_status)


async def _update_status(request: Request, caller: Caller) -> dict[str, object]:
    doc_id = caller.required("docId")  # docid or docId, any case; two that differ are refused
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


@router.post(
    "/getSentEdocList",
    responses=_RESPONSES,
    openapi_extra=_parameters(
        _SERVICE_TYPE,
        ("messagetype", False, "`edoc` (default) or `status`: which packages, without a docId"),
        ("docId", False, "the DocId sendEdoc answered; without it, your most recent packages"),
    ),
)
async def get_sent_edoc_list(request: Request) -> Response:
    """One row per recipient of a package your agency sent (or, without a docId, of your 100 most
    recent packages, newest first): `sendStatus` is how far the hub got handing it over (`pending`,
    `initial` waiting for the recipient to take it, `done`, `fail` with `sendStatusDesc`);
    `receiveStatus` the recipient's latest status code (01–16) from its status messages."""
    return await _serve(request, Operation.GET_SENT_EDOC_LIST, _sent)


async def _sent(request: Request, caller: Caller) -> dict[str, object]:
    _service_type(caller, required=False)
    doc_id = caller.param("docId", spelled=True)
    database: Database = request.app.state.database
    query = (
        select(Document)
        .where(Document.sender_code == caller.agency_code)
        .options(selectinload(Document.deliveries))
    )
    if doc_id:
        query = query.where(Document.id == doc_id)
    else:
        kind = _message_type(caller.param("messagetype") or MessageType.EDOC)
        query = query.where(Document.kind == kind.value)
        query = query.order_by(Document.received_at.desc(), Document.id.desc()).limit(SENT_LIST_DOCUMENTS)
    async with database.reading() as session:
        documents = list(await session.scalars(query))
        if doc_id and not documents:
            raise ProtocolError(
                ErrorCode.UNKNOWN_DOCUMENT,
                N_("{agency} sent no package {doc_id}"),
                agency=caller.agency_code,
                doc_id=doc_id,
            )
        delivery_ids = [delivery.id for document in documents for delivery in document.deliveries]
        latest: dict[str, StatusReport] = {}
        if delivery_ids:
            reports = await session.scalars(
                select(StatusReport)
                .where(StatusReport.delivery_id.in_(delivery_ids))
                .order_by(StatusReport.id)
            )
            latest = {report.delivery_id: report for report in reports}
    return {
        "data": [
            _sent_row(document, delivery, latest.get(delivery.id))
            for document in documents
            for delivery in sorted(document.deliveries, key=lambda d: d.recipient_code)
        ]
    }


def _sent_row(document: Document, delivery: Delivery, report: StatusReport | None) -> dict[str, object]:
    state = DeliveryState(delivery.state)
    delivered = state is DeliveryState.DELIVERED
    meaning = (report.description or STATUS_MEANINGS.get(report.status_code, "")) if report else ""
    return {
        "serviceType": SERVICE_TYPE,
        "messageType": document.kind,
        "senderDocId": document.id,
        # The id the recipient knows the package by: the axis's DocId when it went that way, else the
        # hub's delivery id (the docId of its getReceivedEdocList).
        "receiverDocId": delivery.remote_id or delivery.id,
        "fromCode": document.sender_code,
        "toCode": delivery.recipient_code,
        "title": document.subject,
        "notation": f"{document.code_number}/{document.code_notation}",
        "sentTime": format_timestamp(document.received_at),
        "receivedTime": format_timestamp(delivery.updated_at) if delivered else "",
        "sendStatus": SENT_STATUS[state],
        "sendStatusDesc": delivery.last_error or "",
        "receiveStatus": report.status_code if report else "",
        "receiveStatusDesc": meaning,
        "documentId": document.edxml_document_id,  # not in the SDK's model: the edXML DocumentId
    }


# getAgenciesList, getAgenciesListQD20, getSynchronizeUnit


@router.post("/getAgenciesList", responses=_RESPONSES, openapi_extra=_parameters())
async def get_agencies_list(request: Request) -> Response:
    """The hub's agency directory: `id` and `code` are the mã định danh, `pid` the parent's, and
    `status` (the hub's extension) is active or suspended; closed codes are not listed."""
    return await _serve(request, Operation.GET_AGENCIES_LIST, _directory(_agency_row))


@router.post("/getAgenciesListQD20", responses=_RESPONSES, openapi_extra=_parameters())
async def get_agencies_list_qd20(request: Request) -> Response:
    """The directory with the codes of Decision 20/2020/QĐ-TTg: `code102` is the agency's previous
    code when it has one (the hub keeps one earlier code per agency), else empty."""
    return await _serve(request, Operation.GET_AGENCIES_LIST_QD20, _directory(_qd20_row))


@router.post("/getSynchronizeUnit", responses=_RESPONSES, openapi_extra=_parameters())
async def get_synchronize_unit(request: Request) -> Response:
    """The whole directory for synchronisation, closed codes included with `deleted` true;
    `version` and `modifyDate` change whenever the entry does; `centerCode` is the hub's code for the
    agencies it serves itself, empty for those learnt from the national axis."""
    return await _serve(request, Operation.GET_SYNCHRONIZE_UNIT, _directory(_unit_row, closed_too=True))


Row = Callable[[Agency, Settings], dict[str, object]]


def _directory(row: Row, *, closed_too: bool = False) -> Operate:
    async def rows(request: Request, _caller: Caller) -> dict[str, object]:
        database: Database = request.app.state.database
        settings: Settings = request.app.state.settings
        query = select(Agency).order_by(Agency.code)
        if not closed_too:
            # As on the axis, a closed code is no longer listed (its successor names it as old code).
            query = query.where(Agency.status != AgencyStatus.CLOSED)
        async with database.reading() as session:
            return {"data": [row(agency, settings) for agency in await session.scalars(query)]}

    return rows


def _agency_row(agency: Agency, _settings: Settings) -> dict[str, object]:
    return {
        "id": agency.code,
        "code": agency.code,
        "pid": agency.parent_code or "",
        "name": agency.name,
        "mail": agency.email or "",
        "oldCode": agency.old_code or "",
        "status": agency.status,
    }


def _qd20_row(agency: Agency, _settings: Settings) -> dict[str, object]:
    return {
        "id": agency.code,
        "code": agency.code,
        "name": agency.name,
        "mail": agency.email or "",
        "code102": agency.old_code or "",
    }


def _unit_row(agency: Agency, settings: Settings) -> dict[str, object]:
    return {
        "id": agency.code,
        "code": agency.code,
        "pid": agency.parent_code or "",
        "name": agency.name,
        "mail": agency.email or "",
        "version": int(agency.updated_at.timestamp()),
        "centerCode": "" if agency.source == AgencySource.AXIS else settings.hub_code,
        "deleted": agency.status == AgencyStatus.CLOSED,
        "modifyDate": format_timestamp(agency.updated_at),
        "isAgency": True,
    }


# registerAgency, deleteAgency: not through this API


_DIRECTORY_CHANGES = (
    "directory changes are not made through this API: the province's operators keep the directory "
    "(lienthong agency add / agency import, or the admin console); ask them"
)


@router.post("/registerAgency", responses=_RESPONSES, openapi_extra=_parameters())
async def register_agency(request: Request) -> Response:
    """Always refused (ErrorCode 10): the province's operators keep the directory."""
    return await _serve(request, Operation.REGISTER_AGENCY, _not_offered)


@router.post(
    "/deleteAgency", responses=_RESPONSES, openapi_extra=_parameters(("AgencyCode", False, "ignored"))
)
async def delete_agency(request: Request) -> Response:
    """Always refused (ErrorCode 10): the province's operators keep the directory."""
    return await _serve(request, Operation.DELETE_AGENCY, _not_offered)


async def _not_offered(_request: Request, _caller: Caller) -> dict[str, object]:
    raise ProtocolError(ErrorCode.INVALID_REQUEST, _DIRECTORY_CHANGES)


# Anything else under /vxp: still the protocol's JSON, not FastAPI's 404 or 405.

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("", methods=_METHODS, include_in_schema=False)
@router.api_route("/{operation:path}", methods=_METHODS, include_in_schema=False)
async def not_an_operation(request: Request) -> Response:
    operation = request.url.path.removeprefix(router.prefix).strip("/")
    if operation in {o.value for o in Operation}:
        method = "GET" if operation == Operation.DOWNLOAD_EDOC else "POST"
        description = f"{operation} is called with {method}, not {request.method}"
    else:
        known = ", ".join(o.value for o in Operation)
        description = f"no operation {operation!r}; the operations are {known}"
    return _refused(None, None, ErrorCode.INVALID_REQUEST, description)
