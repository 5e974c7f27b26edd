"""Schemathesis against a real `lienthong serve` on 127.0.0.1, on SQLite and on PostgreSQL: whatever
the OpenAPI schema allows a client to send, with or without a valid credential, the hub never answers
with a server error.

Each operation gets 10 generated requests per caller in the suite; a deeper run sets
LIENTHONG_FUZZ_EXAMPLES, e.g. `LIENTHONG_FUZZ_EXAMPLES=300 .venv/bin/pytest tests/test_api_fuzz.py`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import text
from support.processes import free_port, running

from app.kit.db import Base, Database

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("LIENTHONG_FUZZ_EXAMPLES", "10"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    data = tmp_path_factory.mktemp("fuzz") / "var"
    database_url = ""  # the embedded SQLite default
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_url")
        asyncio.run(_empty(database_url))
    port = free_port()
    lienthong = str(Path(sys.executable).parent / "lienthong")
    with running(
        [
            "-c",
            f"import sys; sys.argv = ['{lienthong}', 'serve', '--port', '{port}']; "
            "from app.cli import main; main()",
        ],
        health_url=f"http://127.0.0.1:{port}/readyz",
        env={
            "LIENTHONG_DATA_DIR": str(data),
            "LIENTHONG_DATABASE_URL": database_url,
            "LIENTHONG_ENVIRONMENT": "development",
        },
        log=data.parent / "serve.log",
        timeout=60,
    ):
        tokens = dict(
            line.split("=", 1)
            for line in (data / "demo-credentials.env").read_text().splitlines()
            if "=" in line
        )
        yield f"http://127.0.0.1:{port}", tokens


async def _empty(url: str) -> None:
    """The session's PostgreSQL database without rows: `serve` prepares it as on a first start."""
    database = Database(url)
    try:
        async with database.transaction() as session:
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def callers(hub_url: tuple[str, dict[str, str]]) -> list[dict[str, str]]:
    """An agency, an admin, and nobody."""
    _, tokens = hub_url
    return [{"Authorization": f"Bearer {tokens[who]}"} for who in ("SENDER_TOKEN", "ADMIN_TOKEN")] + [{}]


def test_no_request_makes_the_hub_fail(
    hub_url: tuple[str, dict[str, str]], callers: list[dict[str, str]]
) -> None:
    base, _ = hub_url
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the schema really was read

    for operation in operations:

        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case) -> None:
            for headers in callers:
                case.call_and_validate(base_url=base, headers=headers, checks=[not_a_server_error])

        no_server_error()
