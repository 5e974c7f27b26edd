"""Running `lienthong` commands in-process from tests (typer's CliRunner), in an environment of the
test's own: its database, prepared as `serve` would, and its data directory. The `env` fixture is
loaded for the whole suite by tests/conftest.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.bootstrap import prepare
from app.cli import cli
from app.config import Settings, get_settings


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The CLI's environment: this test's database (with the demo directory) and data directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", database_url)
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    settings = get_settings()
    asyncio.run(prepare(settings, migrate=False))
    yield settings
    get_settings.cache_clear()


def lienthong(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])
