"""Keys and certificates in the database: the hub's signing keys (one active, past ones kept so that
what they sealed stays verifiable), the certificates agencies register for their own signatures, and
each agency's signature policy.

Services only flush; the caller's transaction commits. Every administrative change writes an admin-log
entry in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record_admin_action
from app.config import Environment, Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.errors import BadRequest, Conflict, HubError, NotFound
from app.kit.secrets import load_master_key
from app.models import Agency, AgencyCertificate, SignaturePolicy, SigningKey
from app.sealing.keys import (
    KeyAlgorithm,
    KeyMaterialError,
    SigningIdentity,
    certificate_fingerprint,
    certificate_pem,
    certificate_subject,
    check_current,
    check_signing_certificate,
    encrypt_private_key,
    generate_development_identity,
    identity_from_storage,
    is_self_signed,
    load_certificate_pem,
)
from app.sealing.seal import HubCertificate, Sealer

log = logging.getLogger(__name__)

FIRST_START_ACTOR = "system:first-start"


class NoSigningKey(HubError):
    status, kind, title = 503, "no-signing-key", "The hub has no signing key"


# The hub's signing keys


async def list_keys(session: AsyncSession) -> list[SigningKey]:
    """Every signing key the hub has had, oldest first."""
    return list(await session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)))


async def active_key(session: AsyncSession) -> SigningKey | None:
    result: SigningKey | None = await session.scalar(
        select(SigningKey).where(SigningKey.active.is_(True)).order_by(SigningKey.created_at.desc()).limit(1)
    )
    return result


async def _store_identity(
    session: AsyncSession, master_key: bytes, identity: SigningIdentity, *, actor: str, action: str
) -> SigningKey:
    """Store a key as the active one; the previously active key is retired but kept."""
    if session.get_bind().dialect.name == "postgresql":
        # Key changes take turns (two at once would both retire the same key and both insert an active
        # one); readers are not held up. SQLite's write transactions already take turns.
        await session.execute(text("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"))
    fingerprint = identity.fingerprint
    existing = await session.scalar(select(SigningKey.id).where(SigningKey.fingerprint_sha256 == fingerprint))
    if existing is not None:
        raise Conflict(f"this certificate is already the hub's signing key {existing}")
    now = utcnow()
    retired = list(await session.scalars(select(SigningKey).where(SigningKey.active.is_(True))))
    for key in retired:
        key.active = False
        key.retired_at = now
    await session.flush()  # retire first: at most one key may be active (unique partial index)
    row = SigningKey(
        algorithm=identity.algorithm,
        certificate_pem=identity.certificate_pem(),
        chain_pem=identity.chain_pem(),
        fingerprint_sha256=fingerprint,
        private_key_encrypted=encrypt_private_key(master_key, identity),
        not_after=identity.not_after,
        active=True,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action=action,
        target=row.id,
        algorithm=row.algorithm,
        fingerprint_sha256=fingerprint,
        subject=certificate_subject(identity.certificate),
        not_after=row.not_after.isoformat(),
        retired=[key.id for key in retired],
        self_signed=is_self_signed(identity.certificate),
    )
    return row


async def init_key(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: str,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
    force: bool = False,
) -> SigningKey:
    """Create the hub's first signing key with a self-signed certificate (for development). Refused
    when the hub already has a key, unless forced (then it is a rotation)."""
    if not force and await session.scalar(select(SigningKey.id).limit(1)) is not None:
        raise Conflict("the hub already has a signing key: use `keys rotate`, or `keys init --force`")
    identity = generate_development_identity(settings.hub_code, algorithm=algorithm)
    return await _store_identity(
        session, load_master_key(settings), identity, actor=actor, action="keys.init"
    )


async def import_key(
    session: AsyncSession, settings: Settings, *, identity: SigningIdentity, actor: str
) -> SigningKey:
    """Store a CA-issued key (already loaded and checked) and make it the active one."""
    return await _store_identity(
        session, load_master_key(settings), identity, actor=actor, action="keys.import"
    )


async def rotate_key(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: str,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
    identity: SigningIdentity | None = None,
) -> SigningKey:
    """Make a new key active: a new development key, or the given imported one. The previous key is
    retired; its certificate stays published while valid and verifies what it sealed for good."""
    if identity is None:
        identity = generate_development_identity(settings.hub_code, algorithm=algorithm)
    return await _store_identity(
        session, load_master_key(settings), identity, actor=actor, action="keys.rotate"
    )


async def ensure_development_key(session: AsyncSession, settings: Settings) -> SigningKey | None:
    """The embedded default: in development, a hub without any key gets one on first start."""
    if settings.environment is not Environment.DEVELOPMENT:
        return None
    if await session.scalar(select(SigningKey.id).limit(1)) is not None:
        return None
    return await init_key(session, settings, actor=FIRST_START_ACTOR)


async def load_active_sealer(session: AsyncSession, master_key: bytes) -> Sealer:
    """The sealer of the active key, decrypted and loaded; keep it for the process's lifetime."""
    row = await active_key(session)
    if row is None:
        raise NoSigningKey(
            "the hub has no active signing key: run `lienthong keys init` or `lienthong keys import`"
        )
    identity = identity_from_storage(
        master_key,
        certificate_pem=row.certificate_pem,
        chain_pem=row.chain_pem,
        private_key_encrypted=row.private_key_encrypted,
    )
    return Sealer(identity, key_id=row.id)


async def follow_active_key(state: Any, database: Database, master_key: bytes, *, interval: float) -> None:
    """Keep `state.sealer` on the active key, so that `keys rotate` or `keys import` run elsewhere take
    effect in a running gateway within `interval` seconds, without a restart."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with database.reading() as session:
                key_id = await session.scalar(select(SigningKey.id).where(SigningKey.active.is_(True)))
                if key_id is not None and key_id != state.sealer.key_id:
                    state.sealer = await load_active_sealer(session, master_key)
                    log.info("sealing with key %s from now on", key_id)
        except Exception:  # the database is away: keep the current key and look again later
            log.exception("could not look up the active signing key")


async def published_certificates(session: AsyncSession, *, now: datetime | None = None) -> list[SigningKey]:
    """The keys whose certificates the hub publishes: the active one and past ones still valid."""
    now = now or utcnow()
    rows = await session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.active.is_(True), SigningKey.not_after > now))
        .order_by(SigningKey.active.desc(), SigningKey.created_at.desc())
    )
    return list(rows)


async def hub_certificates(session: AsyncSession) -> list[HubCertificate]:
    """Every certificate the hub ever sealed with: a seal is checked at the time it was made, so an
    expired certificate still proves what it sealed while it was valid."""
    return [HubCertificate.from_pem(row.id, row.certificate_pem) for row in await list_keys(session)]


# Agencies' certificates and signature policy


async def _agency(session: AsyncSession, agency_code: str) -> Agency:
    agency = await session.get(Agency, agency_code)
    if agency is None:
        raise NotFound(f"unknown agency {agency_code}")
    return agency


async def register_agency_certificate(
    session: AsyncSession, *, agency_code: str, pem: str, actor: str, now: datetime | None = None
) -> AgencyCertificate:
    """Register a certificate the agency signs its documents with (pinned: trusted as such)."""
    await _agency(session, agency_code)
    try:
        certificate = load_certificate_pem(pem)
        check_signing_certificate(certificate)
        check_current(certificate, now or utcnow())
    except KeyMaterialError as error:
        raise BadRequest(f"the certificate cannot be registered: {error}") from None
    fingerprint = certificate_fingerprint(certificate)
    existing = await session.scalar(
        select(AgencyCertificate).where(AgencyCertificate.fingerprint_sha256 == fingerprint)
    )
    if existing is not None:
        state = "and revoked " if existing.revoked_at is not None else ""
        raise Conflict(
            f"this certificate was already registered {state}for {existing.agency_code} ({existing.id})"
        )
    row = AgencyCertificate(
        agency_code=agency_code,
        certificate_pem=certificate_pem(certificate),
        fingerprint_sha256=fingerprint,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )
    session.add(row)
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action="agency.certificate.add",
        target=agency_code,
        certificate_id=row.id,
        fingerprint_sha256=fingerprint,
        subject=certificate_subject(certificate),
        not_after=row.not_after.isoformat(),
    )
    return row


async def revoke_agency_certificate(
    session: AsyncSession, *, certificate_id: str, actor: str, agency_code: str | None = None
) -> AgencyCertificate:
    """Stop accepting signatures made with a registered certificate (kept for the record)."""
    row = await session.get(AgencyCertificate, certificate_id)
    if row is None or (agency_code is not None and row.agency_code != agency_code):
        raise NotFound(f"no certificate {certificate_id}" + (f" for {agency_code}" if agency_code else ""))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_admin_action(
            session,
            actor=actor,
            action="agency.certificate.revoke",
            target=row.agency_code,
            certificate_id=row.id,
            fingerprint_sha256=row.fingerprint_sha256,
        )
    return row


async def list_agency_certificates(session: AsyncSession, agency_code: str) -> list[AgencyCertificate]:
    """An agency's registered certificates, revoked ones included, oldest first."""
    await _agency(session, agency_code)
    rows = await session.scalars(
        select(AgencyCertificate)
        .where(AgencyCertificate.agency_code == agency_code)
        .order_by(AgencyCertificate.created_at, AgencyCertificate.id)
    )
    return list(rows)


async def agency_certificates(session: AsyncSession, code: str, *, now: datetime) -> list[x509.Certificate]:
    """The certificates a document from `code` may be signed with: registered and not revoked at
    `now`. Expired ones are included so that the check can say "expired" rather than "unknown"."""
    pems = await session.scalars(
        select(AgencyCertificate.certificate_pem).where(
            AgencyCertificate.agency_code == code,
            or_(AgencyCertificate.revoked_at.is_(None), AgencyCertificate.revoked_at > now),
        )
    )
    return [load_certificate_pem(pem) for pem in pems]


async def set_signature_policy(
    session: AsyncSession, *, agency_code: str, policy: SignaturePolicy, actor: str
) -> Agency:
    """Whether the agency's documents must carry a valid standard signature."""
    agency = await _agency(session, agency_code)
    previous = agency.signature_policy
    agency.signature_policy = SignaturePolicy(policy).value
    record_admin_action(
        session,
        actor=actor,
        action="agency.signature_policy",
        target=agency_code,
        policy=agency.signature_policy,
        previous=previous,
    )
    return agency
