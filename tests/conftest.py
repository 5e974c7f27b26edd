"""Fixtures shared by the whole suite.

Every test that uses `hub` runs twice: on the embedded SQLite default and on the real PostgreSQL.
With CI=true a missing PostgreSQL fails the run instead of skipping its half.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from support.hub import IN_CI, OTHER, POSTGRES_ADMIN_DSN, RECIPIENT, SAMPLES, SENDER, Hub

from app.auth.service import create_credential
from app.bootstrap import prepare
from app.config import Settings
from app.kit.db import Base, Database
from app.kit.migrate import upgrade
from app.main import create_app
from app.models import Role

pytest_plugins = ["support.fixtures_deployment", "support.cli"]

# The command line speaks Vietnamese by default; the suite's CLI tests read its English output
# (tests/i18n/test_cli_language.py checks both languages). Processes the tests start inherit it.
os.environ.setdefault("LIENTHONG_LANGUAGE", "en")


def _postgres_available() -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test session, migrated once."""
    if not _postgres_available():
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_DSN}"
        if IN_CI:
            pytest.fail(message + " (CI=true: the PostgreSQL half of the suite must run)", pytrace=False)
        pytest.skip(message)
    name = f"lienthong_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(upgrade(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    if request.param == "private-postgresql":  # a cluster of the test's own, which it may stop
        private: str = request.getfixturevalue("private_postgres").url()
        asyncio.run(upgrade(private))
        return private
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_empty_postgres(url))
    return url


async def _empty_postgres(url: str) -> None:
    database = Database(url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with database.transaction() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database_url,
        load_demo_directory=True,
        report_snapshot_seconds=0,  # the gateway does not recount reports in the background in tests
    )


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test's database, prepared as `lienthong serve` would (routes, demo directory, signing key),
    with no gateway running."""
    await prepare(settings, migrate=False)
    database = Database(settings.effective_database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    await prepare(settings, migrate=False)
    database = Database(settings.effective_database_url)
    tokens = {}
    async with database.transaction() as session:
        for who, role, agency in (
            (SENDER, Role.AGENCY, SENDER),
            (RECIPIENT, Role.AGENCY, RECIPIENT),
            (OTHER, Role.AGENCY, OTHER),
            ("admin", Role.ADMIN, None),
            ("auditor", Role.AUDITOR, None),
        ):
            _, tokens[who] = await create_credential(session, role=role, agency_code=agency)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Hub(settings=settings, database=database, client=client, tokens=tokens, app=app)
    await database.dispose()


@pytest.fixture(scope="session")
def sample() -> bytes:
    return (SAMPLES / "sample.edxml").read_bytes()
