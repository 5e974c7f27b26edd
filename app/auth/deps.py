"""Who may call what, as typed dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import Principal, principal_for_token
from app.kit.deps import DatabaseDep
from app.kit.errors import Forbidden, Unauthorized
from app.models import Role

_bearer = HTTPBearer(auto_error=False, description="A token from `lienthong credential create`")


async def get_principal(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    # A short session of its own: the lookup must not hold a connection for the whole request.
    async with database.reading() as session:
        principal = await principal_for_token(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the token is unknown or revoked")
    return principal


def require_roles(*roles: Role) -> object:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this needs the role {allowed}; the credential has {principal.role.value}")
        return principal

    return Depends(check)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
AgencyPrincipal = Annotated[Principal, require_roles(Role.AGENCY)]
AdminPrincipal = Annotated[Principal, require_roles(Role.ADMIN)]
StaffPrincipal = Annotated[Principal, require_roles(Role.ADMIN, Role.AUDITOR)]
