"""What a production hub refuses to start with (`LIENTHONG_ENVIRONMENT=production`).

`lienthong serve` asks `configuration_refusals` before it touches the database and `state_refusals`
once the database is ready; each refusal is one sentence saying what is wrong and how to fix it, and
serve exits 1 with them. Development (the embedded default) is never refused.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings
from app.demo import DEMO_HOLDER_PREFIX, demo_credentials_file
from app.kit.clock import utcnow
from app.kit.secrets import SecretError, decode_master_key
from app.models import Credential
from app.sealing.keys import is_self_signed, load_certificate_pem
from app.sealing.service import active_key

DEFAULT_HUB_CODE = Settings.model_fields["hub_code"].default


def configuration_refusals(settings: Settings, *, single_node: bool) -> list[str]:
    """Refusals that follow from the settings alone."""
    if settings.environment is not Environment.PRODUCTION:
        return []
    refusals = []
    if not settings.hub_code or settings.hub_code == DEFAULT_HUB_CODE:
        which = "unset" if not settings.hub_code else f"the example {DEFAULT_HUB_CODE}"
        refusals.append(f"LIENTHONG_HUB_CODE is {which}: set the hub's own agency code")
    if settings.demo_directory_wanted:
        refusals.append("LIENTHONG_LOAD_DEMO_DIRECTORY is on: the demo directory is for development only")
    single_node = single_node or settings.single_node
    if settings.is_sqlite and not single_node:
        refusals.append(
            "the database is SQLite: set LIENTHONG_DATABASE_URL to PostgreSQL, or start with --single-node "
            "to run one node on SQLite on purpose"
        )
    if not settings.broker_url and not single_node:
        refusals.append(
            "no LIENTHONG_BROKER_URL: set RabbitMQ's URL, or start with --single-node to run the embedded "
            "dispatcher on purpose"
        )
    try:
        decode_master_key(settings.master_key)
    except SecretError as error:
        refusals.append(f"LIENTHONG_MASTER_KEY cannot be used: {error}")
    return refusals


async def state_refusals(session: AsyncSession, settings: Settings) -> list[str]:
    """Refusals that follow from what the database holds: demo credentials, the active key."""
    if settings.environment is not Environment.PRODUCTION:
        return []
    refusals = []
    if demo_credentials_file(settings).exists():
        refusals.append(
            f"{demo_credentials_file(settings)} exists: demo credentials are for development; revoke them "
            "(`lienthong credential list`, `credential revoke`) and delete the file"
        )
    demo = await session.scalar(
        select(Credential.id)
        .where(Credential.holder.startswith(DEMO_HOLDER_PREFIX), Credential.revoked_at.is_(None))
        .limit(1)
    )
    if demo is not None:
        refusals.append(f"the demo credential {demo} is not revoked: `lienthong credential revoke {demo}`")
    key = await active_key(session)
    if key is None:
        refusals.append("the hub has no active signing key: `lienthong keys import` a CA-issued one")
        return refusals
    certificate = load_certificate_pem(key.certificate_pem)
    if key.not_after <= utcnow():
        refusals.append(
            f"the active signing key {key.id} has a certificate that expired on {key.not_after:%Y-%m-%d}: "
            "`lienthong keys import` a current one"
        )
    if is_self_signed(certificate) and not settings.allow_self_signed_key:
        refusals.append(
            f"the active signing key {key.id} has a self-signed certificate: `lienthong keys import` a "
            "CA-issued one, or allow it on purpose with LIENTHONG_ALLOW_SELF_SIGNED_KEY=true"
        )
    return refusals
