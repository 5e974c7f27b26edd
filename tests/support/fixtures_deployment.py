"""Fixtures of the tests that run the hub as real processes (`lienthong serve`, `lienthong worker`),
against real brokers. Loaded for the whole suite by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth.service import create_credential
from app.config import Settings
from app.kit.db import Database
from app.models import Role
from support.deployment import FAST, Deployment
from support.hub import SENDER
from support.postgres import PrivatePostgres
from support.postgres import available as postgres_tools
from support.rabbitmq import PrivateNode, fresh_vhost, require_private_node, require_shared_broker


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":  # type: ignore[attr-defined]
        item.stash[_CALL_FAILED] = report.failed  # type: ignore[attr-defined]
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """A virtual host of this test's own on the shared RabbitMQ (its AMQP URL)."""
    require_shared_broker()
    with fresh_vhost() as url:
        yield url


@pytest.fixture
def private_rabbitmq(tmp_path: Path) -> Iterator[PrivateNode]:
    """A RabbitMQ node of this test's own, running; the test may stop and start it."""
    require_private_node()
    with PrivateNode(tmp_path / "rabbitmq") as node:
        yield node


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, running; the test may stop and start it."""
    if not postgres_tools():
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    with PrivatePostgres() as cluster:
        yield cluster


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> str:
    """Parametrized `embedded`, `rabbitmq` (the shared broker) or `private` (a node of the test's
    own): the broker URL the processes get, "" for the embedded default."""
    kind = getattr(request, "param", "embedded")
    if kind == "embedded":
        return ""
    fixture = {"rabbitmq": "rabbitmq_url", "private": "private_rabbitmq"}[kind]
    value = request.getfixturevalue(fixture)
    return value.url if isinstance(value, PrivateNode) else str(value)


@pytest.fixture
async def sender_token(database: Database) -> str:
    async with database.transaction() as session:
        _, token = await create_credential(session, role=Role.AGENCY, agency_code=SENDER)
    return token


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest, settings: Settings, broker: str, database: Database, tmp_path: Path
) -> Iterator[Deployment]:
    """The hub's processes for this test (started by the test); their logs are shown if it fails."""
    logs = tmp_path / "logs"
    logs.mkdir()
    deployment = Deployment(settings, logs, broker_url=broker, **FAST)
    yield deployment
    if request.node.stash.get(_CALL_FAILED, False):
        print(deployment.log_tails())
