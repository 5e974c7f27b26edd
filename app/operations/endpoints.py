"""`/api/v1/admin/…` for operations: maintenance mode, connectors (health, pause, resume, test an
endpoint) and the alert log. Auditors read; admins change; every change is admin-logged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.auth.deps import AdminPrincipal, StaffPrincipal
from app.delivery.pauses import Pause, pause, resume
from app.kit.deps import ReadingSessionDep, SessionDep, SettingsDep
from app.kit.text import StorableText
from app.operations.alerts import recent_alerts
from app.operations.connectors import (
    ConnectorHealth,
    EndpointHealth,
    connector_health,
    endpoint_health,
    test_endpoint,
)
from app.operations.maintenance import MAX_MESSAGE, MaintenanceCache, MaintenanceState, set_maintenance
from app.operations.maintenance import maintenance_state as read_maintenance

router = APIRouter(prefix="/api/v1/admin", tags=["admin: operations"])

WindowQuery = Annotated[int, Query(ge=60, le=7 * 86400, description="seconds of attempts to look at")]


class MaintenanceOut(BaseModel):
    on: bool
    message: str
    since: datetime | None
    by: str

    @classmethod
    def of(cls, state: MaintenanceState) -> MaintenanceOut:
        return cls(on=state.on, message=state.message, since=state.since, by=state.by)


class MaintenanceIn(BaseModel):
    on: bool
    message: StorableText = Field(
        default="", max_length=MAX_MESSAGE, description="shown to callers refused meanwhile"
    )


class PauseOut(BaseModel):
    connector: str
    agency_code: str | None
    reason: str
    paused_at: datetime
    paused_by: str

    @classmethod
    def of(cls, p: Pause | None) -> PauseOut | None:
        return None if p is None else cls(**{f: getattr(p, f) for f in cls.model_fields})


class PauseIn(BaseModel):
    reason: StorableText = Field(default="", max_length=1000)


class ConnectorOut(BaseModel):
    name: str
    attempts: int
    succeeded: int
    failed: int
    success_rate: float | None = Field(description="of the finished attempts in the window; null: none")
    last_error: str | None
    last_error_at: datetime | None
    deliveries: dict[str, int] = Field(
        description="by state, those not settled: queued, sending, retrying, awaiting_pickup, failed"
    )
    oldest_due_seconds: float
    paused: PauseOut | None
    paused_endpoints: int

    @classmethod
    def of(cls, h: ConnectorHealth) -> ConnectorOut:
        return cls(
            name=h.name,
            attempts=h.attempts,
            succeeded=h.succeeded,
            failed=h.failed,
            success_rate=h.success_rate,
            last_error=h.last_error,
            last_error_at=h.last_error_at,
            deliveries=h.deliveries,
            oldest_due_seconds=round(h.oldest_due_seconds, 1),
            paused=PauseOut.of(h.paused),
            paused_endpoints=h.paused_endpoints,
        )


class EndpointOut(BaseModel):
    connector: str
    agency_code: str
    endpoint: str | None
    attempts: int
    succeeded: int
    failed: int
    success_rate: float | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    paused: PauseOut | None

    @classmethod
    def of(cls, h: EndpointHealth) -> EndpointOut:
        return cls(
            connector=h.connector,
            agency_code=h.agency_code,
            endpoint=h.endpoint,
            attempts=h.attempts,
            succeeded=h.succeeded,
            failed=h.failed,
            success_rate=h.success_rate,
            last_success_at=h.last_success_at,
            last_error=h.last_error,
            last_error_at=h.last_error_at,
            paused=PauseOut.of(h.paused),
        )


class EndpointTestOut(BaseModel):
    agency_code: str
    endpoint: str
    reachable: bool
    status: int | None
    latency_ms: float
    error: str | None


class AlertOut(BaseModel):
    id: int
    at: datetime
    rule: str
    key: str
    severity: str
    summary: str
    status: str = Field(description="sent, failed (a channel refused), suppressed (rate limit), logged")
    detail: dict[str, object]


# Maintenance


@router.get("/maintenance", response_model=MaintenanceOut)
async def get_maintenance(session: ReadingSessionDep, _principal: StaffPrincipal) -> MaintenanceOut:
    """Whether intake is closed for maintenance."""
    return MaintenanceOut.of(await read_maintenance(session))


@router.put("/maintenance", response_model=MaintenanceOut)
async def put_maintenance(
    request: Request, body: MaintenanceIn, session: SessionDep, principal: AdminPrincipal
) -> MaintenanceOut:
    """Switch maintenance mode: intake answers 503 + Retry-After while on; deliveries go on."""
    state = await set_maintenance(session, on=body.on, message=body.message, actor=principal.actor)
    await session.commit()  # before this gateway applies it
    cache: MaintenanceCache | None = getattr(request.app.state, "maintenance", None)
    if cache is not None:
        cache.remember(state)
    return MaintenanceOut.of(state)


# Connectors


@router.get("/connectors", response_model=list[ConnectorOut], tags=["admin: connectors"])
async def get_connectors(
    session: ReadingSessionDep, _principal: StaffPrincipal, window: WindowQuery = 3600
) -> list[ConnectorOut]:
    """Every connector's health: recent attempts and success rate, last error, deliveries by state,
    the oldest due delivery, pauses."""
    return [ConnectorOut.of(h) for h in await connector_health(session, window=timedelta(seconds=window))]


@router.get("/connectors/{name}/endpoints", response_model=list[EndpointOut], tags=["admin: connectors"])
async def get_endpoints(
    name: str, session: ReadingSessionDep, _principal: StaffPrincipal, window: WindowQuery = 3600
) -> list[EndpointOut]:
    """Health per recipient endpoint on the connector, the worst success rate first."""
    found = await endpoint_health(session, connector=name, window=timedelta(seconds=window))
    return [EndpointOut.of(h) for h in found]


@router.post("/connectors/{name}/pause", response_model=PauseOut, tags=["admin: connectors"])
async def pause_connector(
    name: str, body: PauseIn, session: SessionDep, principal: AdminPrincipal
) -> PauseOut:
    """Stop handing out the connector's deliveries: they wait, nothing fails, no attempt is spent."""
    result = PauseOut.of(await pause(session, connector=name, reason=body.reason, actor=principal.actor))
    assert result is not None
    return result


@router.post("/connectors/{name}/resume", tags=["admin: connectors"])
async def resume_connector(
    request: Request, name: str, session: SessionDep, principal: AdminPrincipal
) -> dict[str, str]:
    """Hand the waiting deliveries out again."""
    await resume(session, connector=name, actor=principal.actor)
    await session.commit()
    request.app.state.dispatch.wake()
    return {"resumed": name}


@router.post("/connectors/{name}/endpoints/{code}/pause", response_model=PauseOut, tags=["admin: connectors"])
async def pause_endpoint(
    name: str, code: str, body: PauseIn, session: SessionDep, principal: AdminPrincipal
) -> PauseOut:
    """Pause one agency's endpoint on the connector."""
    result = PauseOut.of(
        await pause(session, connector=name, agency_code=code, reason=body.reason, actor=principal.actor)
    )
    assert result is not None
    return result


@router.post("/connectors/{name}/endpoints/{code}/resume", tags=["admin: connectors"])
async def resume_endpoint(
    request: Request, name: str, code: str, session: SessionDep, principal: AdminPrincipal
) -> dict[str, str]:
    await resume(session, connector=name, agency_code=code, actor=principal.actor)
    await session.commit()
    request.app.state.dispatch.wake()
    return {"resumed": f"{name}/{code}"}


@router.post(
    "/connectors/qlvb-push/endpoints/{code}/test", response_model=EndpointTestOut, tags=["admin: connectors"]
)
async def test_agency_endpoint(
    code: str, session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> EndpointTestOut:
    """A harmless HEAD request to the agency's QLVB endpoint (nothing is delivered): whether it
    answers, its HTTP status and the latency."""
    result = await test_endpoint(session, agency_code=code, settings=settings, actor=principal.actor)
    return EndpointTestOut(**{f: getattr(result, f) for f in EndpointTestOut.model_fields})


# Alerts


@router.get("/alerts", response_model=list[AlertOut], tags=["admin: operations"])
async def get_alerts(
    session: ReadingSessionDep,
    _principal: StaffPrincipal,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="an id: the page before it")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """The alerts the hub raised, newest first, with what each channel answered."""
    return [
        AlertOut(
            id=a.id,
            at=a.at,
            rule=a.rule,
            key=a.key,
            severity=a.severity,
            summary=a.summary,
            status=a.status,
            detail=a.detail,
        )
        for a in await recent_alerts(session, limit=limit, before=before)
    ]
