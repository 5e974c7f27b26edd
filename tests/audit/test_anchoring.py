"""RFC 3161 timestamps on checkpoints from a local TSA: anchoring never blocks exchange, a failing
TSA shows as `lienthong_log_unanchored_seconds`, and anchoring catches up when it is back. Bundles
carry the token, checked offline against the TSA's root."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from support.audit import integrate
from support.delivery import document
from support.hub import RECIPIENT, SENDER, Hub
from support.receiver import until
from support.tsa import LocalTSA

from app.audit.anchor import unanchored_seconds
from app.audit.bundle import verify_bundle
from app.config import Settings
from app.models import LogTimestamp


@pytest.fixture
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA() as local:
        yield local


@pytest.fixture
def settings(settings: Settings, tsa: LocalTSA) -> Settings:
    settings.audit_tsa_url = tsa.url
    settings.audit_checkpoint_seconds = 0.2
    tsa.down = True  # the test says when the TSA starts answering
    return settings


async def tokens(hub: Hub) -> int:
    async with hub.database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(LogTimestamp)) or 0)


async def test_a_failing_tsa_never_blocks_exchange_and_anchoring_catches_up(hub: Hub, tsa: LocalTSA) -> None:
    for _ in range(3):
        assert (await hub.submit(document(RECIPIENT))).status_code == 201
    await integrate(hub.database, hub.settings)
    await until(lambda: unanchored_seconds() > 0, timeout=60)
    assert REGISTRY.get_sample_value("lienthong_log_unanchored_seconds") > 0
    assert (await hub.submit(document(RECIPIENT))).status_code == 201  # still taking documents in
    assert await tokens(hub) == 0

    tsa.down = False
    await until(lambda: tokens(hub), timeout=60)
    await until(lambda: unanchored_seconds() == 0, timeout=60)
    assert tsa.issued >= 1


async def test_the_bundle_carries_the_timestamp(hub: Hub, tsa: LocalTSA) -> None:
    receipt = (await hub.submit(document(RECIPIENT))).json()
    await integrate(hub.database, hub.settings)
    tsa.down = False
    await until(lambda: tokens(hub), timeout=60)
    answer = await hub.client.get(f"/api/v1/documents/{receipt['id']}/evidence", headers=hub.auth(SENDER))
    report = verify_bundle(answer.content, tsa_roots=[tsa.root])
    assert report.valid, report.problems
    assert any("timestamped by the TSA" in note for note in report.notes)
    with LocalTSA() as stranger:
        refused = verify_bundle(answer.content, tsa_roots=[stranger.root])
    assert not refused.valid and any("checkpoint.tsr" in p for p in refused.problems)
