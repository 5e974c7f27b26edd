"""Person accounts: add, list, log in, change or reset a password, disable and enable.

Every change is written to the admin log by the caller's actor; a new password, a reset or a
disable raises `session_epoch`, which ends the person's open sessions."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record_admin_action
from app.kit.clock import utcnow
from app.kit.errors import Conflict, NotFound
from app.models import Role, User
from app.users.passwords import check_strength, hash_password, needs_rehash, verify_password

STAFF_ROLES = (Role.ADMIN, Role.AUDITOR)
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid user name {name!r}: 2 to 64 characters of a-z, 0-9, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def new_password() -> str:
    """A random password to hand to a person (the demo, a reset)."""
    return secrets.token_urlsafe(12)


async def find_user(session: AsyncSession, name: str) -> User | None:
    return await session.scalar(select(User).where(User.name == name))


async def get_user(session: AsyncSession, name: str) -> User:
    user = await find_user(session, name)
    if user is None:
        raise NotFound(f"no user {name}")
    return user


async def add_user(session: AsyncSession, *, name: str, role: Role, password: str, actor: str) -> User:
    check_name(name)
    if role not in STAFF_ROLES:
        raise ValueError("a person is an admin or an auditor")
    check_strength(password, name=name)
    if await find_user(session, name) is not None:
        raise Conflict(f"user {name} exists already")
    user = User(name=name, role=role.value, password_hash=hash_password(password))
    session.add(user)
    await session.flush()
    record_admin_action(session, actor=actor, action="user.add", target=name, role=role.value)
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.name)))


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    reason: str  # for the admin log: ok, unknown, wrong-password, disabled


async def authenticate(session: AsyncSession, *, name: str, password: str, address: str) -> LoginResult:
    """Check a login and log it (success or failure) in the admin log. The same work is done for an
    unknown name as for a wrong password."""
    user = await find_user(session, name)
    valid = verify_password(user.password_hash if user else None, password)
    if user is None:
        reason = "unknown"
    elif not valid:
        reason = "wrong-password"
    elif user.disabled_at is not None:
        reason = "disabled"
    else:
        reason = "ok"
    if reason == "ok":
        assert user is not None
        user.last_login_at = utcnow()
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        record_admin_action(
            session, actor=f"user:{user.name}", action="user.login", target=user.name, address=address
        )
        return LoginResult(user, reason)
    record_admin_action(
        session, actor=f"anonymous@{address}", action="user.login-failed", target=name[:100], reason=reason
    )
    return LoginResult(None, reason)


async def change_password(session: AsyncSession, user: User, *, current: str, new: str, actor: str) -> None:
    if not verify_password(user.password_hash, current):
        raise ValueError("the current password is not right")
    check_strength(new, name=user.name)
    _set_password(user, new)
    record_admin_action(session, actor=actor, action="user.password-change", target=user.name)


async def reset_password(session: AsyncSession, name: str, *, password: str, actor: str) -> User:
    user = await get_user(session, name)
    check_strength(password, name=name)
    _set_password(user, password)
    record_admin_action(session, actor=actor, action="user.password-reset", target=name)
    return user


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.session_epoch += 1


async def set_disabled(session: AsyncSession, name: str, *, disabled: bool, actor: str) -> User:
    user = await get_user(session, name)
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        user.session_epoch += 1
    elif not disabled:
        user.disabled_at = None
    record_admin_action(
        session, actor=actor, action="user.disable" if disabled else "user.enable", target=name
    )
    return user
