"""`LIENTHONG_ENVIRONMENT=production`: `lienthong serve` refuses each unsafe setting with a one-line
reason and exit 1, before it serves anything; `keys init` makes a self-signed key only when told so
and says so. Each refusal alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from support.cli import lienthong
from support.hub import scalars

from app.auth.service import create_credential
from app.bootstrap import prepare
from app.config import Settings, get_settings
from app.demo import DEMO_HOLDER_PREFIX
from app.kit.db import Database
from app.kit.secrets import new_master_key
from app.models import AdminLogEntry, Role
from app.production import configuration_refusals, state_refusals
from app.sealing.keys import generate_development_identity
from app.sealing.service import import_key

HUB_CODE = "000.00.00.H53"


@pytest.fixture
def production(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A production configuration with nothing to refuse: its own hub code, PostgreSQL or SQLite on
    purpose, RabbitMQ, a master key, and an active key (self-signed, explicitly allowed)."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "LIENTHONG_ENVIRONMENT": "production",
        "LIENTHONG_DATABASE_URL": database_url,
        "LIENTHONG_DATA_DIR": str(tmp_path / "data"),
        "LIENTHONG_HUB_CODE": HUB_CODE,
        "LIENTHONG_MASTER_KEY": new_master_key(),
        "LIENTHONG_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "LIENTHONG_ALLOW_SELF_SIGNED_KEY": "true",
        "LIENTHONG_SINGLE_NODE": "true" if database_url.startswith("sqlite") else "false",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    asyncio.run(prepare(settings, migrate=False))
    created = lienthong("keys", "init", "--self-signed")
    assert created.exit_code == 0, created.output
    yield settings
    get_settings.cache_clear()


def refusals(settings: Settings) -> list[str]:
    async def state() -> list[str]:
        database = Database(settings.effective_database_url)
        try:
            async with database.reading() as session:
                return await state_refusals(session, settings)
        finally:
            await database.dispose()

    return configuration_refusals(settings, single_node=False) + asyncio.run(state())


def refused_to_serve(*args: str) -> str:
    """`serve` exits 1 with one line on stderr; that line."""
    get_settings.cache_clear()
    result = lienthong("serve", "--port", "1", *args)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("lienthong: production refuses to start: ")
    return line


def test_the_baseline_has_nothing_to_refuse(production: Settings) -> None:
    assert refusals(production) == []


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("LIENTHONG_HUB_CODE", "000.00.00.H62", "LIENTHONG_HUB_CODE is the example"),
        ("LIENTHONG_HUB_CODE", "", "LIENTHONG_HUB_CODE is unset"),
        ("LIENTHONG_LOAD_DEMO_DIRECTORY", "true", "demo directory"),
        ("LIENTHONG_BROKER_URL", "", "--single-node"),
        (
            "LIENTHONG_MASTER_KEY",
            base64.urlsafe_b64encode(secrets.token_bytes(16)).decode(),
            "must be 32 bytes",
        ),
        ("LIENTHONG_MASTER_KEY", "not base64 at all!", "LIENTHONG_MASTER_KEY cannot be used"),
        ("LIENTHONG_ALLOW_SELF_SIGNED_KEY", "false", "self-signed"),
    ],
    ids=[
        "default hub code",
        "unset hub code",
        "demo directory",
        "embedded broker",
        "short master key",
        "unreadable master key",
        "self-signed key",
    ],
)
def test_each_unsafe_setting_is_refused(
    production: Settings, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    if variable == "LIENTHONG_BROKER_URL":
        monkeypatch.setenv("LIENTHONG_SINGLE_NODE", "false")

    line = refused_to_serve()

    assert reason in line


def test_sqlite_is_refused_unless_single_node_on_purpose(
    production: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not production.is_sqlite:
        pytest.skip("the SQLite refusal concerns the SQLite half")
    monkeypatch.setenv("LIENTHONG_SINGLE_NODE", "false")
    monkeypatch.setenv("LIENTHONG_HUB_CODE", "")  # so that --single-node alone cannot make serve start

    assert "SQLite" in refused_to_serve()
    assert "SQLite" not in refused_to_serve("--single-node")


def test_demo_credentials_are_refused(production: Settings) -> None:
    async def issue() -> None:
        database = Database(production.effective_database_url)
        try:
            async with database.transaction() as session:
                await create_credential(
                    session, role=Role.ADMIN, agency_code=None, holder=f"{DEMO_HOLDER_PREFIX}admin_token"
                )
        finally:
            await database.dispose()

    asyncio.run(issue())
    assert "demo credential" in refused_to_serve()


def test_a_demo_credentials_file_is_refused(production: Settings) -> None:
    production.data_dir.mkdir(parents=True, exist_ok=True)
    (production.data_dir / "demo-credentials.env").write_text("SENDER_TOKEN=lt_x\n")
    assert "demo-credentials.env exists" in refused_to_serve()


def test_an_expired_key_is_refused(production: Settings) -> None:
    expired = generate_development_identity(
        HUB_CODE, now=datetime.now(UTC) - timedelta(days=400), validity=timedelta(days=365)
    )

    async def activate() -> None:
        database = Database(production.effective_database_url)
        try:
            async with database.transaction() as session:
                await import_key(session, production, identity=expired, actor="test")
        finally:
            await database.dispose()

    asyncio.run(activate())
    assert "expired on" in refused_to_serve()


def test_keys_init_says_self_signed_and_needs_it_said_in_production(production: Settings) -> None:
    unsaid = lienthong("keys", "init", "--force")
    assert unsaid.exit_code == 1 and "--self-signed" in unsaid.stderr

    said = lienthong("keys", "init", "--force", "--self-signed")
    assert said.exit_code == 0, said.output
    assert "self-signed" in said.stderr

    entries = scalars(
        production.effective_database_url, select(AdminLogEntry).where(AdminLogEntry.action == "keys.init")
    )
    assert entries and all(entry.detail["self_signed"] is True for entry in entries)
