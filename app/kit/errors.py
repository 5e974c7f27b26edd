"""One error hierarchy for the whole hub, answered as RFC 9457 `application/problem+json`.

Every business error carries its HTTP status and, where it applies, the list of problems found, each
with a path into the document, so agency integrators can fix everything in one round.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.i18n import N_, SOURCE_LOCALE, accept_language

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://lienthong.example/problems/"


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

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Nothing was committed (each unit of work is one transaction); details stay in the server log.
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(HubError(N_("an unexpected error occurred; nothing was stored")), request)

    app.add_exception_handler(HubError, on_hub_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(RequestValidationError, on_validation_error)
