"""The app factory: routers, error handlers, and the per-process objects the lifespan opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.agencies.admin import router as agencies_admin_router
from app.agencies.endpoints import router as agencies_router
from app.audit.endpoints import evidence_router as audit_evidence_router
from app.audit.endpoints import router as audit_router
from app.audit.runtime import start_audit_tasks
from app.auth.admin_endpoints import router as credentials_admin_router
from app.auth.usage import UsageRecorder
from app.axis.client import AxisClient
from app.axis.inbound import AxisInbound
from app.axis_api.admin_endpoints import router as vxp_systems_admin_router
from app.axis_api.endpoints import edge_refusal as vxp_edge_refusal
from app.axis_api.endpoints import router as vxp_router
from app.config import Settings, get_settings
from app.console import install_console
from app.delivery.admin_endpoints import router as admin_deliveries_router
from app.delivery.endpoints import router as inbox_router
from app.delivery.runtime import Dispatch
from app.documents.endpoints import router as documents_router
from app.edxml.schema import load as load_schemas
from app.kit.db import Database
from app.kit.edge import EdgeGuard
from app.kit.errors import install_error_handlers
from app.kit.secrets import load_master_key
from app.operations.alerts import AlertEngine, AxisReport
from app.operations.endpoints import router as operations_router
from app.operations.health import router as health_router
from app.operations.maintenance import MaintenanceCache, MaintenanceGuard
from app.operations.metrics import GatewayMetrics, IntakeMetrics
from app.operations.metrics import router as metrics_router
from app.reports.dispatch import MonthlyReports, Snapshots
from app.reports.endpoints import router as reports_router
from app.routing.endpoints import router as routes_router
from app.sealing.endpoints import router as sealing_router
from app.sealing.service import follow_active_key, load_active_sealer
from app.statuses.endpoints import router as statuses_router
from connectors.national_axis import axis_client


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.effective_database_url)
        try:
            load_schemas()
            master_key = load_master_key(settings)
            async with database.reading() as session:
                app.state.sealer = await load_active_sealer(session, master_key)
            app.state.database = database
            app.state.credential_use = UsageRecorder(
                database, interval_seconds=settings.credential_touch_seconds
            )
            app.state.master_key = master_key  # the /vxp systems' secrets are encrypted with it
            dispatch = Dispatch(database, settings)
            app.state.dispatch = dispatch
            await dispatch.start()
            axis = axis_client(settings)
            tasks = _background_tasks(app, database, settings, master_key, axis, dispatch)
            try:
                yield
            finally:
                if app.state.integrator is not None:  # it writes often: let it end its round first
                    await app.state.integrator.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if axis is not None:
                    await axis.aclose()
                await dispatch.stop()
                await app.state.credential_use.flush()
        finally:
            await database.dispose()

    app = FastAPI(
        title="Liên Thông hub",
        version="0.1.0",
        summary="Carries edXML official documents between agencies and the national document axis.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # The machine path, as a document travels: intake, statuses, the inbox, the directory and the
    # hub's certificates, and the axis-compatible API.
    app.include_router(documents_router)
    app.include_router(statuses_router)
    app.include_router(inbox_router)
    app.include_router(agencies_router)
    app.include_router(sealing_router)
    app.include_router(vxp_router, include_in_schema=True, tags=["axis-compatible API"])
    # Beside it, for people: the admin API, the auditors' log, the reports, operations, the console.
    for router in (
        admin_deliveries_router,
        routes_router,
        agencies_admin_router,
        credentials_admin_router,
        vxp_systems_admin_router,
        operations_router,
        audit_router,
        audit_evidence_router,
        reports_router,
        metrics_router,
        health_router,
    ):
        app.include_router(router)
    install_console(app, settings)
    # Middleware: the last added is the outermost. The HTTP edge (docs/security.md) sees every request
    # first: no redirect built from the Host header, limits on headers, on the time to receive a body
    # and on requests per client; then the intake metrics, which also count the maintenance guard's 503s.
    app.add_middleware(MaintenanceGuard, retry_after=settings.maintenance_retry_after_seconds)
    app.add_middleware(IntakeMetrics)
    app.router.redirect_slashes = False
    app.add_middleware(
        EdgeGuard,
        max_header_count=settings.max_header_count,
        max_header_bytes=settings.max_header_bytes,
        receive_timeout=settings.request_receive_timeout_seconds,
        max_requests_per_client=settings.max_requests_per_client,
        answers={vxp_router.prefix: vxp_edge_refusal},
    )

    return app


def _background_tasks(
    app: FastAPI,
    database: Database,
    settings: Settings,
    master_key: bytes,
    axis: AxisClient | None,
    dispatch: Dispatch,
) -> list[asyncio.Task[None]]:
    """The gateway's own loops: hearing of directory changes (`app.kit.changes`), following the
    active signing key, the transparency log, the axis poller, the alert rules and the reports.
    Those that only one replica should run hold a lease."""
    tasks = [
        asyncio.create_task(database.changes.listen()),
        asyncio.create_task(
            follow_active_key(app.state, database, master_key, interval=settings.key_refresh_seconds)
        ),
    ]
    tasks += start_audit_tasks(app.state, database, settings, master_key)
    app.state.axis_inbound = None
    if axis is not None:
        inbound = AxisInbound(
            database, axis, settings, sealer=lambda: app.state.sealer, on_stored=dispatch.wake
        )
        app.state.axis_inbound = inbound
        tasks.append(asyncio.create_task(inbound.run()))
    app.state.maintenance = MaintenanceCache(database)
    app.state.metrics = GatewayMetrics(database)
    alerts = AlertEngine(database, settings, axis=lambda: _axis_report(app.state.axis_inbound))
    tasks.append(asyncio.create_task(alerts.run()))
    if settings.report_schedule_to:
        reports = MonthlyReports(database, settings, sealer=lambda: app.state.sealer)
        tasks.append(asyncio.create_task(reports.run()))
    if settings.report_snapshot_seconds > 0:
        tasks.append(asyncio.create_task(Snapshots(database, settings).run()))
    return tasks


def _axis_report(inbound: AxisInbound | None) -> AxisReport | None:
    """What this process's axis poller saw, if it is the one polling."""
    if inbound is None or not inbound.state.polling_here:
        return None
    state = inbound.state
    return AxisReport(state.last_answer_at, state.last_problem, state.last_problem_at)
