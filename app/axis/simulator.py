"""The national-axis simulator (`lienthong dev axis-sim`): the server side of docs/axis-protocol.md,
in memory, standing in for the axis in tests and demos.

It checks what the real axis can be expected to check, in the official SDK's format
(shared/reference/vxp-sdk.md): the signature over `XroadVnpt-sign-header` exactly as received, the
SDK's timestamp format, `hash-file` in the SDK's unpadded hex, the edXML with the hub's own hardened
reader, who may send for whom, the directory. Like the real axis it cannot refuse a reused timestamp
or a repeated signature (an SDK object keeps both for hours). It keeps every package with one
acknowledgement per receiving system. Each agency code is served by the system whose pattern names
it most specifically (`*.H62` for a whole province, an exact code for one agency), so every recipient
has at most one receiving system, as on the real axis.

Tests steer it through unauthenticated endpoints under `/_sim/`: inspect packages, inject faults
(errors and delays), replace the directory, reset. It is meant to listen on loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from app.agencies.codes import AgencyCode, CodePattern, InvalidAgencyCode
from app.agencies.directory_file import AgencyRecord, DirectoryFileError, read_directory_file
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
    decode_description,
    failure,
    file_hash,
    ok,
    read_request,
    verify,
)
from app.edxml.formats import format_timestamp, parse_date
from app.edxml.model import STATUS_MEANINGS, EdxmlDocument
from app.edxml.parser import read_message
from app.kit.clock import VIETNAM
from app.kit.errors import HubError
from app.models import AgencyStatus

_SYSTEM_ID = re.compile(r"[A-Za-z0-9._-]+")
_SYSTEM_FORM = "ID:SECRET or ID:SECRET@PATTERN[,PATTERN…]"
_WAITING = frozenset({AckStatus.INITIAL, AckStatus.PROCESSING})
_REQUIRED: dict[Operation, tuple[str, ...]] = {
    Operation.SEND_EDOC: ("from", "servicetype", "messagetype", "hash-file"),
    Operation.GET_RECEIVED_EDOC_LIST: ("servicetype",),
    Operation.GET_EDOC: ("docId",),
    Operation.DOWNLOAD_EDOC: ("docId",),
    Operation.UPDATE_STATUS: ("docId", "status"),
    Operation.GET_SENT_EDOC_LIST: (),  # docId, none (every package), or documentId (see `sent`)
    Operation.COUNT_RECEIVE_EDOC: (),
    Operation.COUNT_RECEIVE_STATUS: (),
    Operation.GET_AGENCIES_LIST: (),
}
#: At most this many rows per getSentEdocList without a docId, newest first.
SENT_LIST_LIMIT = 1000


@dataclass(frozen=True)
class SimulatedSystem:
    """A system connected to the simulated axis, and the agency codes it sends and receives for."""

    system_id: str
    secret: str = field(repr=False)
    serves: tuple[CodePattern, ...]


def parse_system(text: str) -> SimulatedSystem:
    """A system as `--system` gives it: `ID:SECRET` (serving the agency whose code is ID) or
    `ID:SECRET@PATTERN[,PATTERN…]` (a secret containing '@' needs this form). ValueError says what is
    wrong, without repeating the secret."""
    system_id, colon, rest = text.partition(":")
    if not colon or not system_id:
        raise ValueError(f"expected {_SYSTEM_FORM}")
    if not _SYSTEM_ID.fullmatch(system_id):
        raise ValueError(f"system id {system_id!r} may only contain letters, digits, '.', '_' and '-'")
    secret, at, patterns = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if not secret:
        raise ValueError(f"system {system_id}: the secret is empty; expected {_SYSTEM_FORM}")
    try:
        if not at:
            return SimulatedSystem(system_id, secret, (CodePattern.parse(str(AgencyCode.parse(system_id))),))
        serves = tuple(CodePattern.parse(pattern.strip()) for pattern in patterns.split(","))
    except InvalidAgencyCode as error:
        hint = "" if at else f"; name the codes it serves with {system_id}:SECRET@PATTERN[,PATTERN…]"
        raise ValueError(f"system {system_id}: {error}{hint}") from None
    return SimulatedSystem(system_id, secret, serves)


class FaultSpec(BaseModel):
    """`POST /_sim/faults`: answer the next `count` requests of `operation` (or every operation, "*")
    with this failure after `delay_seconds`; `count` -1 until cleared. Without `http_status` the
    requests are only slowed down, then served."""

    operation: str = "*"
    count: int = Field(1, ge=-1)
    http_status: int | None = Field(503, ge=400, le=599)
    error_code: ErrorCode = ErrorCode.SYSTEM_ERROR
    delay_seconds: float = Field(0.0, ge=0, le=600)
    # Served first, then answered this much later: a sender whose timeout is shorter does not learn
    # that the axis holds its package (an ambiguous send).
    answer_delay_seconds: float = Field(0.0, ge=0, le=600)

    @field_validator("operation")
    @classmethod
    def _known_operation(cls, value: str) -> str:
        if value != "*" and value not in {known.value for known in Operation}:
            raise ValueError(f"not an operation: {', '.join(Operation)} or *")
        return value

    @field_validator("count")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("0 requests: give a positive count, or -1 for until cleared")
        return value

    @field_validator("error_code")
    @classmethod
    def _an_error(cls, value: ErrorCode) -> ErrorCode:
        if value is ErrorCode.OK:
            raise ValueError("a fault needs an ErrorCode other than 0")
        return value


@dataclass
class _Fault:
    spec: FaultSpec
    remaining: int  # -1: until cleared


@dataclass
class _Ack:
    """One receiving system's acknowledgement of a package."""

    recipients: tuple[str, ...]  # the package's recipients this system serves
    updated: datetime
    status: AckStatus = AckStatus.INITIAL
    description: str = ""


@dataclass(frozen=True)
class _Message:
    """What the axis reads out of a package's edXML."""

    kind: MessageType
    sender: str
    sender_path: str  # where the sender's code is, for an error message
    recipients: tuple[str, ...]
    document_id: str
    code: str  # số/ký hiệu
    title: str  # the subject; for a status message, its description
    status_code: str = ""  # a status message's StatusCode (01–16)


@dataclass
class _Package:
    doc_id: str
    sender_system: str
    from_code: str
    recipients: tuple[str, ...]
    message_type: MessageType
    document_id: str
    code: str  # số/ký hiệu
    title: str
    status_code: str  # a status message's StatusCode, else ""
    content: bytes
    created: datetime
    acks: dict[str, _Ack]  # by receiving system id


class _Axis:
    """The simulated axis's state and operations."""

    def __init__(self, systems: Sequence[SimulatedSystem], directory: Sequence[AgencyRecord]) -> None:
        self.systems = {system.system_id: system for system in systems}
        if len(self.systems) != len(systems):
            raise ValueError("two systems have the same id")
        owners: dict[str, str] = {}
        for system in systems:
            for pattern in system.serves:
                if owners.setdefault(pattern.text, system.system_id) != system.system_id:
                    raise ValueError(
                        f"{pattern} is served by both {owners[pattern.text]} and {system.system_id}"
                    )
        self.initial_directory = tuple(directory)
        self.reset()

    def reset(self) -> None:
        self.directory = {record.code: record for record in self.initial_directory}
        self.packages: dict[str, _Package] = {}
        self.faults: list[_Fault] = []

    def serving_system(self, code: str) -> str | None:
        """The system that receives for `code`: the one whose pattern matches it most specifically."""
        try:
            agency = AgencyCode.parse(code)
        except InvalidAgencyCode:
            return None
        matching = [
            (pattern.specificity, system.system_id)
            for system in self.systems.values()
            for pattern in system.serves
            if pattern.matches(agency)
        ]
        return max(matching)[1] if matching else None

    def take_fault(self, operation: Operation) -> FaultSpec | None:
        for fault in self.faults:
            if fault.spec.operation in (operation.value, "*"):
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                return fault.spec
        return None

    def authenticate(self, headers: Mapping[str, str], required: Iterable[str]) -> SignedRequest:
        request = read_request(headers)
        system = self.systems.get(request.system_id)
        if system is None:
            raise ProtocolError(ErrorCode.BAD_CREDENTIALS, f"unknown system id {request.system_id!r}")
        verify(request, system.secret)
        for name in required:
            if not request.param(name):
                raise ProtocolError(ErrorCode.INVALID_REQUEST, f"the parameter {PREFIX}{name} is missing")
        return request

    async def send_edoc(self, caller: str, request: SignedRequest, http: Request) -> dict[str, object]:
        _check_service_type(request)
        message_type = _message_type(request.param("messagetype"))
        from_code = request.param("from") or ""
        if self.serving_system(from_code) != caller:
            raise ProtocolError(ErrorCode.SENDER_NOT_SERVED, f"{from_code} is not served by system {caller}")
        content = await _file(http, request.param("hash-file") or "")
        message = _read_edxml(content)
        if message.kind is not message_type:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST,
                f"{FILE_PART} is a {message.kind} message but messagetype is {message_type}",
            )
        if message.sender != from_code:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST,
                f"from is {from_code} but {message.sender_path} is {message.sender}",
            )
        self._check_recipients(message.recipients)
        now = datetime.now(UTC)
        acks: dict[str, _Ack] = {}
        for recipient in message.recipients:
            system = self.serving_system(recipient)
            # A system does not receive its own packages: a province's hub delivers to its own
            # agencies among the recipients itself.
            if system is not None and system != caller:
                served = acks[system].recipients if system in acks else ()
                acks[system] = _Ack(recipients=(*served, recipient), updated=now)
        package = _Package(
            doc_id=uuid.uuid4().hex,
            sender_system=caller,
            from_code=from_code,
            recipients=message.recipients,
            message_type=message.kind,
            document_id=message.document_id,
            code=message.code,
            title=message.title,
            status_code=message.status_code,
            content=content,
            created=now,
            acks=acks,
        )
        self.packages[package.doc_id] = package
        return {"DocId": package.doc_id}

    def received(self, caller: str, request: SignedRequest) -> dict[str, object]:
        _check_service_type(request)
        message_type = _message_type(request.param("messagetype") or MessageType.EDOC)
        from_date, to_date = _date_param(request, "fromDate"), _date_param(request, "toDate")
        rows = []
        for package in self.packages.values():
            ack = package.acks.get(caller)
            if ack is None or ack.status not in _WAITING or package.message_type is not message_type:
                continue
            created_on = package.created.astimezone(VIETNAM).date()
            if (from_date and created_on < from_date) or (to_date and created_on > to_date):
                continue
            rows.append(
                {
                    "docId": package.doc_id,
                    "serviceType": SERVICE_TYPE,
                    "messageType": package.message_type.value,
                    "created_time": format_timestamp(package.created),
                    "updated_time": format_timestamp(ack.updated),
                    "from": package.from_code,
                    "to": list(ack.recipients),
                    "status": ack.status.value,
                    "status_desc": ack.description,
                    "documentId": package.document_id,
                    "code": package.code,
                }
            )
        return {"data": rows}

    def count(self, caller: str, message_type: MessageType) -> dict[str, object]:
        waiting = [
            package
            for package in self.packages.values()
            if package.message_type is message_type
            and caller in package.acks
            and package.acks[caller].status in _WAITING
        ]
        return {"count": len(waiting)}

    def get_edoc(self, caller: str, request: SignedRequest) -> dict[str, object]:
        package, _ = self._addressed(caller, request, spelled=True)
        return {"data": base64.b64encode(package.content).decode("ascii")}

    def download_edoc(self, caller: str, request: SignedRequest) -> bytes:
        package, _ = self._addressed(caller, request, spelled=True)
        return package.content

    def update_status(self, caller: str, request: SignedRequest) -> dict[str, object]:
        package, ack = self._addressed(caller, request)
        try:
            status = AckStatus(request.param("status") or "")
        except ValueError:
            status = AckStatus.INITIAL
        if status is AckStatus.INITIAL:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "status must be processing, done or fail")
        if ack.status in (AckStatus.DONE, AckStatus.FAIL) and status is not ack.status:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST, f"package {package.doc_id} is already acknowledged {ack.status}"
            )
        ack.status = status
        ack.description = decode_description(request.param("description") or "")
        ack.updated = datetime.now(UTC)
        return {}

    def sent(self, caller: str, request: SignedRequest) -> dict[str, object]:
        """One row per recipient of the package `docId`, or without a docId of every package of
        `messagetype` the caller sent, newest first. The receive status is the latest status message
        a recipient sent back through the axis about it. With `documentId` instead (an extension of
        this simulator's, not the SDK's), the packages the caller sent with that DocumentId, each
        with its `hash-file`: how the hub finds out whether a send whose answer was lost arrived."""
        document_id = request.param("documentId")
        if document_id is not None and not request.param("docId"):
            return self.sent_packages(caller, decode_description(document_id))
        doc_id = request.param("docId", spelled=True) or ""
        if doc_id:
            package = self.packages.get(doc_id)
            if package is None or package.sender_system != caller:
                raise ProtocolError(ErrorCode.UNKNOWN_DOCUMENT, f"system {caller} sent no package {doc_id}")
            packages = [package]
        else:
            kind = _message_type(request.param("messagetype") or MessageType.EDOC)
            packages = [
                p
                for p in reversed(self.packages.values())
                if p.sender_system == caller and p.message_type is kind
            ]
        rows = []
        for package in packages:
            for recipient in package.recipients:
                rows.append(self._sent_row(package, recipient))
        return {"data": rows[:SENT_LIST_LIMIT]}

    def _sent_row(self, package: _Package, recipient: str) -> dict[str, object]:
        system = self.serving_system(recipient)
        ack = package.acks.get(system) if system is not None else None
        reports = [
            p
            for p in self.packages.values()
            if p.message_type is MessageType.STATUS
            and p.document_id == package.document_id
            and p.from_code == recipient
        ]
        latest = reports[-1] if reports else None
        return {
            "serviceType": SERVICE_TYPE,
            "messageType": package.message_type.value,
            "senderDocId": package.doc_id,
            "receiverDocId": package.doc_id if ack else "",  # one DocId for every system on the axis
            "fromCode": package.from_code,
            "toCode": recipient,
            "title": package.title,
            "notation": package.code,
            "sentTime": format_timestamp(package.created),
            "receivedTime": format_timestamp(ack.updated) if ack and ack.status is AckStatus.DONE else "",
            "sendStatus": ack.status.value if ack else PENDING,
            "sendStatusDesc": ack.description if ack else "",
            "receiveStatus": latest.status_code if latest else "",
            "receiveStatusDesc": _status_name(latest.status_code) if latest else "",
            "documentId": package.document_id,
        }

    def sent_packages(self, caller: str, document_id: str) -> dict[str, object]:
        """getSentEdocList with `documentId` (percent-encoded) instead of `docId`: the packages this
        system sent for that DocumentId, each with its DocId and its `hash-file`, so a sender that
        lost sendEdoc's answer can find out whether the axis holds its package."""
        rows = [
            {
                "docId": package.doc_id,
                "documentId": package.document_id,
                "messageType": package.message_type.value,
                "from": package.from_code,
                "hash-file": file_hash(package.content),
                "created_time": format_timestamp(package.created),
            }
            for package in self.packages.values()
            if package.sender_system == caller and package.document_id == document_id
        ]
        return {"data": rows}

    def agencies(self) -> dict[str, object]:
        # A closed code is no longer in the axis's directory (its successor names it as old code).
        rows = [
            {
                "id": record.code,
                "code": record.code,
                "pid": record.parent_code or "",
                "name": record.name,
                "mail": record.email or "",
                "oldCode": record.old_code or "",
            }
            for record in self.directory.values()
            if record.status != AgencyStatus.CLOSED
        ]
        return {"data": rows}

    def describe(self) -> list[dict[str, object]]:
        """Every package, for `GET /_sim/packages`."""
        return [
            {
                "docId": package.doc_id,
                "senderSystem": package.sender_system,
                "from": package.from_code,
                "recipients": list(package.recipients),
                "messageType": package.message_type.value,
                "documentId": package.document_id,
                "code": package.code,
                "sha256": hashlib.sha256(package.content).hexdigest(),
                "created_time": format_timestamp(package.created),
                "acks": {
                    system: {
                        "to": list(ack.recipients),
                        "status": ack.status.value,
                        "description": ack.description,
                    }
                    for system, ack in package.acks.items()
                },
            }
            for package in self.packages.values()
        ]

    def _addressed(
        self, caller: str, request: SignedRequest, *, spelled: bool = False
    ) -> tuple[_Package, _Ack]:
        """The package and the caller's acknowledgement of it; the same answer for a package that does
        not exist and one addressed to others, so a system learns nothing about other systems' mail.
        `spelled`: `docId` as the SDK spells it for getEdoc wins over a leftover `docid`."""
        doc_id = request.param("docId", spelled=spelled) or ""
        package = self.packages.get(doc_id)
        ack = package.acks.get(caller) if package is not None else None
        if package is None or ack is None:
            raise ProtocolError(ErrorCode.UNKNOWN_DOCUMENT, f"no package {doc_id} for system {caller}")
        return package, ack

    def _check_recipients(self, recipients: Sequence[str]) -> None:
        unknown = [code for code in recipients if code not in self.directory]
        if unknown:
            raise ProtocolError(ErrorCode.UNKNOWN_RECIPIENT, f"not in the directory: {', '.join(unknown)}")
        locked = []
        for code in recipients:
            record = self.directory[code]
            if record.status is not AgencyStatus.ACTIVE:
                successor = f", successor {record.successor_code}" if record.successor_code else ""
                locked.append(f"{code} ({record.status}{successor})")
        if locked:
            raise ProtocolError(ErrorCode.RECIPIENT_LOCKED, f"recipients locked: {', '.join(locked)}")


def create_simulator(systems: Sequence[SimulatedSystem], directory: Sequence[AgencyRecord]) -> FastAPI:
    """The simulator as an ASGI app; its base URL is the server's root. ValueError when two systems
    share an id or a pattern."""
    axis = _Axis(systems, directory)
    app = FastAPI(title="National axis simulator", openapi_url=None)

    async def on_protocol_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProtocolError)
        operation = request.url.path.strip("/")
        return _json(failure(exc.code, exc.description, operation), exc.http_status)

    async def on_bad_request(_request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            description = "; ".join(f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        else:
            assert isinstance(exc, HTTPException)
            description = f"HTTP {exc.status_code}: {exc.detail}"
        return on_error(ErrorCode.INVALID_REQUEST, description)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        return on_error(ErrorCode.SYSTEM_ERROR, f"the simulator failed: {type(exc).__name__}: {exc}")

    def on_error(code: ErrorCode, description: str) -> Response:
        return _json(failure(code, description), HTTP_STATUS[code])

    app.add_exception_handler(ProtocolError, on_protocol_error)
    app.add_exception_handler(RequestValidationError, on_bad_request)
    app.add_exception_handler(HTTPException, on_bad_request)
    app.add_exception_handler(Exception, on_unexpected)

    @app.get("/_sim/health")
    async def health() -> dict[str, object]:
        return ok(systems=sorted(axis.systems))

    @app.post("/_sim/reset")
    async def reset() -> dict[str, object]:
        """Back to the state at start: no packages, no faults, the initial directory."""
        axis.reset()
        return ok()

    @app.get("/_sim/packages")
    async def packages() -> dict[str, object]:
        return ok(data=axis.describe())

    @app.get("/_sim/packages/{doc_id}/content")
    async def package_content(doc_id: str) -> Response:
        package = axis.packages.get(doc_id)
        if package is None:
            raise ProtocolError(ErrorCode.UNKNOWN_DOCUMENT, f"no package {doc_id}")
        return Response(package.content, media_type="application/xml")

    @app.post("/_sim/faults")
    async def add_fault(spec: FaultSpec) -> dict[str, object]:
        axis.faults.append(_Fault(spec, spec.count))
        return ok(faults=len(axis.faults))

    @app.get("/_sim/faults")
    async def faults() -> dict[str, object]:
        """The faults still to be served: what each applies to and how many answers remain."""
        return ok(data=[{**f.spec.model_dump(), "remaining": f.remaining} for f in axis.faults])

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, object]:
        axis.faults.clear()
        return ok()

    @app.put("/_sim/directory")
    async def replace_directory(entries: Annotated[list[dict[str, Any]], Body()]) -> dict[str, object]:
        """Replace the directory with entries as a JSON directory file gives them."""
        try:
            records = read_directory_file(json.dumps(entries).encode("utf-8"), format="json")
        except DirectoryFileError as error:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, str(error)) from None
        axis.directory = {record.code: record for record in records}
        return ok(agencies=len(records))

    @app.api_route("/{operation}", methods=["GET", "POST"])
    async def operate(operation: str, request: Request) -> Response:
        try:
            known = Operation(operation)
        except ValueError:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST, f"unknown operation {operation!r}; known: {', '.join(Operation)}"
            ) from None
        if (request.method == "GET") != (known is Operation.DOWNLOAD_EDOC):
            raise ProtocolError(ErrorCode.INVALID_REQUEST, f"{known} is not called with {request.method}")
        fault = axis.take_fault(known)
        if fault is not None:
            await asyncio.sleep(fault.delay_seconds)  # the simulated slowness itself
            if fault.http_status is not None:
                headers = {"Retry-After": "1"} if fault.http_status == 503 else None
                body = failure(fault.error_code, f"simulated fault on {known}", known)
                return _json(body, fault.http_status, headers)
        if known not in _REQUIRED:
            raise ProtocolError(
                ErrorCode.INVALID_REQUEST,
                f"the simulator does not offer {known}: directory changes are offline",
            )
        signed = axis.authenticate(request.headers, _REQUIRED[known])
        caller = signed.system_id
        if known is Operation.SEND_EDOC:
            data = await axis.send_edoc(caller, signed, request)
        elif known is Operation.GET_RECEIVED_EDOC_LIST:
            data = axis.received(caller, signed)
        elif known is Operation.GET_EDOC:
            data = axis.get_edoc(caller, signed)
        elif known is Operation.DOWNLOAD_EDOC:
            return Response(axis.download_edoc(caller, signed), media_type="application/xml")
        elif known is Operation.UPDATE_STATUS:
            data = axis.update_status(caller, signed)
        elif known is Operation.GET_SENT_EDOC_LIST:
            data = axis.sent(caller, signed)
        elif known is Operation.COUNT_RECEIVE_EDOC:
            data = axis.count(caller, MessageType.EDOC)
        elif known is Operation.COUNT_RECEIVE_STATUS:
            data = axis.count(caller, MessageType.STATUS)
        else:
            data = axis.agencies()
        if fault is not None and fault.answer_delay_seconds:
            await asyncio.sleep(fault.answer_delay_seconds)  # the simulated late answer itself
        return _json(ok(**data), 200)

    return app


def _json(body: dict[str, object], status: int, headers: dict[str, str] | None = None) -> Response:
    """An answer as ASCII-only JSON: the SDK reads sendEdoc's as US-ASCII."""
    return Response(ascii_json(body), status_code=status, headers=headers, media_type="application/json")


async def _file(request: Request, hash_file: str) -> bytes:
    """The file of a sendEdoc: the `file_doc` part of a multipart body, or the raw body (the SDK's
    framing: the file followed by CRLF); ErrorCode 21 unless `hash-file` is its SHA-256."""
    candidates: list[bytes | memoryview]
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        try:
            async with request.form() as form:
                part = form.get(FILE_PART)
                if part is None:
                    raise ProtocolError(
                        ErrorCode.INVALID_REQUEST, f"the multipart body has no part {FILE_PART}"
                    )
                if not isinstance(part, UploadFile):
                    raise ProtocolError(
                        ErrorCode.INVALID_REQUEST, f"{FILE_PART} must be a file part (with a filename)"
                    )
                candidates = [await part.read()]
        except (HTTPException, MultiPartException) as error:
            detail = error.detail if isinstance(error, HTTPException) else error.message
            raise ProtocolError(
                ErrorCode.FILE_ERROR, f"the multipart body cannot be read: {detail}"
            ) from None
    else:
        # Read here rather than with request.body(), which the request would keep to its end: a
        # 50 MB package is then held once, not twice, while it is checked and stored.
        body = b"".join([chunk async for chunk in request.stream()])
        framed = memoryview(body)[: -len(CRLF)] if body.endswith(CRLF) else None
        candidates = [framed, body] if framed is not None else [body]
    for content in candidates:
        if file_hash(content) == hash_file.lower():
            return bytes(content)
    raise ProtocolError(
        ErrorCode.FILE_ERROR,
        f"{PREFIX}hash-file is not the SHA-256 of the file received (in the SDK's hex without zero-padding)",
    )


def _status_name(code: str) -> str:
    return STATUS_MEANINGS.get(code, "")


def _read_edxml(content: bytes) -> _Message:
    """The package's edXML read by the hub's own reader; ErrorCode 22 with every problem's path."""
    try:
        message = read_message(content)
    except HubError as error:
        problems = "; ".join(f"{problem.path}: {problem.message}" for problem in error.errors)
        raise ProtocolError(
            ErrorCode.NOT_EDXML, f"{error.detail}: {problems}" if problems else error.detail
        ) from None
    if isinstance(message, EdxmlDocument):
        return _Message(
            kind=MessageType.EDOC,
            sender=message.sender.organ_id,
            sender_path="MessageHeader/From/OrganId",
            recipients=tuple(recipient.organ_id for recipient in message.recipients),
            document_id=message.document_id,
            code=f"{message.code_number}/{message.code_notation}",
            title=message.subject,
        )
    return _Message(
        kind=MessageType.STATUS,
        sender=message.reporter.organ_id,
        sender_path="Status/From/OrganId",
        recipients=(message.original_sender_id,),
        document_id=message.original_document_id,
        code=message.original_code,
        title=message.description,
        status_code=message.status_code,
    )


def _check_service_type(request: SignedRequest) -> None:
    if request.param("servicetype") != SERVICE_TYPE:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"servicetype must be {SERVICE_TYPE}")


def _message_type(value: str | None) -> MessageType:
    try:
        return MessageType(value or "")
    except ValueError:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "messagetype must be edoc or status") from None


def _date_param(request: SignedRequest, name: str) -> date | None:
    text = request.param(name)
    if not text:
        return None
    value = parse_date(text)
    if value is None:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"{name} {text!r} is not a date written yyyy/MM/dd")
    return value
