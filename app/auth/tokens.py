"""Bearer tokens: 256 bits from the OS random source, shown once, stored only as SHA-256.

A fast hash is the right tool here: unlike passwords, tokens are not guessable, so there is nothing
for a slow hash to protect and every request can be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "lt_"  # noqa: S105  (a marker that makes leaked tokens recognisable, not a secret)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
