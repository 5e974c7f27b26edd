"""When a credential or a `/vxp` system was last used: written at most once a minute each, after the
request, so that authenticating stays one indexed read and never waits on a write."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from app.auth.service import Principal
from app.kit.clock import utcnow
from app.kit.db import Database
from app.models import Credential, VxpSystem

log = logging.getLogger(__name__)


class UsageRecorder:
    """Remembers which credentials it wrote recently, so a busy credential costs one write a minute."""

    def __init__(self, database: Database, *, interval_seconds: float) -> None:
        self.database = database
        self.interval = interval_seconds
        self._written: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, principal: Principal) -> None:
        self._seen(Credential, principal.credential_id, principal.last_used_at)

    def seen_system(self, system_id: str, last_used_at: datetime | None) -> None:
        self._seen(VxpSystem, system_id, last_used_at)

    def _seen(self, model: type[Credential] | type[VxpSystem], key: str, stored: datetime | None) -> None:
        now = utcnow()
        if stored is not None and now - stored < timedelta(seconds=self.interval):
            return
        memo = (model.__tablename__, key)
        if time.monotonic() - self._written.get(memo, float("-inf")) < self.interval:
            return
        self._written[memo] = time.monotonic()
        if len(self._written) > 10_000:
            self._forget_old()
        task = asyncio.create_task(self._write(model, key, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, model: type[Credential] | type[VxpSystem], key: str, at: datetime) -> None:
        try:
            async with self.database.transaction() as session:
                await session.execute(update(model).where(model.id == key).values(last_used_at=at))
        except (OSError, SQLAlchemyError) as error:  # a lost last-used time is not worth a failure
            log.warning("could not record the use of %s %s: %s", model.__tablename__, key, error)

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self.interval
        for memo in [m for m, at in self._written.items() if at < horizon]:
            del self._written[memo]

    async def flush(self) -> None:
        """Wait for the writes under way (on shutdown)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


def usage_recorder(state: Any) -> UsageRecorder:
    """The app's recorder (`app.state.credential_use`), made on first use for the app's database."""
    found: UsageRecorder | None = getattr(state, "credential_use", None)
    if found is None:
        found = UsageRecorder(state.database, interval_seconds=state.settings.credential_touch_seconds)
        state.credential_use = found
    return found
