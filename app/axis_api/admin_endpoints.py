"""`/api/v1/admin/vxp-systems`: agencies' systems on the axis-compatible API, for admins (auditors
may list them). A secret is shown once, in the answer that creates the system."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.axis_api.systems import create_system, list_systems, revoke_system
from app.kit.deps import ReadingSessionDep, SessionDep
from app.kit.http import PRINTABLE
from app.models import VxpSystem

router = APIRouter(prefix="/api/v1/admin/vxp-systems", tags=["admin: vxp systems"])


class VxpSystemOut(BaseModel):
    id: str
    agency_code: str
    holder: str
    created_at: datetime
    last_used_at: datetime | None  # written at most once a minute
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: VxpSystem) -> VxpSystemOut:
        return cls(
            id=row.id,
            agency_code=row.agency_code,
            holder=row.holder,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class VxpSystemIn(BaseModel):
    agency_code: str = Field(max_length=35, pattern=PRINTABLE)
    holder: str | None = Field(default=None, max_length=200, pattern=PRINTABLE)


class CreatedVxpSystem(VxpSystemOut):
    secret: str = Field(description="shown once: give it to the agency's software with the id")


@router.get("", response_model=list[VxpSystemOut])
async def get_vxp_systems(
    session: ReadingSessionDep,
    _principal: StaffPrincipal,
    agency: Annotated[str | None, Query(max_length=35, description="only this agency's")] = None,
) -> list[VxpSystemOut]:
    """Every system, revoked ones included, with when it was last used."""
    return [VxpSystemOut.of(row) for row in await list_systems(session, agency_code=agency)]


@router.post("", response_model=CreatedVxpSystem, status_code=status.HTTP_201_CREATED)
async def create_vxp_system(
    request: Request, body: VxpSystemIn, session: SessionDep, principal: AdminPrincipal
) -> CreatedVxpSystem:
    """A system id and secret for an active agency's software; the secret is in this answer only."""
    system, secret = await create_system(
        session,
        request.app.state.master_key,
        agency_code=body.agency_code,
        actor=principal.actor,
        holder=body.holder,
    )
    return CreatedVxpSystem(**VxpSystemOut.of(system).model_dump(), secret=secret)


@router.delete("/{system_id}", response_model=VxpSystemOut)
async def delete_vxp_system(system_id: str, session: SessionDep, principal: AdminPrincipal) -> VxpSystemOut:
    """Revoke a system: its next request is refused (ErrorCode 15)."""
    return VxpSystemOut.of(await revoke_system(session, system_id=system_id, actor=principal.actor))
