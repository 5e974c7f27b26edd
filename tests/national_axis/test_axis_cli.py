"""`lienthong axis sync-directory` and `lienthong axis poll`: what an operator runs to act on the
national axis now, as real processes against the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from support.axis_sim import G22, G22_SECRET, HUB_SYSTEM, AxisSimulator
from support.delivery import rows
from support.deployment import LIENTHONG
from support.processes import REPO

from app.axis.client import AxisClient
from app.config import Settings
from app.edxml import DocumentSpec, build_document
from app.kit.db import Database

pytestmark = pytest.mark.slow


@pytest.fixture
def axis(tmp_path: Path) -> Iterator[AxisSimulator]:
    with AxisSimulator(tmp_path) as simulator:
        yield simulator


def lienthong(settings: Settings, *args: str, **config: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": settings.effective_database_url,
        "LIENTHONG_DATA_DIR": str(settings.data_dir),
        **{f"LIENTHONG_{name.upper()}": value for name, value in config.items()},
    }
    return subprocess.run(
        [sys.executable, *LIENTHONG, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sync_and_poll_now(settings: Settings, database: Database, axis: AxisSimulator) -> None:
    new_code = "000.00.41.H62"
    entries = [
        {"code": G22, "name": "Văn phòng Chính phủ"},
        {"code": "000.00.00.H62", "name": "Ủy ban nhân dân tỉnh Vĩnh Phúc"},
        {"code": new_code, "name": "Sở Khoa học và Công nghệ", "parent_code": "000.00.00.H62"},
    ]
    httpx.put(f"{axis.url}/_sim/directory", json=entries).raise_for_status()
    synced = lienthong(settings, "axis", "sync-directory", **axis.hub_settings)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.strip() == "3 listed: 1 added, 2 updated, 0 closed, 0 reopened"
    [added] = await rows(database, "SELECT parent_code, source FROM agencies WHERE code = :c", c=new_code)
    assert (added.parent_code, added.source) == ("000.00.00.H62", "axis")
    [logged] = await rows(database, "SELECT actor FROM admin_log WHERE action = 'directory.sync'")
    assert logged.actor.startswith("cli:")

    async with AxisClient(axis.url, G22, G22_SECRET, timeout=10) as g22:
        doc_id = await g22.send_edoc(
            build_document(
                DocumentSpec(
                    sender=G22,
                    recipients=[new_code],
                    code_number="88",
                    code_notation="VPCP-KGVX",
                    subject="V/v khoa học và công nghệ",
                    promulgation_date=date(2026, 11, 2),
                )
            ),
            from_code=G22,
        )
    polled = lienthong(settings, "axis", "poll", **axis.hub_settings)
    assert polled.returncode == 0, polled.stderr
    assert polled.stdout.strip() == "1 taken in, 0 refused (acknowledged fail), 0 left for the next round"
    assert axis.packages(docId=doc_id)[0]["acks"][HUB_SYSTEM]["status"] == "done"
    [stored] = await rows(database, "SELECT external_id FROM documents")
    assert stored.external_id == doc_id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_an_axis_they_say_so(settings: Settings, database: Database) -> None:
    for command in ("sync-directory", "poll"):
        done = lienthong(settings, "axis", command)
        assert (done.returncode, done.stderr.strip()) == (1, "lienthong: LIENTHONG_AXIS_URL is not set")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_axis_url_without_credentials_is_refused(settings: Settings, database: Database) -> None:
    done = lienthong(settings, "axis", "poll", axis_url="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "LIENTHONG_AXIS_URL needs LIENTHONG_AXIS_SYSTEM_ID and LIENTHONG_AXIS_SECRET" in done.stderr


def test_the_axis_secret_stays_out_of_the_settings_repr() -> None:
    settings = Settings(
        _env_file=None, axis_url="http://axis.example", axis_system_id="hub-h62", axis_secret="s3cr3t-value"
    )
    assert "s3cr3t-value" not in repr(settings)
    assert "hub-h62" in repr(settings)
