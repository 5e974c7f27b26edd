"""One error hierarchy for the whole hub, answered as RFC 9457 `application/problem+json`.

Every business error carries its HTTP status and, where it applies, the list of problems found, each
with a path into the document, so agency integrators can fix everything in one round.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.i18n import N_, SOURCE_LOCALE, accept_language
from app.kit.db import database_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://lienthong.example/problems/"
DATABASE_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request: where (`path`, XPath-like for documents), a stable `code`, and
    a message a person can act on."""

    path: str
    code: str
    message: str
    #: The English template `message` was formatted from, and its named parameters, when it was
    #: built with `Problem.of`: the message is then translated in full (app.kit.problem_messages).
    template: str = field(default="", compare=False, repr=False)
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, path: str, code: str, template: str, **params: object) -> Problem:
        """A problem whose message is a template marked N_("… {name} …") and its parameters."""
        values = tuple((name, str(value)) for name, value in params.items())
        return cls(path, code, template.format(**dict(values)), template, values)

    def as_dict(self, locale: str = SOURCE_LOCALE) -> dict[str, str]:
        from app.kit.problem_messages import problem_message

        return {"path": self.path, "code": self.code, "message": problem_message(self, locale)}


class HubError(Exception):
    status: ClassVar[int] = 500
    kind: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        errors: Sequence[Problem] = (),
        *,
        headers: dict[str, str] | None = None,
        params: Mapping[str, object] | None = None,
    ):
        # With `params`, `detail` is an English template marked N_("… {name} …"), translated in full.
        self.detail_template = detail if params is not None else ""
        self.detail_params = {name: str(value) for name, value in (params or {}).items()}
        detail = detail.format(**self.detail_params) if params is not None else detail
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None, locale: str = SOURCE_LOCALE) -> dict[str, Any]:
        from app.kit.problem_messages import detail_message, title_message

        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.kind,
            "title": title_message(self, locale),
            "status": self.status,
            "detail": detail_message(self, locale),
            "errors": [p.as_dict(locale) for p in self.errors],
        }
        if instance:
            body["instance"] = instance
        return body


class BadRequest(HubError):
    status, kind, title = 400, "bad-request", "Bad request"


class Unauthorized(HubError):
    status, kind, title = 401, "unauthorized", "Missing or invalid credential"


class Forbidden(HubError):
    status, kind, title = 403, "forbidden", "Not allowed for this credential"


class NotFound(HubError):
    status, kind, title = 404, "not-found", "Not found"


class Conflict(HubError):
    status, kind, title = 409, "conflict", "Conflict"


class ServiceUnavailable(HubError):
    status, kind, title = 503, "unavailable", "Temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class PayloadTooLarge(HubError):
    status, kind, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(HubError):
    status, kind, title = 415, "not-xml", "Body is not XML"


class InvalidDocument(HubError):
    status, kind, title = 422, "invalid-document", "The document is not valid"


class MethodNotAllowed(HubError):
    status, kind, title = 405, "method-not-allowed", "Method not allowed"


class RequestTimeout(HubError):
    status, kind, title = 408, "request-timeout", "The request was not received in time"


class HeadersTooLarge(HubError):
    status, kind, title = 431, "headers-too-large", "Request headers too large"


class TooManyRequests(HubError):
    status, kind, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


_BY_STATUS: dict[int, type[HubError]] = {
    kind.status: kind
    for kind in (BadRequest, Unauthorized, Forbidden, Conflict, PayloadTooLarge, UnsupportedMediaType)
}


#: The language of problem messages when the caller's Accept-Language names none the hub speaks:
#: English on the REST API (what its integrators have always read); /vxp answers in Vietnamese
#: (app.axis_api), whose ErrorDesc QLVB software shows to its clerks. Codes and paths never change.
API_DEFAULT_LOCALE = "en"


def problem_locale(request: Request, default: str = API_DEFAULT_LOCALE) -> str:
    """The language the caller asks for (`Accept-Language: vi` or `en`, with q-values), or `default`."""
    return accept_language(request.headers.get("accept-language"), default)


def problem_response(error: HubError, request: Request) -> JSONResponse:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    headers.setdefault("Content-Language", problem_locale(request))
    return JSONResponse(
        error.to_problem(instance=request.url.path, locale=problem_locale(request)),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _unstorable(error: BaseException) -> bool:
    """Whether the database (or the driver, encoding it) refused a value the client sent: a NUL
    character, a lone surrogate, a number out of range. The client's mistake, and nothing was stored."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DataError | asyncpg.DataError | UnicodeEncodeError):
            return True
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return False


def install_error_handlers(app: FastAPI) -> None:
    async def on_hub_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        return problem_response(exc, request)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            Problem(
                path="/" + "/".join(str(part) for part in err.get("loc", ())),
                code=str(err.get("type", "invalid")),
                message=str(err.get("msg", "")),
            )
            for err in exc.errors()
        ]
        return problem_response(BadRequest(N_("The request's parameters are not valid"), problems), request)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        # The framework's own refusals (no such path, wrong method, a body it cannot parse) answer in
        # the same shape as the hub's.
        assert isinstance(exc, StarletteHTTPException)
        error: HubError
        if exc.status_code == 404:
            error = NotFound(f"nothing at {request.url.path}")
        elif exc.status_code == 405:
            error = MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}",
                headers=dict(exc.headers or {}),
            )
        else:
            kind = _BY_STATUS.get(exc.status_code) or type(
                "FrameworkError", (HubError,), {"status": exc.status_code, "kind": "http-error"}
            )
            error = kind(str(exc.detail), headers=dict(exc.headers or {}))
        return problem_response(error, request)

    async def on_data_error(request: Request, exc: Exception) -> JSONResponse:
        # The database refused a value the client sent (PostgreSQL: a NUL character in text, a number
        # out of range): the client's mistake, and nothing was stored.
        log.info(
            "the database refused a value on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return problem_response(
            BadRequest(
                "a value in the request cannot be stored (a NUL character, or a number out of range)",
                [Problem("/", "unstorable-value", "remove NUL characters and out-of-range numbers")],
            ),
            request,
        )

    async def on_disconnect(request: Request, exc: Exception) -> Response:
        # The client went away mid-request: one line, no traceback (cheap to cause, so cheap to log).
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=499)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if _unstorable(exc):  # wrapped on its way up, or raised while encoding (a lone surrogate)
            return await on_data_error(request, exc)
        # Nothing was committed (each unit of work is one transaction); details stay in the server log.
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(HubError(N_("an unexpected error occurred; nothing was stored")), request)

    async def on_infrastructure_error(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            return await on_unexpected(request, exc)
        # An outage, not a fault of the request: the caller should send it again shortly. (A handler
        # of its own, not the catch-all's: the catch-all's answers close the client's connection.)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        unavailable = ServiceUnavailable(
            "the hub's database is not answering; nothing was stored; send the request again later",
            retry_after=DATABASE_RETRY_AFTER_SECONDS,
        )
        return problem_response(unavailable, request)

    app.add_exception_handler(HubError, on_hub_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(Exception, on_unexpected)
    for infrastructure in (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(infrastructure, on_infrastructure_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
