"""The hub's client of the national axis (docs/axis-protocol.md): send, list, fetch, acknowledge, ask
what became of a sent package, and read the directory, each call signed with the hub's system id and
secret exactly as the official SDK signs it (the same keys in the same order, the same timestamp
format and headers, sendEdoc's raw body), since the real axis is built for that SDK.

Unlike an SDK object, each call is signed afresh: its own timestamp (later than the previous call's,
so two calls never share a signature) and only its own parameters.

Every failure is an `AxisError` that says whether trying again later can help (`transient`), so the
connector and the poller decide retries from one property. The secret is used only to sign: it is
never sent, logged, or part of an exception or a repr.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from app.axis.protocol import (
    CRLF,
    JSON_TYPE,
    OCTET_STREAM,
    SERVICE_TYPE,
    AckStatus,
    ErrorCode,
    MessageType,
    Operation,
    encode_description,
    file_hash,
    file_hash_of_digest,
    sdk_timestamp,
    sign,
)
from app.documents.payloads import Body, PayloadUnavailable
from app.edxml.formats import format_date
from app.kit.clock import utcnow

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
class SentEdoc:
    """One recipient of a package this system sent, as getSentEdocList reports it (the SDK's fields).

    `send_status` is how far the axis got handing it over (`pending`: nobody has taken it yet;
    `initial`: waiting for the recipient's system; `processing`, `done`, `fail`: what that system
    acknowledged); `receive_status` is the recipient's latest business status (01–16) from its status
    messages, or "". Times are `yyyy/MM/dd HH:mm:ss`, Vietnam time, or "". `document_id` (the edXML
    DocumentId) is not in the SDK's model: servers that know it add it."""

    sender_doc_id: str  # the DocId sendEdoc answered
    receiver_doc_id: str  # the id the recipient's system knows the package by
    from_code: str
    to_code: str
    message_type: str
    service_type: str
    title: str
    notation: str  # số/ký hiệu
    sent_time: str
    received_time: str
    send_status: str
    send_status_desc: str
    receive_status: str
    receive_status_desc: str
    document_id: str


@dataclass(frozen=True)
class AxisAgency:
    """A row of the axis's directory (getAgenciesList)."""

    id: str
    code: str
    pid: str  # the parent's id, or ""
    name: str
    mail: str
    old_code: str


#: getEdoc: the SDK signs the caller's local folder as `filePath`, meaningless to the server; sent
#: anyway so that the call is the SDK's to the byte.
FILE_PATH = "."
DEFAULT_TIME_ZONE = "Asia/Ho_Chi_Minh"


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
        time_zone: tzinfo | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.base_url = base_url
        self.system_id = system_id
        self._secret = secret
        self._timeout = timeout
        self._zone = time_zone or ZoneInfo(DEFAULT_TIME_ZONE)
        self._clock = clock
        self._last: datetime | None = None
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

    async def send_edoc(
        self, content: bytes | Body, *, from_code: str, message_type: str = MessageType.EDOC
    ) -> str:
        """Send a document or a status message from `from_code`; the axis's DocId for it. The body is
        the file followed by CRLF, as `application/octet-stream`, as the SDK sends it; a stored
        payload (`Body`) is streamed a slice at a time, with its length."""
        params = {
            "from": from_code,
            "servicetype": SERVICE_TYPE,
            "messagetype": message_type,
            "hash-file": _file_hash(content),
        }
        body = content + CRLF if isinstance(content, bytes) else _followed_by_crlf(content)
        return await self._call(Operation.SEND_EDOC, params, _doc_id, body=body, content_type=OCTET_STREAM)

    async def received(
        self,
        message_type: str = MessageType.EDOC,
        *,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[ReceivedPackage]:
        """The packages waiting for the hub (not yet acknowledged done or fail), oldest first.
        `from_date` and `to_date` are the simulator's and the hub's extension, not the SDK's."""
        params = {"servicetype": SERVICE_TYPE, "messagetype": message_type}
        if from_date is not None:
            params["fromDate"] = format_date(from_date)
        if to_date is not None:
            params["toDate"] = format_date(to_date)
        return await self._call(Operation.GET_RECEIVED_EDOC_LIST, params, _packages)

    async def get_edoc(self, doc_id: str) -> bytes:
        """The whole edXML of a package, exactly as it was sent."""
        params = {"docId": doc_id, "filePath": FILE_PATH}
        return await self._call(Operation.GET_EDOC, params, _content, body=b"{}")

    async def update_status(self, doc_id: str, status: str, description: str = "") -> None:
        """Acknowledge a received package: processing, done, or fail (with the reason; `description`
        is the hub's extension, which the SDK does not send)."""
        if status not in _ACKNOWLEDGEMENTS:
            raise ValueError(f"status must be one of {', '.join(sorted(_ACKNOWLEDGEMENTS))}, not {status!r}")
        params = {"docid": doc_id, "status": status}
        if description:
            params["description"] = encode_description(description)
        await self._call(Operation.UPDATE_STATUS, params, _nothing, body=b"{}")

    async def get_sent_edoc_list(
        self, doc_id: str = "", *, message_type: str = MessageType.EDOC
    ) -> list[SentEdoc]:
        """Where each recipient of a package this system sent stands: one row per recipient of the
        package `doc_id` (the DocId sendEdoc answered), or with no `doc_id` of every package of
        `message_type` this system sent, newest first (as far as the server lists them)."""
        params = {"servicetype": SERVICE_TYPE, "messagetype": message_type, "docId": doc_id}
        return await self._call(Operation.GET_SENT_EDOC_LIST, params, _sent_edocs)

    async def count_received(self, message_type: str = MessageType.EDOC) -> int:
        """How many packages (countReceiveEdoc) or status messages (countReceiveStatus) wait."""
        status = message_type == MessageType.STATUS
        operation = Operation.COUNT_RECEIVE_STATUS if status else Operation.COUNT_RECEIVE_EDOC
        return await self._call(operation, {}, _count, body=b"{}")

    async def find_sent(
        self, content: bytes | Body, *, document_id: str, message_type: str = MessageType.EDOC
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
        digest = _file_hash(content)
        return next(
            (
                doc_id
                for doc_id, found_id, found_hash in packages
                if doc_id and found_id == document_id and found_hash == digest
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
        body: bytes | _Streamed = b"",
        content_type: str = JSON_TYPE,
    ) -> T:
        """Sign and send one request; `read` takes the data out of an OK answer."""
        headers = sign(
            self.system_id, self._secret, params, timestamp=self._timestamp(), content_type=content_type
        )
        content: bytes | AsyncIterator[bytes]
        if isinstance(body, _Streamed):
            headers["Content-Length"] = str(body.size)
            content = body.chunks
        else:
            content = body
        try:
            response = await self._http.post(operation.value, headers=headers, content=content)
        except httpx.TimeoutException:
            raise AxisError(operation, f"no answer from {self.base_url} within {self._timeout:g} s") from None
        except httpx.TransportError as error:
            raise AxisError(
                operation, f"cannot reach {self.base_url}: {type(error).__name__}: {error}"
            ) from None
        except PayloadUnavailable as error:  # the send broke off: as if unanswered, worth a retry
            raise AxisError(operation, str(error)) from None
        answer = _answer(operation, response)
        try:
            return read(answer)
        except _Malformed as error:
            raise AxisError(
                operation, f"the answer is malformed: {error}", http_status=response.status_code
            ) from None

    def _timestamp(self) -> str:
        """Now, in the SDK's format and the configured zone, at least a millisecond after the
        previous call's: two identical calls are then never signed identically."""
        now = self._clock().astimezone(self._zone)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(milliseconds=1)
        self._last = now
        return sdk_timestamp(now)


class _Malformed(ValueError):
    """An OK answer whose data is not what the operation answers."""


@dataclass(frozen=True, slots=True)
class _Streamed:
    """A request body sent as it is read, with its length."""

    chunks: AsyncIterator[bytes]
    size: int


def _followed_by_crlf(content: Body) -> _Streamed:
    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in content.chunks():
            yield chunk
        yield CRLF

    return _Streamed(chunks(), content.size + len(CRLF))


def _file_hash(content: bytes | Body) -> str:
    if isinstance(content, bytes):
        return file_hash(content)
    return file_hash_of_digest(bytes.fromhex(content.sha256))


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


def _sent_edocs(body: dict[str, Any]) -> list[SentEdoc]:
    return [
        SentEdoc(
            sender_doc_id=_text(row, "senderDocId"),
            receiver_doc_id=_text(row, "receiverDocId"),
            from_code=_text(row, "fromCode"),
            to_code=_text(row, "toCode", required=True),
            message_type=_text(row, "messageType"),
            service_type=_text(row, "serviceType"),
            title=_text(row, "title"),
            notation=_text(row, "notation"),
            sent_time=_text(row, "sentTime"),
            received_time=_text(row, "receivedTime"),
            send_status=_text(row, "sendStatus"),
            send_status_desc=_text(row, "sendStatusDesc"),
            receive_status=_text(row, "receiveStatus"),
            receive_status_desc=_text(row, "receiveStatusDesc"),
            document_id=_text(row, "documentId"),
        )
        for row in _rows(body)
    ]


def _count(body: dict[str, Any]) -> int:
    value = body.get("count")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _Malformed("`count` is not a whole number")
    return int(value)


def _sent_packages(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(DocId, DocumentId, hash-file) of each package a getSentEdocList by documentId lists; rows
    without them (a server that does not know the lookup) match nothing, so the package is sent again."""
    return [
        (_text(row, "docId"), _text(row, "documentId"), _text(row, "hash-file").lower())
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
