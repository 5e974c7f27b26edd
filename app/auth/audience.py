"""Who may call each route: every route declares its audience, in one place, next to the route.

The declaration is the dependency that lets the caller in. Each of the hub's access dependencies
carries the audience it enforces (`declares`): `CurrentPrincipal` any credential, `PartyPrincipal`
the parties to a document, `AgencyPrincipal` agency software, `AdminPrincipal` admins,
`StaffPrincipal` admins and auditors; `Public` (anyone, rate-limited by address), `Operator` (the
operator's probes) and `VxpSystem` (the `/vxp` routes, which authenticate by their own protocol)
declare routes that take no bearer token. So a route is declared by what it already needs:

    @router.get("/api/v1/admin/things")
    async def things(principal: AdminPrincipal) -> ...            # admin

    @router.get("/api/v1/audit/checkpoint", dependencies=[Public])
    async def checkpoint() -> ...                                 # anyone

A dependency written elsewhere declares itself the same way: decorate it with `@declares(...)`. When
`AdminPrincipal` / `StaffPrincipal` are swapped for a person-aware dependency, decorate the new one
with `@declares(Audience.ADMIN)` / `@declares(Audience.STAFF)` (the matrix expects bearer tokens to
keep working there); a console page whose session is a cookie declares `Audience.CONSOLE` (the
matrix then expects no page for a caller without a session: 401, 403 or a redirect to the login);
the login form and the transparency log's checkpoint and proofs take `dependencies=[Public]` (rate
limited per address, which also slows password guessing); `/metrics` takes
`dependencies=[Operator]`. `audience_of(route)` finds the outermost declaration of a route and
`declarations(app)` lists every route with its own; tests/security/test_route_matrix.py walks the
app's own route table, fails for a route that declares nothing (or two audiences), and calls every
route with no credential, a wrong one, a revoked one, an expired one, each role and an agency that
is not a party, expecting exactly what its audience allows. Routes the framework itself adds (the
OpenAPI document and its pages) are listed in `FRAMEWORK_ROUTES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from app.kit.cpu import set_caller
from app.kit.ratelimit import limiter


class Audience(StrEnum):
    OPERATOR = "operator"  # anyone who reaches the process: liveness, readiness, metrics
    PUBLIC = "public"  # anyone: certificates, seal checks, checkpoints (rate-limited per address)
    CREDENTIAL = "credential"  # any valid bearer credential, whatever its role
    PARTIES = "parties"  # a document's sender and recipients, admins and auditors; others get 404
    AGENCY = "agency"  # agency software (role agency)
    ADMIN = "admin"  # people with role admin
    STAFF = "staff"  # people with role admin or auditor
    VXP_SYSTEM = "vxp-system"  # an agency's system on the axis-compatible API (HMAC-signed headers)
    CONSOLE = "console"  # a person logged into the web console (admin or auditor session), not a token


AUDIENCE_ATTRIBUTE = "__lienthong_audience__"

#: Routes that are not endpoints of ours: FastAPI's API description and the console's static files
#: (stylesheet, htmx) are public.
FRAMEWORK_ROUTES: dict[str, Audience] = {
    "/admin/static": Audience.PUBLIC,
    "/openapi.json": Audience.PUBLIC,
    "/docs": Audience.PUBLIC,
    "/docs/oauth2-redirect": Audience.PUBLIC,
    "/redoc": Audience.PUBLIC,
}

F = TypeVar("F", bound=Callable[..., Any])


def declares(audience: Audience) -> Callable[[F], F]:
    """Mark a dependency as the one that admits `audience` to the routes that use it."""

    def mark(dependency: F) -> F:
        setattr(dependency, AUDIENCE_ATTRIBUTE, audience)
        return dependency

    return mark


def audience_of(route: APIRoute | RouteContext) -> list[Audience]:
    """The audiences a route declares (exactly one for a well-declared route)."""
    dependant: Dependant | None = route.dependant
    return list(_declared(dependant)) if dependant is not None else []


def declarations(app: FastAPI) -> Iterator[tuple[str, str, list[Audience]]]:
    """(method, path, declared audiences) of every route of the app, included routers' routes with
    their prefixes and dependencies; `*` as the method of a route that is not an endpoint (a mount)."""
    for context in iter_route_contexts(app.routes):
        path = context.path or repr(context.original_route)
        if isinstance(context.original_route, APIRoute):
            for method in sorted(context.methods or ()):
                yield method, path, audience_of(context)
        elif path in FRAMEWORK_ROUTES:
            for method in sorted(context.methods or ()):
                yield method, path, [FRAMEWORK_ROUTES[path]]
        else:
            yield "*", path, []


def _declared(dependant: Dependant) -> Iterator[Audience]:
    for dependency in dependant.dependencies:
        audience = getattr(dependency.call, AUDIENCE_ATTRIBUTE, None)
        if audience is not None:
            yield audience  # its own sub-dependencies are how it checks, not another declaration
        else:
            yield from _declared(dependency)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@declares(Audience.PUBLIC)
async def public_caller(request: Request) -> str:
    """Anyone; calls are counted per address (429 with Retry-After beyond the limit)."""
    address = client_address(request)
    limiter(request.app.state, "public").take(address)
    set_caller(f"address:{address}")
    return address


@declares(Audience.OPERATOR)
async def operator_caller() -> None:
    """Anyone who reaches the process; the operator keeps these paths on its own network."""


@declares(Audience.VXP_SYSTEM)
async def vxp_system_caller() -> None:
    """The `/vxp` routes check the system's signed headers themselves, to answer in the protocol's
    own JSON (`app.axis_api.endpoints`)."""


Public = Depends(public_caller)
Operator = Depends(operator_caller)
VxpSystem = Depends(vxp_system_caller)
