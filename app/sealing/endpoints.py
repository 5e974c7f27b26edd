"""Sealing over HTTP: the hub's published certificates and a seal check for anyone, and the admin
operations on agencies' certificates and signature policy."""

from __future__ import annotations

import base64
from datetime import datetime

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from app.auth.audience import Public
from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.edxml import parse_xml
from app.kit.clock import utcnow
from app.kit.cpu import off_loop
from app.kit.deps import DatabaseDep, ReadingSessionDep, SessionDep, SettingsDep
from app.kit.errors import BadRequest
from app.kit.http import XML_REQUEST_BODY, read_xml_body
from app.models import AgencyCertificate, SignaturePolicy, SigningKey
from app.sealing.keys import (
    KeyAlgorithm,
    KeyMaterialError,
    certificate_subject,
    load_certificate_pem,
    load_pem_identity,
    load_pkcs12_identity,
)
from app.sealing.seal import HubCertificate, SealCheck, verify_seal
from app.sealing.service import (
    hub_certificates,
    import_key,
    list_agency_certificates,
    list_keys,
    published_certificates,
    register_agency_certificate,
    revoke_agency_certificate,
    rotate_key,
    set_signature_policy,
)

router = APIRouter(tags=["sealing"])


class HubCertificateOut(BaseModel):
    id: str
    fingerprint_sha256: str
    algorithm: str
    not_after: datetime
    active: bool
    certificate_pem: str


class SealCheckOut(BaseModel):
    valid: bool
    reason: str
    key_id: str | None
    fingerprint: str | None
    signed_at: datetime | None
    subject: str | None


class AgencyCertificateIn(BaseModel):
    certificate_pem: str = Field(max_length=100_000, description="one X.509 certificate, PEM")


class AgencyCertificateOut(BaseModel):
    id: str
    agency_code: str
    fingerprint_sha256: str
    subject: str
    not_before: datetime
    not_after: datetime
    created_at: datetime
    revoked_at: datetime | None
    certificate_pem: str

    @classmethod
    def of(cls, row: AgencyCertificate) -> AgencyCertificateOut:
        return cls(
            id=row.id,
            agency_code=row.agency_code,
            fingerprint_sha256=row.fingerprint_sha256,
            subject=certificate_subject(load_certificate_pem(row.certificate_pem)),
            not_before=row.not_before,
            not_after=row.not_after,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            certificate_pem=row.certificate_pem,
        )


class SignaturePolicyIn(BaseModel):
    policy: SignaturePolicy


class SignaturePolicyOut(BaseModel):
    agency_code: str
    policy: SignaturePolicy


@router.get("/api/v1/hub/certificates", response_model=list[HubCertificateOut], dependencies=[Public])
async def get_hub_certificates(session: ReadingSessionDep) -> list[HubCertificateOut]:
    """The hub's signing certificates: the active one first, then past ones that are still valid."""
    return [
        HubCertificateOut(
            id=row.id,
            fingerprint_sha256=row.fingerprint_sha256,
            algorithm=row.algorithm,
            not_after=row.not_after,
            active=row.active,
            certificate_pem=row.certificate_pem,
        )
        for row in await published_certificates(session)
    ]


@router.post(
    "/api/v1/hub/verify",
    response_model=SealCheckOut,
    openapi_extra={"requestBody": XML_REQUEST_BODY},
    dependencies=[Public],
)
async def verify_hub_seal(request: Request, database: DatabaseDep, settings: SettingsDep) -> SealCheckOut:
    """Check a document sealed by this hub: which key sealed it and when. A broken seal is still a 200
    answer, with `valid` false and the reason; bytes the hub will not read at all (not XML, a DTD,
    too costly) are a 4xx, as on intake. Anyone may ask, within a rate per address and a size
    (LIENTHONG_VERIFY_MAX_BODY_BYTES); larger documents are checked offline (`lienthong verify`)."""
    limit = min(settings.verify_max_body_bytes, settings.max_body_bytes)
    body = await read_xml_body(request, limit, what="the sealed document")
    async with database.reading() as session:
        certificates = await hub_certificates(session)
    check = await off_loop(_readable_then_verified, body, certificates)
    return SealCheckOut(
        valid=check.valid,
        reason=check.reason,
        key_id=check.key_id,
        fingerprint=check.fingerprint,
        signed_at=check.signed_at,
        subject=check.subject,
    )


@router.get("/api/v1/admin/agencies/{code}/certificates", response_model=list[AgencyCertificateOut])
async def get_agency_certificates(
    code: str, session: ReadingSessionDep, _principal: AdminPrincipal
) -> list[AgencyCertificateOut]:
    """The certificates the agency registered for its XML signatures, revoked ones included."""
    return [AgencyCertificateOut.of(row) for row in await list_agency_certificates(session, code)]


@router.post(
    "/api/v1/admin/agencies/{code}/certificates",
    response_model=AgencyCertificateOut,
    status_code=status.HTTP_201_CREATED,
)
async def add_agency_certificate(
    code: str, body: AgencyCertificateIn, session: SessionDep, principal: AdminPrincipal
) -> AgencyCertificateOut:
    """Register a certificate: documents from the agency signed with its key are then accepted."""
    row = await register_agency_certificate(
        session, agency_code=code, pem=body.certificate_pem, actor=principal.actor
    )
    return AgencyCertificateOut.of(row)


@router.delete(
    "/api/v1/admin/agencies/{code}/certificates/{certificate_id}", response_model=AgencyCertificateOut
)
async def delete_agency_certificate(
    code: str, certificate_id: str, session: SessionDep, principal: AdminPrincipal
) -> AgencyCertificateOut:
    """Revoke a registered certificate; it is kept, marked revoked."""
    row = await revoke_agency_certificate(
        session, certificate_id=certificate_id, agency_code=code, actor=principal.actor
    )
    return AgencyCertificateOut.of(row)


@router.put("/api/v1/admin/agencies/{code}/signature-policy", response_model=SignaturePolicyOut)
async def put_signature_policy(
    code: str, body: SignaturePolicyIn, session: SessionDep, principal: AdminPrincipal
) -> SignaturePolicyOut:
    """`required`: the agency's documents must carry a valid standard XML signature; `optional`: an
    unsigned document is accepted (an invalid signature never is)."""
    agency = await set_signature_policy(session, agency_code=code, policy=body.policy, actor=principal.actor)
    return SignaturePolicyOut(agency_code=agency.code, policy=SignaturePolicy(agency.signature_policy))


# The hub's signing keys, for operators


class SigningKeyOut(BaseModel):
    id: str
    algorithm: str
    active: bool
    subject: str
    fingerprint_sha256: str
    not_after: datetime
    days_left: float
    created_at: datetime
    retired_at: datetime | None
    certificate_pem: str

    @classmethod
    def of(cls, row: SigningKey) -> SigningKeyOut:
        return cls(
            id=row.id,
            algorithm=row.algorithm,
            active=row.active,
            subject=certificate_subject(load_certificate_pem(row.certificate_pem)),
            fingerprint_sha256=row.fingerprint_sha256,
            not_after=row.not_after,
            days_left=round((row.not_after - utcnow()).total_seconds() / 86400, 1),
            created_at=row.created_at,
            retired_at=row.retired_at,
            certificate_pem=row.certificate_pem,
        )


class RotationIn(BaseModel):
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256


class KeyImportIn(BaseModel):
    """A CA-issued key: PEM key and certificate (and chain), or a PKCS#12 file in base64."""

    key_pem: str | None = Field(default=None, max_length=100_000)
    certificate_pem: str | None = Field(default=None, max_length=100_000)
    chain_pem: str = Field(default="", max_length=500_000)
    pkcs12_base64: str | None = Field(default=None, max_length=1_000_000)
    passphrase: str | None = Field(default=None, max_length=1000, repr=False)


@router.get("/api/v1/admin/keys", response_model=list[SigningKeyOut], tags=["admin: keys"])
async def get_signing_keys(session: ReadingSessionDep, _principal: StaffPrincipal) -> list[SigningKeyOut]:
    """Every signing key the hub has had, the active one first, with its certificate's expiry."""
    rows = await list_keys(session)
    return [
        SigningKeyOut.of(row) for row in sorted(rows, key=lambda r: (not r.active, -r.created_at.timestamp()))
    ]


@router.post("/api/v1/admin/keys/rotate", response_model=SigningKeyOut, tags=["admin: keys"])
async def post_rotate_key(
    body: RotationIn, session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> SigningKeyOut:
    """Make a new self-signed key active; the previous one is retired, its certificate still published
    while valid. Gateways seal with the new key within LIENTHONG_KEY_REFRESH_SECONDS."""
    row = await rotate_key(session, settings, actor=principal.actor, algorithm=body.algorithm)
    return SigningKeyOut.of(row)


@router.post("/api/v1/admin/keys/import", response_model=SigningKeyOut, tags=["admin: keys"])
async def post_import_key(
    body: KeyImportIn, session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> SigningKeyOut:
    """Import a key and certificate issued by a CA; it becomes the active signing key."""
    passphrase = body.passphrase.encode("utf-8") if body.passphrase else None
    try:
        if body.pkcs12_base64 is not None:
            if body.key_pem or body.certificate_pem:
                raise BadRequest("give either pkcs12_base64, or key_pem with certificate_pem, not both")
            try:
                data = base64.b64decode(body.pkcs12_base64, validate=True)
            except ValueError:  # binascii.Error, or not ASCII
                raise BadRequest("pkcs12_base64 is not base64") from None
            identity = load_pkcs12_identity(data, passphrase)
        elif body.key_pem and body.certificate_pem:
            identity = load_pem_identity(
                body.key_pem.encode(),
                body.certificate_pem.encode(),
                chain_pem=body.chain_pem.encode(),
                passphrase=passphrase,
            )
        else:
            raise BadRequest("give key_pem with certificate_pem (PEM), or pkcs12_base64")
    except (KeyMaterialError, UnicodeError) as error:  # UnicodeError: a text that is not PEM at all
        raise BadRequest(f"the key cannot be imported: {error}") from None
    row = await import_key(session, settings, identity=identity, actor=principal.actor)
    return SigningKeyOut.of(row)


def _readable_then_verified(body: bytes, certificates: list[HubCertificate]) -> SealCheck:
    parse_xml(body)  # the intake's refusals (415, 422) for what is not a document at all
    return verify_seal(body, certificates)
