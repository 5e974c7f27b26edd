"""Password hashing: argon2id (RFC 9106) with argon2-cffi's defaults, which follow the RFC's
second recommended option (64 MiB of memory, 3 passes). Hashes carry their parameters, so stronger
defaults later rehash each password at its next login."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 200
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so a login takes as long whether or not the person exists
    (made at the first login, not at import: every command would pay for it)."""
    return _hasher.hash("not a password of anyone")


class WeakPassword(ValueError):
    """A password the hub refuses to store."""


def check_strength(password: str, *, name: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password may have at most {MAX_LENGTH} characters")
    if name and name.lower() in password.lower():
        raise WeakPassword("the password may not contain the user name")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
