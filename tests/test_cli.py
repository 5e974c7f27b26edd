"""`lienthong` commands: directory, credentials, database; and the README's first command end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from support.cli import lienthong
from support.hub import SAMPLES, scalars
from support.processes import free_port, running, wait_for

from app.auth.tokens import hash_token
from app.config import Settings
from app.models import AdminLogEntry, Agency, Credential


def rows(settings: Settings, statement: Any) -> list[Any]:
    return scalars(settings.effective_database_url, statement)


def test_agency_import_csv_adds_and_updates(env: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "danh-muc.csv"
    directory.write_text(
        "\ufeffcode,name,parent_code,status,endpoint\n"
        "000.00.40.H62,Ban Quản lý các khu công nghiệp tỉnh Vĩnh Phúc,000.00.00.H62,active,"
        "https://qlvb.bqlkcn.example/edxml\n"
        "000.00.02.H62,Sở Nội vụ tỉnh Vĩnh Phúc (tên mới),000.00.00.H62,active,\n",
        encoding="utf-8",
    )
    result = lienthong("agency", "import", directory)
    assert result.exit_code == 0, result.output
    assert "1 added, 1 updated" in result.output
    [added] = rows(env, select(Agency).where(Agency.code == "000.00.40.H62"))
    assert added.endpoint == "https://qlvb.bqlkcn.example/edxml"
    [renamed] = rows(env, select(Agency).where(Agency.code == "000.00.02.H62"))
    assert renamed.name.endswith("(tên mới)")
    assert [
        e.action for e in rows(env, select(AdminLogEntry).where(AdminLogEntry.action.like("agency.%")))
    ] == ["agency.import"]


def test_agency_import_reports_every_problem_and_changes_nothing(env: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "bad.csv"
    directory.write_text(
        "code,name,status\n000.00.41.h62,Tên,active\n000.00.42.H62,,unknown\n", encoding="utf-8"
    )
    result = lienthong("agency", "import", directory)
    assert result.exit_code == 1
    assert "line 2" in result.output and "line 3" in result.output
    assert rows(env, select(Agency).where(Agency.code.like("000.00.4_.H62"))) == []


def test_agency_add_derives_the_parent_and_refuses_bad_codes(env: Settings) -> None:
    result = lienthong("agency", "add", "000.24.30.H62", "Ủy ban nhân dân phường Đống Đa")
    assert result.exit_code == 0, result.output
    [agency] = rows(env, select(Agency).where(Agency.code == "000.24.30.H62"))
    assert agency.parent_code == "000.00.30.H62"
    bad = lienthong("agency", "add", "000.24.30.h62!", "x")
    assert bad.exit_code == 1
    assert bad.output.startswith("lienthong: ") and len(bad.output.strip().splitlines()) == 1


def test_credential_create_prints_the_token_once_and_stores_only_its_hash(env: Settings) -> None:
    result = lienthong("credential", "create", "--agency", "000.00.02.H62", "--role", "agency")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("lt_") and len(token) > 40
    [credential] = rows(env, select(Credential))
    assert credential.token_hash == hash_token(token)
    assert token not in repr(rows(env, select(text("*")).select_from(Credential.__table__)))

    assert lienthong("credential", "revoke", credential.id).exit_code == 0
    [revoked] = rows(env, select(Credential))
    assert revoked.revoked_at is not None
    actions = [
        e.action
        for e in rows(
            env,
            select(AdminLogEntry).where(AdminLogEntry.action.like("credential.%")).order_by(AdminLogEntry.id),
        )
    ]
    assert actions == ["credential.create", "credential.revoke"]


@pytest.mark.parametrize(
    "args",
    [
        ("credential", "create", "--role", "agency"),  # an agency credential needs its agency
        ("credential", "create", "--role", "agency", "--agency", "000.00.99.H62"),  # unknown agency
        ("credential", "revoke", "no-such-credential"),
    ],
)
def test_credential_commands_fail_with_one_line(env: Settings, args: tuple[str, ...]) -> None:
    result = lienthong(*args)
    assert result.exit_code == 1
    assert result.output.startswith("lienthong: ")


def test_bad_usage_exits_2(env: Settings) -> None:
    assert lienthong("credential", "create", "--role", "emperor").exit_code == 2


@pytest.mark.slow
def test_first_command_serves_the_demo_and_the_samples_go_through(tmp_path: Path) -> None:
    """What the README promises a newcomer (`make run` is `lienthong dev demo`): the hub on an empty
    machine with a simulated national axis beside it, demo credentials, the sample documents sent
    with the printed instructions, one of them across the axis; stopping the demo stops both."""
    port, axis_port = free_port(), free_port()
    data = tmp_path / "var"
    lienthong_script = str(Path(sys.executable).parent / "lienthong")
    env = {
        "LIENTHONG_DATA_DIR": str(data),
        "LIENTHONG_DATABASE_URL": "",
        "LIENTHONG_ENVIRONMENT": "development",
    }
    log = tmp_path / "demo.log"
    command = f"['{lienthong_script}', 'dev', 'demo', '--port', '{port}', '--axis-port', '{axis_port}']"
    with running(
        ["-c", f"import sys; sys.argv = {command}; from app.cli import main; main()"],
        health_url=f"http://127.0.0.1:{port}/readyz",
        env=env,
        log=log,
        timeout=60,
    ):
        printed = log.read_text()
        assert "curl" in printed and "demo-credentials.env" in printed and "to-g22.edxml" in printed
        tokens = dict(
            line.split("=", 1)
            for line in (data / "demo-credentials.env").read_text().splitlines()
            if "=" in line
        )
        for secrets_file in ("demo-credentials.env", "demo-axis.env"):
            assert (data / secrets_file).stat().st_mode & 0o077 == 0
        base = f"http://127.0.0.1:{port}"
        sender = {"Authorization": f"Bearer {tokens['SENDER_TOKEN']}", "Content-Type": "application/xml"}
        sent = httpx.post(
            f"{base}/api/v1/documents", content=(SAMPLES / "sample.edxml").read_bytes(), headers=sender
        )
        assert sent.status_code == 201, sent.text
        seen = httpx.get(
            f"{base}/api/v1/documents/{sent.json()['id']}",
            headers={"Authorization": f"Bearer {tokens['RECIPIENT_TOKEN']}"},
        )
        assert seen.status_code == 200
        assert seen.json()["subject"].startswith("V/v triển khai")
        certificates = httpx.get(f"{base}/api/v1/hub/certificates").json()
        assert certificates and certificates[0]["active"] is True

        to_g22 = httpx.post(
            f"{base}/api/v1/documents", content=(SAMPLES / "to-g22.edxml").read_bytes(), headers=sender
        )
        assert to_g22.status_code == 201, to_g22.text
        [delivery] = to_g22.json()["deliveries"]
        assert (delivery["recipient"], delivery["connector"]) == ("000.00.00.G22", "national-axis")
        on_the_axis = wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{axis_port}/_sim/packages").json()["data"]
        )
        assert [p["documentId"] for p in on_the_axis] == [to_g22.json()["document_id"]]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{axis_port}/_sim/health", timeout=2)


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LIENTHONG_ENVIRONMENT": "production",
        "LIENTHONG_DATABASE_URL": "",
        "LIENTHONG_MASTER_KEY": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "lienthong: configuration: settings: Value error, production needs LIENTHONG_DATABASE_URL, "
        "LIENTHONG_MASTER_KEY to be set"
    ]
