"""The hub's client of the national axis (docs/axis-protocol.md): send, list, fetch, acknowledge, and
read the directory, each call signed with the hub's system id and secret.

Every failure is an `AxisError` that says whether trying again later can help (`transient`), so the
connector and the poller decide retries from one property. The secret is used only to sign: it is
never sent, logged, or part of an exception or a repr.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import httpx

from app.axis.protocol import (
    FILE_PART,
    SERVICE_TYPE,
    AckStatus,
    ErrorCode,
    MessageType,
    Operation,
    encode_description,
    file_hash,
    sign,
)
from app.edxml.formats import format_date

T = TypeVar("T")

_TRANSIENT_CODES = frozenset({ErrorCode.SYSTEM_ERROR, ErrorCode.FILE_ERROR, ErrorCode.BAD_CREDENTIALS})
_ACKNOWLEDGEMENTS = frozenset({AckStatus.PROCESSING, AckStatus.DONE, AckStatus.FAIL})


class AxisError(Exception):
    """A call that did not succeed. `error_code` is the axis's ErrorCode, or "" when the axis gave
    none (no connection, no answer in time, an answer that is not the protocol's JSON);
    `http_status` is None when there was no answer at all."""

    def __init__(
        self,
        operation: str,
        description: str,
        *,
        error_code: str = "",
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        code = f"ErrorCode {error_code}" if error_code else "no ErrorCode"
        status = f"HTTP {http_status}" if http_status is not None else "no answer"
        super().__init__(f"{operation}: {description} ({code}, {status})")
        self.operation = operation
        self.description = description
        self.error_code = error_code
        self.http_status = http_status
        self.retry_after = retry_after  # seconds, from Retry-After

    @property
    def transient(self) -> bool:
        """True when the same call may succeed later: no answer, a server error, ErrorCode 20 or 21,
        or 15 (an operator fixes the secret or the clock)."""
        if self.error_code in _TRANSIENT_CODES:
            return True
        return self.http_status is None or self.http_status >= 500


@dataclass(frozen=True)
class ReceivedPackage:
    """A package waiting for the hub (getReceivedEdocList)."""

    doc_id: str  # the axis's id: what getEdoc and updateStatus take
    sender: str  # `from`: the sending agency's code
    recipients: tuple[str, ...]  # `to`: the recipients the hub serves
    message_type: str
    status: str  # initial or processing
    created_time: str  # yyyy/MM/dd HH:mm:ss, Vietnam time, as the axis wrote it
    document_id: str  # the edXML DocumentId
    code: str  # số/ký hiệu


@dataclass(frozen=True)
class SentRecipient:
    """How far one recipient of a package the hub sent has got (getSentEdocList)."""

    to: str
    status: str  # initial, processing, done, fail, or pending (no system serves the recipient)
    updated_time: str
    description: str


@dataclass(frozen=True)
class AxisAgency:
    """A row of the axis's directory (getAgenciesList)."""

    id: str
    code: str
    pid: str  # the parent's id, or ""
    name: str
    mail: str
    old_code: str


class AxisClient:
    """One connected system's calls to one axis (or to a hub's `/vxp`, which speaks the same)."""

    def __init__(
        self,
        base_url: str,
        system_id: str,
        secret: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.system_id = system_id
        self._secret = secret
        self._timeout = timeout
        self._last_ms = 0
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport, follow_redirects=False
        )

    def __repr__(self) -> str:
        return f"AxisClient({self.base_url!r}, system_id={self.system_id!r})"

    async def __aenter__(self) -> AxisClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_edoc(self, content: bytes, *, from_code: str, message_type: str = MessageType.EDOC) -> str:
        """Send a document or a status message from `from_code`; the axis's DocId for it."""
        params = {
            "from": from_code,
            "servicetype": SERVICE_TYPE,
            "messagetype": message_type,
            "hash-file": file_hash(content),
        }
        files = {FILE_PART: ("document.edxml", content, "application/xml")}
        return await self._call(Operation.SEND_EDOC, params, _doc_id, files=files)

    async def received(
        self,
        message_type: str = MessageType.EDOC,
        *,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[ReceivedPackage]:
        """The packages waiting for the hub (not yet acknowledged done or fail), oldest first."""
        params = {"servicetype": SERVICE_TYPE, "messagetype": message_type}
        if from_date is not None:
            params["fromDate"] = format_date(from_date)
        if to_date is not None:
            params["toDate"] = format_date(to_date)
        return await self._call(Operation.GET_RECEIVED_EDOC_LIST, params, _packages)

    async def get_edoc(self, doc_id: str) -> bytes:
        """The whole edXML of a package, exactly as it was sent."""
        return await self._call(Operation.GET_EDOC, {"docId": doc_id}, _content)

    async def update_status(self, doc_id: str, status: str, description: str = "") -> None:
        """Acknowledge a received package: processing, done, or fail (with the reason)."""
        if status not in _ACKNOWLEDGEMENTS:
            raise ValueError(f"status must be one of {', '.join(sorted(_ACKNOWLEDGEMENTS))}, not {status!r}")
        params = {"docId": doc_id, "status": status}
        if description:
            params["description"] = encode_description(description)
        await self._call(Operation.UPDATE_STATUS, params, _nothing)

    async def sent_status(self, doc_id: str) -> list[SentRecipient]:
        """Where each recipient of a package the hub sent stands."""
        return await self._call(Operation.GET_SENT_EDOC_LIST, {"docId": doc_id}, _sent_recipients)

    async def find_sent(
        self, content: bytes, *, document_id: str, message_type: str = MessageType.EDOC
    ) -> str | None:
        """The DocId of a package this system already sent with these very bytes (the same
        DocumentId and `hash-file`), or None: what a sender asks before sending again after
        sendEdoc's answer was lost, so that the axis never holds the package twice."""
        params = {
            "servicetype": SERVICE_TYPE,
            "messagetype": message_type,
            "documentId": encode_description(document_id),
        }
        packages = await self._call(Operation.GET_SENT_EDOC_LIST, params, _sent_packages)
        digest = file_hash(content)
        return next(
            (
                doc_id
                for doc_id, found_id, found_hash in packages
                if found_id == document_id and found_hash == digest
            ),
            None,
        )

    async def agencies(self) -> list[AxisAgency]:
        """The axis's directory."""
        return await self._call(Operation.GET_AGENCIES_LIST, {}, _agencies)

    async def _call(
        self,
        operation: Operation,
        params: dict[str, str],
        read: Callable[[dict[str, Any]], T],
        *,
        files: dict[str, Any] | None = None,
    ) -> T:
        """Sign and send one request; `read` takes the data out of an OK answer."""
        headers = sign(self.system_id, self._secret, params, now_ms=self._timestamp())
        try:
            response = await self._http.post(operation.value, headers=headers, files=files)
        except httpx.TimeoutException:
            raise AxisError(operation, f"no answer from {self.base_url} within {self._timeout:g} s") from None
        except httpx.TransportError as error:
            raise AxisError(
                operation, f"cannot reach {self.base_url}: {type(error).__name__}: {error}"
            ) from None
        body = _answer(operation, response)
        try:
            return read(body)
        except _Malformed as error:
            raise AxisError(
                operation, f"the answer is malformed: {error}", http_status=response.status_code
            ) from None

    def _timestamp(self) -> int:
        # The axis refuses the same signed request twice: two identical calls within one millisecond
        # would be signed identically, so each call's timestamp is later than the previous one's.
        self._last_ms = max(time.time_ns() // 1_000_000, self._last_ms + 1)
        return self._last_ms


class _Malformed(ValueError):
    """An OK answer whose data is not what the operation answers."""


def _answer(operation: Operation, response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON if it says OK, else the AxisError it amounts to."""
    status = response.status_code
    retry_after = response.headers.get("retry-after", "").strip()
    seconds = float(retry_after) if retry_after.isdigit() else None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        raise AxisError(
            operation,
            f"the answer is not the axis's JSON: {response.text[:200]!r}",
            http_status=status,
            retry_after=seconds,
        )
    if body["status"] == "OK" and 200 <= status < 300:
        return body
    error_code = body.get("ErrorCode")
    description = body.get("ErrorDesc")
    raise AxisError(
        operation,
        str(description) if description else "the axis refused the request without a description",
        error_code=str(error_code) if error_code is not None else "",
        http_status=status,
        retry_after=seconds,
    )


def _doc_id(body: dict[str, Any]) -> str:
    return _text(body, "DocId", required=True)


def _packages(body: dict[str, Any]) -> list[ReceivedPackage]:
    packages = []
    for row in _rows(body):
        recipients = row.get("to")
        if isinstance(recipients, str):
            recipients = [recipients]
        if not isinstance(recipients, list) or not all(isinstance(code, str) for code in recipients):
            raise _Malformed(f"`to` of package {row.get('docId')!r} is not a list of codes")
        packages.append(
            ReceivedPackage(
                doc_id=_text(row, "docId", required=True),
                sender=_text(row, "from"),
                recipients=tuple(recipients),
                message_type=_text(row, "messageType"),
                status=_text(row, "status"),
                created_time=_text(row, "created_time"),
                document_id=_text(row, "documentId"),
                code=_text(row, "code"),
            )
        )
    return packages


def _content(body: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(_text(body, "data", required=True), validate=True)
    except binascii.Error:
        raise _Malformed("`data` is not base64") from None


def _nothing(body: dict[str, Any]) -> None:
    return None


def _sent_recipients(body: dict[str, Any]) -> list[SentRecipient]:
    return [
        SentRecipient(
            to=_text(row, "to", required=True),
            status=_text(row, "status"),
            updated_time=_text(row, "updated_time"),
            description=_text(row, "description"),
        )
        for row in _rows(body)
    ]


def _sent_packages(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(DocId, DocumentId, hash-file) of each package a getSentEdocList by documentId lists."""
    return [
        (_text(row, "docId", required=True), _text(row, "documentId"), _text(row, "hash-file").lower())
        for row in _rows(body)
    ]


def _agencies(body: dict[str, Any]) -> list[AxisAgency]:
    return [
        AxisAgency(
            id=_text(row, "id", required=True),
            code=_text(row, "code", required=True),
            pid=_text(row, "pid"),
            name=_text(row, "name"),
            mail=_text(row, "mail"),
            old_code=_text(row, "oldCode"),
        )
        for row in _rows(body)
    ]


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = body.get("data")
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise _Malformed("`data` is not a list of objects")
    return rows


def _text(row: dict[str, Any], key: str, *, required: bool = False) -> str:
    """A field as text: numbers (the real axis numbers its directory rows) in decimal, null as empty."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | None):
        raise _Malformed(f"`{key}` is {type(value).__name__}, not text")
    text = "" if value is None else str(value)
    if required and not text:
        raise _Malformed(f"`{key}` is missing")
    return text
