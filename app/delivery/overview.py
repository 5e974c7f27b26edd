"""The numbers of the console's overview page (Tổng quan): where deliveries stand, how much arrived,
what is waiting and what failed. Read-only; each figure is one indexed query, so the page stays fast
with millions of deliveries: deliveries still in play (queued … failed) are counted whatever their
age, through the state index; settled ones (delivered, discarded), which pile up for ever, only over
the last 24 hours, as a range of the time-ordered primary key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.ids import id_floor
from app.models import Delivery, DeliveryState, Document, SigningKey

WAITING = (DeliveryState.QUEUED, DeliveryState.RETRYING)
SETTLED = (DeliveryState.DELIVERED, DeliveryState.DISCARDED)  # counted over the last 24 hours
IN_PLAY = tuple(state for state in DeliveryState if state not in SETTLED)  # counted whatever their age
HOURS = 24  # bars of the throughput chart, one an hour


@dataclass
class Overview:
    at: datetime
    by_state: dict[str, int]  # deliveries in play now; delivered and discarded: in the last 24 hours
    by_connector: dict[str, dict[str, int]]  # connector -> state -> count, counted as by_state
    created_last_day: int  # deliveries created in the last 24 hours
    documents_last_hour: int
    documents_last_day: int
    throughput: list[tuple[datetime, int]]  # documents received per hour, oldest hour first
    backlog: int  # waiting deliveries not yet handed to the broker (the outbox)
    oldest_waiting_id: str | None
    oldest_waiting_since: datetime | None
    failures_last_day: int
    signing_key_id: str | None
    signing_key_not_after: datetime | None


async def overview(session: AsyncSession, *, now: datetime | None = None) -> Overview:
    now = now or utcnow()
    day_ago = now - timedelta(hours=HOURS)
    by_state: dict[str, int] = {state.value: 0 for state in DeliveryState}
    by_connector: dict[str, dict[str, int]] = {}
    recent = Delivery.id >= id_floor(int(day_ago.timestamp() * 1000))
    for condition in (
        Delivery.state.in_([s.value for s in IN_PLAY]),
        and_(Delivery.state.in_([s.value for s in SETTLED]), recent),
    ):
        counted = await session.execute(
            select(Delivery.connector, Delivery.state, func.count())
            .where(condition)
            .group_by(Delivery.connector, Delivery.state)
        )
        for connector, state, count in counted:
            by_state[state] = by_state.get(state, 0) + count
            by_connector.setdefault(connector, {})[state] = count
    created = await session.scalar(select(func.count()).select_from(Delivery).where(recent))

    first_hour = (now - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    hour = func.floor((func.extract("epoch", Document.received_at) - first_hour.timestamp()) / 3600)
    received = await session.execute(
        select(hour.label("h"), func.count()).where(Document.received_at >= first_hour).group_by("h")
    )
    per_hour = {int(hour): count for hour, count in received}
    throughput = [(first_hour + timedelta(hours=h), per_hour.get(h, 0)) for h in range(HOURS)]
    documents_last_hour = await _count(session, Document.received_at >= now - timedelta(hours=1))
    documents_last_day = await _count(session, Document.received_at >= day_ago)

    backlog = await session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.state.in_([s.value for s in WAITING]), Delivery.dispatched_at.is_(None))
    )
    # Ids are time-ordered: the smallest id of a waiting state is its oldest delivery.
    oldest_ids = [
        await session.scalar(select(func.min(Delivery.id)).where(Delivery.state == state.value))
        for state in WAITING
    ]
    oldest_id = min((i for i in oldest_ids if i), default=None)
    oldest_since = (
        await session.scalar(select(Delivery.created_at).where(Delivery.id == oldest_id))
        if oldest_id
        else None
    )
    failures = await session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.state == DeliveryState.FAILED.value, Delivery.updated_at >= day_ago)
    )
    key = (
        await session.execute(select(SigningKey.id, SigningKey.not_after).where(SigningKey.active))
    ).first()
    return Overview(
        at=now,
        by_state=by_state,
        by_connector=dict(sorted(by_connector.items())),
        created_last_day=int(created or 0),
        documents_last_hour=documents_last_hour,
        documents_last_day=documents_last_day,
        throughput=throughput,
        backlog=int(backlog or 0),
        oldest_waiting_id=oldest_id,
        oldest_waiting_since=oldest_since,
        failures_last_day=int(failures or 0),
        signing_key_id=key.id if key else None,
        signing_key_not_after=key.not_after if key else None,
    )


async def _count(session: AsyncSession, condition: object) -> int:
    return int(await session.scalar(select(func.count()).select_from(Document).where(condition)) or 0)  # type: ignore[arg-type]
