"""Keys and certificates in the database: init, import, rotation, publication, agency certificates
and policy, each with its admin-log entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select
from support.signing import HUB_CODE, RECIPIENT, SENDER, edxml_document, identity_valid, signxml_sign

from app.config import Settings
from app.edxml.model import SignatureKind
from app.kit.db import Database
from app.kit.errors import BadRequest, Conflict, NotFound
from app.kit.secrets import SecretError, load_master_key, new_master_key
from app.models import AdminLogEntry, Agency, AgencyCertificate, SignaturePolicy, SigningKey
from app.sealing.keys import KeyAlgorithm, SigningIdentity, load_pem_identity, load_pkcs12_identity
from app.sealing.seal import verify_seal
from app.sealing.sender import check_policy, verify_sender_signature
from app.sealing.service import (
    FIRST_START_ACTOR,
    NoSigningKey,
    agency_certificates,
    ensure_development_key,
    hub_certificates,
    import_key,
    init_key,
    list_agency_certificates,
    list_keys,
    load_active_sealer,
    published_certificates,
    register_agency_certificate,
    revoke_agency_certificate,
    rotate_key,
    set_signature_policy,
)


def now() -> datetime:
    return datetime.now(UTC)


async def admin_log(database: Database) -> list[AdminLogEntry]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(AdminLogEntry).order_by(AdminLogEntry.id)))


# The hub's keys


async def test_init_creates_one_active_key_encrypted_at_rest(
    database: Database, hub_settings: Settings
) -> None:
    async with database.transaction() as session:
        key = await init_key(session, hub_settings, actor="cli:test")
    assert key.active
    assert key.algorithm == "ecdsa-p256"
    assert "BEGIN CERTIFICATE" in key.certificate_pem
    assert b"PRIVATE KEY" not in key.private_key_encrypted
    assert (hub_settings.data_dir / "master.key").exists()  # the embedded default made one
    (entry,) = await admin_log(database)
    assert (entry.actor, entry.action, entry.target) == ("cli:test", "keys.init", key.id)
    assert entry.detail["fingerprint_sha256"] == key.fingerprint_sha256

    async with database.transaction() as session:
        with pytest.raises(Conflict, match="already has a signing key"):
            await init_key(session, hub_settings, actor="cli:test")
    async with database.transaction() as session:
        forced = await init_key(
            session, hub_settings, actor="cli:test", algorithm=KeyAlgorithm.RSA_2048, force=True
        )
    async with database.sessionmaker() as session:
        keys = await list_keys(session)
    assert [(k.id, k.active) for k in keys] == [(key.id, False), (forced.id, True)]
    assert keys[0].retired_at is not None
    assert forced.algorithm == "rsa-2048"


async def test_the_active_sealer_seals_what_the_published_certificates_verify(
    database: Database, hub_settings: Settings
) -> None:
    async with database.transaction() as session:
        key = await init_key(session, hub_settings, actor="t")
    async with database.sessionmaker() as session:
        sealer = await load_active_sealer(session, load_master_key(hub_settings))
        certificates = await hub_certificates(session)
    assert sealer.key_id == key.id
    check = verify_seal(sealer.seal(edxml_document(), hub_code=HUB_CODE, at=now()), certificates)
    assert check.valid, check.reason
    assert check.key_id == key.id


async def test_after_rotation_new_documents_carry_the_new_key_and_old_ones_still_verify(
    database: Database, hub_settings: Settings
) -> None:
    master_key = load_master_key(hub_settings)
    async with database.transaction() as session:
        old = await init_key(session, hub_settings, actor="t")
    async with database.sessionmaker() as session:
        old_sealer = await load_active_sealer(session, master_key)
    before = old_sealer.seal(edxml_document(subject="trước"), hub_code=HUB_CODE, at=now())

    async with database.transaction() as session:
        new = await rotate_key(session, hub_settings, actor="cli:op", algorithm=KeyAlgorithm.RSA_2048)
    async with database.sessionmaker() as session:
        new_sealer = await load_active_sealer(session, master_key)
        certificates = await hub_certificates(session)
        published = await published_certificates(session)
    after = new_sealer.seal(edxml_document(subject="sau"), hub_code=HUB_CODE, at=now())

    assert new_sealer.key_id == new.id != old.id
    assert verify_seal(after, certificates).key_id == new.id
    old_check = verify_seal(before, certificates)
    assert old_check.valid, old_check.reason
    assert old_check.key_id == old.id
    assert [(k.id, k.active) for k in published] == [(new.id, True), (old.id, False)]
    rotation = (await admin_log(database))[-1]
    assert (rotation.action, rotation.actor, rotation.detail["retired"]) == (
        "keys.rotate",
        "cli:op",
        [old.id],
    )

    # Once the old certificate has expired it is no longer published, but what it sealed still verifies.
    async with database.transaction() as session:
        row = await session.get(SigningKey, old.id)
        assert row is not None
        row.not_after = now() - timedelta(days=1)
    async with database.sessionmaker() as session:
        assert [k.id for k in await published_certificates(session)] == [new.id]
        assert verify_seal(before, await hub_certificates(session)).valid


async def test_imported_keys_become_active(
    database: Database, hub_settings: Settings, rsa_identity: SigningIdentity
) -> None:
    key_pem = rsa_identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    from_pem = load_pem_identity(key_pem, rsa_identity.certificate_pem().encode())
    async with database.transaction() as session:
        await init_key(session, hub_settings, actor="t")
        imported = await import_key(session, hub_settings, identity=from_pem, actor="cli:op")
    assert imported.active
    assert imported.fingerprint_sha256 == rsa_identity.fingerprint
    async with database.transaction() as session:
        with pytest.raises(Conflict):
            await import_key(session, hub_settings, identity=from_pem, actor="cli:op")

    other = identity_valid(-1, 100, KeyAlgorithm.ECDSA_P256)
    bundle = pkcs12.serialize_key_and_certificates(
        b"hub", other.private_key, other.certificate, None, serialization.BestAvailableEncryption(b"pw")
    )
    async with database.transaction() as session:
        from_p12 = await import_key(
            session, hub_settings, identity=load_pkcs12_identity(bundle, b"pw"), actor="t"
        )
    async with database.sessionmaker() as session:
        sealer = await load_active_sealer(session, load_master_key(hub_settings))
    assert sealer.key_id == from_p12.id
    assert [e.action for e in await admin_log(database)] == ["keys.init", "keys.import", "keys.import"]


async def test_loading_needs_a_key_and_the_right_master_key(
    database: Database, hub_settings: Settings
) -> None:
    async with database.sessionmaker() as session:
        with pytest.raises(NoSigningKey, match="keys init"):
            await load_active_sealer(session, load_master_key(hub_settings))
    async with database.transaction() as session:
        await init_key(session, hub_settings, actor="t")
    async with database.sessionmaker() as session:
        with pytest.raises(SecretError, match="wrong master key"):
            await load_active_sealer(session, bytes(32))


async def test_development_gets_a_key_on_first_start_and_production_does_not(
    database: Database, hub_settings: Settings
) -> None:
    production = Settings(
        _env_file=None,
        environment="production",
        database_url=database.url,
        master_key=new_master_key(),
        data_dir=hub_settings.data_dir,
    )
    async with database.transaction() as session:
        assert await ensure_development_key(session, production) is None
        assert await list_keys(session) == []
    async with database.transaction() as session:
        created = await ensure_development_key(session, hub_settings)
    assert created is not None
    async with database.transaction() as session:
        assert await ensure_development_key(session, hub_settings) is None
        assert [k.id for k in await list_keys(session)] == [created.id]
    (entry,) = await admin_log(database)
    assert entry.actor == FIRST_START_ACTOR


# Agencies' certificates and policy


async def test_register_list_and_revoke_an_agency_certificate(
    database: Database, agency_identity: SigningIdentity
) -> None:
    async with database.transaction() as session:
        row = await register_agency_certificate(
            session, agency_code=SENDER, pem=agency_identity.certificate_pem(), actor="api:admin"
        )
    assert row.fingerprint_sha256 == agency_identity.fingerprint
    assert row.not_after == agency_identity.certificate.not_valid_after_utc
    async with database.sessionmaker() as session:
        assert await agency_certificates(session, SENDER, now=now()) == [agency_identity.certificate]
        assert await agency_certificates(session, RECIPIENT, now=now()) == []

    async with database.transaction() as session:
        revoked = await revoke_agency_certificate(session, certificate_id=row.id, actor="api:admin")
        again = await revoke_agency_certificate(session, certificate_id=row.id, actor="api:admin")
    assert revoked.revoked_at is not None
    assert again.revoked_at == revoked.revoked_at
    async with database.sessionmaker() as session:
        assert await agency_certificates(session, SENDER, now=now()) == []
        assert [c.id for c in await list_agency_certificates(session, SENDER)] == [row.id]
    assert [(e.action, e.target) for e in await admin_log(database)] == [
        ("agency.certificate.add", SENDER),
        ("agency.certificate.revoke", SENDER),
    ]


async def test_registration_refuses_what_cannot_be_used(
    database: Database, agency_identity: SigningIdentity
) -> None:
    pem = agency_identity.certificate_pem()
    async with database.transaction() as session:
        with pytest.raises(NotFound):
            await register_agency_certificate(session, agency_code="000.00.99.H62", pem=pem, actor="t")
        with pytest.raises(BadRequest, match="cannot be registered"):
            await register_agency_certificate(session, agency_code=SENDER, pem="garbage", actor="t")
        expired = identity_valid(-30, -1)
        with pytest.raises(BadRequest, match="expired"):
            await register_agency_certificate(
                session, agency_code=SENDER, pem=expired.certificate_pem(), actor="t"
            )
        row = await register_agency_certificate(session, agency_code=SENDER, pem=pem, actor="t")
    async with database.transaction() as session:
        with pytest.raises(Conflict, match="already registered"):
            await register_agency_certificate(session, agency_code=RECIPIENT, pem=pem, actor="t")
        with pytest.raises(NotFound):
            await revoke_agency_certificate(session, certificate_id=row.id, agency_code=RECIPIENT, actor="t")
        assert (
            await session.scalar(select(AgencyCertificate.revoked_at).where(AgencyCertificate.id == row.id))
            is None
        )


async def test_signature_policy(database: Database) -> None:
    async with database.transaction() as session:
        agency = await session.get(Agency, SENDER)
        assert agency is not None
        assert agency.signature_policy == SignaturePolicy.OPTIONAL
        await set_signature_policy(
            session, agency_code=SENDER, policy=SignaturePolicy.REQUIRED, actor="cli:op"
        )
        with pytest.raises(NotFound):
            await set_signature_policy(
                session, agency_code="000.00.99.H62", policy=SignaturePolicy.REQUIRED, actor="x"
            )
    async with database.sessionmaker() as session:
        agency = await session.get(Agency, SENDER)
        assert agency is not None
        assert agency.signature_policy == SignaturePolicy.REQUIRED
    (entry,) = await admin_log(database)
    assert entry.detail == {"policy": "required", "previous": "optional"}


async def test_the_intake_check_with_registered_certificates_and_policy(
    database: Database, agency_identity: SigningIdentity, other_identity: SigningIdentity
) -> None:
    """What the intake does with these pieces: certificates from the database, then the policy."""
    async with database.transaction() as session:
        await register_agency_certificate(
            session, agency_code=SENDER, pem=agency_identity.certificate_pem(), actor="t"
        )
    async with database.sessionmaker() as session:
        registered = await agency_certificates(session, SENDER, now=now())

    signed = verify_sender_signature(signxml_sign(edxml_document(), agency_identity), registered, now=now())
    assert (signed.kind, signed.valid) == (SignatureKind.XMLDSIG, True)
    assert check_policy(signed, SignaturePolicy.REQUIRED) is None

    unsigned = verify_sender_signature(edxml_document(), registered, now=now())
    assert unsigned.kind is SignatureKind.ABSENT
    assert check_policy(unsigned, SignaturePolicy.OPTIONAL) is None
    assert check_policy(unsigned, SignaturePolicy.REQUIRED) is not None

    stranger = verify_sender_signature(signxml_sign(edxml_document(), other_identity), registered, now=now())
    assert stranger.valid is False
    assert check_policy(stranger, SignaturePolicy.OPTIONAL) is not None
