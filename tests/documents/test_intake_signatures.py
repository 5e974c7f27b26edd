"""Sealing and sender signatures through the intake API: what receivers get verifies with stock tools,
senders' own signatures are checked against their registered certificates and their policy."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from signxml.algorithms import SignatureMethod
from support.hub import RECIPIENT, SENDER, Hub
from support.receiver import until
from support.signing import identity_valid, signature_template, signxml_sign, xmlsec1_sign

from app.config import Settings
from app.edxml import DocumentSpec, build_document
from app.main import create_app
from app.models import SignaturePolicy
from app.sealing.keys import KeyAlgorithm, SigningIdentity, generate_development_identity
from app.sealing.service import register_agency_certificate, rotate_key, set_signature_policy

_number = iter(range(5000, 6000))


def unsigned() -> bytes:
    return build_document(
        DocumentSpec(
            sender=SENDER,
            recipients=[RECIPIENT],
            code_number=str(next(_number)),
            code_notation="VP-KS",
            subject="Văn bản có chữ ký số của cơ quan gửi",
            promulgation_date=date(2026, 11, 20),
            attachments=[("Quyết định.pdf", "application/pdf", b"%PDF-1.4 signed")],
        )
    )


def with_template(data: bytes) -> bytes:
    """Put an xmlsec1 signature template at the end of edXMLHeader, as agency software would."""
    marker = b"</edXML:edXMLHeader>"
    assert marker in data
    return data.replace(marker, signature_template().encode() + marker)


async def register(hub: Hub, identity: SigningIdentity, *, at: datetime | None = None) -> None:
    async with hub.database.transaction() as session:
        await register_agency_certificate(
            session, agency_code=SENDER, pem=identity.certificate_pem(), actor="test", now=at
        )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.key_refresh_seconds = 0.1  # follow key rotations quickly in these tests
    return settings


@pytest.fixture(scope="module")
def agency_key() -> SigningIdentity:
    return identity_valid(-1, 365)


async def test_sealed_documents_verify_with_xmlsec1(hub: Hub, tmp_path: Path) -> None:
    receipt = (await hub.submit(unsigned())).json()
    sealed = await hub.client.get(f"/api/v1/documents/{receipt['id']}/edxml", headers=hub.auth(RECIPIENT))
    certificates = (await hub.client.get("/api/v1/hub/certificates")).json()
    (tmp_path / "hub.pem").write_text(certificates[0]["certificate_pem"])
    (tmp_path / "sealed.edxml").write_bytes(sealed.content)
    check = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", tmp_path / "hub.pem", tmp_path / "sealed.edxml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    tampered = sealed.content.replace("chữ ký số".encode(), "chữ ký giả".encode())
    assert tampered != sealed.content
    (tmp_path / "tampered.edxml").write_bytes(tampered)
    refused = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", tmp_path / "hub.pem", tmp_path / "tampered.edxml"],
        capture_output=True,
        check=False,
    )
    assert refused.returncode != 0
    answer = (
        await hub.client.post(
            "/api/v1/hub/verify", content=tampered, headers={"Content-Type": "application/xml"}
        )
    ).json()
    assert answer["valid"] is False


async def test_a_document_signed_with_xmlsec1_by_a_registered_key_is_accepted(
    hub: Hub, agency_key: SigningIdentity, tmp_path: Path
) -> None:
    await register(hub, agency_key)
    signed = xmlsec1_sign(with_template(unsigned()), agency_key, tmp_path)
    response = await hub.submit(signed)
    assert response.status_code == 201, response.text
    assert response.json()["sender_signature"]["kind"] == "xmldsig"
    assert response.json()["sender_signature"]["valid"] is True
    # The sender's signature stays provable from the original bytes the hub kept.
    original = await hub.scalar("SELECT content FROM payloads WHERE sha256 = :s", s=response.json()["sha256"])
    assert bytes(original) == signed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("unregistered", "not registered"), ("expired", "expired"), ("sha1", "SHA-1")],
)
async def test_bad_sender_signatures_are_refused_with_the_reason(
    hub: Hub, agency_key: SigningIdentity, case: str, reason: str
) -> None:
    if case == "unregistered":
        await register(hub, agency_key)
        signed = signxml_sign(
            unsigned(), generate_development_identity(SENDER, algorithm=KeyAlgorithm.RSA_2048)
        )
    elif case == "expired":
        expired = identity_valid(-400, -10)
        await register(hub, expired, at=datetime.now(UTC) - timedelta(days=100))  # registered while valid
        signed = signxml_sign(unsigned(), expired)
    else:
        await register(hub, agency_key)
        signed = signxml_sign(unsigned(), agency_key, method=SignatureMethod.RSA_SHA1)
    response = await hub.submit(signed)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["code"] == "signature-invalid"
    assert reason in error["message"]
    assert await hub.scalar("SELECT count(*) FROM documents") == 0


async def test_policy_required_refuses_unsigned_and_optional_accepts_it(hub: Hub) -> None:
    assert (await hub.submit(unsigned())).status_code == 201
    async with hub.database.transaction() as session:
        await set_signature_policy(session, agency_code=SENDER, policy=SignaturePolicy.REQUIRED, actor="test")
    response = await hub.submit(unsigned())
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "signature-required"


async def test_a_running_gateway_follows_a_rotation_made_elsewhere(hub: Hub) -> None:
    before = (await hub.submit(unsigned())).json()["seal_key_id"]
    async with hub.database.transaction() as session:  # as `lienthong keys rotate` in another process
        new_key = await rotate_key(session, hub.settings, actor="test")
    await until(lambda: _readiness_key(hub, new_key.id), timeout=10)
    after = (await hub.submit(unsigned())).json()["seal_key_id"]
    assert after == new_key.id != before


async def _readiness_key(hub: Hub, key_id: str) -> bool:
    return (await hub.client.get("/readyz")).json()["signing_key"] == key_id


async def test_after_rotation_new_documents_carry_the_new_key_and_old_ones_still_verify(hub: Hub) -> None:
    before = (await hub.submit(unsigned())).json()
    old_sealed = (
        await hub.client.get(f"/api/v1/documents/{before['id']}/edxml", headers=hub.auth(SENDER))
    ).content
    async with hub.database.transaction() as session:
        new_key = await rotate_key(session, hub.settings, actor="test")
    # A gateway loads its key at start: a restarted one seals with the new key.
    async with LifespanManager(create_app(hub.settings)) as restarted:
        transport = httpx.ASGITransport(app=restarted.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            after = await client.post(
                "/api/v1/documents",
                content=unsigned(),
                headers={"Content-Type": "application/xml", **hub.auth(SENDER)},
            )
            assert after.status_code == 201
            assert after.json()["seal_key_id"] == new_key.id != before["seal_key_id"]
            old_check = await client.post(
                "/api/v1/hub/verify", content=old_sealed, headers={"Content-Type": "application/xml"}
            )
            assert old_check.json()["valid"] is True
            assert old_check.json()["key_id"] == before["seal_key_id"]
