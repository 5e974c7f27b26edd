"""What a hub needs before it serves: its schema, default routes, and in development the demo
directory and a signing key, so that `lienthong serve` works on an empty machine."""

from __future__ import annotations

import logging

from app.agencies.service import load_demo_directory_if_empty
from app.config import Environment, Settings
from app.kit.db import Database
from app.kit.migrate import upgrade
from app.kit.secrets import load_master_key
from app.routing.service import seed_default_routes
from app.sealing.service import ensure_development_key

log = logging.getLogger(__name__)


async def prepare(settings: Settings, *, migrate: bool) -> None:
    if migrate:
        await upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        async with database.transaction() as session:
            if await seed_default_routes(session, settings.hub_code):
                log.info("seeded the default routing rules")
            if settings.demo_directory_wanted and await load_demo_directory_if_empty(session):
                log.info("loaded the demo agency directory of province H62")
            if settings.environment is Environment.DEVELOPMENT:
                await ensure_development_key(session, settings)
        load_master_key(settings)
    finally:
        await database.dispose()
