"""Secrets at rest: the master key, and authenticated encryption of small secrets with it.

Private signing keys (and later the HMAC secrets of agency systems) are stored encrypted with
AES-256-GCM under one master key from configuration. Each ciphertext is bound to a `purpose` (the
associated data), so a blob copied into another row or used for another kind of secret fails to
decrypt instead of being silently accepted. In development, when no master key is configured, one is
generated into the data directory on first use and reused afterwards; production refuses to start
without one (`Settings`).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import Environment, Settings

MASTER_KEY_BYTES = 32
NONCE_BYTES = 12  # 96 bits, the size GCM is specified for
MASTER_KEY_FILE = "master.key"


class SecretError(ValueError):
    """A master key that cannot be used, or a ciphertext that does not decrypt under it."""


def new_master_key() -> str:
    """A fresh master key in the form `LIENTHONG_MASTER_KEY` takes (urlsafe base64 of 32 bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii")


def decode_master_key(text: str) -> bytes:
    """The 32 key bytes from their urlsafe base64 form (padding optional)."""
    stripped = text.strip()
    try:
        key = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise SecretError("the master key is not urlsafe base64") from None
    if len(key) != MASTER_KEY_BYTES:
        raise SecretError(f"the master key must be {MASTER_KEY_BYTES} bytes, not {len(key)}")
    return key


def load_master_key(settings: Settings) -> bytes:
    """The master key: from `LIENTHONG_MASTER_KEY`, or in development from (or newly into)
    `<data_dir>/master.key`, readable by the owner only."""
    if settings.master_key:
        return decode_master_key(settings.master_key)
    if settings.environment is not Environment.DEVELOPMENT:
        raise SecretError("LIENTHONG_MASTER_KEY must be set outside development")
    return _development_master_key(settings.data_dir / MASTER_KEY_FILE)


def _development_master_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two processes start together, exactly one creates the key, the other reads it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return decode_master_key(path.read_text(encoding="ascii"))
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        text = new_master_key()
        file.write(text + "\n")
    return decode_master_key(text)


def encrypt(master_key: bytes, plaintext: bytes, *, purpose: str) -> bytes:
    """AES-256-GCM: a random 96-bit nonce, then the ciphertext with its tag; `purpose` is the
    associated data and must be given again to decrypt."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(master_key).encrypt(nonce, plaintext, purpose.encode("utf-8"))


def decrypt(master_key: bytes, ciphertext: bytes, *, purpose: str) -> bytes:
    """The plaintext of `encrypt(master_key, plaintext, purpose=purpose)`; SecretError for a wrong
    key, a wrong purpose or altered bytes."""
    if len(ciphertext) < NONCE_BYTES + 16:
        raise SecretError(f"the encrypted {purpose} is truncated")
    nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return AESGCM(master_key).decrypt(nonce, sealed, purpose.encode("utf-8"))
    except InvalidTag:
        raise SecretError(
            f"cannot decrypt the {purpose}: wrong master key, or the stored bytes were altered"
        ) from None
