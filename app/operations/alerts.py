"""Alerts (cảnh báo): rules over the hub's state, evaluated every LIENTHONG_ALERT_INTERVAL_SECONDS by
one gateway at a time (lease `alerts`), sent by webhook (JSON POST) and e-mail (SMTP).

Rules: `delivery-failed` (deliveries became failed since the last round), `dead-letter` (workers kept
crashing on a delivery), `queue-age` (a due delivery waited longer than the threshold),
`endpoint-failing` (every attempt to one agency's endpoint failed for N minutes), `axis-unreachable`
(the national axis has not answered a poll for a while), `certificate-expiry` (the signing
certificate expires within N days). An alert that still holds is sent again only after
LIENTHONG_ALERT_REPEAT_SECONDS (a day for certificate expiry); at most LIENTHONG_ALERT_MAX_PER_HOUR
are sent in any hour, the rest are recorded as suppressed. Every alert raised is a row of the
`alerts` table, with what each channel answered — its own table rather than the admin log, which
records what people did.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.delivery.pauses import Pause, list_pauses
from app.kit import lease
from app.kit.clock import utcnow
from app.kit.db import Database, table_of
from app.models import AlertRecord, Attempt, Delivery, DeliveryEvent, DeliveryState, SigningKey
from app.operations.flags import read_flag, write_flag
from app.operations.metrics import AXIS_FLAG, oldest_due

log = logging.getLogger(__name__)

LEASE = "alerts"
CURSOR_FLAG = "alerts.cursor"
DEAD_LETTER_PREFIX = "dead-lettered"  # app.broker.base.dead_letter_reason
LISTED = 20  # deliveries named in one alert's detail
SUCCESS = ("delivered", "awaiting_pickup")
ENDPOINT_FAILURE = ("transient", "permanent")
FAILING_WINDOW = timedelta(hours=24)  # how far back endpoint-failing looks for the last success
MAX_FAILING_ENDPOINTS = 100  # looked at in one round
CERTIFICATE_REPEAT = timedelta(days=1)


class Rule(StrEnum):
    DELIVERY_FAILED = "delivery-failed"
    DEAD_LETTER = "dead-letter"
    QUEUE_AGE = "queue-age"
    ENDPOINT_FAILING = "endpoint-failing"
    AXIS_UNREACHABLE = "axis-unreachable"
    CERTIFICATE_EXPIRY = "certificate-expiry"


class Status(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # a configured channel did not take it
    SUPPRESSED = "suppressed"  # over the hourly limit
    LOGGED = "logged"  # no channel configured


@dataclass(frozen=True)
class Alert:
    rule: Rule
    key: str  # what it is about: deduplication is per (rule, key)
    severity: str  # warning | critical
    summary: str  # Vietnamese / English
    detail: dict[str, Any] = field(default_factory=dict)


def enabled_rules(settings: Settings) -> set[Rule]:
    names = {name.strip() for name in settings.alert_rules.split(",") if name.strip()}
    unknown = names - {rule.value for rule in Rule}
    if unknown:
        log.warning("unknown alert rules ignored: %s", ", ".join(sorted(unknown)))
    return {Rule(name) for name in names - unknown}


# The rules


async def failed_deliveries(session: AsyncSession, *, after: int, until: int) -> list[Alert]:
    """Deliveries that became failed between two delivery-event ids: one alert for the dead-lettered
    ones, one for the others."""
    rows = list(
        await session.execute(
            select(
                DeliveryEvent.id,
                DeliveryEvent.delivery_id,
                DeliveryEvent.reason,
                Delivery.recipient_code,
                Delivery.connector,
            )
            .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
            .where(
                DeliveryEvent.id > after,
                DeliveryEvent.id <= until,
                DeliveryEvent.to_state == DeliveryState.FAILED,
            )
            .order_by(DeliveryEvent.id)
        )
    )
    alerts = []
    for rule, chosen in (
        (Rule.DEAD_LETTER, [r for r in rows if r.reason.startswith(DEAD_LETTER_PREFIX)]),
        (Rule.DELIVERY_FAILED, [r for r in rows if not r.reason.startswith(DEAD_LETTER_PREFIX)]),
    ):
        if not chosen:
            continue
        count = len(chosen)
        summary = (
            f"{count} lượt gửi bị đưa vào hàng thư chết / {count} deliveries dead-lettered"
            if rule is Rule.DEAD_LETTER
            else f"{count} lượt gửi thất bại / {count} deliveries failed"
        )
        alerts.append(
            Alert(
                rule,
                key=f"{chosen[0].id}-{chosen[-1].id}",
                severity="critical" if rule is Rule.DEAD_LETTER else "warning",
                summary=summary,
                detail={
                    "count": count,
                    "deliveries": [
                        {
                            "id": r.delivery_id,
                            "recipient": r.recipient_code,
                            "connector": r.connector,
                            "reason": r.reason,
                        }
                        for r in chosen[:LISTED]
                    ],
                },
            )
        )
    return alerts


def _paused(pauses: Sequence[Pause], connector: str, agency_code: str | None = None) -> bool:
    return any(
        p.connector == connector and (p.agency_code is None or p.agency_code == agency_code) for p in pauses
    )


async def old_queues(
    session: AsyncSession, *, now: datetime, threshold: float, pauses: Sequence[Pause]
) -> list[Alert]:
    """Connectors (not paused) whose longest-waiting due delivery waited longer than `threshold` s."""
    alerts = []
    for connector, since in sorted((await oldest_due(session, now=now)).items()):
        waited = (now - since).total_seconds()
        if waited <= threshold or _paused(pauses, connector):
            continue
        minutes = round(waited / 60)
        alerts.append(
            Alert(
                Rule.QUEUE_AGE,
                key=connector,
                severity="warning",
                summary=f"Hàng đợi {connector} có lượt gửi chờ {minutes} phút / "
                f"the {connector} queue has a delivery waiting for {minutes} min",
                detail={
                    "connector": connector,
                    "oldest_due_seconds": round(waited),
                    "since": since.isoformat(),
                },
            )
        )
    return alerts


async def failing_endpoints(
    session: AsyncSession, *, now: datetime, minutes: float, pauses: Sequence[Pause]
) -> list[Alert]:
    """Endpoints (connector and recipient) whose every attempt for the last `minutes` failed.

    Two steps, so that a long history costs nothing: the endpoints with a failure and no success in
    the last `minutes` (a few recent attempts), then for each of those, when its failures began
    (within the last FAILING_WINDOW)."""
    threshold = now - timedelta(minutes=minutes)
    success = Attempt.outcome.in_(SUCCESS)
    failure = Attempt.outcome.in_(ENDPOINT_FAILURE)
    recent = await session.execute(
        select(Delivery.connector, Delivery.recipient_code)
        .select_from(Attempt)
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(Attempt.started_at >= threshold, Attempt.ended_at.is_not(None))
        .group_by(Delivery.connector, Delivery.recipient_code)
        .having(func.sum(case((success, 1), else_=0)) == 0, func.sum(case((failure, 1), else_=0)) > 0)
        .limit(MAX_FAILING_ENDPOINTS)
    )
    alerts = []
    for name, code in list(recent):
        if _paused(pauses, name, code):
            continue
        history = list(
            await session.execute(
                select(Attempt.ended_at, Attempt.outcome, Attempt.error)
                .join(Delivery, Delivery.id == Attempt.delivery_id)
                .where(
                    Delivery.connector == name,
                    Delivery.recipient_code == code,
                    Attempt.started_at >= now - FAILING_WINDOW,
                    Attempt.ended_at.is_not(None),
                )
            )
        )
        successes = [row.ended_at for row in history if row.outcome in SUCCESS]
        last_success = max(successes, default=None)
        streak = [
            row
            for row in history
            if row.outcome in ENDPOINT_FAILURE and (last_success is None or row.ended_at > last_success)
        ]
        first = min((row.ended_at for row in streak), default=None)
        an_error = max(streak, key=lambda row: row.ended_at).error if streak else None
        if first is None or first > threshold:
            continue
        failing_for = round((now - first).total_seconds() / 60)
        alerts.append(
            Alert(
                Rule.ENDPOINT_FAILING,
                key=f"{name}/{code}",
                severity="warning",
                summary=f"Điểm nhận của {code} ({name}) lỗi liên tục {failing_for} phút / "
                f"{code}'s endpoint ({name}) has failed for {failing_for} min",
                detail={
                    "connector": name,
                    "agency_code": code,
                    "failing_since": first.isoformat(),
                    "last_success_at": last_success.isoformat() if last_success else None,
                    "an_error": an_error,
                },
            )
        )
    return alerts


async def axis_silence(session: AsyncSession, *, now: datetime, threshold: float) -> list[Alert]:
    """The axis has not answered a poll for longer than `threshold` s (as the poller last reported)."""
    flag = await read_flag(session, AXIS_FLAG)
    if flag is None:
        return []  # nobody polls (yet)
    value = flag.value
    reference = value.get("last_answer_at") or value.get("polling_since")
    if not reference:
        return []
    silent = (now - datetime.fromisoformat(str(reference))).total_seconds()
    if silent <= threshold:
        return []
    minutes = round(silent / 60)
    return [
        Alert(
            Rule.AXIS_UNREACHABLE,
            key="axis",
            severity="critical",
            summary=f"Trục liên thông quốc gia không trả lời {minutes} phút / "
            f"the national axis has not answered for {minutes} min",
            detail={
                "last_answer_at": value.get("last_answer_at"),
                "last_problem": value.get("last_problem"),
                "last_problem_at": value.get("last_problem_at"),
            },
        )
    ]


async def expiring_certificate(session: AsyncSession, *, now: datetime, days: float) -> list[Alert]:
    """The active signing certificate expires within `days` days."""
    row = (
        await session.execute(select(SigningKey.id, SigningKey.not_after).where(SigningKey.active.is_(True)))
    ).first()
    if row is None or row.not_after - now > timedelta(days=days):
        return []
    left = (row.not_after - now).total_seconds() / 86400
    return [
        Alert(
            Rule.CERTIFICATE_EXPIRY,
            key=row.id,
            severity="critical" if left < 7 else "warning",
            summary=f"Chứng thư ký số của hub hết hạn sau {max(left, 0):.0f} ngày "
            f"({row.not_after:%Y-%m-%d}) / the hub's signing certificate expires in {max(left, 0):.0f} days",
            detail={"key_id": row.id, "not_after": row.not_after.isoformat()},
        )
    ]


# Sending


def payload(alert: Alert, *, hub_code: str, at: datetime) -> dict[str, Any]:
    """The webhook's JSON body."""
    return {"hub": hub_code, "at": at.isoformat(), **asdict(alert)}


async def post_webhook(settings: Settings, body: dict[str, Any]) -> str:
    """POST the alert; returns what happened ("HTTP 200", or the error). With a secret, the header
    `X-Lienthong-Signature: sha256=<hex HMAC of the body>` lets the receiver check its origin."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if settings.alert_webhook_secret:
        digest = hmac.new(settings.alert_webhook_secret.encode(), content, hashlib.sha256).hexdigest()
        headers["X-Lienthong-Signature"] = f"sha256={digest}"
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        response = await client.post(settings.alert_webhook_url, content=content, headers=headers)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


def email_message(settings: Settings, alert: Alert, *, at: datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[Liên Thông {settings.hub_code}] {alert.summary}"
    message["From"] = settings.alert_email_from
    message["To"] = ", ".join(_recipients(settings))
    message.set_content(
        f"{alert.summary}\n\n"
        f"Quy tắc / rule: {alert.rule.value}\nMức độ / severity: {alert.severity}\n"
        f"Thời điểm / at: {at.isoformat()}\n\n"
        f"{json.dumps(alert.detail, ensure_ascii=False, indent=2)}\n"
    )
    return message


def _recipients(settings: Settings) -> list[str]:
    return [a.strip() for a in settings.alert_email_to.split(",") if a.strip()]


def _send_email_blocking(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(
        settings.alert_smtp_host, settings.alert_smtp_port, timeout=settings.alert_smtp_timeout_seconds
    ) as smtp:
        if settings.alert_smtp_starttls:
            smtp.starttls()
        if settings.alert_smtp_username:
            smtp.login(settings.alert_smtp_username, settings.alert_smtp_password)
        smtp.send_message(message)


async def send_email(settings: Settings, alert: Alert, *, at: datetime) -> str:
    await asyncio.to_thread(_send_email_blocking, settings, email_message(settings, alert, at=at))
    return f"sent to {len(_recipients(settings))} recipient(s)"


async def deliver_alert(settings: Settings, alert: Alert, *, at: datetime) -> tuple[Status, dict[str, str]]:
    """Send one alert on every configured channel; (status, what each channel answered)."""
    channels: dict[str, str] = {}
    ok = True
    if settings.alert_webhook_url:
        try:
            channels["webhook"] = await post_webhook(
                settings, payload(alert, hub_code=settings.hub_code, at=at)
            )
        except Exception as error:  # any failure is reported in the alert's row and the log
            channels["webhook"] = f"failed: {error!r}"[:300]
            ok = False
    if settings.alert_smtp_host and _recipients(settings):
        try:
            channels["email"] = await send_email(settings, alert, at=at)
        except Exception as error:
            channels["email"] = f"failed: {error!r}"[:300]
            ok = False
    if not channels:
        return Status.LOGGED, channels
    return (Status.SENT if ok else Status.FAILED), channels


# The evaluator


@dataclass
class AxisReport:
    """The axis poller's state as this process sees it (None: this process does not poll)."""

    last_answer_at: datetime | None
    last_problem: str | None
    last_problem_at: datetime | None


class AlertEngine:
    """Evaluates the rules and sends what they raise; `run()` is the gateway's background task."""

    def __init__(
        self, database: Database, settings: Settings, *, axis: Callable[[], AxisReport | None] = lambda: None
    ) -> None:
        self.database = database
        self.settings = settings
        self.axis = axis
        self.holder = lease.holder_name()
        self._polling_since: datetime | None = None

    async def run(self) -> None:
        interval = self.settings.alert_interval_seconds
        held = False
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.mirror_axis()
                    held = await lease.hold(self.database, LEASE, self.holder, seconds=interval * 3)
                    if held:
                        await self.round()
                except Exception:
                    log.exception("alerts: the round failed; trying again in %.0f s", interval)
        finally:
            if held:  # let another replica take over at once
                await lease.release(self.database, LEASE, self.holder)

    async def mirror_axis(self) -> None:
        """If this process polls the axis, write what it saw where the evaluator (perhaps in another
        replica) and `/metrics` read it."""
        report = self.axis()
        if report is None:
            self._polling_since = None
            return
        now = utcnow()
        self._polling_since = self._polling_since or now
        value = {
            "polling_since": self._polling_since.isoformat(),
            "last_answer_at": report.last_answer_at.isoformat() if report.last_answer_at else None,
            "last_problem": report.last_problem,
            "last_problem_at": report.last_problem_at.isoformat() if report.last_problem_at else None,
        }
        async with self.database.transaction() as session:
            await write_flag(session, AXIS_FLAG, value, by=self.holder)

    async def evaluate(self, *, now: datetime) -> tuple[list[Alert], int | None]:
        """What the rules raise now, and the delivery-event cursor to store once they are recorded."""
        settings = self.settings
        rules = enabled_rules(settings)
        alerts: list[Alert] = []
        async with self.database.reading() as session:
            cursor_flag = await read_flag(session, CURSOR_FLAG)
            newest = int(await session.scalar(select(func.coalesce(func.max(DeliveryEvent.id), 0))) or 0)
            if cursor_flag is not None and rules & {Rule.DELIVERY_FAILED, Rule.DEAD_LETTER}:
                after = int(cursor_flag.value.get("delivery_event_id", 0))
                found = await failed_deliveries(session, after=after, until=newest)
                alerts += [a for a in found if a.rule in rules]
            pauses = await list_pauses(session)
            if Rule.QUEUE_AGE in rules:
                alerts += await old_queues(
                    session, now=now, threshold=settings.alert_queue_age_seconds, pauses=pauses
                )
            if Rule.ENDPOINT_FAILING in rules:
                alerts += await failing_endpoints(
                    session, now=now, minutes=settings.alert_endpoint_failing_minutes, pauses=pauses
                )
            if Rule.AXIS_UNREACHABLE in rules and settings.axis_url:
                alerts += await axis_silence(session, now=now, threshold=settings.alert_axis_silent_seconds)
            if Rule.CERTIFICATE_EXPIRY in rules:
                alerts += await expiring_certificate(session, now=now, days=settings.alert_certificate_days)
        return alerts, newest

    async def round(self, *, now: datetime | None = None) -> list[tuple[Alert, Status]]:
        """One evaluation: raise, deduplicate, rate-limit, send, record. Returns what was recorded."""
        now = now or utcnow()
        alerts, cursor = await self.evaluate(now=now)
        repeat = timedelta(seconds=self.settings.alert_repeat_seconds)
        async with self.database.reading() as session:
            recent = {
                (rule, key): at
                for rule, key, at in await session.execute(
                    select(AlertRecord.rule, AlertRecord.key, func.max(AlertRecord.at))
                    .where(AlertRecord.at >= now - max(repeat, CERTIFICATE_REPEAT))
                    .group_by(AlertRecord.rule, AlertRecord.key)
                )
            }
            sent_last_hour = int(
                await session.scalar(
                    select(func.count()).where(
                        AlertRecord.status == Status.SENT, AlertRecord.at >= now - timedelta(hours=1)
                    )
                )
                or 0
            )
        outcomes: list[tuple[Alert, Status, dict[str, str]]] = []
        for alert in alerts:
            window = CERTIFICATE_REPEAT if alert.rule is Rule.CERTIFICATE_EXPIRY else repeat
            last = recent.get((alert.rule.value, alert.key))
            if last is not None and now - last < window:
                continue  # already told
            if sent_last_hour >= self.settings.alert_max_per_hour:
                outcomes.append((alert, Status.SUPPRESSED, {}))
                continue
            status, channels = await deliver_alert(self.settings, alert, at=now)
            if status is Status.SENT:
                sent_last_hour += 1
            elif status is Status.FAILED:
                log.warning("alert %s %s could not be sent: %s", alert.rule.value, alert.key, channels)
            outcomes.append((alert, status, channels))
        async with self.database.transaction() as session:
            if outcomes:
                await session.execute(
                    table_of(AlertRecord).insert(),
                    [
                        {
                            "at": now,
                            "rule": alert.rule.value,
                            "key": alert.key,
                            "severity": alert.severity,
                            "summary": alert.summary,
                            "status": status.value,
                            "detail": {**alert.detail, "channels": channels},
                        }
                        for alert, status, channels in outcomes
                    ],
                )
            if cursor is not None:
                await write_flag(session, CURSOR_FLAG, {"delivery_event_id": cursor}, by=self.holder)
        return [(alert, status) for alert, status, _ in outcomes]


async def recent_alerts(
    session: AsyncSession, *, limit: int = 100, before: int | None = None
) -> list[AlertRecord]:
    """The alert log, newest first (`before`: an id, for the next page)."""
    query = select(AlertRecord).order_by(AlertRecord.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AlertRecord.id < before)
    return list(await session.scalars(query))
