"""The axis protocol as the official client SDK speaks it (docs/axis-protocol.md,
shared/reference/vxp-sdk.md), both sides of it: signing a request's parameters exactly as the SDK
does, reading and checking a signed request, and the JSON answers with the HTTP status of each
ErrorCode.

The hub's client, the simulator and the hub's own `/vxp` server all use this module, so they agree
on every byte. It does no I/O and reads no clock: callers pass the moment.

What the SDK puts on the wire, in short: every signed parameter `k` travels as the header
`XroadVnpt-k`; `XroadVnpt-sign-header` is a compact JSON object of `"XroadVnpt-k": "value"` in the
iteration order of a Java HashMap; `XroadVnpt-sign-header-key` lists the same keys without the
prefix; `XroadVnpt-hash-header` is the hex HMAC-SHA256 of the JSON text under the secret. The
timestamp is `ddMMyyyy'T'HHmmss+SSSS` in local time, taken once per SDK object, so a server verifies
the JSON exactly as received and cannot refuse a timestamp or a signature it has seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote

PREFIX = "XroadVnpt-"
SDK_USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"  # XroadVnpt-version: sent by the SDK, never signed

SYSTEM_ID = "systemid"
TIMESTAMP = "timestamp"
CONTENT_TYPE = "Content-Type"
VERSION = "version"
SIGN_HEADER_KEY = "sign-header-key"
SIGN_HEADER = "sign-header"
HASH_HEADER = "hash-header"
SIGNING_HEADERS = (SIGN_HEADER_KEY, SIGN_HEADER, HASH_HEADER)

JSON_TYPE = "application/json"
OCTET_STREAM = "application/octet-stream"
SERVICE_TYPE = "eDoc"
FILE_PART = "file_doc"
CRLF = b"\r\n"  # the SDK appends it to the file it sends

#: The freshness window of a system in strict mode (off by default: the SDK reuses its timestamp).
FRESHNESS_WINDOW_SECONDS = 300

_PREFIX_LOWER = PREFIX.lower()
_RESERVED = frozenset(
    name.lower() for name in (SYSTEM_ID, TIMESTAMP, CONTENT_TYPE, VERSION, *SIGNING_HEADERS)
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110 token)
# Printable ASCII without surrounding blanks: HTTP strips those, and the signed value would then differ.
_VALUE = re.compile(r"([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?")
_HMAC_HEX = re.compile(r"[0-9a-f]{64}")
_SDK_TIMESTAMP = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{4})T([0-9]{2})([0-9]{2})([0-9]{2})\+([0-9]{4})")


class Operation(StrEnum):
    SEND_EDOC = "sendEdoc"
    GET_RECEIVED_EDOC_LIST = "getReceivedEdocList"
    GET_EDOC = "getEdoc"
    DOWNLOAD_EDOC = "downloadEdoc"
    UPDATE_STATUS = "updateStatus"
    GET_SENT_EDOC_LIST = "getSentEdocList"
    COUNT_RECEIVE_EDOC = "countReceiveEdoc"
    COUNT_RECEIVE_STATUS = "countReceiveStatus"
    GET_AGENCIES_LIST = "getAgenciesList"
    GET_AGENCIES_LIST_QD20 = "getAgenciesListQD20"
    GET_SYNCHRONIZE_UNIT = "getSynchronizeUnit"
    REGISTER_AGENCY = "registerAgency"
    DELETE_AGENCY = "deleteAgency"


class MessageType(StrEnum):
    EDOC = "edoc"  # a document message (gói tin văn bản)
    STATUS = "status"  # a status message (gói tin trạng thái)


class AckStatus(StrEnum):
    """The transport acknowledgement of a received package, not the business status codes 01–16."""

    INITIAL = "initial"
    PROCESSING = "processing"
    DONE = "done"
    FAIL = "fail"


PENDING = "pending"  # getSentEdocList: on its way, nobody has picked it up yet


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

    def __init__(self, code: ErrorCode, description: str, **params: object) -> None:
        # With `params`, `description` is an English template N_("… {name} …"), translated in full
        # by the hub's /vxp (app.axis_api.messages); the English text stays in `description`.
        self.template = description if params else ""
        self.params = {name: str(value) for name, value in params.items()}
        description = description.format(**self.params) if params else description
        super().__init__(f"ErrorCode {code}: {description}")
        self.code = code
        self.description = description

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


# --- answers ---------------------------------------------------------------------------------------


def ok(**data: object) -> dict[str, object]:
    """The body of a successful answer, with the operation's data (`DocId=…`, `data=…`)."""
    return {"status": "OK", "ErrorCode": ErrorCode.OK.value, "ErrorDesc": "", **data}


def failure(code: ErrorCode, description: str, operation: str | None = None) -> dict[str, object]:
    """A refusal. sendEdoc's always carries `"DocId": ""`: the SDK reads DocId even from a FAIL answer
    and throws without it, so its user would never see the ErrorCode."""
    body: dict[str, object] = {"status": "FAIL", "ErrorCode": code.value, "ErrorDesc": description}
    if operation == Operation.SEND_EDOC:
        body["DocId"] = ""
    return body


def ascii_json(body: object) -> bytes:
    """An answer's bytes: compact JSON with every non-ASCII character escaped, since the SDK reads
    sendEdoc's answer as US-ASCII (and escaped JSON reads the same in any other encoding)."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# --- the SDK's ways of writing things --------------------------------------------------------------


def file_hash(content: bytes | memoryview) -> str:
    """`hash-file` as the SDK writes it: SHA-256, each byte in lower-case hex **without** zero-padding
    (0x0a is `a`), so it may be shorter than 64 characters."""
    return file_hash_of_digest(hashlib.sha256(content).digest())


def file_hash_of_digest(digest: bytes) -> str:
    """`hash-file` of bytes whose SHA-256 is known (a stored payload's)."""
    return "".join(format(byte, "x") for byte in digest)


def sdk_timestamp(moment: datetime) -> str:
    """`ddMMyyyy'T'HHmmss+SSSS` of an aware moment in its own time zone: `+SSSS` is a literal `+`
    and the milliseconds padded to four digits, not a UTC offset."""
    return f"{moment:%d%m%Y}T{moment:%H%M%S}+{moment.microsecond // 1000:04d}"


def parse_sdk_timestamp(text: str, zone: tzinfo) -> datetime | None:
    """The moment an SDK timestamp names, read as local time in `zone`; None if it is not one."""
    match = _SDK_TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    day, month, year, hour, minute, second, millis = (int(part) for part in match.groups())
    if millis > 999:
        return None
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=zone)
    except ValueError:
        return None


def gson_json(pairs: Iterable[tuple[str, str]]) -> str:
    """A JSON object of text values as Gson's `JsonObject.toString()` writes it: compact, in the
    given order, escaping only `"`, `\\`, control characters and U+2028/U+2029 (not `<>&='`, `/` or
    non-ASCII)."""
    return "{" + ",".join(f"{_gson_string(name)}:{_gson_string(value)}" for name, value in pairs) + "}"


_GSON_SHORT = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\f": "\\f"}


def _gson_string(text: str) -> str:
    out = []
    for char in text:
        if char in _GSON_SHORT:
            out.append(_GSON_SHORT[char])
        elif ord(char) < 0x20 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def java_hash_map_order(keys: Iterable[str]) -> list[str]:
    """The iteration order of a `java.util.HashMap<String, …>` into which `keys` were put in this
    order (a key put again keeps its place). Buckets are `(h ^ h >>> 16) & (capacity - 1)` of
    `String.hashCode`; the table starts at 16 and doubles once it holds more than 3/4 of that (or a
    bucket reaches 8 entries below 64); entries of one bucket keep their insertion order. (A bucket
    of 8 in a table of 64 or more becomes a tree in Java; no set of signed keys comes near that.)"""
    capacity = 16
    buckets: list[list[str]] = [[] for _ in range(capacity)]
    size = 0
    for key in keys:
        index = _spread(_java_string_hash(key)) & (capacity - 1)
        if key in buckets[index]:
            continue
        buckets[index].append(key)
        size += 1
        while size > capacity * 3 // 4 or (capacity < 64 and any(len(b) >= 8 for b in buckets)):
            capacity *= 2
            resized: list[list[str]] = [[] for _ in range(capacity)]
            for bucket in buckets:
                for known in bucket:
                    resized[_spread(_java_string_hash(known)) & (capacity - 1)].append(known)
            buckets = resized
    return [key for bucket in buckets for key in bucket]


def _java_string_hash(text: str) -> int:
    value = 0
    encoded = text.encode("utf-16-be")
    for index in range(0, len(encoded), 2):  # Java hashes UTF-16 code units
        value = (31 * value + int.from_bytes(encoded[index : index + 2], "big")) & 0xFFFFFFFF
    return value


def _spread(hash_code: int) -> int:
    return hash_code ^ (hash_code >> 16)


# --- signing (the client's side) -------------------------------------------------------------------


def sign(
    system_id: str,
    secret: str,
    params: Mapping[str, str],
    *,
    timestamp: str,
    content_type: str = JSON_TYPE,
) -> dict[str, str]:
    """The HTTP headers the SDK sends for a call with these parameters (as the caller's JSON names
    them, in the order the SDK puts them: the call's JSON keys, then `hash-file`), by `system_id`
    with `secret` and `timestamp` (`sdk_timestamp`). The signed keys are `timestamp`, `systemid`,
    `Content-Type` and `params`, in Java HashMap order, as a freshly built SDK object sends them.

    Raises ValueError for a parameter name that is not an HTTP token or is reserved by the scheme,
    two names that differ only in case, or a value HTTP would not carry unchanged (non-ASCII,
    control characters, leading or trailing blanks)."""
    if not system_id:
        raise ValueError("the system id is empty")
    values = {TIMESTAMP: timestamp, SYSTEM_ID: system_id, CONTENT_TYPE: content_type}
    for name, value in params.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"parameter name {name!r} is not an HTTP header name")
        if name.lower() in _RESERVED:
            raise ValueError(f"parameter name {name!r} is reserved by the signing scheme")
        if any(name.lower() == known.lower() for known in values):
            raise ValueError(f"parameter {name!r} is given twice (names are case-insensitive)")
        values[name] = value
    for name, value in values.items():
        if not _VALUE.fullmatch(value):
            raise ValueError(
                f"the value of {name!r} must be printable ASCII without leading or trailing blanks"
            )
    order = java_hash_map_order(values)
    signed_json = gson_json((PREFIX + name, values[name]) for name in order)
    headers = {PREFIX + name: values[name] for name in order}
    headers[CONTENT_TYPE] = content_type
    headers[PREFIX + SIGN_HEADER_KEY] = ";".join(order)
    headers[PREFIX + SIGN_HEADER] = signed_json
    headers[PREFIX + HASH_HEADER] = hmac_hex(secret, signed_json)
    headers["User-Agent"] = SDK_USER_AGENT
    headers[PREFIX + VERSION] = SDK_VERSION
    return headers


def hmac_hex(secret: str, signed_json: str) -> str:
    """`XroadVnpt-hash-header`: HMAC-SHA256 keyed with the secret's UTF-8 bytes as configured."""
    return hmac.new(secret.encode("utf-8"), signed_json.encode("utf-8"), hashlib.sha256).hexdigest()


# --- reading a signed request (the server's side) --------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signing headers are consistent; not yet verified against a secret."""

    system_id: str
    timestamp: str  # as signed: ddMMyyyy'T'HHmmss+SSSS
    params: tuple[tuple[str, str], ...]  # every signed key (without the prefix, case kept) and value
    signature: str  # XroadVnpt-hash-header
    signed_json: str  # XroadVnpt-sign-header exactly as received

    def param(self, name: str, *, spelled: bool = False) -> str | None:
        """A signed parameter, its name compared case-insensitively (None when not signed). Two
        spellings with different values (`docId` left over from an earlier call of a reused SDK
        object, `docid` of this one) are ErrorCode 10 naming both: acting on either could act on
        the wrong package. With `spelled`, the parameter signed exactly as `name` wins over other
        spellings: an operation that reads (getEdoc's `docId`) is not held up by what an earlier
        call of the same object left (updateStatus's `docid`)."""
        if spelled:
            for key, value in self.params:
                if key == name:
                    return value
        return _param(self.params, name, ErrorCode.INVALID_REQUEST)

    def moment(self, zone: tzinfo) -> datetime:
        parsed = parse_sdk_timestamp(self.timestamp, zone)
        assert parsed is not None  # read_request checked it
        return parsed


HeaderSource = Mapping[str, str] | Iterable[tuple[str, str]]


def read_request(headers: HeaderSource) -> SignedRequest:
    """The signed parameters of a request, after the structural checks of the scheme, all ErrorCode
    15: a signing header missing, repeated or malformed; JSON keys without the `XroadVnpt-` prefix;
    the key list and the JSON naming different keys; `systemid` or `timestamp` not signed, or the
    timestamp not in the SDK's format; a signed value without its `XroadVnpt-` header or differing
    from it; an `XroadVnpt-` header (other than `version`) that is not signed. The signature itself
    is checked by `verify`."""
    received = _protocol_headers(headers)
    signing: dict[str, str] = {}
    for name in SIGNING_HEADERS:
        copies = received.pop(name, [])
        if not copies or not copies[0]:
            raise _refused(f"the header {PREFIX}{name} is missing")
        if len(copies) > 1:
            raise _refused(f"the header {PREFIX}{name} is sent more than once")
        signing[name] = copies[0]
    signature = signing[HASH_HEADER]
    if not _HMAC_HEX.fullmatch(signature):
        raise _refused(f"{PREFIX}{HASH_HEADER} is not 64 lower-case hex digits (HMAC-SHA256)")
    signed_json = signing[SIGN_HEADER]
    params = _signed_values(signed_json)
    names = signing[SIGN_HEADER_KEY].split(";")
    if "" in names or len(set(names)) != len(names):
        raise _refused(f"{PREFIX}{SIGN_HEADER_KEY} must list distinct names separated by ';'")
    if set(names) != {key for key, _ in params}:
        raise _refused(
            f"{PREFIX}{SIGN_HEADER_KEY} and the keys of {PREFIX}{SIGN_HEADER} (without their "
            f"{PREFIX} prefix) name different parameters"
        )
    _match_headers(params, received)
    system_id, timestamp = (_identity(params, name) for name in (SYSTEM_ID, TIMESTAMP))
    if parse_sdk_timestamp(timestamp, _ANY_ZONE) is None:
        raise _refused(
            f"{PREFIX}{TIMESTAMP} {timestamp!r} is not ddMMyyyy'T'HHmmss+SSSS (the SDK's format, local time)"
        )
    return SignedRequest(
        system_id=system_id, timestamp=timestamp, params=params, signature=signature, signed_json=signed_json
    )


def verify(request: SignedRequest, secret: str) -> None:
    """ErrorCode 15 unless the signature is the HMAC of the signed JSON, exactly as received,
    under `secret`."""
    if not hmac.compare_digest(hmac_hex(secret, request.signed_json), request.signature):
        raise _refused(
            f"{PREFIX}{HASH_HEADER} does not match: wrong secret, or the signed headers were changed"
        )


def check_fresh(
    request: SignedRequest, *, now: datetime, zone: tzinfo, window_seconds: int = FRESHNESS_WINDOW_SECONDS
) -> None:
    """Strict mode only: ErrorCode 15 unless the timestamp, read in `zone`, is at most
    `window_seconds` away from `now`, either way. (An SDK object keeps its timestamp for hours.)"""
    skew = request.moment(zone) - now
    if abs(skew) > timedelta(seconds=window_seconds):
        direction = "ahead of" if skew > timedelta(0) else "behind"
        raise _refused(
            f"{PREFIX}{TIMESTAMP} is {abs(skew.total_seconds()):g} s {direction} the server's clock; "
            f"this system is in strict mode, which accepts at most {window_seconds} s either way: "
            "build a new SDK service object for each call"
        )


def encode_description(text: str) -> str:
    """`description` of updateStatus (the hub's extension): percent-encoded UTF-8, so that the header
    value is ASCII."""
    return quote(text, safe="")


def decode_description(value: str) -> str:
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"{PREFIX}description is not percent-encoded UTF-8"
        ) from None


_ANY_ZONE = UTC  # only to check a timestamp's format: every zone has the same calendar


def _param(params: Sequence[tuple[str, str]], name: str, code: ErrorCode) -> str | None:
    found = [(key, value) for key, value in params if key.lower() == name.lower()]
    if len({value for _, value in found}) > 1:
        both = " and ".join(f"{PREFIX}{key}={value!r}" for key, value in found)
        raise ProtocolError(
            code,
            f"{both} are both signed and differ: which one is meant is unclear (an SDK object "
            "reused across calls signs its earlier parameters again); send one of them",
        )
    return found[0][1] if found else None


def _identity(params: Sequence[tuple[str, str]], name: str) -> str:
    """`systemid` or `timestamp`: signed, once, not empty (else ErrorCode 15)."""
    value = _param(params, name, ErrorCode.BAD_CREDENTIALS)
    if value is None:
        raise _refused(f"{PREFIX}{name} is not signed")
    if not value:
        raise _refused(f"{PREFIX}{name} is empty")
    return value


def _refused(description: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_CREDENTIALS, description)


def _header_text(value: str) -> str:
    """A header value as text. Servers hand header bytes over as Latin-1; the SDK writes UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _protocol_headers(headers: HeaderSource) -> dict[str, list[str]]:
    """Every copy of the `XroadVnpt-` headers by lower-cased name without the prefix. Copies are
    kept: a reused SDK object sends `XroadVnpt-docId` and `XroadVnpt-docid`, one HTTP name twice."""
    if hasattr(headers, "multi_items"):  # httpx.Headers: items() would join repeats
        pairs: Iterable[tuple[str, str]] = headers.multi_items()
    elif isinstance(headers, Mapping):
        pairs = headers.items()  # starlette's Headers lists a repeated header once per copy
    else:
        pairs = headers
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        lowered = name.lower()
        if lowered.startswith(_PREFIX_LOWER):
            found.setdefault(lowered[len(_PREFIX_LOWER) :], []).append(_header_text(value))
    return found


def _match_headers(params: Sequence[tuple[str, str]], received: dict[str, list[str]]) -> None:
    """Each signed value has its own header copy, and each header copy is signed."""
    signed: dict[str, list[str]] = {}
    for key, value in params:
        signed.setdefault(key.lower(), []).append(value)
    for name, values in signed.items():
        copies = received.get(name, [])
        if not copies:
            raise _refused(f"{PREFIX}{name} is signed but the header is not sent")
        if sorted(copies) != sorted(values):
            raise _refused(f"{PREFIX}{name} differs from its signed value")
    for name in received:
        if name not in signed and name != VERSION:
            raise _refused(f"the header {PREFIX}{name} is not signed")


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in order, duplicates kept."""


def _signed_values(signed_json: str) -> tuple[tuple[str, str], ...]:
    """The keys (without the prefix) and values of XroadVnpt-sign-header, in its order."""
    malformed = _refused(f"{PREFIX}{SIGN_HEADER} must be a JSON object of names and text values")

    try:
        parsed = json.loads(signed_json, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):  # deeply nested JSON exhausts the parser's recursion
        raise malformed from None
    if not isinstance(parsed, _Pairs) or not all(isinstance(value, str) for _, value in parsed):
        raise malformed
    keys = [key for key, _ in parsed]
    if len(set(keys)) != len(keys):
        raise _refused(f"{PREFIX}{SIGN_HEADER} names a key twice")
    unprefixed = [key for key in keys if not key.lower().startswith(_PREFIX_LOWER)]
    if unprefixed:
        raise _refused(
            f"the keys of {PREFIX}{SIGN_HEADER} carry the {PREFIX} prefix, as the SDK writes them "
            f'(`"{PREFIX}{unprefixed[0]}"`), not {unprefixed[0]!r}'
        )
    return tuple((key[len(PREFIX) :], value) for key, value in parsed)
