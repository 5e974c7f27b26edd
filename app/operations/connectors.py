"""Connector health (per connector and per endpoint), and "test this endpoint".

Health is read from the recent attempts (success rate, the last error) and from the deliveries
(how many wait, how many failed, the oldest due); pauses come from `app.delivery.pauses`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record_admin_action
from app.config import Settings
from app.delivery.pauses import Pause, list_pauses
from app.kit.clock import utcnow
from app.kit.errors import BadRequest, NotFound
from app.models import Agency, Attempt, Delivery
from app.operations.metrics import LIVE, delivery_counts, oldest_due
from app.routing.service import Connector

SUCCESS = ("delivered", "awaiting_pickup")
FAILURE = ("transient", "permanent", "crashed", "interrupted")
TEST_TIMEOUT_CAP = 15.0  # seconds: a test answers an operator who is waiting


@dataclass
class EndpointHealth:
    """One recipient on one connector, over the window."""

    connector: str
    agency_code: str
    endpoint: str | None = None
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    paused: Pause | None = None

    @property
    def success_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return self.succeeded / done if done else None


@dataclass
class ConnectorHealth:
    name: str
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    deliveries: dict[str, int] = field(default_factory=dict)  # by state, the unsettled ones
    oldest_due_seconds: float = 0.0
    paused: Pause | None = None
    paused_endpoints: int = 0

    @property
    def success_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return self.succeeded / done if done else None


async def endpoint_health(
    session: AsyncSession,
    *,
    connector: str | None = None,
    window: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> list[EndpointHealth]:
    """Per (connector, recipient) with attempts in the window, worst success rate first; paused
    endpoints are listed even without attempts."""
    now = now or utcnow()
    since = now - window
    success = Attempt.outcome.in_(SUCCESS)
    failure = Attempt.outcome.in_(FAILURE)
    filters = [Attempt.started_at >= since]
    if connector is not None:
        filters.append(Delivery.connector == connector)
    grouped = await session.execute(
        select(
            Delivery.connector,
            Delivery.recipient_code,
            func.count(),
            func.sum(case((success, 1), else_=0)),
            func.sum(case((failure, 1), else_=0)),
            func.max(case((success, Attempt.ended_at))),
            func.max(case((failure, Attempt.started_at))),
        )
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(*filters)
        .group_by(Delivery.connector, Delivery.recipient_code)
    )
    found: dict[tuple[str, str], EndpointHealth] = {}
    for name, code, count, ok, bad, last_ok, last_bad in grouped:
        found[(name, code)] = EndpointHealth(
            name,
            code,
            attempts=int(count),
            succeeded=int(ok or 0),
            failed=int(bad or 0),
            last_success_at=last_ok,
            last_error_at=last_bad,
        )
    # The last error's text: the failed attempt that started last in each group.
    latest = (
        select(Delivery.connector, Delivery.recipient_code, func.max(Attempt.started_at).label("at"))
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(*filters, failure)
        .group_by(Delivery.connector, Delivery.recipient_code)
        .subquery()
    )
    errors = await session.execute(
        select(Delivery.connector, Delivery.recipient_code, Attempt.error, Attempt.http_status)
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .join(
            latest,
            and_(
                latest.c.connector == Delivery.connector,
                latest.c.recipient_code == Delivery.recipient_code,
                latest.c.at == Attempt.started_at,
            ),
        )
        .where(failure)
    )
    for name, code, error, status in errors:
        health = found.get((name, code))
        if health is not None:
            health.last_error = error or (f"HTTP {status}" if status else "failed")
    for pause in await list_pauses(session):
        if pause.agency_code is None or (connector is not None and pause.connector != connector):
            continue
        found.setdefault(
            (pause.connector, pause.agency_code), EndpointHealth(pause.connector, pause.agency_code)
        )
        found[(pause.connector, pause.agency_code)].paused = pause
    codes = {code for _, code in found}
    endpoints: dict[str, str | None] = {}
    if codes:
        rows = await session.execute(select(Agency.code, Agency.endpoint).where(Agency.code.in_(codes)))
        endpoints = {code: endpoint for code, endpoint in rows}
    for health in found.values():
        health.endpoint = endpoints.get(health.agency_code)
    return sorted(
        found.values(),
        key=lambda h: (h.success_rate if h.success_rate is not None else 2.0, h.connector, h.agency_code),
    )


async def connector_health(
    session: AsyncSession, *, window: timedelta = timedelta(hours=1), now: datetime | None = None
) -> list[ConnectorHealth]:
    """Every connector: attempts in the window, its deliveries not yet settled (delivered or
    discarded) by state, the oldest due, pauses."""
    now = now or utcnow()
    result = {c.value: ConnectorHealth(c.value) for c in Connector}
    for endpoint in await endpoint_health(session, window=window, now=now):
        health = result.setdefault(endpoint.connector, ConnectorHealth(endpoint.connector))
        health.attempts += endpoint.attempts
        health.succeeded += endpoint.succeeded
        health.failed += endpoint.failed
        if endpoint.last_error_at and (
            health.last_error_at is None or endpoint.last_error_at > health.last_error_at
        ):
            health.last_error, health.last_error_at = endpoint.last_error, endpoint.last_error_at
        if endpoint.paused is not None:
            health.paused_endpoints += 1
    for (state, name), count in (await delivery_counts(session, states=LIVE)).items():
        result.setdefault(name, ConnectorHealth(name)).deliveries[state] = count
    for name, due in (await oldest_due(session, now=now)).items():
        result.setdefault(name, ConnectorHealth(name)).oldest_due_seconds = max(
            0.0, (now - due).total_seconds()
        )
    for pause in await list_pauses(session):
        if pause.agency_code is None and pause.connector in result:
            result[pause.connector].paused = pause
    for health in result.values():
        for state in LIVE:
            health.deliveries.setdefault(state, 0)
    return [result[name] for name in sorted(result)]


@dataclass(frozen=True, slots=True)
class EndpointTest:
    agency_code: str
    endpoint: str
    reachable: bool  # an HTTP answer came back
    status: int | None
    latency_ms: float
    error: str | None


async def test_endpoint(
    session: AsyncSession, *, agency_code: str, settings: Settings, actor: str
) -> EndpointTest:
    """A harmless request (HEAD, nothing delivered) to the agency's QLVB endpoint: whether it answers,
    with what status, how fast. Admin-logged (the hub called out on the operator's behalf)."""
    agency = await session.get(Agency, agency_code)
    if agency is None:
        raise NotFound(f"unknown agency {agency_code}")
    if not agency.endpoint:
        raise BadRequest(f"{agency_code} has no delivery endpoint (it picks its documents up from its inbox)")
    timeout = min(agency.endpoint_timeout_seconds or settings.push_timeout_seconds, TEST_TIMEOUT_CAP)
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.head(
                agency.endpoint, headers={"X-Lienthong-Test": "1", "X-Lienthong-Recipient": agency_code}
            )
        status = response.status_code
    except httpx.TimeoutException:
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:300] or type(failure).__name__
    result = EndpointTest(
        agency_code=agency_code,
        endpoint=agency.endpoint,
        reachable=status is not None,
        status=status,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        error=error,
    )
    record_admin_action(
        session,
        actor=actor,
        action="connector.test-endpoint",
        target=agency_code,
        endpoint=agency.endpoint,
        status=status,
        latency_ms=result.latency_ms,
        error=error,
    )
    return result
