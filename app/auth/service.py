"""Credentials: issue, revoke, and resolve a presented token to the principal behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import hash_token, new_token
from app.kit.changes import Remembered
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.errors import NotFound
from app.models import Agency, Credential, Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an agency's software, or a person with an admin or auditor role."""

    credential_id: str
    role: Role
    agency_code: str | None
    holder: str
    person: str | None = None  # the user name of a person logged into the console
    last_used_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the admin log names this caller."""
        if self.person is not None:
            return f"user:{self.person}"
        return f"api:{self.holder}/{self.credential_id}"

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.AUDITOR)


async def create_credential(
    session: AsyncSession,
    *,
    role: Role,
    agency_code: str | None,
    holder: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[Credential, str]:
    """Issue a credential (valid until `expires_at`, or until revoked when None); returns it and the
    token, which is not stored and cannot be shown again."""
    if role is Role.AGENCY:
        if agency_code is None:
            raise ValueError("an agency credential needs --agency")
        if await session.get(Agency, agency_code) is None:
            raise NotFound(f"unknown agency {agency_code}")
    token = new_token()
    credential = Credential(
        role=role,
        agency_code=agency_code if role is Role.AGENCY else None,
        holder=holder or (agency_code if role is Role.AGENCY else role.value) or role.value,
        token_hash=hash_token(token),
        expires_at=expires_at,
    )
    session.add(credential)
    await session.flush()
    return credential, token


async def revoke_credential(session: AsyncSession, credential_id: str) -> Credential:
    credential = await session.get(Credential, credential_id)
    if credential is None:
        raise NotFound(f"no credential {credential_id}")
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
    return credential


async def principal_for_token(database: Database, token: str) -> Principal | None:
    """The principal behind a token; None for an unknown, revoked or expired one.

    Remembered by the process until the credentials table changes (`app.kit.changes`: every
    gateway hears of a revocation as soon as it is committed), so a busy credential costs no
    round trip; read from the database whenever that cannot be known."""
    key = hash_token(token)
    memory: Remembered[str, tuple[Principal, datetime | None] | None] = database.changes.remembered(
        "credentials"
    )
    known, found = memory.get(key)
    if not known:
        version = memory.version()
        async with database.reading() as session:
            credential = await session.scalar(
                select(Credential).where(Credential.token_hash == key, Credential.revoked_at.is_(None))
            )
        found = None if credential is None else (_principal(credential), credential.expires_at)
        memory.put(key, found, version)
    if found is None:
        return None
    principal, expires_at = found
    if expires_at is not None and expires_at <= utcnow():
        return None
    return principal


def _principal(credential: Credential) -> Principal:
    return Principal(
        credential_id=credential.id,
        role=Role(credential.role),
        agency_code=credential.agency_code,
        holder=credential.holder,
        last_used_at=credential.last_used_at,
    )


async def list_credentials(session: AsyncSession, *, agency_code: str | None = None) -> list[Credential]:
    """Every credential, revoked and expired ones included, oldest first (optionally of one agency)."""
    query = select(Credential).order_by(Credential.created_at, Credential.id)
    if agency_code is not None:
        query = query.where(Credential.agency_code == agency_code)
    return list(await session.scalars(query))
