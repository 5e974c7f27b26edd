"""The demo's promise (README): the first development start creates a demo admin and a demo
auditor, prints how to log in, and the printed passwords open the console."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from conftest import CSRF
from support.deployment import Deployment

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


def test_serve_prints_the_demo_people_and_their_passwords_log_in(deployment: Deployment) -> None:
    with deployment.gateway() as gateway:
        printed = deployment.started[-1].read_text()
        assert f"{gateway.url}/admin" in printed
        people = dict(re.findall(r"^\s+(admin|auditor)\s+password (\S+)", printed, re.MULTILINE))
        assert set(people) == {"admin", "auditor"}
        people_file = Path(deployment.env["LIENTHONG_DATA_DIR"]) / "demo-people.env"
        assert f"ADMIN_PASSWORD={people['admin']}" in people_file.read_text()
        assert people_file.stat().st_mode & 0o077 == 0
        for name, password in people.items():
            with httpx.Client(base_url=gateway.url) as client:
                form = client.get("/admin/login")
                match = CSRF.search(form.text)
                assert match
                answer = client.post(
                    "/admin/login",
                    data={"username": name, "password": password, "csrf_token": match.group(1)},
                )
                assert answer.status_code == 303, answer.text
                overview = client.get("/admin")
                assert overview.status_code == 200 and "Tổng quan" in overview.text
                panel = client.get("/admin/overview/panel", headers={"HX-Request": "true"})
                assert (
                    panel.status_code == 200
                    and "<html" not in panel.text
                    and 'id="overview-panel"' in panel.text
                )
        with httpx.Client(base_url=gateway.url) as client:
            expired = client.get("/admin/overview/panel", headers={"HX-Request": "true"})
            assert expired.headers["HX-Redirect"].startswith("/admin/login")
