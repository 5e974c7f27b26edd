"""The console's Mã truy cập page over HTTP, on SQLite and PostgreSQL: the agencies' bearer
credentials and the /vxp connected systems are listed; an admin issues either through the page's form
(the token or secret is on the answer once, and works), revokes either after its dialog (the token is
then refused with 401), each change admin-logged under the person's name; an auditor sees the lists
without an action, and a forged POST of theirs is refused with 403, changing nothing."""

from __future__ import annotations

import html
import json
import re

import httpx
from conftest import ADMIN, AUDITOR, add_people, csrf_of, log_in
from support.delivery import rows
from support.hub import OTHER, RECIPIENT, Hub

from app.axis_api.systems import system_secret
from app.kit.secrets import load_master_key

ACTOR = f"user:{ADMIN}"
PAGE = "/admin/credentials"
SECRET = re.compile(r'value="([^"]+)" readonly data-secret')


async def post(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    token = csrf_of((await client.get(PAGE)).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def logged(hub: Hub, action: str) -> list[tuple[str, str, dict[str, object]]]:
    found = await rows(
        hub.database, "SELECT actor, target, detail FROM admin_log WHERE action = :a ORDER BY id", a=action
    )
    return [
        (r.actor, r.target, r.detail if isinstance(r.detail, dict) else json.loads(r.detail)) for r in found
    ]


async def test_the_page_lists_credentials_and_systems_in_vietnamese(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    page = await hub.client.get(PAGE)
    assert page.status_code == 200
    assert "<h1>Mã truy cập</h1>" in page.text and f'href="{PAGE}" aria-current="page"' in page.text
    assert page.text.count("data-credential=") == await hub.scalar("SELECT count(*) FROM credentials")
    assert RECIPIENT in page.text and 'data-dialog="credential-issue"' in page.text
    assert 'data-dialog="system-create"' in page.text and "Hệ thống kết nối (/vxp)" in page.text
    english = await hub.client.get(PAGE, params={"lang": "en"})
    assert "<h1>Credentials</h1>" in english.text and "Last used" in english.text


async def test_an_admin_issues_a_credential_that_works_then_revokes_it(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    answer = await post(
        hub.client,
        PAGE,
        {"role": "agency", "agency_code": OTHER, "holder": "QLVB Sở Thử", "expires_in_days": "30"},
    )
    assert answer.status_code == 200 and "data-once-warning" in answer.text
    assert "chỉ hiện một lần" in answer.text and answer.headers["cache-control"] == "no-store"
    token = html.unescape(SECRET.search(answer.text).group(1))  # type: ignore[union-attr]
    inbox = await hub.client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert inbox.status_code == 200

    # Shown once: the list never has it again.
    listed = (await hub.client.get(PAGE)).text
    assert token not in listed and "QLVB Sở Thử" in listed
    [(actor, credential_id, detail)] = await logged(hub, "credential.create")
    assert (actor, detail["role"], detail["agency"]) == (ACTOR, "agency", OTHER) and detail["expires_at"]
    assert f'data-dialog="revoke-{credential_id}"' in listed

    revoked = await post(hub.client, f"{PAGE}/{credential_id}/revoke", {})
    assert revoked.status_code == 303
    after = (await hub.client.get(revoked.headers["location"])).text
    assert "flash-success" in after and "Đã vô hiệu hóa mã truy cập của QLVB Sở Thử." in after
    assert f'data-dialog="revoke-{credential_id}"' not in after
    refused = await hub.client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert [e[:2] for e in await logged(hub, "credential.revoke")] == [(ACTOR, credential_id)]

    # What the service refuses is said on the page, not a 500.
    for wrong in (
        {"role": "agency", "agency_code": ""},
        {"role": "agency", "agency_code": "000.00.99.H62"},
        {"role": "agency", "agency_code": OTHER, "expires_in_days": "mười"},
        {"role": "god"},
    ):
        refused_form = await post(hub.client, PAGE, wrong)
        assert refused_form.status_code == 303, wrong
        assert "flash-error" in (await hub.client.get(PAGE)).text, wrong
    assert len(await logged(hub, "credential.create")) == 1


async def test_an_admin_adds_a_connected_system_then_revokes_it(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    answer = await post(
        hub.client,
        "/admin/vxp-systems",
        {
            "agency_code": OTHER,
            "holder": "Phần mềm X",
            "strict": "true",
            "allowed_sources": "10.1.0.0/16, 10.2.3.4",
        },
    )
    assert answer.status_code == 200 and "data-once-warning" in answer.text
    secret = html.unescape(SECRET.search(answer.text).group(1))  # type: ignore[union-attr]
    [(actor, system_id, detail)] = await logged(hub, "vxp-system.create")
    assert (actor, detail["strict"], detail["allowed_sources"]) == (ACTOR, True, "10.1.0.0/16,10.2.3.4/32")
    async with hub.database.sessionmaker() as session:
        found = await system_secret(session, load_master_key(hub.settings), system_id)
    assert found is not None and found[1] == secret
    listed = (await hub.client.get(PAGE)).text
    assert f'data-system="{system_id}"' in listed and secret not in listed

    bad = await post(
        hub.client, "/admin/vxp-systems", {"agency_code": OTHER, "allowed_sources": "mạng nội bộ"}
    )
    assert bad.status_code == 303 and "flash-error" in (await hub.client.get(PAGE)).text

    revoked = await post(hub.client, f"/admin/vxp-systems/{system_id}/revoke", {})
    assert revoked.status_code == 303
    assert "flash-success" in (await hub.client.get(PAGE)).text
    async with hub.database.sessionmaker() as session:
        assert await system_secret(session, load_master_key(hub.settings), system_id) is None
    assert [e[:2] for e in await logged(hub, "vxp-system.revoke")] == [(ACTOR, system_id)]


async def test_an_auditor_sees_the_lists_without_actions_and_cannot_forge_them(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    page = await hub.client.get(PAGE)
    assert page.status_code == 200 and "data-credential=" in page.text
    assert "data-dialog" not in page.text
    assert 'method="post"' not in page.text.replace('method="post" action="/admin/logout"', "")
    token = csrf_of(page.text)
    [credential_id] = [r.id for r in await rows(hub.database, "SELECT id FROM credentials LIMIT 1")]
    credentials = await hub.scalar("SELECT count(*) FROM credentials")
    forged = {
        PAGE: {"role": "admin"},
        f"{PAGE}/{credential_id}/revoke": {},
        "/admin/vxp-systems": {"agency_code": RECIPIENT},
        "/admin/vxp-systems/vxp-0000000000000000/revoke": {},
    }
    for path, data in forged.items():
        answer = await hub.client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
    assert await hub.scalar("SELECT count(*) FROM credentials") == credentials
    assert await hub.scalar("SELECT count(*) FROM credentials WHERE revoked_at IS NOT NULL") == 0
    assert await hub.scalar("SELECT count(*) FROM vxp_systems") == 0
    assert (
        await hub.scalar(
            "SELECT count(*) FROM admin_log WHERE actor = :a AND action != 'user.login'", a=f"user:{AUDITOR}"
        )
        == 0
    )
