"""Every route of the app, read from its own route table, called by every kind of caller: no
credential, a malformed header, a wrong token, a revoked one, an expired one, each role, and an agency
that is not a party to the document. Each answer must be exactly what the route's declared audience
allows (app.auth.audience). A route that declares no audience fails here, by name.

Runs on SQLite and PostgreSQL (the `hub` fixture)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from support.hub import OTHER, RECIPIENT, SENDER, Hub

from app.auth.audience import Audience, declarations
from app.auth.service import create_credential, revoke_credential
from app.axis.protocol import Operation, sdk_timestamp, sign
from app.axis_api.systems import create_system, revoke_system
from app.kit.clock import VIETNAM, utcnow
from app.kit.secrets import load_master_key
from app.main import create_app
from app.models import Role


def sdk_time(ms: int) -> str:
    """The SDK's timestamp of a moment given in milliseconds since the epoch, in Vietnam's time."""
    return sdk_timestamp(datetime.fromtimestamp(ms / 1000, VIETNAM))


UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
OPERATIONS = {operation.value for operation in Operation}

#: Callers without a valid credential, and the header each sends.
NOBODY = "no credential"
MALFORMED = "malformed header"
WRONG = "wrong token"
REVOKED = "revoked token"
EXPIRED = "expired token"
UNAUTHENTICATED = (NOBODY, MALFORMED, WRONG, REVOKED, EXPIRED)
#: Callers with a valid credential: the document's sender, an agency that is not a party, staff.
PARTY = "agency, party"
NON_PARTY = "agency, not a party"
ADMIN = "admin"
AUDITOR = "auditor"
ROLES = (PARTY, NON_PARTY, ADMIN, AUDITOR)

Expectation = Callable[[httpx.Response], bool]


def admitted(response: httpx.Response) -> bool:
    """Past the access check: whatever the route then says, it is not about the credential."""
    return response.status_code not in (401, 403) and response.status_code < 500


def status(code: int) -> Expectation:
    def check(response: httpx.Response) -> bool:
        return response.status_code == code

    check.__name__ = f"status {code}"
    return check


def problem(code: int) -> Expectation:
    def check(response: httpx.Response) -> bool:
        return response.status_code == code and response.headers["content-type"].startswith(
            "application/problem+json"
        )

    check.__name__ = f"problem+json {code}"
    return check


def vxp_refused(response: httpx.Response) -> bool:
    """The axis protocol's own refusal, never FastAPI's or problem+json: 401 with ErrorCode 15 for an
    operation, 400 with ErrorCode 10 for a path that names none (there is nothing to authenticate)."""
    if response.request.method == "HEAD":  # no body to read the ErrorCode from
        return response.status_code in (400, 401)
    body = response.json()
    if response.request.url.path.removeprefix("/vxp/").strip("/") in OPERATIONS:
        return response.status_code == 401 and body.get("ErrorCode") == "15"
    return response.status_code == 400 and body.get("ErrorCode") == "10" and body.get("status") == "FAIL"


def no_page(response: httpx.Response) -> bool:
    """No console page without a session: refused, or sent to the login form."""
    return response.status_code in (401, 403) or (
        response.status_code in (302, 303, 307) and "/login" in response.headers.get("location", "")
    )


#: What each audience answers to each caller.
EXPECTED: dict[Audience, dict[str, Expectation]] = {
    Audience.OPERATOR: dict.fromkeys((*UNAUTHENTICATED, *ROLES), admitted),
    Audience.PUBLIC: dict.fromkeys((*UNAUTHENTICATED, *ROLES), admitted),
    Audience.CREDENTIAL: {**dict.fromkeys(UNAUTHENTICATED, problem(401)), **dict.fromkeys(ROLES, admitted)},
    Audience.PARTIES: {
        **dict.fromkeys(UNAUTHENTICATED, problem(401)),
        PARTY: status(200),
        NON_PARTY: problem(404),  # the same answer as for an id that does not exist
        ADMIN: status(200),
        AUDITOR: status(200),
    },
    Audience.AGENCY: {
        **dict.fromkeys(UNAUTHENTICATED, problem(401)),
        PARTY: admitted,
        NON_PARTY: admitted,
        ADMIN: problem(403),
        AUDITOR: problem(403),
    },
    Audience.ADMIN: {
        **dict.fromkeys(UNAUTHENTICATED, problem(401)),
        PARTY: problem(403),
        NON_PARTY: problem(403),
        ADMIN: admitted,
        AUDITOR: problem(403),
    },
    Audience.STAFF: {
        **dict.fromkeys(UNAUTHENTICATED, problem(401)),
        PARTY: problem(403),
        NON_PARTY: problem(403),
        ADMIN: admitted,
        AUDITOR: admitted,
    },
    # /vxp takes no bearer token at all: every one of these is refused in the protocol's own JSON.
    Audience.VXP_SYSTEM: dict.fromkeys((*UNAUTHENTICATED, *ROLES), vxp_refused),
    # Console pages want a person's session, which no bearer token is.
    Audience.CONSOLE: dict.fromkeys((*UNAUTHENTICATED, *ROLES), no_page),
}


#: Public routes that refuse a bare request for a reason of their own, the same for every caller: the
#: console's login form wants the login CSRF token its page handed out (403 without it).
OWN_REFUSALS: dict[tuple[str, str], Expectation] = {("POST", "/admin/login"): status(403)}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    audience: Audience


def endpoints(app: FastAPI) -> tuple[list[Endpoint], list[str]]:
    """Every (method, path) of the app with its audience, and the routes that do not declare one."""
    found: list[Endpoint] = []
    undeclared: list[str] = []
    for method, path, audiences in declarations(app):
        if len(audiences) != 1:
            undeclared.append(f"{method} {path}: declares {[a.value for a in audiences] or 'nothing'}")
        else:
            found.append(Endpoint(method, path, audiences[0]))
    return found, undeclared


def test_every_route_declares_its_audience(settings: Any) -> None:
    _, undeclared = endpoints(create_app(settings))
    assert undeclared == [], "routes without exactly one declared audience:\n" + "\n".join(undeclared)


def test_a_route_without_a_declaration_is_named(settings: Any) -> None:
    app = create_app(settings)

    @app.get("/api/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    _, undeclared = endpoints(app)
    assert undeclared == ["GET /api/v1/forgotten: declares nothing"]


@pytest.fixture
async def callers(hub: Hub) -> dict[str, dict[str, str]]:
    """The header each kind of caller sends."""
    async with hub.database.transaction() as session:
        revoked, revoked_token = await create_credential(session, role=Role.ADMIN, agency_code=None)
        await revoke_credential(session, revoked.id)
        _, expired_token = await create_credential(
            session, role=Role.ADMIN, agency_code=None, expires_at=utcnow() - timedelta(seconds=1)
        )
    bearer = {
        WRONG: "lt_" + "x" * 43,
        REVOKED: revoked_token,
        EXPIRED: expired_token,
        PARTY: hub.tokens[SENDER],
        NON_PARTY: hub.tokens[OTHER],
        ADMIN: hub.tokens["admin"],
        AUDITOR: hub.tokens["auditor"],
    }
    return {
        NOBODY: {},
        MALFORMED: {"Authorization": f"Basic {hub.tokens['admin']}"},
        **{who: {"Authorization": f"Bearer {token}"} for who, token in bearer.items()},
    }


def _concrete(path: str, document: str) -> str:
    path = path.replace("{document_id}", document)
    return re.sub(r"\{[^}]+\}", UNKNOWN_ID, path)


async def test_every_route_answers_each_caller_as_declared(
    hub: Hub, sample: bytes, callers: dict[str, dict[str, str]]
) -> None:
    # Every caller here comes from one address: the per-address limit of public routes is not under test.
    hub.settings.rate_public_per_minute = 1_000_000
    receipt = await hub.submit(sample)
    assert receipt.status_code == 201, receipt.text
    document = receipt.json()["id"]
    routes, undeclared = endpoints(create_app(hub.settings))
    assert not undeclared
    assert {e.audience for e in routes} >= {Audience.PARTIES, Audience.AGENCY, Audience.ADMIN, Audience.STAFF}

    wrong: list[str] = []
    for endpoint in routes:
        path = _concrete(endpoint.path, document)
        for who, expectation in EXPECTED[endpoint.audience].items():
            expectation = OWN_REFUSALS.get((endpoint.method, endpoint.path), expectation)
            response = await hub.client.request(endpoint.method, path, headers=callers[who])
            if not expectation(response):
                wrong.append(
                    f"{endpoint.method} {endpoint.path} ({endpoint.audience}) as {who}: "
                    f"{response.status_code} {response.text[:120]!r}, expected {expectation.__name__}"
                )
    assert wrong == [], "\n".join(wrong)


async def test_vxp_admits_a_system_and_refuses_a_revoked_one(hub: Hub) -> None:
    master_key = load_master_key(hub.settings)
    async with hub.database.transaction() as session:
        system, secret = await create_system(session, master_key, agency_code=RECIPIENT, actor="test")
        gone, gone_secret = await create_system(session, master_key, agency_code=RECIPIENT, actor="test")
        await revoke_system(session, system_id=gone.id, actor="test")
    now_ms = time.time_ns() // 1_000_000

    admitted_answer = await hub.client.post(
        "/vxp/getAgenciesList", headers=sign(system.id, secret, {}, timestamp=sdk_time(now_ms))
    )
    refused = await hub.client.post(
        "/vxp/getAgenciesList", headers=sign(gone.id, gone_secret, {}, timestamp=sdk_time(now_ms + 1))
    )
    wrong_secret = await hub.client.post(
        "/vxp/getAgenciesList", headers=sign(system.id, gone_secret, {}, timestamp=sdk_time(now_ms + 2))
    )

    assert admitted_answer.status_code == 200, admitted_answer.text
    assert vxp_refused(refused), refused.text
    assert vxp_refused(wrong_secret), wrong_secret.text
