"""The integrator as the gateway runs it: in the background, under its lease, checkpointing soon
after intake, with intake never waiting for it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from support.delivery import document
from support.hub import RECIPIENT, Hub
from support.receiver import until

from app.audit.integrator import LEASE, Integrator
from app.audit.note import verify_checkpoint
from app.audit.verify import verify_database
from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.secrets import load_master_key
from app.models import ExchangeLogEntry, Lease, LogLeaf


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.audit_integrator = True
    settings.audit_integrate_seconds = 0.1
    settings.audit_checkpoint_seconds = 0.2
    return settings


async def test_the_gateway_integrates_and_checkpoints_in_the_background(hub: Hub) -> None:
    for _ in range(3):
        assert (await hub.submit(document(RECIPIENT))).status_code == 201

    async def covered() -> bool:
        async with hub.database.reading() as session:
            entries = await session.scalar(select(func.count()).select_from(ExchangeLogEntry))
            leaves = await session.scalar(
                select(func.count()).select_from(LogLeaf).where(LogLeaf.source == "exchange_log")
            )
        answer = await hub.client.get("/api/v1/audit/checkpoint")
        if answer.status_code != 200 or entries != leaves:
            return False
        key = (await hub.client.get("/api/v1/audit/log-key")).text
        async with hub.database.reading() as session:
            total = await session.scalar(select(func.count()).select_from(LogLeaf))
        return verify_checkpoint(answer.text, key).size == total

    await until(covered, timeout=60)
    async with hub.database.reading() as session:
        holder = await session.scalar(select(Lease.holder).where(Lease.name == "audit-integrator"))
    assert holder
    report = await verify_database(hub.database)
    assert report.intact, report.problems


async def test_stopping_finishes_the_round_and_hands_the_lease_over(
    database: Database, settings: Settings
) -> None:
    # Cancelled mid-transaction on SQLite, the integrator left the write lock to a connection being torn
    # down: the gateway's next write (the lease's release) waited the whole busy timeout, 30 s.
    integrator = Integrator(database, settings, load_master_key(settings))
    running = asyncio.create_task(integrator.run())

    async def expiry() -> object:
        async with database.reading() as session:
            return await session.scalar(
                select(Lease.expires_at).where(Lease.name == LEASE, Lease.holder == integrator._holder)
            )

    await until(expiry, timeout=30)  # it holds the lease
    await integrator.stop()
    assert running.done() and not running.cancelled()
    assert running.exception() is None
    expires = await expiry()
    assert expires is not None and expires < utcnow()  # another replica may take over at once
