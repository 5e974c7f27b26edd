"""The log key: a dedicated Ed25519 key that signs the transparency log's checkpoints.

The hub's sealing keys are RSA or ECDSA X.509 keys; C2SP signed notes define Ed25519 (type 0x01), so
the log has its own key, generated on first use, its private half encrypted with the master key like
the sealing keys, its public half published (`GET /api/v1/audit/log-key`, every evidence bundle)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.note import public_key_bytes, verifier_key
from app.kit.secrets import decrypt, encrypt
from app.models import LogKey

PURPOSE = "log key"


@dataclass(frozen=True)
class LogSigner:
    id: str
    name: str
    private_key: Ed25519PrivateKey

    @property
    def verifier(self) -> str:
        return verifier_key(self.name, public_key_bytes(self.private_key.public_key()))


async def active_log_key(session: AsyncSession) -> LogKey | None:
    return await session.scalar(select(LogKey).where(LogKey.active.is_(True)))


async def ensure_log_key(session: AsyncSession, master_key: bytes, name: str) -> LogSigner:
    """The active log key, generated (in its own savepoint) if there is none yet."""
    row = await active_log_key(session)
    if row is None:
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        row = LogKey(
            name=name,
            public_key=public_key_bytes(private.public_key()),
            private_key_encrypted=encrypt(master_key, raw, purpose=PURPOSE),
            active=True,
        )
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another process made it first
            row = await active_log_key(session)
            assert row is not None
    raw = decrypt(master_key, row.private_key_encrypted, purpose=PURPOSE)
    return LogSigner(row.id, row.name, Ed25519PrivateKey.from_private_bytes(raw))


async def log_verifier_key(session: AsyncSession) -> str | None:
    """The published form of the active log key (`name+id+base64`), if the log has one yet."""
    row = await active_log_key(session)
    return None if row is None else verifier_key(row.name, row.public_key)
