"""Mã truy cập: the agencies' bearer credentials and the `/vxp` connected systems (holder, agency,
role, created, expiry, last used, revoked), issuing either (the token or secret is shown once, on the
page that answers the form, never again) and revoking either after a confirmation. The same service
functions as the admin API (`/api/v1/admin/credentials`, `/api/v1/admin/vxp-systems`), each change
admin-logged with the person's name."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from app.audit.log import record_admin_action
from app.auth.admin_endpoints import CredentialIn, CredentialOut
from app.auth.service import create_credential, list_credentials, revoke_credential
from app.axis_api.systems import create_system, list_systems, revoke_system
from app.console.deps import Admin, Person
from app.console.forms import field_errors, refusal
from app.console.rendering import redirect, render
from app.i18n import gettext as _
from app.kit.clock import utcnow
from app.kit.deps import DatabaseDep, ReadingSessionDep
from app.kit.errors import HubError
from app.models import Role

router = APIRouter()
BACK = "/admin/credentials"


@router.get("/credentials", response_class=HTMLResponse)
async def credentials_page(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    return render(
        request,
        "pages/credentials.html",
        principal=principal,
        page="credentials",
        credentials=[CredentialOut.of(row) for row in await list_credentials(session)],
        systems=await list_systems(session),
        roles=[role.value for role in Role],
    )


@router.post("/credentials", response_model=None)
async def issue_action(
    request: Request,
    principal: Admin,
    database: DatabaseDep,
    role: Annotated[str, Form(max_length=20)] = Role.AGENCY.value,
    agency_code: Annotated[str, Form(max_length=100)] = "",
    holder: Annotated[str, Form(max_length=300)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse | RedirectResponse:
    try:
        body = CredentialIn(
            role=role,
            agency_code=agency_code.strip() or None,
            holder=holder.strip() or None,
            expires_in_days=expires_in_days.strip() or None,
        )
    except ValidationError as error:
        reasons = "; ".join(f"{name}: {message}" for name, message in field_errors(error).items())
        return redirect(BACK, message=_("Not valid:") + " " + reasons[:400], kind="error")
    if body.role is Role.AGENCY and not body.agency_code:
        return redirect(BACK, message=_("An agency credential needs the agency's code."), kind="error")
    expires_at = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        async with database.transaction() as session:
            credential, token = await create_credential(
                session,
                role=body.role,
                agency_code=body.agency_code if body.role is Role.AGENCY else None,
                holder=body.holder,
                expires_at=expires_at,
            )
            record_admin_action(
                session,
                actor=principal.actor,
                action="credential.create",
                target=credential.id,
                role=body.role.value,
                agency=credential.agency_code,
                expires_at=expires_at.isoformat() if expires_at else None,
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    return render(
        request,
        "pages/credential_issued.html",
        principal=principal,
        page="credentials",
        kind="credential",
        credential=CredentialOut.of(credential),
        secret=token,
    )


@router.post("/credentials/{credential_id}/revoke")
async def revoke_action(credential_id: str, principal: Admin, database: DatabaseDep) -> RedirectResponse:
    async with database.transaction() as session:
        credential = await revoke_credential(session, credential_id)
        record_admin_action(session, actor=principal.actor, action="credential.revoke", target=credential_id)
        holder = credential.holder
    return redirect(BACK, message=_("The credential of {holder} is revoked.").format(holder=holder))


@router.post("/vxp-systems", response_model=None)
async def create_system_action(
    request: Request,
    principal: Admin,
    database: DatabaseDep,
    agency_code: Annotated[str, Form(max_length=35)],
    holder: Annotated[str, Form(max_length=200)] = "",
    strict: Annotated[bool, Form()] = False,
    allowed_sources: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    sources = [s for s in allowed_sources.replace(",", " ").split() if s]
    try:
        async with database.transaction() as session:
            system, secret = await create_system(
                session,
                request.app.state.master_key,
                agency_code=agency_code.strip(),
                actor=principal.actor,
                holder=holder.strip() or None,
                strict=strict,
                allowed_sources=sources,
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    except ValueError as error:
        return redirect(BACK, message=_("Not valid:") + f" {error}", kind="error")
    return render(
        request,
        "pages/credential_issued.html",
        principal=principal,
        page="credentials",
        kind="system",
        system=system,
        secret=secret,
    )


@router.post("/vxp-systems/{system_id}/revoke")
async def revoke_system_action(system_id: str, principal: Admin, database: DatabaseDep) -> RedirectResponse:
    async with database.transaction() as session:
        system = await revoke_system(session, system_id=system_id, actor=principal.actor)
        holder = system.holder
    message = _("The connected system {id} ({holder}) is revoked.").format(id=system_id, holder=holder)
    return redirect(BACK, message=message)
