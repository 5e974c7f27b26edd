"""Connected systems of the axis-compatible API: an agency's software, with its system id and HMAC
secret; what limits a system's misuse of its credentials (a rate limit per system, an optional list
of the addresses it may call from); and, for a system in strict mode, the guard that refuses a signed
request seen before (a replay).

Strict mode is off by default: the official SDK takes its timestamp once per service object and so
signs identical calls identically for hours; refusing repeats would break software that keeps one
object. A system whose software builds a new object per call can be made strict.

The secret must be recoverable to check signatures, so it is stored encrypted with the master key,
bound to its system id (a blob moved to another row does not decrypt). It is shown once, when the
system is created, and never written to a log. Services only flush; the caller's transaction commits.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record_admin_action
from app.axis.protocol import FRESHNESS_WINDOW_SECONDS
from app.kit.clock import utcnow
from app.kit.db import Database, table_of
from app.kit.errors import Conflict, NotFound
from app.kit.secrets import decrypt, encrypt
from app.models import Agency, AgencyStatus, VxpRequest, VxpSystem

SYSTEM_ID_PREFIX = "vxp-"
#: In strict mode a request passes the timestamp check while it is within the window on either side of
#: the clock, so the same request can come back up to two windows after it was first seen: rows are
#: kept that long.
REPLAY_MEMORY = timedelta(seconds=2 * FRESHNESS_WINDOW_SECONDS)
#: One accepted request in this many also deletes the rows older than REPLAY_MEMORY.
PRUNE_ONE_IN = 100


def _purpose(system_id: str) -> str:
    return f"vxp-secret:{system_id}"


def parse_sources(sources: Sequence[str]) -> str | None:
    """The `allowed_sources` column for these addresses or networks (`10.1.2.3`, `10.1.0.0/16`);
    None for none (any address). ValueError names one that is not an address or a network."""
    networks = []
    for text in sources:
        try:
            networks.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address or network (CIDR)") from None
    return ",".join(networks) or None


def source_allowed(system: VxpSystem, address: str | None) -> bool:
    """Whether a request from `address` (the client's, as the server saw it) may use the system."""
    if not system.allowed_sources:
        return True
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in system.allowed_sources.split(","))


async def create_system(
    session: AsyncSession,
    master_key: bytes,
    *,
    agency_code: str,
    actor: str,
    holder: str | None = None,
    strict: bool = False,
    allowed_sources: Sequence[str] = (),
) -> tuple[VxpSystem, str]:
    """A new system for an active agency; returns it and its secret, which cannot be shown again.
    `strict`: refuse stale timestamps and repeated signatures (breaks software that keeps one SDK
    object for many calls). `allowed_sources`: the only addresses or networks it may call from.
    ValueError for a source that is not an address or a network."""
    sources = parse_sources(allowed_sources)
    agency = await session.get(Agency, agency_code)
    if agency is None:
        raise NotFound(f"unknown agency {agency_code}")
    if agency.status != AgencyStatus.ACTIVE:
        raise Conflict(f"agency {agency_code} is {agency.status}; only an active agency gets a system")
    system_id = SYSTEM_ID_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    system = VxpSystem(
        id=system_id,
        agency_code=agency_code,
        secret_encrypted=encrypt(master_key, secret.encode("utf-8"), purpose=_purpose(system_id)),
        holder=holder or agency_code,
        strict=strict,
        allowed_sources=sources,
    )
    session.add(system)
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action="vxp-system.create",
        target=system_id,
        agency=agency_code,
        holder=system.holder,
        strict=strict,
        allowed_sources=sources,
    )
    return system, secret


async def revoke_system(session: AsyncSession, *, system_id: str, actor: str) -> VxpSystem:
    """The system's requests are refused from now on; revoking again changes nothing."""
    system = await session.get(VxpSystem, system_id)
    if system is None:
        raise NotFound(f"no vxp system {system_id}")
    if system.revoked_at is None:
        system.revoked_at = utcnow()
        record_admin_action(
            session, actor=actor, action="vxp-system.revoke", target=system_id, agency=system.agency_code
        )
    return system


async def list_systems(session: AsyncSession, *, agency_code: str | None = None) -> list[VxpSystem]:
    """Every system, revoked ones included, oldest first (optionally of one agency)."""
    query = select(VxpSystem).order_by(VxpSystem.created_at, VxpSystem.id)
    if agency_code is not None:
        query = query.where(VxpSystem.agency_code == agency_code)
    return list(await session.scalars(query))


async def system_secret(
    session: AsyncSession, master_key: bytes, system_id: str
) -> tuple[VxpSystem, str] | None:
    """The system and its secret, or None for an unknown or revoked system. SecretError when the
    stored secret does not decrypt (another master key, or altered bytes)."""
    system = await session.scalar(
        select(VxpSystem).where(VxpSystem.id == system_id, VxpSystem.revoked_at.is_(None))
    )
    if system is None:
        return None
    secret = decrypt(master_key, system.secret_encrypted, purpose=_purpose(system.id))
    return system, secret.decode("utf-8")


async def first_time(
    database: Database, *, system_id: str, signature: str, now: datetime, prune: bool | None = None
) -> bool:
    """True, and remembered, the first time a signed request is seen; False for a replay.

    One transaction of its own (never call it inside another). Now and then (`prune`; by default one
    call in PRUNE_ONE_IN) it also forgets the requests too old to be replayed, so the table stays small."""
    if prune is None:
        prune = secrets.randbelow(PRUNE_ONE_IN) == 0
    try:
        async with database.transaction() as session:
            if prune:
                await forget_requests(session, before=now - REPLAY_MEMORY)
            await session.execute(
                insert(table_of(VxpRequest)),
                [{"system_id": system_id, "signature": signature, "seen_at": now}],
            )
    except IntegrityError:
        return False
    return True


async def forget_requests(session: AsyncSession, *, before: datetime) -> int:
    """Delete the requests seen before `before`; how many."""
    result = await session.execute(
        delete(VxpRequest).where(VxpRequest.seen_at < before),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
