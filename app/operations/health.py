"""Liveness and readiness, for load balancers and orchestrators.

Module-level endpoints that read the running app from the request: endpoints defined inside
`create_app` would close over the app, and FastAPI's caches of endpoint callables would then keep
every app a process ever made (the test suite makes well over a thousand)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.auth.audience import Operator
from app.axis.inbound import AxisInbound
from app.delivery.runtime import Dispatch
from app.kit.errors import ServiceUnavailable

router = APIRouter(tags=["operations"], dependencies=[Operator])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, object]:
    """Readiness: the database answers and a signing key is loaded; the broker's and the national
    axis's states are reported."""
    state = request.app.state
    try:
        async with state.database.reading() as session:
            await session.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError) as error:
        raise ServiceUnavailable(f"the database does not answer: {type(error).__name__}") from None
    dispatch: Dispatch = state.dispatch
    inbound: AxisInbound | None = state.axis_inbound
    maintenance = await state.maintenance.current()
    return {
        "status": "maintenance" if maintenance.on else "ready",
        "database": "ok",
        "signing_key": state.sealer.key_id,
        # Intake does not need the broker (the outbox keeps what it accepts); with RabbitMQ only the
        # workers talk to it (their relays publish), and they log when they cannot.
        "broker": "embedded" if dispatch.embedded else "workers",
        # Likewise the axis: documents for it wait in their deliveries until it answers.
        "axis": "not configured" if inbound is None else inbound.state.report(),
        # Intake is closed while on; everything else (deliveries, pickups) goes on.
        "maintenance": asdict(maintenance),
    }
