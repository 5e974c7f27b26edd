"""Logging into the console: the form, its CSRF token, throttling, sessions that end, and the role
and CSRF checks on the console's own forms."""

from __future__ import annotations

import httpx
import pytest
from conftest import ADMIN, AUDITOR, PASSWORDS, add_people, csrf_of, log_in, stored_delivery
from support.hub import Hub

from app.config import Settings
from app.users.service import set_disabled
from app.users.throttle import LoginThrottle


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.login_failures_per_name = 3
    settings.login_failures_per_address = 5
    return settings


def test_throttle_counts_failures_per_name_and_per_address_within_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_name=2, per_address=3, window_seconds=60, clock=lambda: now[0])
    throttle.failed(name="an", address="10.0.0.1")
    assert throttle.retry_after(name="an", address="10.0.0.1") == 0
    throttle.failed(name="An", address="10.0.0.1")
    assert throttle.retry_after(name="an", address="10.0.0.2") == 60  # the name, from anywhere
    throttle.failed(name="binh", address="10.0.0.1")
    assert throttle.retry_after(name="chi", address="10.0.0.1") == 60  # the address, for any name
    now[0] += 30
    assert throttle.retry_after(name="an", address="10.0.0.9") == 30
    now[0] += 31
    assert throttle.retry_after(name="an", address="10.0.0.1") == 0
    throttle.failed(name="an", address="10.0.0.3")
    throttle.succeeded(name="an")
    assert throttle.retry_after(name="an", address="10.0.0.3") == 0


async def test_login_is_vietnamese_by_default_and_switches_to_english(hub: Hub) -> None:
    page = await hub.client.get("/admin/login")
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text and "Đăng nhập trang quản trị" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    switched = await hub.client.get("/admin/lang/en?next=/admin/login")
    assert switched.status_code == 303 and switched.headers["location"] == "/admin/login"
    english = await hub.client.get("/admin/login")
    assert '<html lang="en">' in english.text and "Log in to the console" in english.text
    assert "Đăng nhập trang quản trị" in (await hub.client.get("/admin/login?lang=vi")).text
    away = await hub.client.get("/admin/lang/en?next=https://elsewhere.example/")
    assert away.headers["location"] == "/admin"  # no open redirect
    hub.client.cookies.clear()


async def test_wrong_passwords_are_refused_then_throttled(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await hub.client.get("/admin")).headers["location"] == "/admin/login?next=%2Fadmin"
    for _ in range(3):
        assert (await log_in(hub.client, ADMIN, "not the password")).status_code == 401
    throttled = await log_in(hub.client, ADMIN)  # the right password, too late
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert "Đăng nhập sai quá nhiều lần" in throttled.text
    assert (await log_in(hub.client, AUDITOR, "wrong again")).status_code == 401
    assert (await log_in(hub.client, AUDITOR, "wrong again")).status_code == 401
    assert (await log_in(hub.client, AUDITOR)).status_code == 429  # the address: 5 failures
    log = await hub.scalar("SELECT count(*) FROM admin_log WHERE action = 'user.login-failed'")
    assert log == 5
    hub.client.cookies.clear()


async def test_login_needs_its_csrf_token(hub: Hub) -> None:
    await add_people(hub.database)
    await hub.client.get("/admin/login")
    refused = await hub.client.post("/admin/login", data={"username": ADMIN, "password": PASSWORDS[ADMIN]})
    assert refused.status_code == 403
    assert "lienthong_session" not in refused.cookies
    hub.client.cookies.clear()


async def test_sessions_end_with_a_new_password_a_disable_or_a_forged_cookie(hub: Hub) -> None:
    await add_people(hub.database)
    other = httpx.AsyncClient(transport=hub.client._transport, base_url="http://hub")
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    assert (await log_in(other, ADMIN)).status_code == 303
    assert (await other.get("/admin")).status_code == 200

    forged = hub.client.cookies["lienthong_session"].replace(".0.", ".1.", 1)
    tampered = httpx.AsyncClient(transport=hub.client._transport, base_url="http://hub")
    tampered.cookies.set("lienthong_session", forged)
    assert (await tampered.get("/admin")).status_code == 303

    token = csrf_of((await hub.client.get("/admin/account")).text)
    short = await hub.client.post(
        "/admin/account/password",
        data={
            "current_password": PASSWORDS[ADMIN],
            "new_password": "ngắn",
            "confirm_password": "ngắn",
            "csrf_token": token,
        },
    )
    assert short.status_code == 400
    changed = await hub.client.post(
        "/admin/account/password",
        data={
            "current_password": PASSWORDS[ADMIN],
            "new_password": "một mật khẩu mới hơn",
            "confirm_password": "một mật khẩu mới hơn",
            "csrf_token": token,
        },
    )
    assert changed.status_code == 303
    assert (await hub.client.get("/admin")).status_code == 200  # this session goes on
    assert (await other.get("/admin")).status_code == 303  # the other one ended
    assert (await log_in(other, ADMIN, "một mật khẩu mới hơn")).status_code == 303

    async with hub.database.transaction() as session:
        await set_disabled(session, ADMIN, disabled=True, actor="test")
    assert (await hub.client.get("/admin")).status_code == 303
    assert (await log_in(other, ADMIN, "một mật khẩu mới hơn")).status_code == 401
    hub.client.cookies.clear()
    await other.aclose()
    await tampered.aclose()


async def test_console_forms_check_the_role_and_the_csrf_token(hub: Hub) -> None:
    await add_people(hub.database)
    delivery_id = await stored_delivery(hub.database)
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    page = await hub.client.get(f"/admin/deliveries/{delivery_id}")
    assert page.status_code == 200 and "data-dialog" not in page.text  # no action buttons
    token = csrf_of(page.text)
    forged = await hub.client.post(
        f"/admin/deliveries/{delivery_id}/discard", data={"reason": "x", "csrf_token": token}
    )
    assert forged.status_code == 403

    hub.client.cookies.clear()
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    page = await hub.client.get(f"/admin/deliveries/{delivery_id}")
    assert 'data-dialog="do-requeue"' in page.text and 'data-dialog="do-discard"' in page.text
    without = await hub.client.post(f"/admin/deliveries/{delivery_id}/discard", data={"reason": "x"})
    assert without.status_code == 403
    wrong = await hub.client.post(
        f"/admin/deliveries/{delivery_id}/discard",
        data={"reason": "x", "csrf_token": token},  # the auditor's
    )
    assert wrong.status_code == 403
    done = await hub.client.post(
        f"/admin/deliveries/{delivery_id}/discard", data={"reason": "x", "csrf_token": csrf_of(page.text)}
    )
    assert done.status_code == 303
    assert await hub.scalar("SELECT state FROM deliveries WHERE id = :d", d=delivery_id) == "discarded"
    hub.client.cookies.clear()
