"""`/api/v1/admin/credentials`: bearer credentials, for admins (auditors may list them).

A token is shown once, in the answer that issues it; the hub keeps only its hash. Every issue and
revocation is written to the admin log with who did it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from app.audit.log import record_admin_action
from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.auth.service import create_credential, list_credentials, revoke_credential
from app.kit.clock import utcnow
from app.kit.deps import ReadingSessionDep, SessionDep
from app.kit.errors import BadRequest, Problem
from app.kit.http import PRINTABLE
from app.models import Credential, Role

router = APIRouter(prefix="/api/v1/admin/credentials", tags=["admin: credentials"])


class CredentialOut(BaseModel):
    id: str
    role: Role
    agency_code: str | None
    holder: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None  # written at most once a minute
    revoked_at: datetime | None
    state: str  # active, expired or revoked

    @classmethod
    def of(cls, row: Credential) -> CredentialOut:
        return cls(
            id=row.id,
            role=Role(row.role),
            agency_code=row.agency_code,
            holder=row.holder,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            state=credential_state(row),
        )


class CredentialIn(BaseModel):
    role: Role
    agency_code: str | None = Field(
        default=None, max_length=35, pattern=PRINTABLE, description="for role agency"
    )
    holder: str | None = Field(
        default=None, max_length=200, pattern=PRINTABLE, description="a person's name or the system"
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="none: until revoked")


class IssuedCredential(CredentialOut):
    token: str = Field(description="shown once: the hub keeps only its hash")


def credential_state(row: Credential) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= utcnow():
        return "expired"
    return "active"


@router.get("", response_model=list[CredentialOut])
async def get_credentials(
    session: ReadingSessionDep,
    _principal: StaffPrincipal,
    agency: Annotated[str | None, Query(max_length=35, description="only this agency's")] = None,
) -> list[CredentialOut]:
    """Every credential, revoked and expired ones included, with when it was last used."""
    return [CredentialOut.of(row) for row in await list_credentials(session, agency_code=agency)]


@router.post("", response_model=IssuedCredential, status_code=status.HTTP_201_CREATED)
async def issue_credential(
    body: CredentialIn, session: SessionDep, principal: AdminPrincipal
) -> IssuedCredential:
    """Issue a credential; its token is in this answer and nowhere else."""
    expires_at = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    if body.role is Role.AGENCY and not body.agency_code:
        raise BadRequest(
            "an agency credential needs agency_code",
            [Problem("/agency_code", "required", "the agency whose software holds the credential")],
        )
    credential, token = await create_credential(
        session, role=body.role, agency_code=body.agency_code, holder=body.holder, expires_at=expires_at
    )
    record_admin_action(
        session,
        actor=principal.actor,
        action="credential.create",
        target=credential.id,
        role=body.role.value,
        agency=body.agency_code,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return IssuedCredential(**CredentialOut.of(credential).model_dump(), token=token)


@router.delete("/{credential_id}", response_model=CredentialOut)
async def delete_credential(
    credential_id: str, session: SessionDep, principal: AdminPrincipal
) -> CredentialOut:
    """Revoke a credential: refused from its next request on. It is kept, marked revoked."""
    credential = await revoke_credential(session, credential_id)
    record_admin_action(session, actor=principal.actor, action="credential.revoke", target=credential_id)
    return CredentialOut.of(credential)
