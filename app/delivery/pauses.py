"""Paused connectors and endpoints: operators stop handing out deliveries to a connector, or to one
agency's endpoint on it, while the receiver is being repaired.

A pause is enforced in one place, where due deliveries are selected (`due_query`): paused ones
stay `queued` or `retrying`, spend no attempt and never fail; on resume the relay hands them out at
its next round. A delivery already with the broker when the pause is set is still attempted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agencies.codes import AgencyCode, InvalidAgencyCode
from app.audit.log import record_admin_action
from app.kit.errors import BadRequest, NotFound, Problem
from app.models import ConnectorPause, Delivery
from app.routing.service import Connector


def not_paused() -> ColumnElement[bool]:
    """The due-selection filter: the delivery's connector, and its recipient on that connector, are
    not paused."""
    return ~exists().where(
        ConnectorPause.connector == Delivery.connector,
        or_(ConnectorPause.agency_code.is_(None), ConnectorPause.agency_code == Delivery.recipient_code),
    )


@dataclass(frozen=True, slots=True)
class Pause:
    connector: str
    agency_code: str | None
    reason: str
    paused_at: datetime
    paused_by: str

    @classmethod
    def of(cls, row: ConnectorPause) -> Pause:
        return cls(row.connector, row.agency_code, row.reason, row.paused_at, row.paused_by)


def _scope(connector: str, agency_code: str | None) -> str:
    return connector if agency_code is None else f"{connector}/{agency_code}"


def _checked(connector: str, agency_code: str | None) -> tuple[str, str | None]:
    if connector not in {c.value for c in Connector}:
        known = ", ".join(c.value for c in Connector)
        raise NotFound(f"unknown connector {connector!r}; known: {known}")
    if agency_code is None:
        return connector, None
    try:
        return connector, str(AgencyCode.parse(agency_code))
    except InvalidAgencyCode as error:
        raise BadRequest(str(error), [Problem("/agency_code", "invalid-code", str(error))]) from None


async def list_pauses(session: AsyncSession) -> list[Pause]:
    """Every pause in force, connectors first."""
    rows = await session.scalars(
        select(ConnectorPause).order_by(ConnectorPause.connector, ConnectorPause.agency_code)
    )
    return [Pause.of(row) for row in rows]


async def pause(
    session: AsyncSession, *, connector: str, agency_code: str | None = None, reason: str = "", actor: str
) -> Pause:
    """Pause a connector, or one agency's endpoint on it (again: the reason is updated)."""
    connector, agency_code = _checked(connector, agency_code)
    scope = _scope(connector, agency_code)
    row = await session.get(ConnectorPause, scope)
    if row is None:
        row = ConnectorPause(scope=scope, connector=connector, agency_code=agency_code, paused_by=actor)
        session.add(row)
    row.reason = reason
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action="connector.pause",
        target=scope,
        connector=connector,
        agency_code=agency_code,
        reason=reason,
    )
    return Pause.of(row)


async def resume(
    session: AsyncSession, *, connector: str, agency_code: str | None = None, actor: str
) -> None:
    """Lift a pause: the waiting deliveries are handed out at the relay's next round."""
    connector, agency_code = _checked(connector, agency_code)
    scope = _scope(connector, agency_code)
    row = await session.get(ConnectorPause, scope)
    if row is None:
        raise NotFound(f"{scope} is not paused")
    await session.delete(row)
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action="connector.resume",
        target=scope,
        connector=connector,
        agency_code=agency_code,
    )
