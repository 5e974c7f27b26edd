"""Console sessions and CSRF tokens, signed with a key derived from the master key.

The session cookie holds `user id . session epoch . issued-at . nonce`, and an HMAC-SHA256 over
them; nothing in it is secret, and nothing in it can be changed. It is HttpOnly, SameSite=Strict,
Secure outside development, and lasts `console_session_hours`. A session is valid while the user
exists, is not disabled and still has the epoch the cookie names (a new password ends all sessions).

CSRF: every form and every state-changing request of the console carries a token that is an HMAC of
the session's nonce (before login, of a nonce cookie of its own). SameSite=Strict already keeps other
sites' requests from carrying the cookie; the token is the second, independent lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.config import Environment, Settings
from app.models import Role, User

SESSION_COOKIE = "lienthong_session"
LOGIN_NONCE_COOKIE = "lienthong_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_PATH = "/"


def session_key(master_key: bytes) -> bytes:
    """The cookie-signing key: HKDF-SHA256 of the master key for this one purpose."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lienthong console sessions").derive(
        master_key
    )


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Session:
    user_id: str
    epoch: int
    issued_at: int
    nonce: str


def issue(key: bytes, user: User) -> str:
    body = f"{user.id}.{user.session_epoch}.{int(time.time())}.{secrets.token_urlsafe(16)}"
    return f"{body}.{_mac(key, 'session|' + body)}"


def read(key: bytes, cookie: str | None, *, max_age_seconds: float) -> Session | None:
    """The session a cookie names, if its signature holds and it has not expired."""
    if not cookie or cookie.count(".") != 4:
        return None
    body, _, mac = cookie.rpartition(".")
    if not hmac.compare_digest(mac, _mac(key, "session|" + body)):
        return None
    user_id, epoch, issued, nonce = body.split(".")
    try:
        session = Session(user_id, int(epoch), int(issued), nonce)
    except ValueError:
        return None
    if time.time() - session.issued_at > max_age_seconds:
        return None
    return session


def csrf_token(key: bytes, nonce: str) -> str:
    return _mac(key, "csrf|" + nonce)


def csrf_valid(key: bytes, nonce: str | None, token: str | None) -> bool:
    return bool(nonce and token) and hmac.compare_digest(csrf_token(key, nonce or ""), token or "")


def set_cookie(response: Response, settings: Settings, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.environment is not Environment.DEVELOPMENT,
    )


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.environment is not Environment.DEVELOPMENT,
    )


async def person_for_session(session: AsyncSession, found: Session) -> User | None:
    user = await session.get(User, found.user_id)
    if user is None or user.disabled_at is not None or user.session_epoch != found.epoch:
        return None
    return user


def principal_of(user: User) -> Principal:
    return Principal(
        credential_id=f"user:{user.id}",
        role=Role(user.role),
        agency_code=None,
        holder=user.name,
        person=user.name,
    )


def request_session(request: Request) -> Session | None:
    """The request's session cookie, read (not yet checked against the database)."""
    settings: Settings = request.app.state.settings
    return read(
        signing_key(request),
        request.cookies.get(SESSION_COOKIE),
        max_age_seconds=settings.console_session_hours * 3600,
    )


def signing_key(request: Request) -> bytes:
    """The session key of this process, derived once from the master key the lifespan loaded."""
    state = request.app.state
    key: bytes | None = getattr(state, "session_key", None)
    if key is None:
        key = session_key(state.master_key)
        state.session_key = key
    return key
