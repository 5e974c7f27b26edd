"""Alerts: the rules over a real database, sent to a real webhook receiver and a real SMTP server on
127.0.0.1; deduplicated, rate-limited, recorded; and the evaluator running inside the gateway."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text
from support.delivery import document, rows, set_endpoint, states
from support.hub import RECIPIENT, Hub
from support.processes import free_port
from support.receiver import Receiver, until

from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.models import AlertRecord, Attempt
from app.operations.alerts import CURSOR_FLAG, AlertEngine, AxisReport, Rule, Status, failing_endpoints
from app.operations.flags import read_flag

SECRET = "bi-mat-webhook"


class Mailbox:
    """An SMTP server's handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    handler, port = Mailbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def settings(settings: Settings, webhook: Receiver, mailbox: tuple[Mailbox, int]) -> Settings:
    settings.retry_base_seconds = 0.1
    settings.retry_max_attempts = 3
    settings.alert_webhook_url = webhook.url("/alerts")
    settings.alert_webhook_secret = SECRET
    settings.alert_smtp_host = "127.0.0.1"
    settings.alert_smtp_port = mailbox[1]
    settings.alert_email_to = "truc-ban@so-tttt.example, ops@so-tttt.example"
    settings.alert_email_from = "lienthong@so-tttt.example"
    settings.alert_certificate_days = 1  # the development certificate is far from expiring
    return settings


async def _failed(hub: Hub, delivery_id: str) -> bool:
    return (await states(hub.database, [delivery_id]))[delivery_id] == "failed"


async def test_a_failed_delivery_is_sent_by_webhook_and_email_once(
    hub: Hub, webhook: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    engine = AlertEngine(hub.database, hub.settings)
    assert await engine.round() == []  # the first round starts from now: history raises nothing
    receiver = Receiver()
    with receiver:
        receiver.script("/strict", [400])
        await set_endpoint(hub.database, RECIPIENT, receiver.url("/strict"))
        [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
        await until(lambda: _failed(hub, delivery["id"]))

    [(alert, status)] = await engine.round()
    assert (alert.rule, status) == (Rule.DELIVERY_FAILED, Status.SENT)
    [arrival] = webhook.at("/alerts")
    body = json.loads(arrival.body)
    assert (body["rule"], body["severity"], body["hub"]) == (
        "delivery-failed",
        "warning",
        hub.settings.hub_code,
    )
    assert body["summary"].startswith("1 lượt gửi thất bại")
    assert body["detail"]["deliveries"][0]["id"] == delivery["id"]
    assert "HTTP 400" in body["detail"]["deliveries"][0]["reason"]
    expected = hmac.new(SECRET.encode(), arrival.body, hashlib.sha256).hexdigest()
    assert arrival.headers["x-lienthong-signature"] == f"sha256={expected}"

    handler, _ = mailbox
    [mail] = handler.messages
    assert (
        mail["Subject"] == f"[Liên Thông {hub.settings.hub_code}] 1 lượt gửi thất bại / 1 deliveries failed"
    )
    assert mail["To"] == "truc-ban@so-tttt.example, ops@so-tttt.example"
    assert delivery["id"] in mail.get_body(preferencelist=("plain",)).get_content()

    assert await engine.round() == []  # nothing new
    recorded = await rows(hub.database, "SELECT rule, status, detail FROM alerts")
    assert [(r.rule, r.status) for r in recorded] == [("delivery-failed", "sent")]
    detail = recorded[0].detail if isinstance(recorded[0].detail, dict) else json.loads(recorded[0].detail)
    assert detail["channels"]["webhook"] == "HTTP 200" and detail["channels"]["email"].startswith("sent to 2")
    listed = (await hub.client.get("/api/v1/admin/alerts", headers=hub.auth("auditor"))).json()
    assert [a["rule"] for a in listed] == ["delivery-failed"]


async def test_a_held_condition_is_deduplicated_then_repeated_and_rate_limited(
    hub: Hub, webhook: Receiver
) -> None:
    # A delivery kept waiting (its endpoint paused), due for 20 minutes: queue-age holds.
    assert (
        await hub.client.post(
            f"/api/v1/admin/connectors/inbox/endpoints/{RECIPIENT}/pause", json={}, headers=hub.auth("admin")
        )
    ).status_code == 200
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    async with hub.database.transaction() as session:
        await session.execute(
            text("UPDATE deliveries SET next_attempt_at = :t WHERE id = :d"),
            {"t": utcnow() - timedelta(minutes=20), "d": delivery["id"]},
        )
    engine = AlertEngine(hub.database, hub.settings)
    now = utcnow()
    [(alert, status)] = await engine.round(now=now)
    assert (alert.rule, alert.key, status) == (Rule.QUEUE_AGE, "inbox", Status.SENT)
    assert await engine.round(now=now + timedelta(minutes=5)) == []  # told already
    later = now + timedelta(seconds=hub.settings.alert_repeat_seconds + 1)
    assert [s for _, s in await engine.round(now=later)] == [Status.SENT]  # still true: told again

    # Over the hourly limit: recorded, not sent.
    limited = AlertEngine(
        hub.database,
        hub.settings.model_copy(update={"alert_max_per_hour": 1, "alert_certificate_days": 100_000}),
    )
    outcome = await limited.round(now=later + timedelta(seconds=1))
    assert [(a.rule, s) for a, s in outcome] == [(Rule.CERTIFICATE_EXPIRY, Status.SUPPRESSED)]
    assert len(webhook.at("/alerts")) == 2

    # A paused connector (not just an endpoint) is expected to wait: no queue-age alert for it.
    assert (
        await hub.client.post("/api/v1/admin/connectors/inbox/pause", json={}, headers=hub.auth("admin"))
    ).status_code == 200
    far = later + timedelta(hours=3)
    assert [a.rule for a, _ in await engine.round(now=far)] == []


async def test_an_endpoint_failing_for_n_minutes(hub: Hub) -> None:
    with Receiver() as receiver:
        receiver.script("/down", [503, 503, 503])
        await set_endpoint(hub.database, RECIPIENT, receiver.url("/down"))
        [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
        await until(lambda: _failed(hub, delivery["id"]))
        async with hub.database.reading() as session:
            ended = sorted(
                await session.scalars(select(Attempt.ended_at).where(Attempt.delivery_id == delivery["id"]))
            )
        assert len(ended) == 3
        first, last = ended[0], ended[-1]
        minutes = (last - first).total_seconds() / 120  # failing for twice that long by the last attempt
        async with hub.database.reading() as session:
            [alert] = await failing_endpoints(session, now=last, minutes=minutes, pauses=[])
            assert alert.key == f"qlvb-push/{RECIPIENT}" and "HTTP 503" in alert.detail["an_error"]
            # Not for longer than it has been failing:
            assert await failing_endpoints(session, now=last, minutes=minutes * 3, pauses=[]) == []

        # A success since: the endpoint works again.
        [again] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
        await until(lambda: _delivered(hub, again["id"]))
        async with hub.database.reading() as session:
            assert await failing_endpoints(session, now=utcnow(), minutes=minutes, pauses=[]) == []


async def _delivered(hub: Hub, delivery_id: str) -> bool:
    return (await states(hub.database, [delivery_id]))[delivery_id] == "delivered"


async def test_the_axis_unreachable_as_its_poller_reported(database: Database, settings: Settings) -> None:
    settings = settings.model_copy(
        update={"axis_url": "http://127.0.0.1:9/axis", "alert_webhook_url": "", "alert_smtp_host": ""}
    )
    since = utcnow()
    report = AxisReport(last_answer_at=None, last_problem="ConnectError: refused", last_problem_at=since)
    engine = AlertEngine(database, settings, axis=lambda: report)
    await engine.mirror_axis()
    assert await engine.round(now=since + timedelta(minutes=5)) == []  # not silent long enough
    [(alert, status)] = await engine.round(now=since + timedelta(minutes=11))
    assert (alert.rule, status) == (Rule.AXIS_UNREACHABLE, Status.LOGGED)  # no channel configured
    assert alert.detail["last_problem"] == "ConnectError: refused"

    report.last_answer_at = since + timedelta(minutes=12)
    await engine.mirror_axis()
    assert await engine.round(now=since + timedelta(minutes=13)) == []


@pytest.fixture
def fast_alerts(settings: Settings) -> Settings:
    settings.alert_interval_seconds = 0.2
    return settings


async def test_the_gateway_runs_the_evaluator(fast_alerts: Settings, hub: Hub, webhook: Receiver) -> None:
    async def started() -> bool:
        async with hub.database.reading() as session:
            return await read_flag(session, CURSOR_FLAG) is not None

    await until(started)
    with Receiver() as receiver:
        receiver.script("/strict", [400])
        await set_endpoint(hub.database, RECIPIENT, receiver.url("/strict"))
        [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
        await until(lambda: _failed(hub, delivery["id"]))
    [arrival] = await until(lambda: [a for a in webhook.at("/alerts") if b"delivery-failed" in a.body])
    assert delivery["id"] in json.loads(arrival.body)["detail"]["deliveries"][0]["id"]

    async def recorded() -> list[str]:  # written once the channels have answered
        async with hub.database.reading() as session:
            return [r.rule for r in await session.scalars(select(AlertRecord))]

    assert await until(recorded) == ["delivery-failed"]
