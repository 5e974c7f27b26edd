"""What tests share besides fixtures: the demo agencies they act as, and the running-hub handle."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from app.config import Settings
from app.kit.db import Database

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "schemas" / "samples"
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_DSN = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)

SENDER = "000.00.01.H62"  # Văn phòng UBND tỉnh
RECIPIENT = "000.00.02.H62"
OTHER = "000.00.06.H62"  # an agency that is neither sender nor recipient of the sample


@dataclass
class Hub:
    """A running hub (in-process ASGI) with credentials for the demo agencies and staff."""

    settings: Settings
    database: Database
    client: httpx.AsyncClient
    tokens: dict[str, str]
    app: FastAPI  # the running app, for what its own processes hold (app.state)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def submit(self, body: bytes, who: str = SENDER, **headers: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/documents",
            content=body,
            headers={"Content-Type": "application/xml", **self.auth(who), **headers},
        )

    async def scalar(self, sql: str, **params: object) -> object:
        async with self.database.sessionmaker() as session:
            return (await session.execute(text(sql), params)).scalar()


def scalars(database_url: str, statement: Any) -> list[Any]:
    """Rows of an ORM statement, from synchronous tests (CLI tests run the CLI's own event loops)."""

    async def work() -> list[Any]:
        database = Database(database_url)
        try:
            async with database.reading() as session:
                return list(await session.scalars(statement))
        finally:
            await database.dispose()

    return asyncio.run(work())
