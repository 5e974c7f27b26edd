"""Reading request bodies: the size limit is enforced while reading, before anything is parsed."""

from __future__ import annotations

import io
from typing import Any

from fastapi import Request

from app.kit.errors import PayloadTooLarge, Problem, UnsupportedMediaType

XML_TYPES = ("application/xml", "text/xml", "application/edxml+xml")
#: A pattern for names and codes in JSON bodies: no control characters (NUL cannot be stored in
#: PostgreSQL text, and none belongs in a name).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
XML_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        # Never inflated: a small compressed body can expand to any size (a compression bomb).
        raise UnsupportedMediaType(
            f"the body is encoded with {coding!r}; send it uncompressed (Content-Encoding identity)",
            [Problem("/", "content-encoding", "compressed request bodies are not accepted")],
        )
    too_large = PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    # Written into one growing buffer, which becomes the bytes without a copy: a list of chunks
    # joined at the end would hold the body twice.
    body = io.BytesIO()
    async for chunk in request.stream():
        if body.tell() + len(chunk) > limit:
            raise too_large
        body.write(chunk)
    return body.getvalue()


async def read_xml_body(request: Request, limit: int, *, what: str = "the document") -> bytes:
    if media_type(request) not in XML_TYPES:
        raise UnsupportedMediaType(f"send {what} as application/xml, not {media_type(request) or 'no type'}")
    return await read_body(request, limit)
