"""The transparency log's background work inside the gateway: the integrator (one replica at a time,
by lease), the TSA anchoring of checkpoints, and payload retention. None of it is on the exchange's
path: each can fail, and exchange carries on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app.audit.anchor import Anchoring
from app.audit.integrator import Integrator
from app.audit.retention import run_retention
from app.config import Settings
from app.kit.db import Database

log = logging.getLogger(__name__)


def start_audit_tasks(
    state: Any, database: Database, settings: Settings, master_key: bytes
) -> list[asyncio.Task[None]]:
    """Start what is configured; the caller cancels the tasks on shutdown."""
    tasks: list[asyncio.Task[None]] = []
    state.integrator = None
    state.anchoring = None
    if settings.audit_integrator:
        integrator = Integrator(database, settings, master_key)
        state.integrator = integrator
        tasks.append(asyncio.create_task(integrator.run()))
    if settings.audit_tsa_url:
        anchoring = Anchoring(database, settings)
        state.anchoring = anchoring
        tasks.append(asyncio.create_task(anchoring.run()))
    if settings.payload_retention_days:
        tasks.append(asyncio.create_task(run_retention(database, settings)))
    return tasks
