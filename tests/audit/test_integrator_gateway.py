"""The integrator as the gateway runs it: in the background, under its lease, checkpointing soon
after intake, with intake never waiting for it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.delivery import document
from support.hub import RECIPIENT, Hub
from support.receiver import until

from app.audit.note import verify_checkpoint
from app.audit.verify import verify_database
from app.config import Settings
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
