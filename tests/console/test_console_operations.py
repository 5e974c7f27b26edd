"""The console's operations pages over HTTP, on SQLite and PostgreSQL: Kết nối (health, pause,
resume, test an endpoint, maintenance mode and its banner), Cơ quan (search, add, edit, suspend,
close with a successor, signature policy, signing certificates, import with a preview), Định tuyến
(rules and "which connector") and Khóa ký (rotate, import). Each change is made through the page's
own form with its CSRF token, lands in the database and in the admin log under the person's name; an
auditor sees no action and a forged POST of theirs is refused with 403, changing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from conftest import ADMIN, AUDITOR, add_people, csrf_of, log_in
from cryptography.hazmat.primitives import serialization
from support.delivery import document, rows, set_endpoint
from support.hub import OTHER, RECIPIENT, Hub
from support.receiver import Receiver
from support.signing import identity_valid

from app.sealing.keys import certificate_pem, generate_development_identity

ACTOR = f"user:{ADMIN}"
NEW_AGENCY = "000.00.98.H62"  # not in the demo directory


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


async def act(client: httpx.AsyncClient, page: str, path: str, data: dict[str, str], **kw: object) -> str:
    """Submit a form of `page` as a browser does (with the page's CSRF token); returns the page the
    303 leads to, with its flash message."""
    token = csrf_of((await client.get(page)).text)
    answer = await client.post(path, data={**data, "csrf_token": token}, **kw)  # type: ignore[arg-type]
    assert answer.status_code == 303, answer.text
    return (await client.get(answer.headers["location"])).text


async def logged(hub: Hub, action: str) -> list[tuple[str, str, dict[str, object]]]:
    found = await rows(
        hub.database, "SELECT actor, target, detail FROM admin_log WHERE action = :a ORDER BY id", a=action
    )
    return [
        (r.actor, r.target, r.detail if isinstance(r.detail, dict) else json.loads(r.detail)) for r in found
    ]


async def test_every_page_shows_in_vietnamese_with_actions_for_admins_only(hub: Hub) -> None:
    await add_people(hub.database)
    pages = {
        "/admin/connectors": "Kết nối",
        "/admin/agencies": "Cơ quan",
        f"/admin/agencies/{RECIPIENT}": "Sở",
        "/admin/routes": "Định tuyến",
        "/admin/keys": "Khóa ký",
    }
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    for path, heading in pages.items():
        page = await hub.client.get(path)
        assert page.status_code == 200, path
        assert heading in page.text and "data-dialog" in page.text, path
        assert f'href="{path}" aria-current="page"' in page.text or path.count("/") > 2
    overview = await hub.client.get("/admin")
    assert "Cảnh báo gần đây" in overview.text
    english = await hub.client.get("/admin/connectors", params={"lang": "en"})
    assert "<h1>Connectors</h1>" in english.text and "Maintenance mode" in english.text
    hub.client.cookies.clear()

    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    for path in pages:
        page = await hub.client.get(path)
        assert page.status_code == 200 and "data-dialog" not in page.text, path
        assert 'method="post"' not in page.text.replace('method="post" action="/admin/logout"', ""), path
    assert (await hub.client.get("/admin/agencies/000.00.99.H62")).status_code == 404


async def test_an_auditors_forged_changes_are_refused_and_change_nothing(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    token = csrf_of((await hub.client.get("/admin/connectors")).text)
    keys = await hub.scalar("SELECT count(*) FROM signing_keys")
    [route_id] = [r.id for r in await rows(hub.database, "SELECT id FROM routes ORDER BY pattern LIMIT 1")]
    forged = {
        "/admin/connectors/pause": {"connector": "qlvb-push"},
        "/admin/connectors/resume": {"connector": "qlvb-push"},
        "/admin/connectors/test": {"agency_code": RECIPIENT},
        "/admin/maintenance": {"on": "true"},
        "/admin/agencies": {"code": NEW_AGENCY, "name": "Giả mạo"},
        f"/admin/agencies/{RECIPIENT}": {"name": "Giả mạo"},
        f"/admin/agencies/{RECIPIENT}/status": {"status": "suspended"},
        f"/admin/agencies/{RECIPIENT}/signature-policy": {"policy": "required"},
        "/admin/agencies/import": {"content": f"code,name\n{NEW_AGENCY},Giả mạo\n", "confirm": "true"},
        "/admin/routes": {"pattern": NEW_AGENCY, "connector": "inbox"},
        f"/admin/routes/{route_id}": {"pattern": NEW_AGENCY, "connector": "inbox"},
        f"/admin/routes/{route_id}/delete": {},
        "/admin/keys/rotate": {"algorithm": "ecdsa-p256"},
        "/admin/keys/import": {"key_pem": "x", "certificate_pem": "y"},
    }
    for path, data in forged.items():
        answer = await hub.client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
    assert (
        await hub.scalar(
            "SELECT count(*) FROM admin_log WHERE actor = :a AND action != 'user.login'", a=f"user:{AUDITOR}"
        )
        == 0
    )
    assert await hub.scalar("SELECT count(*) FROM connector_pauses") == 0
    assert await hub.scalar("SELECT count(*) FROM agencies WHERE code = :c", c=NEW_AGENCY) == 0
    assert await hub.scalar("SELECT status FROM agencies WHERE code = :c", c=RECIPIENT) == "active"
    assert await hub.scalar("SELECT count(*) FROM signing_keys") == keys


async def test_connectors_pause_resume_test_and_maintenance(hub: Hub, qlvb: Receiver) -> None:
    await add_people(hub.database)
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/probe"))
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    page = await hub.client.get("/admin/connectors")
    for name in ("qlvb-push", "inbox", "national-axis"):
        assert f'data-connector="{name}"' in page.text and f'data-dialog="pause-{name}"' in page.text

    after = await act(
        hub.client,
        "/admin/connectors",
        "/admin/connectors/pause",
        {"connector": "qlvb-push", "reason": "sửa máy"},
    )
    assert "flash-success" in after and 'data-dialog="resume-qlvb-push"' in after
    assert await hub.scalar("SELECT paused_by FROM connector_pauses WHERE scope = 'qlvb-push'") == ACTOR
    [(actor, target, detail)] = await logged(hub, "connector.pause")
    assert (actor, target, detail["reason"]) == (ACTOR, "qlvb-push", "sửa máy")
    await act(hub.client, "/admin/connectors", "/admin/connectors/resume", {"connector": "qlvb-push"})
    assert await hub.scalar("SELECT count(*) FROM connector_pauses") == 0
    assert [e[:2] for e in await logged(hub, "connector.resume")] == [(ACTOR, "qlvb-push")]

    # One agency's endpoint; a bad code is said, not a 500.
    after = await act(
        hub.client,
        "/admin/connectors",
        "/admin/connectors/pause",
        {"connector": "qlvb-push", "agency_code": RECIPIENT, "reason": ""},
    )
    assert f'data-endpoint="qlvb-push/{RECIPIENT}"' in after
    assert await hub.scalar("SELECT agency_code FROM connector_pauses") == RECIPIENT
    bad = await act(
        hub.client,
        "/admin/connectors",
        "/admin/connectors/pause",
        {"connector": "qlvb-push", "agency_code": "xyz"},
    )
    assert "flash-error" in bad and await hub.scalar("SELECT count(*) FROM connector_pauses") == 1
    unknown = await act(hub.client, "/admin/connectors", "/admin/connectors/pause", {"connector": "fax"})
    assert "flash-error" in unknown and "fax" in unknown
    await act(
        hub.client,
        "/admin/connectors",
        "/admin/connectors/resume",
        {"connector": "qlvb-push", "agency_code": RECIPIENT},
    )
    assert await hub.scalar("SELECT count(*) FROM connector_pauses") == 0

    # Test this endpoint: a HEAD request reaches the receiver; the answer is shown and logged.
    tested = await act(hub.client, "/admin/connectors", "/admin/connectors/test", {"agency_code": RECIPIENT})
    assert "flash-success" in tested and "HTTP 200" in tested
    assert len(qlvb.at("/probe")) == 1
    no_endpoint = await act(hub.client, "/admin/connectors", "/admin/connectors/test", {"agency_code": OTHER})
    assert "flash-error" in no_endpoint
    assert [e[:2] for e in await logged(hub, "connector.test-endpoint")] == [(ACTOR, RECIPIENT)]

    # Maintenance mode: the banner on every page, intake refused, then open again.
    assert "data-maintenance" not in (await hub.client.get("/admin/routes")).text
    await act(hub.client, "/admin/connectors", "/admin/maintenance", {"on": "true", "message": "nâng cấp"})
    for path in ("/admin", "/admin/routes", "/admin/keys", "/admin/deliveries"):
        banner = (await hub.client.get(path)).text
        assert "data-maintenance" in banner and "nâng cấp" in banner, path
    refused = await hub.submit(document(RECIPIENT))
    assert refused.status_code == 503
    assert [e[:2] for e in await logged(hub, "maintenance.on")] == [(ACTOR, "maintenance")]
    assert 'href="/admin/connectors#h-maintenance"' in (await hub.client.get("/admin")).text
    hub.client.cookies.clear()
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    seen = (await hub.client.get("/admin")).text
    assert "data-maintenance" in seen and "#h-maintenance" not in seen  # shown, no switch
    hub.client.cookies.clear()
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    after = await act(hub.client, "/admin/connectors", "/admin/maintenance", {"on": "false"})
    assert "data-maintenance" not in after
    assert (await hub.submit(document(RECIPIENT))).status_code == 201


async def test_agencies_search_add_edit_suspend_close_and_policy(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    found = (await hub.client.get("/admin/agencies", params={"q": "H62"})).text
    assert f'data-agency="{RECIPIENT}"' in found
    none = (await hub.client.get("/admin/agencies", params={"q": "không-có-đâu"})).text
    assert "data-agency=" not in none
    suspended_only = (await hub.client.get("/admin/agencies", params={"status": "suspended"})).text
    assert f'data-agency="{RECIPIENT}"' not in suspended_only

    page = await act(
        hub.client,
        "/admin/agencies",
        "/admin/agencies",
        {
            "code": NEW_AGENCY,
            "name": "Sở Thử nghiệm",
            "endpoint": "",
            "endpoint_timeout_seconds": "",
            "email": "",
        },
    )
    assert "Sở Thử nghiệm" in page and "flash-success" in page
    assert [e[:2] for e in await logged(hub, "agency.add")] == [(ACTOR, NEW_AGENCY)]
    again = await act(hub.client, "/admin/agencies", "/admin/agencies", {"code": NEW_AGENCY, "name": "x"})
    assert "flash-error" in again

    edit = f"/admin/agencies/{NEW_AGENCY}"
    page = await act(
        hub.client,
        edit,
        edit,
        {
            "name": "Sở Thử nghiệm",
            "endpoint": "https://qlvb.example.vn/edxml",
            "endpoint_timeout_seconds": "12,5",
        },
    )
    assert "flash-success" in page
    assert await hub.scalar("SELECT endpoint FROM agencies WHERE code = :c", c=NEW_AGENCY) == (
        "https://qlvb.example.vn/edxml"
    )
    assert (
        await hub.scalar("SELECT endpoint_timeout_seconds FROM agencies WHERE code = :c", c=NEW_AGENCY)
        == 12.5
    )
    for wrong in (
        {"endpoint_timeout_seconds": "mười"},
        {"endpoint_timeout_seconds": "9999"},
        {"endpoint": "ftp://x"},
    ):
        page = await act(hub.client, edit, edit, {"name": "Sở Thử nghiệm", **wrong})
        assert "flash-error" in page, wrong
    assert (
        await hub.scalar("SELECT endpoint_timeout_seconds FROM agencies WHERE code = :c", c=NEW_AGENCY)
        == 12.5
    )
    [(actor, _, detail)] = await logged(hub, "agency.update")
    assert actor == ACTOR and detail["after"]["endpoint_timeout_seconds"] == 12.5

    await act(hub.client, edit, f"{edit}/status", {"status": "suspended", "reason": "tạm dừng"})
    assert await hub.scalar("SELECT status FROM agencies WHERE code = :c", c=NEW_AGENCY) == "suspended"
    closed_self = await act(
        hub.client, edit, f"{edit}/status", {"status": "closed", "successor_code": NEW_AGENCY}
    )
    assert "flash-error" in closed_self
    await act(hub.client, edit, f"{edit}/status", {"status": "closed", "successor_code": RECIPIENT})
    assert await hub.scalar("SELECT successor_code FROM agencies WHERE code = :c", c=NEW_AGENCY) == RECIPIENT
    assert [e[:2] for e in await logged(hub, "agency.closed")] == [(ACTOR, NEW_AGENCY)]
    await act(hub.client, edit, f"{edit}/status", {"status": "active", "reason": "mở lại"})
    assert await hub.scalar("SELECT status FROM agencies WHERE code = :c", c=NEW_AGENCY) == "active"
    assert await hub.scalar("SELECT successor_code FROM agencies WHERE code = :c", c=NEW_AGENCY) is None
    [(actor, _, detail)] = await logged(hub, "agency.active")
    assert (actor, detail["previous"], detail["reason"]) == (ACTOR, "closed", "mở lại")

    await act(hub.client, edit, f"{edit}/signature-policy", {"policy": "required"})
    assert (
        await hub.scalar("SELECT signature_policy FROM agencies WHERE code = :c", c=NEW_AGENCY) == "required"
    )
    assert [e[:2] for e in await logged(hub, "agency.signature_policy")] == [(ACTOR, NEW_AGENCY)]


async def test_a_directory_import_shows_what_changes_and_writes_only_when_confirmed(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    token = csrf_of((await hub.client.get("/admin/agencies")).text)
    current = await hub.scalar("SELECT name FROM agencies WHERE code = :c", c=RECIPIENT)
    csv = f"code,name\n{NEW_AGENCY},Sở Mới\n{RECIPIENT},Sở Đổi Tên\n".encode()
    preview = await hub.client.post(
        "/admin/agencies/import",
        data={"csrf_token": token},
        files={"file": ("danh-muc.csv", csv, "text/csv")},
    )
    assert preview.status_code == 200
    assert f'data-added="{NEW_AGENCY}"' in preview.text and f'data-changed="{RECIPIENT}"' in preview.text
    assert str(current) in preview.text and "Sở Đổi Tên" in preview.text
    assert await hub.scalar("SELECT count(*) FROM agencies WHERE code = :c", c=NEW_AGENCY) == 0
    assert await logged(hub, "agency.import") == []

    # The preview's own form carries the file and confirms it.
    done = await hub.client.post(
        "/admin/agencies/import",
        data={"csrf_token": csrf_of(preview.text), "confirm": "true", "content": csv.decode()},
    )
    assert done.status_code == 303
    assert await hub.scalar("SELECT name FROM agencies WHERE code = :c", c=NEW_AGENCY) == "Sở Mới"
    assert await hub.scalar("SELECT name FROM agencies WHERE code = :c", c=RECIPIENT) == "Sở Đổi Tên"
    [(actor, _, detail)] = await logged(hub, "agency.import")
    assert actor == ACTOR and (detail["added"], detail["updated"]) == (1, 1)

    broken = await hub.client.post(
        "/admin/agencies/import",
        data={"csrf_token": token},
        files={"file": ("hỏng.csv", b"code,name\nnot-a-code,\n", "text/csv")},
    )
    assert broken.status_code == 200 and "data-problems" in broken.text and "line 2" in broken.text
    assert len(await logged(hub, "agency.import")) == 1


async def test_routes_add_edit_resolve_and_delete(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    resolved = (await hub.client.get("/admin/routes", params={"code": RECIPIENT})).text
    assert "data-resolution" in resolved and "inbox" in resolved  # a local agency without endpoint
    invalid = (await hub.client.get("/admin/routes", params={"code": "không phải mã"})).text
    assert 'role="alert"' in invalid and "data-resolution" not in invalid

    page = await act(
        hub.client, "/admin/routes", "/admin/routes", {"pattern": NEW_AGENCY, "connector": "national-axis"}
    )
    assert f'data-route="{NEW_AGENCY}"' in page and "flash-success" in page
    [route_id] = [
        r.id for r in await rows(hub.database, "SELECT id FROM routes WHERE pattern = :p", p=NEW_AGENCY)
    ]
    assert [e[:2] for e in await logged(hub, "route.add")] == [(ACTOR, route_id)]
    for pattern, connector in (("***", "inbox"), (NEW_AGENCY, "fax"), (NEW_AGENCY, "inbox")):
        refused = await act(
            hub.client, "/admin/routes", "/admin/routes", {"pattern": pattern, "connector": connector}
        )
        assert "flash-error" in refused, (pattern, connector)
    resolved = (await hub.client.get("/admin/routes", params={"code": NEW_AGENCY})).text
    assert NEW_AGENCY in resolved and "national-axis" in resolved

    await act(
        hub.client,
        "/admin/routes",
        f"/admin/routes/{route_id}",
        {"pattern": NEW_AGENCY, "connector": "local", "description": "sở mới"},
    )
    assert await hub.scalar("SELECT connector FROM routes WHERE id = :i", i=route_id) == "local"
    assert [e[:2] for e in await logged(hub, "route.update")] == [(ACTOR, route_id)]
    await act(hub.client, "/admin/routes", f"/admin/routes/{route_id}/delete", {})
    assert await hub.scalar("SELECT count(*) FROM routes WHERE id = :i", i=route_id) == 0
    assert [e[:2] for e in await logged(hub, "route.remove")] == [(ACTOR, route_id)]
    token = csrf_of((await hub.client.get("/admin/routes")).text)
    gone = await hub.client.post(f"/admin/routes/{route_id}/delete", data={"csrf_token": token})
    assert gone.status_code == 404


async def test_keys_show_the_active_key_rotate_and_import(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    keys = await hub.scalar("SELECT count(*) FROM signing_keys")
    [first] = await rows(hub.database, "SELECT id, fingerprint_sha256 FROM signing_keys WHERE active")
    page = (await hub.client.get("/admin/keys")).text
    assert "data-active-key" in page and first.fingerprint_sha256 in page

    page = await act(hub.client, "/admin/keys", "/admin/keys/rotate", {"algorithm": "rsa-2048"})
    [second] = await rows(
        hub.database, "SELECT id, algorithm, fingerprint_sha256 FROM signing_keys WHERE active"
    )
    assert second.id != first.id and "flash-success" in page and second.fingerprint_sha256 in page
    assert [e[0] for e in await logged(hub, "keys.rotate")] == [ACTOR]

    identity = generate_development_identity(hub.settings.hub_code)
    key_pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    page = await act(
        hub.client,
        "/admin/keys",
        "/admin/keys/import",
        {"key_pem": key_pem, "certificate_pem": certificate_pem(identity.certificate)},
    )
    assert "flash-success" in page
    assert (
        await hub.scalar("SELECT fingerprint_sha256 FROM signing_keys WHERE active") == identity.fingerprint
    )
    bad = await act(
        hub.client, "/admin/keys", "/admin/keys/import", {"key_pem": "rác", "certificate_pem": "rác"}
    )
    assert "flash-error" in bad
    empty = await act(hub.client, "/admin/keys", "/admin/keys/import", {})
    assert "flash-error" in empty
    assert await hub.scalar("SELECT count(*) FROM signing_keys") == keys + 2  # type: ignore[operator]


async def test_an_agencys_certificates_are_listed_added_and_revoked_by_admins_only(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    edit = f"/admin/agencies/{RECIPIENT}"
    page = (await hub.client.get(edit)).text
    assert "Chứng thư số" in page and "data-certificate=" not in page

    pasted, uploaded = identity_valid(-1, 365), identity_valid(-1, 365)
    page = await act(hub.client, edit, f"{edit}/certificates", {"certificate_pem": pasted.certificate_pem()})
    assert "flash-success" in page and pasted.fingerprint in page
    page = await act(
        hub.client,
        edit,
        f"{edit}/certificates",
        {},
        files={"file": ("so-tn.crt", uploaded.certificate_pem().encode(), "application/x-x509-ca-cert")},
    )
    assert "flash-success" in page and uploaded.fingerprint in page
    [first, second] = await rows(
        hub.database,
        "SELECT id, fingerprint_sha256 FROM agency_certificates WHERE agency_code = :c ORDER BY id",
        c=RECIPIENT,
    )
    assert {first.fingerprint_sha256, second.fingerprint_sha256} == {pasted.fingerprint, uploaded.fingerprint}
    assert page.count("data-certificate=") == 2 and "CN=" in page
    added = await logged(hub, "agency.certificate.add")
    assert [(a, t) for a, t, _ in added] == [(ACTOR, RECIPIENT)] * 2

    for wrong in (
        {"certificate_pem": "rác"},
        {"certificate_pem": pasted.certificate_pem()},  # already registered
        {"certificate_pem": identity_valid(-30, -1).certificate_pem()},  # expired
        {},
    ):
        page = await act(hub.client, edit, f"{edit}/certificates", wrong)
        assert "flash-error" in page, wrong
    binary = await act(
        hub.client, edit, f"{edit}/certificates", {}, files={"file": ("x.crt", b"\xff\xfe", "x/y")}
    )
    assert "flash-error" in binary
    assert await hub.scalar("SELECT count(*) FROM agency_certificates") == 2

    revoke = f"{edit}/certificates/{first.id}/revoke"
    assert f'action="{revoke}"' in page
    page = await act(hub.client, edit, revoke, {})
    assert "flash-success" in page and f'action="{revoke}"' not in page
    assert (
        await hub.scalar("SELECT revoked_at FROM agency_certificates WHERE id = :i", i=first.id) is not None
    )
    [(actor, target, detail)] = await logged(hub, "agency.certificate.revoke")
    assert (actor, target, detail["certificate_id"]) == (ACTOR, RECIPIENT, first.id)
    token = csrf_of((await hub.client.get(edit)).text)
    wrong_agency = await hub.client.post(
        f"/admin/agencies/{OTHER}/certificates/{second.id}/revoke", data={"csrf_token": token}
    )
    assert wrong_agency.status_code == 404
    hub.client.cookies.clear()

    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    page = (await hub.client.get(edit)).text
    assert page.count("data-certificate=") == 2 and "data-dialog" not in page
    token = csrf_of(page)
    forged = {
        f"{edit}/certificates": {"certificate_pem": identity_valid(-1, 30).certificate_pem()},
        f"{edit}/certificates/{second.id}/revoke": {},
    }
    for path, data in forged.items():
        answer = await hub.client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
    assert await hub.scalar("SELECT count(*) FROM agency_certificates") == 2
    assert await hub.scalar("SELECT revoked_at FROM agency_certificates WHERE id = :i", i=second.id) is None
