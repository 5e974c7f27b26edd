"""A conformance client of the national axis's protocol, written for the tests from
shared/reference/vxp-sdk.md alone and sharing no code with the hub: it behaves as one service object
of the official Java SDK (SDKVXP 2.0.1) does on the wire. If the hub's `/vxp` accepts it, software
built on the SDK works against the hub.

What it reproduces, as the SDK does it:
- the signed parameters live in one map that is never cleared: `timestamp` and `systemid` from
  construction, then each call's `Content-Type`, the top-level keys of its JSON and `hash-file`, so a
  reused object signs the leftovers of earlier calls (`docId` of a getEdoc reappears later);
- the map iterates in Java HashMap order (a small re-implementation of `java.util.HashMap` below);
- the JSON is written as Gson's `JsonObject.toString()` writes it;
- the timestamp is `ddMMyyyy'T'HHmmss+SSSS` in local time (UTC+7 here), taken once: the same object
  making the same call twice sends the same timestamp and the same signature;
- the bodies: nothing, `{}`, or for sendEdoc the raw file followed by CRLF as
  `application/octet-stream`, `hash-file` in hex without zero-padding of each byte.

Synchronous on purpose, as agency software built on the SDK is.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

VIETNAM = timezone(timedelta(hours=7))


class JavaHashMap:
    """The parts of `java.util.HashMap<String, String>` that decide its iteration order: a table of
    buckets (16, doubled when more than 3/4 full, or when a bucket reaches 8 below 64), the index
    `(h ^ (h >>> 16)) & (n - 1)` of `String.hashCode()`, a bucket's entries in insertion order."""

    def __init__(self) -> None:
        self.table: list[list[list[str]]] = [[] for _ in range(16)]
        self.size = 0

    @staticmethod
    def string_hash(key: str) -> int:
        h = 0
        for unit in _utf16_units(key):
            h = (h * 31 + unit) % 2**32
        return h

    def index(self, key: str, length: int) -> int:
        h = self.string_hash(key)
        return (h ^ (h >> 16)) & (length - 1)

    def put(self, key: str, value: str) -> None:
        bucket = self.table[self.index(key, len(self.table))]
        for entry in bucket:
            if entry[0] == key:
                entry[1] = value
                return
        bucket.append([key, value])
        self.size += 1
        if len(bucket) >= 8 and len(self.table) < 64:
            self.resize()
        if self.size > len(self.table) * 0.75:
            self.resize()

    def resize(self) -> None:
        old = self.table
        self.table = [[] for _ in range(2 * len(old))]
        for bucket in old:
            for entry in bucket:
                self.table[self.index(entry[0], len(self.table))].append(entry)

    def entries(self) -> list[tuple[str, str]]:
        return [(entry[0], entry[1]) for bucket in self.table for entry in bucket]


def _utf16_units(text: str) -> list[int]:
    units = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            units += [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
        else:
            units.append(code)
    return units


def gson_string(text: str) -> str:
    """A JSON string as Gson writes it (not HTML-safe): `"` `\\` and control characters escaped,
    U+2028 and U+2029 too; `<`, `>`, `&`, `=`, `'`, `/` and non-ASCII written as they are."""
    escaped = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\f": "\\f"}
    out = '"'
    for char in text:
        if char in escaped:
            out += escaped[char]
        elif char < " " or char in ("\u2028", "\u2029"):
            out += f"\\u{ord(char):04x}"
        else:
            out += char
    return out + '"'


def sdk_hash_file(content: bytes) -> str:
    """SHA-256, each byte as `Integer.toHexString(b & 0xff)`: no zero-padding."""
    return "".join(f"{byte:x}" for byte in hashlib.sha256(content).digest())


def sdk_timestamp(moment: datetime) -> str:
    """`new SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS").format(now)`: `+` then milliseconds, 4 digits."""
    millis = moment.microsecond // 1000
    return moment.strftime("%d%m%Y") + "T" + moment.strftime("%H%M%S") + f"+{millis:04d}"


class SdkService:
    """One service object of the SDK, pointed at `endpoint` (the SDK's `service.endpoint`)."""

    def __init__(
        self, endpoint: str, system_id: str, secret: str, *, now: datetime | None = None, timeout: float = 30
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.params = JavaHashMap()
        self.params.put("timestamp", sdk_timestamp(now or datetime.now(VIETNAM)))
        self.params.put("systemid", system_id)
        self.last_headers: list[tuple[str, str]] = []
        self.last_response: httpx.Response | None = None

    # The signing, as the SDK does it before every call.

    def headers(self) -> list[tuple[str, str]]:
        entries = self.params.entries()
        headers: list[tuple[str, str]] = []
        for key, value in entries:
            headers.append(("XroadVnpt-" + key, value))
            if key == "Content-Type":
                headers.append(("Content-Type", value))
        sign_header = (
            "{" + ",".join(gson_string("XroadVnpt-" + k) + ":" + gson_string(v) for k, v in entries) + "}"
        )
        headers.append(("XroadVnpt-sign-header-key", ";".join(key for key, _ in entries)))
        headers.append(("XroadVnpt-sign-header", sign_header))
        digest = hmac.new(self.secret.encode("utf-8"), sign_header.encode("utf-8"), hashlib.sha256)
        headers.append(("XroadVnpt-hash-header", digest.hexdigest()))
        headers.append(("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP"))
        headers.append(("XroadVnpt-version", "3.0.201608"))
        return headers

    def request(
        self,
        operation: str,
        json_keys: dict[str, str] | None = None,
        *,
        body: bytes = b"",
        content_type: str = "application/json",
        method: str = "POST",
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call: the call's parameters go into the map (which keeps everything earlier calls
        put there), the whole map is signed and sent."""
        self.params.put("Content-Type", content_type)
        for key, value in (json_keys or {}).items():
            self.params.put(key, value)
        for key, value in (extra or {}).items():
            self.params.put(key, value)
        self.last_headers = self.headers()
        return self.send(operation, self.last_headers, body=body, method=method)

    def send(
        self, operation: str, headers: list[tuple[str, str]], *, body: bytes = b"", method: str = "POST"
    ) -> httpx.Response:
        self.last_response = httpx.request(
            method, f"{self.endpoint}/{operation}", headers=headers, content=body, timeout=self.timeout
        )
        return self.last_response

    # The operations, each answering the JSON the SDK would read (downloadEdoc: the raw body).

    def send_edoc(
        self, content: bytes, *, sender: str, message_type: str = "edoc", to: str | None = None
    ) -> dict[str, Any]:
        keys = {"from": sender, "servicetype": "eDoc", "messagetype": message_type}
        if to is not None:
            keys["to"] = to
        return answer(
            self.request(
                "sendEdoc",
                keys,
                extra={"hash-file": sdk_hash_file(content)},
                body=content + b"\r\n",
                content_type="application/octet-stream",
            )
        )

    def get_received_edoc_list(self, message_type: str = "edoc") -> dict[str, Any]:
        return answer(
            self.request("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": message_type})
        )

    def get_sent_edoc_list(self, doc_id: str, message_type: str = "edoc") -> dict[str, Any]:
        keys = {"servicetype": "eDoc", "messagetype": message_type, "docId": doc_id}
        return answer(self.request("getSentEdocList", keys))

    def get_edoc(self, doc_id: str, file_path: str = "C:/QLVB/edoc") -> dict[str, Any]:
        return answer(self.request("getEdoc", {"docId": doc_id, "filePath": file_path}, body=b"{}"))

    def download_edoc(self, doc_id: str) -> httpx.Response:
        return self.request("downloadEdoc", {"docId": doc_id}, method="GET")

    def update_status(self, doc_id: str, status: str, *, key: str = "docid") -> dict[str, Any]:
        return answer(self.request("updateStatus", {key: doc_id, "status": status}, body=b"{}"))

    def count_receive_edoc(self) -> dict[str, Any]:
        return answer(self.request("countReceiveEdoc", body=b"{}"))

    def count_receive_status(self) -> dict[str, Any]:
        return answer(self.request("countReceiveStatus", body=b"{}"))

    def get_agencies_list(self) -> dict[str, Any]:
        return answer(self.request("getAgenciesList"))

    def get_agencies_list_qd20(self) -> dict[str, Any]:
        return answer(self.request("getAgenciesListQD20"))

    def get_synchronize_unit(self) -> dict[str, Any]:
        return answer(self.request("getSynchronizeUnit"))

    def register_agency(self, agency_json: bytes) -> dict[str, Any]:
        return answer(self.request("registerAgency", body=agency_json))

    def delete_agency(self, code: str) -> dict[str, Any]:
        return answer(self.request("deleteAgency", {"AgencyCode": code}, body=b"{}"))


def answer(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON (what the SDK reads), with the HTTP status beside it for the tests."""
    body: dict[str, Any] = response.json()
    body["http_status"] = response.status_code
    return body
