"""Sealing over HTTP: published certificates, the seal check, and the admin operations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from support.signing import HUB_CODE, SENDER, edxml_document

from app.auth.service import create_credential
from app.config import Settings
from app.kit.db import Database
from app.kit.errors import install_error_handlers
from app.kit.secrets import load_master_key
from app.models import AdminLogEntry, Agency, Role, SigningKey
from app.sealing.endpoints import router
from app.sealing.keys import SigningIdentity
from app.sealing.seal import Sealer
from app.sealing.service import init_key, load_active_sealer


@dataclass
class Api:
    client: httpx.AsyncClient
    database: Database
    sealer: Sealer
    admin: dict[str, str]
    agency: dict[str, str]


def build_app(settings: Settings, database: Database) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings = settings
    app.state.database = database
    return app


@pytest.fixture
async def api(database: Database, hub_settings: Settings) -> AsyncIterator[Api]:
    async with database.transaction() as session:
        _, admin = await create_credential(session, role=Role.ADMIN, agency_code=None, holder="Nguyễn Văn A")
        _, agency = await create_credential(session, role=Role.AGENCY, agency_code=SENDER)
        await init_key(session, hub_settings, actor="t")
    async with database.sessionmaker() as session:
        sealer = await load_active_sealer(session, load_master_key(hub_settings))
    transport = httpx.ASGITransport(
        app=build_app(hub_settings.model_copy(update={"max_body_bytes": 64_000}), database)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield Api(
            client=client,
            database=database,
            sealer=sealer,
            admin={"Authorization": f"Bearer {admin}"},
            agency={"Authorization": f"Bearer {agency}"},
        )


XML = {"Content-Type": "application/xml"}


async def test_certificates_are_public(api: Api) -> None:
    response = await api.client.get("/api/v1/hub/certificates")
    assert response.status_code == 200
    (certificate,) = response.json()
    assert certificate["id"] == api.sealer.key_id
    assert certificate["fingerprint_sha256"] == api.sealer.fingerprint
    assert certificate["algorithm"] == "ecdsa-p256"
    assert certificate["active"] is True
    assert certificate["certificate_pem"] == api.sealer.identity.certificate_pem()
    assert set(certificate) == {
        "id",
        "fingerprint_sha256",
        "algorithm",
        "not_after",
        "active",
        "certificate_pem",
    }


async def test_verify_answers_valid_with_key_and_time(api: Api) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    sealed = api.sealer.seal(edxml_document(), hub_code=HUB_CODE, at=at)
    response = await api.client.post("/api/v1/hub/verify", content=sealed, headers=XML)
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["key_id"] == api.sealer.key_id
    assert body["fingerprint"] == api.sealer.fingerprint
    assert datetime.fromisoformat(body["signed_at"]) == at
    assert "Liên Thông hub" in body["subject"]


async def test_verify_answers_200_with_the_reason_when_the_seal_is_broken(api: Api) -> None:
    sealed = api.sealer.seal(edxml_document(), hub_code=HUB_CODE, at=datetime.now(UTC))
    tampered = sealed.replace(b"UBND-VP</", b"UBND-XX</")
    response = await api.client.post("/api/v1/hub/verify", content=tampered, headers=XML)
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "digest mismatch" in response.json()["reason"]


async def test_verify_refuses_other_media_and_large_bodies(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/hub/verify", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 415
    response = await api.client.post("/api/v1/hub/verify", content=b"<a/>" * 20_000, headers=XML)
    assert response.status_code == 413


async def test_admin_operations_need_an_admin(api: Api) -> None:
    path = f"/api/v1/admin/agencies/{SENDER}/certificates"
    assert (await api.client.get(path)).status_code == 401
    assert (await api.client.get(path, headers=api.agency)).status_code == 403
    assert (await api.client.get(path, headers=api.admin)).status_code == 200


async def test_register_list_revoke_and_policy(api: Api, agency_identity: SigningIdentity) -> None:
    path = f"/api/v1/admin/agencies/{SENDER}/certificates"
    created = await api.client.post(
        path, json={"certificate_pem": agency_identity.certificate_pem()}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    certificate = created.json()
    assert certificate["fingerprint_sha256"] == agency_identity.fingerprint
    assert certificate["revoked_at"] is None
    assert f"Liên Thông hub {SENDER}" in certificate["subject"]

    listed = (await api.client.get(path, headers=api.admin)).json()
    assert [c["id"] for c in listed] == [certificate["id"]]

    duplicate = await api.client.post(
        path, json={"certificate_pem": agency_identity.certificate_pem()}, headers=api.admin
    )
    assert duplicate.status_code == 409
    bad = await api.client.post(path, json={"certificate_pem": "nope"}, headers=api.admin)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")

    revoked = await api.client.delete(f"{path}/{certificate['id']}", headers=api.admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert (
        await api.client.delete(f"/api/v1/admin/agencies/{SENDER}/certificates/nope", headers=api.admin)
    ).status_code == 404

    policy = await api.client.put(
        f"/api/v1/admin/agencies/{SENDER}/signature-policy", json={"policy": "required"}, headers=api.admin
    )
    assert policy.status_code == 200
    assert policy.json() == {"agency_code": SENDER, "policy": "required"}
    wrong = await api.client.put(
        f"/api/v1/admin/agencies/{SENDER}/signature-policy", json={"policy": "sometimes"}, headers=api.admin
    )
    assert wrong.status_code == 400
    unknown = await api.client.put(
        "/api/v1/admin/agencies/000.00.99.H62/signature-policy",
        json={"policy": "required"},
        headers=api.admin,
    )
    assert unknown.status_code == 404

    async with api.database.sessionmaker() as session:
        agency = await session.get(Agency, SENDER)
        assert agency is not None and agency.signature_policy == "required"
        entries = list(await session.scalars(select(AdminLogEntry).order_by(AdminLogEntry.id)))
        assert await session.scalar(select(SigningKey.id)) == api.sealer.key_id
    api_entries = [(e.action, e.actor.split("/")[0]) for e in entries if e.actor.startswith("api:")]
    assert api_entries == [
        ("agency.certificate.add", "api:Nguyễn Văn A"),
        ("agency.certificate.revoke", "api:Nguyễn Văn A"),
        ("agency.signature_policy", "api:Nguyễn Văn A"),
    ]
