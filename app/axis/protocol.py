"""The axis protocol (docs/axis-protocol.md), both sides of it: signing a request's parameter headers,
reading and checking a signed request, and the JSON answers with the HTTP status of each ErrorCode.

The hub's client, the simulator and the hub's own `/vxp` server all use this module, so they agree
on every byte. It does no I/O and reads no clock (callers pass `now_ms`), except for the default
timestamp of `sign`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote

PREFIX = "XroadVnpt-"
TIMESTAMP_WINDOW_SECONDS = 300

SYSTEM_ID = "systemid"
TIMESTAMP = "timestamp"
SIGN_HEADER_KEY = "sign-header-key"
SIGN_HEADER = "sign-header"
HASH_HEADER = "hash-header"
SIGNING_HEADERS = (SIGN_HEADER_KEY, SIGN_HEADER, HASH_HEADER)

SERVICE_TYPE = "eDoc"
FILE_PART = "file_doc"

_PREFIX_LOWER = PREFIX.lower()
_RESERVED = frozenset({SYSTEM_ID, TIMESTAMP, *SIGNING_HEADERS})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110 token)
# Printable ASCII without surrounding blanks: HTTP strips those, and the signed value would then differ.
_VALUE = re.compile(r"([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?")
_HMAC_HEX = re.compile(r"[0-9a-f]{64}")
_MILLIS = re.compile(r"[0-9]{1,15}")


class Operation(StrEnum):
    SEND_EDOC = "sendEdoc"
    GET_RECEIVED_EDOC_LIST = "getReceivedEdocList"
    GET_EDOC = "getEdoc"
    UPDATE_STATUS = "updateStatus"
    GET_SENT_EDOC_LIST = "getSentEdocList"
    GET_AGENCIES_LIST = "getAgenciesList"


class MessageType(StrEnum):
    EDOC = "edoc"  # a document message (gói tin văn bản)
    STATUS = "status"  # a status message (gói tin trạng thái)


class AckStatus(StrEnum):
    """The transport acknowledgement of a received package, not the business status codes 01–16."""

    INITIAL = "initial"
    PROCESSING = "processing"
    DONE = "done"
    FAIL = "fail"


PENDING = "pending"  # getSentEdocList: no system serves that recipient, so nobody has picked it up


class ErrorCode(StrEnum):
    OK = "0"
    INVALID_REQUEST = "10"
    UNKNOWN_DOCUMENT = "11"
    BAD_CREDENTIALS = "15"
    UNKNOWN_RECIPIENT = "18"
    SENDER_NOT_SERVED = "19"
    SYSTEM_ERROR = "20"
    FILE_ERROR = "21"
    NOT_EDXML = "22"
    RECIPIENT_LOCKED = "23"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.OK: 200,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.UNKNOWN_DOCUMENT: 404,
    ErrorCode.BAD_CREDENTIALS: 401,
    ErrorCode.UNKNOWN_RECIPIENT: 422,
    ErrorCode.SENDER_NOT_SERVED: 403,
    ErrorCode.SYSTEM_ERROR: 500,  # 503 with Retry-After when the server is unavailable
    ErrorCode.FILE_ERROR: 400,
    ErrorCode.NOT_EDXML: 422,
    ErrorCode.RECIPIENT_LOCKED: 422,
}


class ProtocolError(Exception):
    """A request the server refuses, with the ErrorCode and the description its answer carries."""

    def __init__(self, code: ErrorCode, description: str) -> None:
        super().__init__(f"ErrorCode {code}: {description}")
        self.code = code
        self.description = description

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


def ok(**data: object) -> dict[str, object]:
    """The body of a successful answer, with the operation's data (`DocId=…`, `data=…`)."""
    return {"status": "OK", "ErrorCode": ErrorCode.OK.value, "ErrorDesc": "", **data}


def failure(code: ErrorCode, description: str) -> dict[str, object]:
    return {"status": "FAIL", "ErrorCode": code.value, "ErrorDesc": description}


def file_hash(content: bytes) -> str:
    """`hash-file`: lower-case hex SHA-256 of the file's bytes."""
    return hashlib.sha256(content).hexdigest()


def encode_description(text: str) -> str:
    """`description` of updateStatus: percent-encoded UTF-8, so that the header value is ASCII."""
    return quote(text, safe="")


def decode_description(value: str) -> str:
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{PREFIX}description is not percent-encoded UTF-8"
        ) from None


def sign(
    system_id: str, secret: str, params: Mapping[str, str], *, now_ms: int | None = None
) -> dict[str, str]:
    """The HTTP headers of a request with these parameters (logical names, e.g. `docId`), signed by
    `system_id` with `secret` at `now_ms` (default: now).

    Raises ValueError for a parameter name that is not an HTTP token or is reserved by the scheme,
    two names that differ only in case, or a value HTTP would not carry unchanged (non-ASCII,
    control characters, leading or trailing blanks)."""
    timestamp = str(time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    logical = {SYSTEM_ID: system_id, TIMESTAMP: timestamp}
    for name, value in params.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"parameter name {name!r} is not an HTTP header name")
        if name.lower() in _RESERVED:
            raise ValueError(f"parameter name {name!r} is reserved by the signing scheme")
        if any(name.lower() == known.lower() for known in logical):
            raise ValueError(f"parameter {name!r} is given twice (names are case-insensitive)")
        logical[name] = value
    for name, value in logical.items():
        if not _VALUE.fullmatch(value):
            raise ValueError(
                f"the value of {name!r} must be printable ASCII without leading or trailing blanks"
            )
    if not system_id:
        raise ValueError("the system id is empty")
    signed_json = json.dumps(logical, ensure_ascii=True, separators=(",", ":"))
    headers = {PREFIX + name: value for name, value in logical.items()}
    headers[PREFIX + SIGN_HEADER_KEY] = ";".join(logical)
    headers[PREFIX + SIGN_HEADER] = signed_json
    headers[PREFIX + HASH_HEADER] = _hmac(secret, signed_json)
    return headers


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signing headers are consistent; not yet verified against a secret."""

    system_id: str
    timestamp_ms: int
    params: dict[str, str]  # every signed logical header, names lower-cased, systemid and timestamp too
    signature: str  # XroadVnpt-hash-header
    signed_json: str  # XroadVnpt-sign-header exactly as received

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())


def read_request(headers: Mapping[str, str], *, required: Iterable[str] = ()) -> SignedRequest:
    """The signed parameters of a request, after the structural checks of the scheme.

    ErrorCode 15 when a signing header is missing or malformed, `systemid` or `timestamp` is not
    signed, the signed names and the JSON disagree, a signed value differs from its `XroadVnpt-`
    header, or an `XroadVnpt-` parameter header is not signed. ErrorCode 10 when a `required`
    parameter is missing or empty. The signature itself is checked by `verify`."""
    received = _protocol_headers(headers)
    for name in SIGNING_HEADERS:
        if not received.get(name):
            raise _refused(f"the header {PREFIX}{name} is missing")
    signature = received[HASH_HEADER]
    if not _HMAC_HEX.fullmatch(signature):
        raise _refused(f"{PREFIX}{HASH_HEADER} is not 64 lower-case hex digits (HMAC-SHA256)")
    signed_json = received[SIGN_HEADER]
    signed = _signed_values(signed_json)
    names = [name.strip().lower() for name in received[SIGN_HEADER_KEY].split(";")]
    if "" in names or len(set(names)) != len(names):
        raise _refused(f"{PREFIX}{SIGN_HEADER_KEY} must list distinct names separated by ';'")
    if set(names) != set(signed):
        raise _refused(f"{PREFIX}{SIGN_HEADER_KEY} and the names in {PREFIX}{SIGN_HEADER} differ")
    for name in (SYSTEM_ID, TIMESTAMP):
        if name not in signed:
            raise _refused(f"{PREFIX}{name} is not signed")
    for name, value in signed.items():
        if name not in received:
            raise _refused(f"{PREFIX}{name} is signed but the header is not sent")
        if received[name] != value:
            raise _refused(f"{PREFIX}{name} differs from its signed value")
    for name in received:
        if name not in signed and name not in SIGNING_HEADERS:
            raise _refused(f"the header {PREFIX}{name} is not signed")
    if not _MILLIS.fullmatch(signed[TIMESTAMP]):
        raise _refused(f"{PREFIX}{TIMESTAMP} is not milliseconds since the epoch")
    if not signed[SYSTEM_ID]:
        raise _refused(f"{PREFIX}{SYSTEM_ID} is empty")
    for name in required:
        if not signed.get(name.lower()):
            raise ProtocolError(ErrorCode.INVALID_REQUEST, f"the parameter {PREFIX}{name} is missing")
    return SignedRequest(
        system_id=signed[SYSTEM_ID],
        timestamp_ms=int(signed[TIMESTAMP]),
        params=signed,
        signature=signature,
        signed_json=signed_json,
    )


def verify(
    request: SignedRequest, secret: str, *, now_ms: int, window_seconds: int = TIMESTAMP_WINDOW_SECONDS
) -> None:
    """ErrorCode 15 unless the signature is the HMAC of the signed JSON under `secret` and the
    timestamp is at most `window_seconds` away from `now_ms`, either way."""
    if not hmac.compare_digest(_hmac(secret, request.signed_json), request.signature):
        raise _refused(
            f"{PREFIX}{HASH_HEADER} does not match: wrong secret, or the signed headers were changed"
        )
    skew_ms = request.timestamp_ms - now_ms
    if abs(skew_ms) > window_seconds * 1000:
        direction = "ahead of" if skew_ms > 0 else "behind"
        raise _refused(
            f"{PREFIX}{TIMESTAMP} is {abs(skew_ms) / 1000:g} s {direction} the server's clock; "
            f"at most {window_seconds} s either way is accepted"
        )


class ReplayGuard:
    """The signed requests accepted recently, in memory, to refuse the same one a second time.

    Consult it only after `verify`, so that unsigned garbage takes no room. A request passes `verify`
    while its timestamp is within the window on either side of the clock, so the same request can come
    back until up to two windows after it was first seen: entries are kept that long."""

    def __init__(self, window_seconds: int = TIMESTAMP_WINDOW_SECONDS) -> None:
        self._keep_ms = 2 * window_seconds * 1000
        self._seen: dict[tuple[str, str], int] = {}  # in the order first seen

    def first_time(self, system_id: str, signature: str, *, now_ms: int) -> bool:
        """True, and remembered, the first time; False for a replay."""
        self._forget(now_ms)
        key = (system_id, signature)
        if key in self._seen:
            return False
        self._seen[key] = now_ms
        return True

    def _forget(self, now_ms: int) -> None:
        while self._seen:
            key, seen_ms = next(iter(self._seen.items()))
            if now_ms - seen_ms <= self._keep_ms:
                return
            del self._seen[key]


def _hmac(secret: str, signed_json: str) -> str:
    return hmac.new(secret.encode("utf-8"), signed_json.encode("ascii"), hashlib.sha256).hexdigest()


def _refused(description: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_CREDENTIALS, description)


def _protocol_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The `XroadVnpt-` headers by lower-cased name without the prefix. A repeated one is refused:
    the server could read one copy while the signature covers another."""
    found: dict[str, str] = {}
    # starlette's Headers.items() lists a repeated header once per copy; a plain Mapping has one.
    for name, value in headers.items():
        lowered = name.lower()
        if not lowered.startswith(_PREFIX_LOWER):
            continue
        logical = lowered[len(_PREFIX_LOWER) :]
        if logical in found:
            raise _refused(f"the header {PREFIX}{logical} is sent more than once")
        found[logical] = value
    return found


def _signed_values(signed_json: str) -> dict[str, str]:
    """The JSON object of XroadVnpt-sign-header, names lower-cased."""

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        values: dict[str, object] = {}
        for name, value in pairs:
            if name.lower() in values:
                raise ValueError(f"{name!r} is given twice")
            values[name.lower()] = value
        return values

    malformed = _refused(f"{PREFIX}{SIGN_HEADER} must be an ASCII JSON object of names and text values")
    if not signed_json.isascii():
        raise malformed
    try:
        signed = json.loads(signed_json, object_pairs_hook=unique)
    except (ValueError, RecursionError):  # deeply nested JSON exhausts the parser's recursion
        raise malformed from None
    if not isinstance(signed, dict) or not all(isinstance(value, str) for value in signed.values()):
        raise malformed
    return signed
