"""A client of the national axis's protocol written for the tests from the protocol's description
(edxml.md §4, docs/axis-protocol.md) alone, sharing no code with the hub: if the hub's `/vxp` and this
client agree, the hub speaks the protocol, not merely its own idea of it.

Synchronous on purpose (as agency software usually is), with every step of the signing spelled out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote

import httpx


class VxpClient:
    def __init__(self, base_url: str, system_id: str, secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.system_id = system_id
        self.secret = secret

    def headers(self, parameters: dict[str, str], *, timestamp_ms: int | None = None) -> dict[str, str]:
        """The request headers: each logical header as XroadVnpt-<name>, the list of signed names,
        their JSON, and the HMAC-SHA256 of that JSON under the secret."""
        signed = {
            "systemid": self.system_id,
            "timestamp": str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)),
            **parameters,
        }
        names = list(signed)
        document = json.dumps({name: signed[name] for name in names}, separators=(",", ":"))
        mac = hmac.new(self.secret.encode("utf-8"), document.encode("ascii"), hashlib.sha256).hexdigest()
        headers = {f"XroadVnpt-{name}": value for name, value in signed.items()}
        headers["XroadVnpt-sign-header-key"] = ";".join(names)
        headers["XroadVnpt-sign-header"] = document
        headers["XroadVnpt-hash-header"] = mac
        return headers

    def call(
        self,
        operation: str,
        parameters: dict[str, str] | None = None,
        *,
        file: bytes | None = None,
        **options: Any,
    ) -> httpx.Response:
        parameters = dict(parameters or {})
        if file is not None:
            parameters["hash-file"] = hashlib.sha256(file).hexdigest()
        headers = options.pop("headers", None) or self.headers(parameters, **options)
        files = {"file_doc": ("document.edxml", file, "application/xml")} if file is not None else None
        return httpx.post(f"{self.base_url}/{operation}", headers=headers, files=files, timeout=10)

    # The operations, answering the JSON body (status OK or FAIL with ErrorCode and ErrorDesc).

    def send(self, content: bytes, *, sender: str, message_type: str = "edoc") -> dict[str, Any]:
        return self._json(
            self.call(
                "sendEdoc",
                {"from": sender, "servicetype": "eDoc", "messagetype": message_type},
                file=content,
            )
        )

    def waiting(self, message_type: str = "edoc") -> dict[str, Any]:
        return self._json(
            self.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": message_type})
        )

    def fetch(self, doc_id: str) -> dict[str, Any]:
        return self._json(self.call("getEdoc", {"docId": doc_id}))

    def acknowledge(self, doc_id: str, status: str, description: str = "") -> dict[str, Any]:
        parameters = {"docId": doc_id, "status": status}
        if description:
            parameters["description"] = quote(description, safe="")
        return self._json(self.call("updateStatus", parameters))

    def sent(self, doc_id: str) -> dict[str, Any]:
        return self._json(self.call("getSentEdocList", {"docId": doc_id}))

    def agencies(self) -> dict[str, Any]:
        return self._json(self.call("getAgenciesList"))

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        body["http_status"] = response.status_code
        return body
