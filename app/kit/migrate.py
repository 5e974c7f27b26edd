"""Apply the Alembic migrations in `migrations/` to a database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


async def upgrade(url: str) -> None:
    # Alembic is synchronous and env.py runs its own event loop: give it a thread.
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
