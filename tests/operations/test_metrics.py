"""`/metrics`: the process's intake and attempt counters, and gauges that equal the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from support.delivery import document, states
from support.hub import RECIPIENT, Hub
from support.receiver import until

from app.kit.clock import utcnow
from app.operations.flags import write_flag
from app.operations.metrics import AXIS_FLAG


async def scrape(hub: Hub) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await hub.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_counters_and_gauges_follow_what_happened(hub: Hub) -> None:
    accepted, rejected = (
        counter("lienthong_intake_total", outcome="accepted"),
        counter("lienthong_intake_total", outcome="rejected"),
    )
    timed = counter("lienthong_intake_seconds_count")
    parked = counter("lienthong_attempts_total", connector="inbox", outcome="awaiting_pickup")

    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    assert (
        await hub.client.post(
            "/api/v1/documents",
            content=b"<not-edxml/>",
            headers={"Content-Type": "application/xml", **hub.auth(RECIPIENT)},
        )
    ).status_code == 422
    await until(lambda: _parked(hub, delivery["id"]))

    metrics = await scrape(hub)
    assert metrics[("lienthong_intake_total", (("outcome", "accepted"),))] == accepted + 1
    assert metrics[("lienthong_intake_total", (("outcome", "rejected"),))] == rejected + 1
    assert metrics[("lienthong_intake_seconds_count", ())] == timed + 2
    assert (
        metrics[("lienthong_attempts_total", (("connector", "inbox"), ("outcome", "awaiting_pickup")))]
        == parked + 1
    )

    async with hub.database.reading() as session:
        counts = {
            (row.state, row.connector): row.n
            for row in await session.execute(
                text("SELECT state, connector, count(*) AS n FROM deliveries GROUP BY state, connector")
            )
        }
        not_after = (
            await session.execute(text("SELECT not_after FROM signing_keys WHERE active"))
        ).scalar_one()
    gauges = {
        (dict(labels)["state"], dict(labels)["connector"]): value
        for (name, labels), value in metrics.items()
        if name == "lienthong_deliveries"
    }
    assert {key: value for key, value in gauges.items() if value} == counts
    assert len(gauges) == 7 * 3  # every state of every connector, zeros included
    expiry = metrics[("lienthong_signing_certificate_expiry_timestamp_seconds", ())]
    if isinstance(not_after, str):  # SQLite hands the text back through a raw query
        not_after = datetime.fromisoformat(not_after)
    assert abs(expiry - not_after.timestamp()) < 1


async def _parked(hub: Hub, delivery_id: str) -> bool:
    return (await states(hub.database, [delivery_id]))[delivery_id] == "awaiting_pickup"


async def test_the_oldest_due_delivery_and_the_axis_poll(hub: Hub) -> None:
    assert (
        await hub.client.post("/api/v1/admin/connectors/inbox/pause", json={}, headers=hub.auth("admin"))
    ).status_code == 200
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    waiting_since = utcnow() - timedelta(minutes=10)
    polled = utcnow() - timedelta(seconds=42)
    async with hub.database.transaction() as session:
        await session.execute(
            text("UPDATE deliveries SET next_attempt_at = :t WHERE id = :d"),
            {"t": waiting_since, "d": delivery["id"]},
        )
        await write_flag(session, AXIS_FLAG, {"last_answer_at": polled.isoformat()}, by="test")
    metrics = await scrape(hub)
    oldest = metrics[("lienthong_delivery_oldest_due_seconds", (("connector", "inbox"),))]
    assert 600 <= oldest < 600 + 120
    assert metrics[("lienthong_delivery_oldest_due_seconds", (("connector", "qlvb-push"),))] == 0
    assert abs(metrics[("lienthong_axis_last_poll_timestamp_seconds", ())] - polled.timestamp()) < 1
