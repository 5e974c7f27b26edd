"""Maintenance mode (chế độ bảo trì): while on, intake answers 503 with Retry-After — the REST intake
with a problem body, `/vxp/sendEdoc` in the axis protocol's own shape — and everything else goes on:
deliveries, pickups, status reads, the console.

The switch is a row of `hub_flags`, so every replica sees it; each gateway reads it at most every
`REFRESH_SECONDS` (a switch made through this gateway's admin API applies here at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from app.audit.log import record_admin_action
from app.axis.protocol import ErrorCode, failure
from app.kit.db import Database
from app.kit.errors import PROBLEM_JSON, ServiceUnavailable
from app.operations.flags import read_flag, write_flag

log = logging.getLogger(__name__)

FLAG = "maintenance"
REFRESH_SECONDS = 2.0
MAX_MESSAGE = 500

#: The intake doors maintenance mode closes: (method, path).
REST_INTAKE = frozenset({("POST", "/api/v1/documents"), ("POST", "/api/v1/statuses")})
VXP_INTAKE = frozenset({("POST", "/vxp/sendEdoc")})


@dataclass(frozen=True, slots=True)
class MaintenanceState:
    """Whether the hub is in maintenance mode, since when, by whom, and what operators told callers."""

    on: bool
    message: str = ""
    since: datetime | None = None
    by: str = ""

    def explanation(self) -> str:
        """The refusal's text, Vietnamese first."""
        text = (
            "Hệ thống đang bảo trì, chưa nhận văn bản / The hub is under maintenance and takes no documents"
        )
        return f"{text}: {self.message}" if self.message else text


OFF = MaintenanceState(on=False)


async def maintenance_state(session: AsyncSession) -> MaintenanceState:
    """The current state (the console's banner, `/readyz`, the intake guard)."""
    flag = await read_flag(session, FLAG)
    if flag is None or not flag.value.get("on"):
        return OFF
    return MaintenanceState(
        on=True, message=str(flag.value.get("message", "")), since=flag.updated_at, by=flag.updated_by
    )


async def set_maintenance(
    session: AsyncSession, *, on: bool, message: str = "", actor: str
) -> MaintenanceState:
    """Switch maintenance mode on (with a message for callers) or off; admin-logged."""
    message = message.strip()[:MAX_MESSAGE] if on else ""
    await write_flag(session, FLAG, {"on": on, "message": message}, by=actor)
    record_admin_action(
        session,
        actor=actor,
        action="maintenance.on" if on else "maintenance.off",
        target=FLAG,
        message=message,
    )
    return await maintenance_state(session)


class MaintenanceCache:
    """This process's view of the switch, read from the database at most every REFRESH_SECONDS."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._state = OFF
        self._read_at = float("-inf")
        self._reading = asyncio.Lock()  # concurrent requests share one read

    def remember(self, state: MaintenanceState) -> None:
        self._state, self._read_at = state, time.monotonic()

    def _stale(self) -> bool:
        return time.monotonic() - self._read_at >= REFRESH_SECONDS

    async def current(self) -> MaintenanceState:
        if self._stale():
            async with self._reading:
                if self._stale():
                    try:
                        async with self.database.reading() as session:
                            self.remember(await maintenance_state(session))
                    except Exception as error:  # the database is away: intake will say so itself
                        log.warning("could not read the maintenance switch: %r", error)
        return self._state


class UnderMaintenance(ServiceUnavailable):
    kind, title = "maintenance", "Under maintenance"


class MaintenanceGuard:
    """ASGI middleware: while in maintenance mode, the intake doors answer 503 + Retry-After."""

    def __init__(self, app: ASGIApp, *, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        door = (scope["method"], scope["path"])
        if door not in REST_INTAKE and door not in VXP_INTAKE:
            await self.app(scope, receive, send)
            return
        cache: MaintenanceCache | None = getattr(scope["app"].state, "maintenance", None)
        state = await cache.current() if cache is not None else OFF
        if not state.on:
            await self.app(scope, receive, send)
            return
        headers = {"Retry-After": str(self.retry_after)}
        body: dict[str, Any]
        if door in VXP_INTAKE:
            body, media_type = failure(ErrorCode.SYSTEM_ERROR, state.explanation()), "application/json"
        else:
            error = UnderMaintenance(state.explanation(), retry_after=self.retry_after)
            body, media_type = error.to_problem(instance=scope["path"]), PROBLEM_JSON
        response = JSONResponse(body, status_code=503, headers=headers, media_type=media_type)
        await response(scope, receive, send)
