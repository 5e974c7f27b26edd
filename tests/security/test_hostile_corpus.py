"""The hostile-input corpus: requests an attacker (or a broken client) would send, each refused with a
4xx that says what is wrong — problem+json on the REST API, the protocol's own JSON on `/vxp` — never
a 5xx, nothing stored, and a valid document still accepted afterwards. Every case runs on SQLite and
PostgreSQL (the `hub` fixture). The HTTP-level cases a test client cannot send (lying Content-Length,
CRLF in headers, huge header blocks, 200 concurrent bad requests) run against a real `lienthong
serve` in test_http_edge.py.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import count
from typing import Any

import httpx
import pytest
from support.hub import OTHER, RECIPIENT, SAMPLES, SENDER, Hub

from app.axis.protocol import JSON_TYPE, OCTET_STREAM, file_hash, sdk_timestamp, sign
from app.axis_api.systems import create_system
from app.edxml import DocumentSpec, Organ, StatusSpec, build_document, build_status
from app.edxml.parser import MAX_ATTRIBUTES, MAX_CHILDREN, MAX_DEPTH, MAX_ELEMENTS, MAX_NAMESPACES
from app.kit.clock import VIETNAM
from app.kit.secrets import load_master_key


def sdk_time(ms: int) -> str:
    """The SDK's timestamp of a moment given in milliseconds since the epoch, in Vietnam's time."""
    return sdk_timestamp(datetime.fromtimestamp(ms / 1000, VIETNAM))


SAMPLE = (SAMPLES / "sample.edxml").read_bytes()
NS = b'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"'
XML = {"Content-Type": "application/xml"}
_numbers = count(1)


def new_document(sender: str = SENDER, recipients: tuple[str, ...] = (RECIPIENT,)) -> bytes:
    return build_document(
        DocumentSpec(
            sender=Organ(sender, organ_name="Văn phòng Ủy ban nhân dân tỉnh Vĩnh Phúc"),
            recipients=list(recipients),
            code_number=str(next(_numbers) + int(time.time() * 1000) % 10_000_000),
            code_notation="VP-KT",
            subject="V/v kiểm tra an toàn",
            promulgation_date=date(2026, 11, 20),
        )
    )


def with_doctype(doctype: bytes, body: bytes = SAMPLE) -> bytes:
    return body.replace(b"<edXML:edXML ", doctype + b"<edXML:edXML ", 1)


def in_envelope(xml: bytes) -> bytes:
    return SAMPLE.replace(b"<edXML:edXMLEnvelope>", b"<edXML:edXMLEnvelope>" + xml, 1)


def on_root(attributes: bytes) -> bytes:
    return SAMPLE.replace(NS, NS + b" " + attributes, 1)


def nested(depth: int) -> bytes:
    return in_envelope(b"<d>" * depth + b"</d>" * depth)


def multipart(*parts: tuple[str, bytes, str | None], boundary: str = "xYzBoUnDaRy") -> tuple[bytes, str]:
    """A multipart/form-data body from (name, content, filename or None for a text field)."""
    chunks = []
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
            + b"Content-Type: application/xml\r\n\r\n"
            + content
            + b"\r\n"
        )
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Context:
    hub: Hub
    receipt: dict[str, Any]  # the sample, sent by SENDER to RECIPIENT and 000.00.03.H62
    system: tuple[str, str] = ("", "")  # a /vxp system of SENDER
    _ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    def now_ms(self) -> int:
        self._ms += 1
        return self._ms


Send = Callable[[Context], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    send: Send
    status: int | tuple[int, ...]
    says: str  # found (case-insensitively) in what the answer says is wrong
    vxp: bool = False  # answered in the /vxp protocol's JSON, not problem+json


def post(
    path: str = "/api/v1/documents", body: bytes = b"", *, who: str | None = SENDER, **headers: str
) -> Send:
    async def send(ctx: Context) -> httpx.Response:
        auth = ctx.hub.auth(who) if who else {}
        merged = {**XML, **auth, **headers}
        return await ctx.hub.client.post(path, content=body, headers=merged)

    return send


def submit(body: bytes, **headers: str) -> Send:
    return post("/api/v1/documents", body, **headers)


def get(path: str, *, who: str | None = SENDER, method: str = "GET", **headers: str) -> Send:
    async def send(ctx: Context) -> httpx.Response:
        auth = ctx.hub.auth(who) if who else {}
        return await ctx.hub.client.request(method, path, headers={**auth, **headers})

    return send


def form(*parts: tuple[str, bytes, str | None], path: str = "/api/v1/documents", **options: Any) -> Send:
    body, content_type = multipart(*parts, **options)
    return post(path, body, **{"Content-Type": content_type})


def status_message(
    reporter: str, code: str = "03", *, original_sender: str = SENDER, document_id: str | None = None
) -> Callable[[Context], bytes]:
    def build(ctx: Context) -> bytes:
        return build_status(
            StatusSpec(
                reporter=reporter,
                original_sender_id=original_sender,
                original_code="7816/UBND-VP",
                original_document_id=document_id or ctx.receipt["document_id"],
                status_code=code,
                timestamp="2026/11/21 08:30:00",
                description="đã tiếp nhận",
            )
        )

    return build


def status_post(build: Callable[[Context], bytes], who: str) -> Send:
    async def send(ctx: Context) -> httpx.Response:
        return await ctx.hub.client.post(
            "/api/v1/statuses", content=build(ctx), headers={**XML, **ctx.hub.auth(who)}
        )

    return send


def vxp(operation: str, headers: Callable[[Context], dict[str, str]], file: bytes | None = None) -> Send:
    """A `/vxp` call; a file goes as the SDK sends it: the raw bytes and CRLF, application/octet-stream."""

    async def send(ctx: Context) -> httpx.Response:
        body = None if file is None else file + b"\r\n"
        return await ctx.hub.client.post(f"/vxp/{operation}", headers=headers(ctx), content=body)

    return send


def signed(
    params: dict[str, str] | None = None, *, secret: str | None = None, content_type: str = JSON_TYPE
) -> Callable[[Context], dict[str, str]]:
    def headers(ctx: Context) -> dict[str, str]:
        system_id, real_secret = ctx.system
        return sign(
            system_id,
            secret or real_secret,
            params or {},
            timestamp=sdk_time(ctx.now_ms()),
            content_type=content_type,
        )

    return headers


def vxp_send(content: bytes, **overrides: str) -> Send:
    params = {"from": SENDER, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": file_hash(content)}
    return vxp("sendEdoc", signed({**params, **overrides}, content_type=OCTET_STREAM), file=content)


def nested_sign_header(ctx: Context) -> dict[str, str]:
    headers = signed()(ctx)
    headers["XroadVnpt-sign-header"] = "[" * 20_000 + "]" * 20_000  # within the header limit
    return headers


def replace_header(name: str, value: str) -> Callable[[Context], dict[str, str]]:
    def headers(ctx: Context) -> dict[str, str]:
        return {**signed()(ctx), name: value}

    return headers


def unsigned_headers(_ctx: Context) -> dict[str, str]:
    return {"XroadVnpt-systemid": "vxp-0000"}


LAUGHS = (
    b'<!DOCTYPE x [<!ENTITY l0 "lol">'
    + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 8))
    + b"]>"
)
BAD_BASE64 = SAMPLE.replace(b"<edXML:ContentTransferEncoded>", b"<edXML:ContentTransferEncoded>@@@!!!", 1)
GZIP_BOMB = gzip.compress(b"<a>" + b" " * 20_000_000 + b"</a>")
# UTF-16 declared (with or without BOM) is accepted, as any declared encoding; lying about it is not.
UTF16_DECLARED_UTF8 = SAMPLE.decode("utf-8").encode("utf-16-le")
UTF16_BOM_DECLARED_UTF8 = SAMPLE.decode("utf-8").encode("utf-16")
TRAVERSAL = "..%2F..%2F..%2Fetc%2Fpasswd"
SQL = "1%27%20OR%20%271%27%3D%271"

CASES: list[Case] = [
    # --- XXE and DTDs in every form ----------------------------------------------------------------
    Case(
        "external entity (file)",
        "xxe",
        submit(
            with_doctype(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>').replace(
                b"<edXML:Subject>", b"<edXML:Subject>&e;", 1
            )
        ),
        422,
        "dtd",
    ),
    Case(
        "external entity (http)",
        "xxe",
        submit(
            with_doctype(b'<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>').replace(
                b"<edXML:Subject>", b"<edXML:Subject>&e;", 1
            )
        ),
        422,
        "dtd",
    ),
    Case(
        "parameter entity",
        "xxe",
        submit(with_doctype(b'<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>')),
        (415, 422),
        "dtd",
    ),
    Case(
        "external DTD (SYSTEM)",
        "xxe",
        submit(with_doctype(b'<!DOCTYPE edXML SYSTEM "file:///etc/passwd">')),
        422,
        "dtd",
    ),
    Case(
        "external DTD (PUBLIC, network)",
        "xxe",
        submit(with_doctype(b'<!DOCTYPE edXML PUBLIC "-//X//EN" "http://127.0.0.1:9/x.dtd">')),
        422,
        "dtd",
    ),
    Case(
        "internal entity",
        "xxe",
        submit(
            with_doctype(b'<!DOCTYPE x [<!ENTITY e "hi">]>').replace(
                b"<edXML:Subject>", b"<edXML:Subject>&e;", 1
            )
        ),
        422,
        "entit",
    ),
    Case(
        "entity in an attribute",
        "xxe",
        submit(with_doctype(b'<!DOCTYPE x [<!ENTITY e "hi">]>', on_root(b'a="&e;"'))),
        422,
        "dtd",
    ),
    Case(
        "undeclared entity",
        "xxe",
        submit(SAMPLE.replace(b"<edXML:Subject>", b"<edXML:Subject>&nbsp;", 1)),
        422,
        "entit",
    ),
    Case(
        "billion laughs",
        "xxe",
        submit(with_doctype(LAUGHS).replace(b"<edXML:Subject>", b"<edXML:Subject>&l7;", 1)),
        422,
        "entit",
    ),
    Case(
        "quadratic blowup",
        "xxe",
        submit(
            with_doctype(b'<!DOCTYPE x [<!ENTITY a "' + b"a" * 50_000 + b'">]>').replace(
                b"<edXML:Subject>", b"<edXML:Subject>" + b"&a;" * 5_000, 1
            )
        ),
        422,
        "entit",
    ),
    Case(
        "XInclude",
        "xxe",
        submit(
            in_envelope(
                b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                b'href="file:///etc/passwd" parse="text"/>'
            )
        ),
        422,
        "include",
    ),
    # --- size and cost -----------------------------------------------------------------------------
    Case("deep nesting", "cost", submit(nested(MAX_DEPTH + 10)), 422, "nested"),
    Case("very deep nesting (libxml2's own limit)", "cost", submit(nested(100_000)), (415, 422), "nest"),
    Case(
        "very many siblings",
        "cost",
        submit(in_envelope(b"<s>" + b"<a/>" * (MAX_CHILDREN + 1) + b"</s>")),
        422,
        "children",
    ),
    Case(
        "very many elements",
        "cost",
        submit(
            in_envelope(b"".join(b"<g>" + b"<a/>" * 1000 + b"</g>" for _ in range(MAX_ELEMENTS // 1000 + 1)))
        ),
        422,
        "elements",
    ),
    Case(
        "5 MB of tiny elements",
        "cost",
        submit(in_envelope(b"<s>" + b"<a/>" * 1_250_000 + b"</s>")),
        422,
        "children",
    ),
    Case(
        "many attributes on one element",
        "cost",
        submit(on_root(b" ".join(b'a%d="x"' % i for i in range(50_000)))),
        422,
        "attributes",
    ),
    Case(
        "attributes just over the limit",
        "cost",
        submit(on_root(b" ".join(b'a%d="x"' % i for i in range(MAX_ATTRIBUTES + 1)))),
        422,
        "attributes",
    ),
    Case(
        "many namespace declarations",
        "cost",
        submit(on_root(b" ".join(b'xmlns:p%d="urn:x:%d"' % (i, i) for i in range(50_000)))),
        422,
        "namespace",
    ),
    Case(
        "namespace declarations spread over elements",
        "cost",
        submit(
            in_envelope(b"".join(b'<n xmlns:q%d="urn:q:%d"/>' % (i, i) for i in range(MAX_NAMESPACES + 1)))
        ),
        422,
        "namespace",
    ),
    Case(
        "huge attribute value",
        "cost",
        submit(on_root(b'a="' + b"v" * 1_000_000 + b'"')),
        422,
        "attribute value",
    ),
    Case("huge element name", "cost", submit(in_envelope(b"<" + b"n" * 100_000 + b"/>")), (415, 422), "name"),
    Case("huge attribute name", "cost", submit(on_root(b"a" * 100_000 + b'="x"')), (415, 422), "name"),
    Case(
        "body over the size limit", "cost", submit(b"<a>" + b"x" * (64 * 1024 * 1024) + b"</a>"), 413, "limit"
    ),
    Case(
        "Content-Length over the limit",
        "cost",
        post(body=b"<a/>", **{"Content-Length": str(10**12)}),
        413,
        "limit",
    ),
    # --- not well-formed, encodings ----------------------------------------------------------------
    Case("empty body", "encoding", submit(b""), 415, "well-formed"),
    Case("whitespace only", "encoding", submit(b" \n\t "), 415, "well-formed"),
    Case("truncated document", "encoding", submit(SAMPLE[: len(SAMPLE) // 2]), 415, "well-formed"),
    Case("two roots", "encoding", submit(SAMPLE + b"<edXML/>"), 415, "well-formed"),
    Case(
        "mismatched tags",
        "encoding",
        submit(SAMPLE.replace(b"</edXML:Subject>", b"</edXML:Subjekt>", 1)),
        415,
        "well-formed",
    ),
    Case(
        "invalid UTF-8",
        "encoding",
        submit(SAMPLE.replace("Vĩnh Phúc".encode(), b"V\xff\xfenh", 1)),
        415,
        "well-formed",
    ),
    Case(
        "declared encoding mismatched (UTF-16 declared, UTF-8 sent)",
        "encoding",
        submit(SAMPLE.replace(b'encoding="UTF-8"', b'encoding="UTF-16"')),
        (415, 422),
        "",
    ),
    Case("UTF-16 without BOM, declared UTF-8", "encoding", submit(UTF16_DECLARED_UTF8), 415, "encoding"),
    Case("UTF-16 with BOM, declared UTF-8", "encoding", submit(UTF16_BOM_DECLARED_UTF8), 415, "encoding"),
    Case(
        "unknown encoding",
        "encoding",
        submit(SAMPLE.replace(b'encoding="UTF-8"', b'encoding="X-NO-SUCH"')),
        415,
        "encoding",
    ),
    Case(
        "NUL byte in text",
        "encoding",
        submit(SAMPLE.replace(b"<edXML:Subject>", b"<edXML:Subject>\x00", 1)),
        415,
        "well-formed",
    ),
    Case("NUL bytes before the root", "encoding", submit(b"\x00\x00" + SAMPLE), 415, "well-formed"),
    Case(
        "control character in text",
        "encoding",
        submit(SAMPLE.replace(b"<edXML:Subject>", b"<edXML:Subject>\x1b[31m", 1)),
        415,
        "well-formed",
    ),
    Case(
        "CDATA end in text",
        "encoding",
        submit(SAMPLE.replace(b"<edXML:Subject>", b"<edXML:Subject>]]>", 1)),
        415,
        "well-formed",
    ),
    Case("not XML at all (JSON)", "encoding", submit(b'{"edXML": 1}'), 415, "well-formed"),
    Case("a PDF", "encoding", submit(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), 415, "well-formed"),
    Case(
        "wrong root element",
        "encoding",
        submit(b'<html xmlns="http://www.w3.org/1999/xhtml"/>'),
        422,
        "edXML",
    ),
    Case("edXML in no namespace", "encoding", submit(b"<edXML><edXMLEnvelope/></edXML>"), 422, "namespace"),
    # --- media types, lengths, compression ---------------------------------------------------------
    Case(
        "Content-Type JSON",
        "http",
        post(body=SAMPLE, **{"Content-Type": "application/json"}),
        415,
        "application/xml",
    ),
    Case(
        "Content-Type text/plain",
        "http",
        post(body=SAMPLE, **{"Content-Type": "text/plain"}),
        415,
        "application/xml",
    ),
    Case("no Content-Type", "http", post(body=SAMPLE, **{"Content-Type": ""}), 415, "application/xml"),
    Case("XML Content-Type, JSON body", "http", submit(b'{"a": 1}'), 415, "well-formed"),
    Case(
        "gzip bomb as Content-Encoding",
        "http",
        post(body=GZIP_BOMB, **{"Content-Encoding": "gzip"}),
        415,
        "uncompressed",
    ),
    Case(
        "deflate Content-Encoding",
        "http",
        post(body=b"x\x9c\x03\x00\x00\x00\x00\x01", **{"Content-Encoding": "deflate"}),
        415,
        "uncompressed",
    ),
    Case("gzip bomb as the body", "http", submit(GZIP_BOMB), 415, "well-formed"),
    Case(
        "JSON body on a JSON route is malformed",
        "http",
        post("/api/v1/admin/credentials", b'{"role": ', who="admin", **{"Content-Type": "application/json"}),
        400,
        "json",
    ),
    Case(
        "JSON body nested 100,000 deep",
        "http",
        post(
            "/api/v1/admin/credentials",
            b"[" * 100_000 + b"]" * 100_000,
            who="admin",
            **{"Content-Type": "application/json"},
        ),
        (400, 422),
        "",
    ),
    Case("NUL in the query", "http", get("/api/v1/admin/credentials?agency=%00", who="admin"), 400, "NUL"),
    Case("NUL in the path", "http", get("/api/v1/documents/a%00b"), 400, "NUL"),
    Case(
        "NUL in a JSON value",
        "http",
        post(
            "/api/v1/admin/credentials",
            b'{"role": "admin", "holder": "a\\u0000b"}',
            who="admin",
            **{"Content-Type": "application/json"},
        ),
        400,
        "pattern",
    ),
    Case("unknown path", "http", get("/api/v1/nothing-here"), 404, "nothing at"),
    Case("wrong method", "http", get("/api/v1/documents", method="DELETE"), 405, "not allowed"),
    Case(
        "trailing slash does not redirect",
        "http",
        get("/api/v1/agencies/", Host="evil.example"),
        404,
        "nothing at",
    ),
    # --- multipart ---------------------------------------------------------------------------------
    Case("multipart without file_doc", "multipart", form(("other", SAMPLE, "a.edxml")), 400, "file_doc"),
    Case(
        "multipart with file_doc as a text field",
        "multipart",
        form(("file_doc", b"hello", None)),
        400,
        "file_doc",
    ),
    Case(
        "multipart with two files",
        "multipart",
        form(("file_doc", SAMPLE, "a.edxml"), ("file_doc", SAMPLE, "b.edxml")),
        400,
        "multipart",
    ),
    Case(
        "multipart with an extra file",
        "multipart",
        form(("file_doc", SAMPLE, "a.edxml"), ("extra", b"x", "x.bin")),
        400,
        "multipart",
    ),
    Case(
        "multipart with too many fields",
        "multipart",
        form(*[(f"f{i}", b"x", None) for i in range(20)], ("file_doc", SAMPLE, "a.edxml")),
        400,
        "multipart",
    ),
    Case(
        "multipart without boundary",
        "multipart",
        post(body=b"--x\r\n\r\n", **{"Content-Type": "multipart/form-data"}),
        400,
        "multipart",
    ),
    Case(
        "multipart truncated",
        "multipart",
        post(
            body=multipart(("file_doc", SAMPLE, "a.edxml"))[0][:200],
            **{"Content-Type": multipart(("file_doc", b"", "a"))[1]},
        ),
        400,
        "",
    ),
    Case(
        "multipart whose file is not XML",
        "multipart",
        form(("file_doc", b"%PDF-1.7", "a.pdf")),
        415,
        "well-formed",
    ),
    # --- content: attachments, senders, statuses ---------------------------------------------------
    Case("broken base64 in an attachment", "content", submit(BAD_BASE64), 422, "base64"),
    Case(
        "reference without attachment",
        "content",
        submit(
            SAMPLE.replace(b"<edXML:AttachmentEncoded>", b"<edXML:AttachmentEncoded><!--", 1).replace(
                b"</edXML:AttachmentEncoded>", b"--></edXML:AttachmentEncoded>", 1
            )
        ),
        422,
        "attachment",
    ),
    Case("spoofed sender", "content", submit(new_document(sender=OTHER)), 403, "speaks for"),
    Case(
        "unknown recipient", "content", submit(new_document(recipients=("000.00.99.H62",))), 422, "directory"
    ),
    Case(
        "recipient code with SQL",
        "content",
        submit(new_document(recipients=("000.00.02.H62' OR '1'='1",))),
        422,
        "",
    ),
    Case(
        "DocumentId with traversal",
        "content",
        submit(SAMPLE.replace(b"<edXML:DocumentId>", b"<edXML:DocumentId>../../../etc/passwd", 1)),
        422,
        "DocumentId",
    ),
    Case(
        "DocumentId with SQL",
        "content",
        submit(SAMPLE.replace(b"<edXML:DocumentId>", b"<edXML:DocumentId>'; DROP TABLE documents; --", 1)),
        422,
        "DocumentId",
    ),
    Case(
        "status for a document the reporter never received",
        "content",
        status_post(status_message(OTHER), OTHER),
        422,
        "no document",
    ),
    Case(
        "status by the document's own sender",
        "content",
        status_post(status_message(SENDER), SENDER),
        422,
        "sender",
    ),
    Case(
        "status for an unknown document",
        "content",
        status_post(status_message(RECIPIENT, document_id="000.00.01.H62,2026/01/01,1/X"), RECIPIENT),
        422,
        "no document",
    ),
    Case(
        "status in another agency's name",
        "content",
        status_post(status_message(RECIPIENT), OTHER),
        403,
        "speaks for",
    ),
    Case(
        "status with traversal in DocumentId",
        "content",
        status_post(status_message(RECIPIENT, document_id="../../etc/passwd"), RECIPIENT),
        422,
        "",
    ),
    Case(
        "a document sent as a status",
        "content",
        status_post(lambda _ctx: SAMPLE, RECIPIENT),
        422,
        "not a status",
    ),
    # --- ids in paths ------------------------------------------------------------------------------
    Case("document id with traversal", "ids", get(f"/api/v1/documents/{TRAVERSAL}"), 404, ""),
    Case("document id with SQL", "ids", get(f"/api/v1/documents/{SQL}"), 404, "no document"),
    Case("document id with SQL, edxml", "ids", get(f"/api/v1/documents/{SQL}/edxml"), 404, "no document"),
    Case("inbox ack with SQL", "ids", get(f"/api/v1/inbox/{SQL}/ack", method="POST", who=RECIPIENT), 404, ""),
    Case(
        "revoke a credential with SQL",
        "ids",
        get(f"/api/v1/admin/credentials/{SQL}", method="DELETE", who="admin"),
        404,
        "no credential",
    ),
    Case("agency search with SQL wildcards", "ids", get("/api/v1/agencies?q=" + "%25" * 200), 400, ""),
    Case("page size out of range", "ids", get("/api/v1/inbox?limit=100000000", who=RECIPIENT), 400, "limit"),
    # --- Authorization headers ---------------------------------------------------------------------
    Case(
        "Bearer without token",
        "auth",
        post(body=SAMPLE, who=None, Authorization="Bearer"),
        401,
        "Authorization",
    ),
    Case(
        "Basic credentials",
        "auth",
        post(body=SAMPLE, who=None, Authorization="Basic YWRtaW46YWRtaW4="),
        401,
        "Authorization",
    ),
    Case(
        "token with spaces", "auth", post(body=SAMPLE, who=None, Authorization="Bearer a b c"), 401, "token"
    ),
    Case(
        "10 KB token",
        "auth",
        post(body=SAMPLE, who=None, Authorization="Bearer " + "a" * 10_000),
        401,
        "token",
    ),
    Case(
        "token with SQL",
        "auth",
        post(body=SAMPLE, who=None, Authorization="Bearer ' OR '1'='1"),
        401,
        "token",
    ),
    Case(
        "a token's hash instead of the token",
        "auth",
        post(body=SAMPLE, who=None, Authorization="Bearer " + hashlib.sha256(b"x").hexdigest()),
        401,
        "token",
    ),
    Case("a staff token on an agency route", "auth", post(body=SAMPLE, who="admin"), 403, "role"),
    # --- the axis-compatible API -------------------------------------------------------------------
    Case(
        "nested JSON in sign-header", "vxp", vxp("getAgenciesList", nested_sign_header), 401, "json", vxp=True
    ),
    Case(
        "200 KB of signing headers",
        "vxp",
        vxp("getAgenciesList", replace_header("XroadVnpt-sign-header", "[" * 200_000)),
        431,
        "headers",
        vxp=True,
    ),
    Case(
        "sign-header not JSON",
        "vxp",
        vxp("getAgenciesList", replace_header("XroadVnpt-sign-header", "{not json")),
        401,
        "json",
        vxp=True,
    ),
    Case("no signing headers", "vxp", vxp("getAgenciesList", unsigned_headers), 401, "missing", vxp=True),
    Case(
        "hash-header not hex",
        "vxp",
        vxp("getAgenciesList", replace_header("XroadVnpt-hash-header", "zz" * 32)),
        401,
        "hex",
        vxp=True,
    ),
    Case("wrong secret", "vxp", vxp("getAgenciesList", signed(secret="not-the-secret")), 401, "", vxp=True),
    Case(
        "XXE through sendEdoc",
        "vxp",
        vxp_send(
            with_doctype(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>').replace(
                b"<edXML:Subject>", b"<edXML:Subject>&e;", 1
            )
        ),
        422,
        "dtd",
        vxp=True,
    ),
    Case(
        "spoofed sender through sendEdoc",
        "vxp",
        vxp_send(SAMPLE, **{"from": OTHER}),
        403,
        "cannot send",
        vxp=True,
    ),
    Case(
        "file that does not match hash-file",
        "vxp",
        vxp_send(SAMPLE, **{"hash-file": "0" * 64}),
        400,
        "hash-file",
        vxp=True,
    ),
]


def test_the_corpus_is_large_enough() -> None:
    by_category: dict[str, int] = {}
    for case in CASES:
        by_category[case.category] = by_category.get(case.category, 0) + 1
    assert len(CASES) >= 70, by_category
    assert len({case.id for case in CASES}) == len(CASES)


async def _stored(hub: Hub) -> tuple[object, ...]:
    return tuple(
        [
            await hub.scalar(f"SELECT count(*) FROM {table}")
            for table in ("documents", "payloads", "deliveries")
        ]
    )


def _what_it_says(response: httpx.Response, *, vxp: bool) -> str:
    body = response.json()
    if vxp:
        assert body["status"] == "FAIL", body
        return str(body["ErrorDesc"])
    assert response.headers["content-type"].startswith("application/problem+json"), response.text[:300]
    assert body["status"] == response.status_code and body["detail"], body
    return " ".join([body["detail"], *(f"{e['path']} {e['code']} {e['message']}" for e in body["errors"])])


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}: {c.id}" for c in CASES])
async def test_hostile_input_is_refused_without_harm(hub: Hub, case: Case) -> None:
    receipt = await hub.submit(SAMPLE)
    assert receipt.status_code == 201, receipt.text
    context = Context(hub, receipt.json())
    if case.category == "vxp":
        async with hub.database.transaction() as session:
            system, secret = await create_system(
                session, load_master_key(hub.settings), agency_code=SENDER, actor="test"
            )
        context.system = (system.id, secret)
    before = await _stored(hub)

    response = await case.send(context)

    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert response.status_code in expected, response.text[:500]
    says = _what_it_says(response, vxp=case.vxp)
    assert case.says.lower() in says.lower(), says
    assert await _stored(hub) == before
    after = await hub.submit(new_document())
    assert after.status_code == 201, after.text
