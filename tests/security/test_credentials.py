"""Credentials: expiry, last use (written at most once a minute), revocation effective at the next
request, the admin API and `lienthong credential list`, and the per-credential, per-system and
per-address rate limits (429 with Retry-After). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from support.cli import lienthong
from support.hub import RECIPIENT, SENDER, Hub, scalars

from app.auth.service import create_credential, principal_for_token
from app.auth.usage import UsageRecorder
from app.axis.protocol import sdk_timestamp, sign
from app.axis_api.systems import create_system
from app.config import Settings
from app.kit.clock import VIETNAM, utcnow
from app.kit.db import Database
from app.kit.secrets import load_master_key
from app.models import AdminLogEntry, Credential, Role


def sdk_time(ms: int) -> str:
    """The SDK's timestamp of a moment given in milliseconds since the epoch, in Vietnam's time."""
    return sdk_timestamp(datetime.fromtimestamp(ms / 1000, VIETNAM))


BURST = 10  # the smallest burst a limiter allows (app.kit.ratelimit)


async def wait_until(condition: object, *, timeout: float = 30.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)  # polling interval of the wait


async def test_a_revoked_credential_is_refused_at_its_next_request(hub: Hub) -> None:
    issued = await hub.client.post(
        "/api/v1/admin/credentials",
        json={"role": "agency", "agency_code": RECIPIENT, "holder": "QLVB Sở Nội vụ"},
        headers=hub.auth("admin"),
    )
    assert issued.status_code == 201, issued.text
    token, credential_id = issued.json()["token"], issued.json()["id"]
    mine = {"Authorization": f"Bearer {token}"}
    assert (await hub.client.get("/api/v1/inbox", headers=mine)).status_code == 200

    revoked = await hub.client.delete(f"/api/v1/admin/credentials/{credential_id}", headers=hub.auth("admin"))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"

    refused = await hub.client.get("/api/v1/inbox", headers=mine)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")

    async with hub.database.reading() as session:
        entries = await session.scalars(
            select(AdminLogEntry).where(AdminLogEntry.target == credential_id).order_by(AdminLogEntry.id)
        )
        actions = [(e.action, e.actor) for e in entries]
    assert [action for action, _ in actions] == ["credential.create", "credential.revoke"]
    assert all(actor.startswith("api:") for _, actor in actions)


async def test_the_admin_api_shows_a_token_once_and_lists_without_it(hub: Hub) -> None:
    issued = await hub.client.post(
        "/api/v1/admin/credentials",
        json={"role": "auditor", "holder": "Trần Thị B", "expires_in_days": 30},
        headers=hub.auth("admin"),
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["token"].startswith("lt_")
    assert timedelta(days=29) < _parse(body["expires_at"]) - utcnow() <= timedelta(days=30)

    listed = await hub.client.get("/api/v1/admin/credentials", headers=hub.auth("auditor"))
    assert listed.status_code == 200
    assert body["token"] not in listed.text
    row = next(r for r in listed.json() if r["id"] == body["id"])
    assert (row["holder"], row["state"], row["role"]) == ("Trần Thị B", "active", "auditor")

    as_auditor = await hub.client.post(
        "/api/v1/admin/credentials", json={"role": "admin"}, headers=hub.auth("auditor")
    )
    assert as_auditor.status_code == 403
    no_agency = await hub.client.post(
        "/api/v1/admin/credentials", json={"role": "agency"}, headers=hub.auth("admin")
    )
    assert no_agency.status_code == 400 and no_agency.json()["errors"][0]["path"] == "/agency_code"


async def test_an_expired_credential_is_refused_and_listed_as_expired(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        credential, token = await create_credential(
            session, role=Role.AGENCY, agency_code=SENDER, expires_at=utcnow() - timedelta(seconds=1)
        )
    refused = await hub.client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]

    listed = await hub.client.get("/api/v1/admin/credentials", headers=hub.auth("admin"))
    assert next(r for r in listed.json() if r["id"] == credential.id)["state"] == "expired"


async def test_last_use_is_recorded_after_a_request(hub: Hub) -> None:
    async def last_used() -> object:
        return await hub.scalar(
            "SELECT last_used_at FROM credentials WHERE agency_code = :code", code=RECIPIENT
        )

    assert await last_used() is None
    assert (await hub.client.get("/api/v1/inbox", headers=hub.auth(RECIPIENT))).status_code == 200
    await wait_until(last_used)


async def test_last_use_is_written_at_most_once_an_interval(database: Database) -> None:
    async with database.transaction() as session:
        _, token = await create_credential(session, role=Role.AGENCY, agency_code=SENDER)
    recorder = UsageRecorder(database, interval_seconds=3600)

    async def principal() -> object:
        return await principal_for_token(database, token)

    first = await principal()
    recorder.seen(first)  # type: ignore[arg-type]
    await recorder.flush()
    written = (await principal()).last_used_at  # type: ignore[attr-defined]
    assert written is not None

    for _ in range(5):  # the stored time is recent, and this process wrote it: no write at all
        recorder.seen(await principal())  # type: ignore[arg-type]
        recorder.seen(first)  # type: ignore[arg-type]
    assert not recorder._tasks
    assert (await principal()).last_used_at == written  # type: ignore[attr-defined]


def _parse(value: str) -> object:
    from datetime import datetime

    return datetime.fromisoformat(value)


def test_credential_list_shows_state_expiry_and_last_use(env: Settings) -> None:
    created = lienthong(
        "credential", "create", "--role", "agency", "--agency", SENDER, "--expires-in-days", "7"
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    [credential] = scalars(env.effective_database_url, select(Credential))

    listed = lienthong("credential", "list")
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.stdout.splitlines() if line.startswith(credential.id))
    assert SENDER in line and "active" in line and "never used" in line and "until " in line
    assert token not in listed.stdout

    revoked = lienthong("credential", "revoke", credential.id)
    assert revoked.exit_code == 0
    as_json = lienthong("credential", "list", "--json")
    [row] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (row["id"], row["state"], row["agency_code"]) == (credential.id, "revoked", SENDER)
    assert row["expires_at"] is not None and row["last_used_at"] is None


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The smallest rates: a burst of BURST calls, then nothing for several seconds.
    return settings.model_copy(
        update={"rate_intake_per_minute": 1, "rate_vxp_per_minute": 1, "rate_public_per_minute": 1}
    )


async def test_intake_is_limited_per_credential(hub: Hub) -> None:
    for _ in range(BURST):
        answer = await hub.submit(b"<x/>")
        assert answer.status_code == 422
    limited = await hub.submit(b"<x/>")
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert int(limited.headers["Retry-After"]) >= 1
    other = await hub.submit(b"<x/>", who=RECIPIENT)  # another credential is not held back
    assert other.status_code == 422


async def test_vxp_is_limited_per_system(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        system, secret = await create_system(
            session, load_master_key(hub.settings), agency_code=RECIPIENT, actor="test"
        )
    now_ms = time.time_ns() // 1_000_000
    answers = [
        await hub.client.post(
            "/vxp/getAgenciesList", headers=sign(system.id, secret, {}, timestamp=sdk_time(now_ms + i))
        )
        for i in range(BURST + 1)
    ]
    assert [a.status_code for a in answers] == [200] * BURST + [429]
    assert answers[-1].json()["status"] == "FAIL" and int(answers[-1].headers["Retry-After"]) >= 1


async def test_public_routes_are_limited_per_address(hub: Hub) -> None:
    answers = [await hub.client.get("/api/v1/hub/certificates") for _ in range(BURST + 1)]
    assert [a.status_code for a in answers] == [200] * BURST + [429]
    assert answers[-1].headers["content-type"].startswith("application/problem+json")
    assert (await hub.client.get("/healthz")).status_code == 200  # the operator's probe is not limited


async def test_vxp_systems_through_the_admin_api(hub: Hub) -> None:
    created = await hub.client.post(
        "/api/v1/admin/vxp-systems",
        json={"agency_code": RECIPIENT, "holder": "QLVB Sở Nội vụ"},
        headers=hub.auth("admin"),
    )
    assert created.status_code == 201, created.text
    system_id, secret = created.json()["id"], created.json()["secret"]
    now_ms = time.time_ns() // 1_000_000
    used = await hub.client.post(
        "/vxp/getAgenciesList", headers=sign(system_id, secret, {}, timestamp=sdk_time(now_ms))
    )
    assert used.status_code == 200, used.text

    async def last_used() -> object:
        return await hub.scalar("SELECT last_used_at FROM vxp_systems WHERE id = :id", id=system_id)

    await wait_until(last_used)
    listed = await hub.client.get("/api/v1/admin/vxp-systems", headers=hub.auth("auditor"))
    assert listed.status_code == 200 and secret not in listed.text
    row = next(r for r in listed.json() if r["id"] == system_id)
    assert row["last_used_at"] is not None and row["revoked_at"] is None

    revoked = await hub.client.delete(f"/api/v1/admin/vxp-systems/{system_id}", headers=hub.auth("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = await hub.client.post(
        "/vxp/getAgenciesList", headers=sign(system_id, secret, {}, timestamp=sdk_time(now_ms + 1))
    )
    assert refused.status_code == 401 and refused.json()["ErrorCode"] == "15"
