"""Who may call what, as typed dependencies. Each one declares the audience it admits
(`app.auth.audience`), which is how a route declares who may call it: a dependency that replaces one
of these aliases must carry the same declaration (`@declares(...)`), or the route matrix fails."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.audience import Audience, declares
from app.auth.service import Principal, principal_for_token
from app.auth.usage import usage_recorder
from app.kit.cpu import set_caller
from app.kit.deps import DatabaseDep
from app.kit.errors import Forbidden, Unauthorized
from app.models import Role

_bearer = HTTPBearer(auto_error=False, description="A token from `lienthong credential create`")

#: The audience a role check admits, by the roles it accepts.
_ROLE_AUDIENCES = {
    frozenset({Role.AGENCY}): Audience.AGENCY,
    frozenset({Role.ADMIN}): Audience.ADMIN,
    frozenset({Role.ADMIN, Role.AUDITOR}): Audience.STAFF,
}


@declares(Audience.CREDENTIAL)
async def get_principal(
    request: Request,
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    # A short session of its own: the lookup must not hold a connection for the whole request.
    async with database.reading() as session:
        principal = await principal_for_token(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    usage_recorder(request.app.state).seen(principal)
    set_caller(f"credential:{principal.credential_id}")
    return principal


def require_roles(*roles: Role) -> object:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this needs the role {allowed}; the credential has {principal.role.value}")
        return principal

    return Depends(declares(_ROLE_AUDIENCES[frozenset(roles)])(check))


@declares(Audience.PARTIES)
async def get_party(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Any credential here; the handler then shows a document only to its sender, its recipients and
    staff (anyone else gets the 404 of an unknown id)."""
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
PartyPrincipal = Annotated[Principal, Depends(get_party)]
AgencyPrincipal = Annotated[Principal, require_roles(Role.AGENCY)]
AdminPrincipal = Annotated[Principal, require_roles(Role.ADMIN)]
StaffPrincipal = Annotated[Principal, require_roles(Role.ADMIN, Role.AUDITOR)]
