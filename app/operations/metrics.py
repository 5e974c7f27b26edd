"""Prometheus metrics (`/metrics`): counters kept by each process, and gauges read from the database.

Process counters: intake outcomes and latency (the gateway's intake doors), delivery attempts by
connector and outcome (wherever connector workers run: the gateway on the embedded default, each
`lienthong worker` otherwise). Database gauges, on the gateway only: deliveries per state and
connector, the oldest due delivery's age per connector, the signing certificate's expiry, the axis's
last answered poll — read with a few grouped queries, at most every SNAPSHOT_SECONDS whatever the
number of scrapers (the settled deliveries, most of a large table, every SETTLED_SNAPSHOT_SECONDS),
so that a scrape stays cheap on a large history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.audience import Operator
from app.kit.clock import utcnow
from app.kit.db import Database
from app.models import Delivery, DeliveryState, SigningKey
from app.operations.flags import read_flag
from app.operations.maintenance import REST_INTAKE, VXP_INTAKE
from app.routing.service import Connector as ConnectorName
from connectors.base import Connector, Job, Outcome, OutcomeKind

SNAPSHOT_SECONDS = 5.0
AXIS_FLAG = "axis"  # the axis poller's last report, mirrored into hub_flags (app.operations.alerts)

INTAKE_TOTAL = Counter(
    "lienthong_intake_total",
    "Intake requests (documents, statuses, /vxp sendEdoc) by outcome: accepted (2xx), rejected (4xx), "
    "unavailable (503: maintenance or the database away), error (other 5xx)",
    ["outcome"],
)
INTAKE_SECONDS = Histogram(
    "lienthong_intake_seconds",
    "Time to answer an intake request, from its first byte to the end of the answer",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
ATTEMPTS_TOTAL = Counter(
    "lienthong_attempts_total",
    "Delivery attempts finished by this process, by connector and outcome "
    "(delivered, awaiting_pickup, transient, permanent; crashed: the connector raised)",
    ["connector", "outcome"],
)
for _outcome in ("accepted", "rejected", "unavailable", "error"):
    INTAKE_TOTAL.labels(_outcome)


def intake_outcome(status: int) -> str:
    if status < 400:
        return "accepted"
    if status < 500:
        return "rejected"
    return "unavailable" if status == 503 else "error"


class IntakeMetrics:
    """ASGI middleware: counts and times the intake doors' answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        door = (scope.get("method"), scope.get("path"))
        if scope["type"] != "http" or (door not in REST_INTAKE and door not in VXP_INTAKE):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            INTAKE_SECONDS.observe(time.perf_counter() - started)
            INTAKE_TOTAL.labels(intake_outcome(status)).inc()


class CountedConnector:
    """A connector whose attempts are counted in `lienthong_attempts_total`."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.name = inner.name
        self.needs_payload = inner.needs_payload
        for kind in (*OutcomeKind, "crashed"):
            ATTEMPTS_TOTAL.labels(self.name, str(kind))

    async def deliver(self, job: Job) -> Outcome:
        try:
            outcome = await self.inner.deliver(job)
        except Exception:
            ATTEMPTS_TOTAL.labels(self.name, "crashed").inc()
            raise
        ATTEMPTS_TOTAL.labels(self.name, outcome.kind.value).inc()
        return outcome

    async def close(self) -> None:
        await self.inner.close()


def counted(connectors: Mapping[str, Connector]) -> dict[str, Connector]:
    return {name: CountedConnector(connector) for name, connector in connectors.items()}


# Gauges from the database


@dataclass
class Snapshot:
    """What the database says, as of `at`."""

    at: datetime
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, connector) -> count
    oldest_due: dict[str, datetime] = field(default_factory=dict)  # connector -> oldest due time
    certificate_expiry: datetime | None = None
    axis_last_poll: datetime | None = None

    def oldest_due_seconds(self, connector: str) -> float:
        due = self.oldest_due.get(connector)
        return max(0.0, (self.at - due).total_seconds()) if due else 0.0


SETTLED = (DeliveryState.DELIVERED.value, DeliveryState.DISCARDED.value)
LIVE = tuple(state.value for state in DeliveryState if state.value not in SETTLED)
SETTLED_SNAPSHOT_SECONDS = 60.0  # settled deliveries are most of a large table: counted less often


async def delivery_counts(
    session: AsyncSession, *, states: Sequence[str] | None = None
) -> dict[tuple[str, str], int]:
    """Deliveries per (state, connector), of the given states (all by default): one grouped query.
    The live states are a small part of the table and found by the index on state; counting the
    settled ones reads the whole table."""
    query = select(Delivery.state, Delivery.connector, func.count()).group_by(
        Delivery.state, Delivery.connector
    )
    if states is not None:
        query = query.where(Delivery.state.in_(states))
    return {(state, connector): int(count) for state, connector, count in await session.execute(query)}


async def oldest_due(session: AsyncSession, *, now: datetime) -> dict[str, datetime]:
    """Per connector, since when its longest-waiting due delivery (queued or retrying, its time come)
    has been waiting."""
    rows = await session.execute(
        select(Delivery.connector, func.min(Delivery.next_attempt_at))
        .where(
            Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.RETRYING]),
            Delivery.next_attempt_at <= now,
        )
        .group_by(Delivery.connector)
    )
    return {connector: due for connector, due in rows if due is not None}


async def read_snapshot(
    session: AsyncSession, *, now: datetime | None = None, settled: dict[tuple[str, str], int] | None = None
) -> Snapshot:
    """The gauges' values; `settled`: counts of settled deliveries read earlier (else read now)."""
    now = now or utcnow()
    snapshot = Snapshot(at=now)
    if settled is None:
        settled = await delivery_counts(session, states=SETTLED)
    snapshot.deliveries = {**settled, **await delivery_counts(session, states=LIVE)}
    snapshot.oldest_due = await oldest_due(session, now=now)
    snapshot.certificate_expiry = await session.scalar(
        select(SigningKey.not_after).where(SigningKey.active.is_(True)).limit(1)
    )
    axis = await read_flag(session, AXIS_FLAG)
    if axis is not None and axis.value.get("last_answer_at"):
        snapshot.axis_last_poll = datetime.fromisoformat(str(axis.value["last_answer_at"]))
    return snapshot


class DatabaseCollector(Collector):
    """Turns the latest snapshot into gauges (every state and connector, zeros included)."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        if snapshot is None:
            return
        connectors = sorted({c.value for c in ConnectorName} | {c for _, c in snapshot.deliveries})
        deliveries = GaugeMetricFamily(
            "lienthong_deliveries", "Deliveries by state and connector", labels=["state", "connector"]
        )
        for state in DeliveryState:
            for connector in connectors:
                deliveries.add_metric(
                    [state.value, connector], snapshot.deliveries.get((state, connector), 0)
                )
        yield deliveries
        oldest = GaugeMetricFamily(
            "lienthong_delivery_oldest_due_seconds",
            "How long the connector's longest-waiting due delivery has waited (0: none due)",
            labels=["connector"],
        )
        for connector in connectors:
            oldest.add_metric([connector], snapshot.oldest_due_seconds(connector))
        yield oldest
        if snapshot.certificate_expiry is not None:
            yield GaugeMetricFamily(
                "lienthong_signing_certificate_expiry_timestamp_seconds",
                "When the active signing key's certificate expires (Unix time)",
                value=snapshot.certificate_expiry.timestamp(),
            )
        if snapshot.axis_last_poll is not None:
            yield GaugeMetricFamily(
                "lienthong_axis_last_poll_timestamp_seconds",
                "When the national axis last answered the hub's poll (Unix time)",
                value=snapshot.axis_last_poll.timestamp(),
            )


class GatewayMetrics:
    """The gateway's `/metrics`: the process's counters and the database gauges."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.collector = DatabaseCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._lock = asyncio.Lock()
        self._read_at = float("-inf")
        self._settled: dict[tuple[str, str], int] | None = None
        self._settled_at = float("-inf")

    async def refresh(self, axis_answer: datetime | None = None) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < SNAPSHOT_SECONDS:
                return
            async with self.database.reading() as session:
                if time.monotonic() - self._settled_at >= SETTLED_SNAPSHOT_SECONDS:
                    self._settled = await delivery_counts(session, states=SETTLED)
                    self._settled_at = time.monotonic()
                snapshot = await read_snapshot(session, settled=self._settled)
            # This process's own poller knows better than the mirrored report, which lags a round.
            if axis_answer is not None and (
                snapshot.axis_last_poll is None or axis_answer > snapshot.axis_last_poll
            ):
                snapshot.axis_last_poll = axis_answer
            self.collector.snapshot = snapshot
            self._read_at = time.monotonic()

    async def render(self, axis_answer: datetime | None = None) -> bytes:
        try:
            await self.refresh(axis_answer)
        except Exception:  # the database is away: the process counters are still worth serving
            self.collector.snapshot = None
        return generate_latest(REGISTRY) + generate_latest(self.registry)


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    dependencies=[Operator],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this gateway (and of the database it serves)."""
    gateway: GatewayMetrics = request.app.state.metrics
    inbound: Any = getattr(request.app.state, "axis_inbound", None)
    answer = inbound.state.last_answer_at if inbound is not None and inbound.state.polling_here else None
    return Response(await gateway.render(answer), media_type=CONTENT_TYPE_LATEST)
