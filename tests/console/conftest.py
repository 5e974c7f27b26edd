"""What the console's tests share: people who log in, and logging in through the form."""

from __future__ import annotations

import re

import httpx
import pytest

from app.kit.db import Database
from app.models import Role
from app.users.service import add_user

ADMIN, AUDITOR = "an.nguyen", "binh.tran"
PASSWORDS = {ADMIN: "mật-khẩu-quản-trị-1", AUDITOR: "mật-khẩu-kiểm-tra-2"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_people(database: Database) -> None:
    async with database.transaction() as session:
        await add_user(session, name=ADMIN, role=Role.ADMIN, password=PASSWORDS[ADMIN], actor="test")
        await add_user(session, name=AUDITOR, role=Role.AUDITOR, password=PASSWORDS[AUDITOR], actor="test")


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str | None = None) -> httpx.Response:
    """Log in through the form, as a browser does; returns the answer to the POST."""
    form = await client.get("/admin/login")
    return await client.post(
        "/admin/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf_token": csrf_of(form.text)},
    )


@pytest.fixture
def people_added() -> bool:
    return True
