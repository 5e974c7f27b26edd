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
from app.kit.db import Database
from app.kit.deps import DatabaseDep
from app.kit.errors import Forbidden, Unauthorized
from app.models import Role
from app.users import sessions

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
    principal = await principal_for_token(database, credentials.credentials)
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


# The admin API's and the console's one way to know who is calling: a bearer credential of a
# machine or a person (role admin or auditor), or a person logged into the console (session cookie;
# then every state-changing request must carry the session's CSRF token).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def staff_principal(
    request: Request, database: Database, authorization: str | None
) -> Principal | None:
    """The staff member behind a request, or None when it carries neither a bearer credential nor a
    valid console session. Forbidden for an agency's credential or a missing CSRF token."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send 'Authorization: Bearer <token>'")
        principal = await principal_for_token(database, token.strip())
        if principal is None:
            raise Unauthorized("the token is unknown, revoked or expired")
        if not principal.is_staff:
            raise Forbidden(
                f"this needs the role admin or auditor; the credential has {principal.role.value}"
            )
        return principal
    found = sessions.request_session(request)
    if found is None:
        return None
    async with database.reading() as session:
        user = await sessions.person_for_session(session, found)
    if user is None:
        return None
    if request.method not in SAFE_METHODS:
        csrf: str | None = request.headers.get(sessions.CSRF_HEADER)
        if csrf is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            csrf = str((await request.form()).get(sessions.CSRF_FIELD) or "") or None
        if not sessions.csrf_valid(sessions.signing_key(request), found.nonce, csrf):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again")
    return sessions.principal_of(user)


def require_staff(*roles: Role) -> object:
    """Admin API dependency: a staff bearer credential or a console session with one of `roles`."""

    async def check(
        request: Request,
        database: DatabaseDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        header = request.headers.get("authorization")
        principal = await staff_principal(request, database, header)
        if principal is None:
            raise Unauthorized("send 'Authorization: Bearer <token>' or log into the console")
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this needs the role {allowed}; {principal.actor} has {principal.role.value}")
        if principal.person is None:
            usage_recorder(request.app.state).seen(principal)
        set_caller(principal.actor)
        return principal

    return Depends(declares(_ROLE_AUDIENCES[frozenset(roles)])(check))


StaffReader = Annotated[Principal, require_staff(Role.ADMIN, Role.AUDITOR)]  # auditors read
StaffAdmin = Annotated[Principal, require_staff(Role.ADMIN)]  # only admins change
