"""`/api/v1/admin/agencies` (search, add, edit, suspend, close with a successor, import with a dry-run
preview) and `/api/v1/admin/keys` (list, rotate, import), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from support.delivery import document, rows
from support.hub import OTHER, RECIPIENT, Hub

from app.sealing.keys import generate_development_identity

NEW = "000.00.77.H62"


async def test_an_agency_is_added_edited_suspended_and_closed(hub: Hub) -> None:
    admin = hub.auth("admin")
    bad = await hub.client.post(
        "/api/v1/admin/agencies",
        json={
            "code": NEW,
            "name": "Sở Thử nghiệm",
            "endpoint": "ftp://x",
            "email": "no-at",
            "endpoint_timeout_seconds": -1,
        },
        headers=admin,
    )
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["errors"]} == {"/endpoint", "/email", "/endpoint_timeout_seconds"}
    added = await hub.client.post(
        "/api/v1/admin/agencies",
        json={"code": NEW, "name": "Sở Thử nghiệm", "endpoint": "https://qlvb.example/edxml"},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    assert added.json()["parent_code"] == "000.00.00.H62"  # from the code's hierarchy
    assert (
        await hub.client.post("/api/v1/admin/agencies", json={"code": NEW, "name": "x"}, headers=admin)
    ).status_code == 409
    assert (
        await hub.client.post(
            "/api/v1/admin/agencies", json={"code": "000.00.78.H62", "name": "x"}, headers=hub.auth("auditor")
        )
    ).status_code == 403

    edited = await hub.client.patch(
        f"/api/v1/admin/agencies/{NEW}", json={"endpoint_timeout_seconds": 5, "endpoint": None}, headers=admin
    )
    assert (edited.json()["endpoint_timeout_seconds"], edited.json()["endpoint"]) == (5, None)
    found = (
        await hub.client.get(
            "/api/v1/admin/agencies", params={"q": "Thử nghiệm"}, headers=hub.auth("auditor")
        )
    ).json()
    assert [a["code"] for a in found["items"]] == [NEW]

    suspended = await hub.client.post(
        f"/api/v1/admin/agencies/{RECIPIENT}/suspend", json={"reason": "r"}, headers=admin
    )
    assert suspended.json()["status"] == "suspended"
    refused = await hub.submit(document(RECIPIENT))
    assert refused.status_code == 422  # a suspended recipient is refused at intake
    assert (
        await hub.client.post(f"/api/v1/admin/agencies/{RECIPIENT}/activate", json={}, headers=admin)
    ).json()["status"] == "active"
    assert (await hub.submit(document(RECIPIENT))).status_code == 201

    self_successor = await hub.client.post(
        f"/api/v1/admin/agencies/{NEW}/close", json={"successor_code": NEW}, headers=admin
    )
    assert self_successor.status_code == 400
    closed = await hub.client.post(
        f"/api/v1/admin/agencies/{NEW}/close", json={"successor_code": OTHER}, headers=admin
    )
    assert (closed.json()["status"], closed.json()["successor_code"]) == ("closed", OTHER)
    assert (await hub.client.get(f"/api/v1/admin/agencies/{NEW}", headers=admin)).json()["status"] == "closed"

    logged = await rows(
        hub.database, "SELECT action, target FROM admin_log WHERE action LIKE 'agency.%' ORDER BY id"
    )
    assert [(r.action, r.target) for r in logged] == [
        ("agency.add", NEW),
        ("agency.update", NEW),
        ("agency.suspended", RECIPIENT),
        ("agency.active", RECIPIENT),
        ("agency.closed", NEW),
    ]


async def test_a_directory_import_is_previewed_then_applied(hub: Hub) -> None:
    current = (await hub.client.get(f"/api/v1/admin/agencies/{RECIPIENT}", headers=hub.auth("admin"))).json()
    file = json.dumps(
        [
            {"code": RECIPIENT, "name": current["name"] + " (mới)", "parent_code": current["parent_code"]},
            {"code": NEW, "name": "Sở Mới"},
        ]
    ).encode()
    headers = {"Content-Type": "application/json", **hub.auth("admin")}
    preview = await hub.client.post("/api/v1/admin/agencies/import", content=file, headers=headers)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] is True
    assert [a["code"] for a in body["added"]] == [NEW]
    [changed] = body["changed"]
    assert changed["code"] == RECIPIENT
    assert changed["changes"]["name"] == [current["name"], current["name"] + " (mới)"]
    assert (
        await hub.client.get(f"/api/v1/admin/agencies/{NEW}", headers=hub.auth("admin"))
    ).status_code == 404

    applied = await hub.client.post(
        "/api/v1/admin/agencies/import", params={"dry_run": "false"}, content=file, headers=headers
    )
    assert applied.json()["dry_run"] is False
    assert (await hub.client.get(f"/api/v1/admin/agencies/{NEW}", headers=hub.auth("admin"))).json()[
        "name"
    ] == "Sở Mới"
    again = (await hub.client.post("/api/v1/admin/agencies/import", content=file, headers=headers)).json()
    assert (again["added"], again["changed"], again["unchanged"]) == ([], [], 2)

    broken = await hub.client.post(
        "/api/v1/admin/agencies/import",
        content=b"code,name\nnot-a-code,X\n",
        headers={"Content-Type": "text/csv", **hub.auth("admin")},
    )
    assert broken.status_code == 400 and broken.json()["errors"][0]["path"] == "/line/2"
    logged = await rows(hub.database, "SELECT action, detail FROM admin_log WHERE action = 'agency.import'")
    assert len(logged) == 1


async def test_keys_are_listed_rotated_and_imported(hub: Hub) -> None:
    [first] = (await hub.client.get("/api/v1/admin/keys", headers=hub.auth("auditor"))).json()
    assert first["active"] is True and first["days_left"] > 30
    assert (
        await hub.client.post("/api/v1/admin/keys/rotate", json={}, headers=hub.auth("auditor"))
    ).status_code == 403

    rotated = await hub.client.post(
        "/api/v1/admin/keys/rotate", json={"algorithm": "rsa-2048"}, headers=hub.auth("admin")
    )
    assert rotated.status_code == 200, rotated.text
    keys = (await hub.client.get("/api/v1/admin/keys", headers=hub.auth("admin"))).json()
    assert [k["id"] for k in keys] == [rotated.json()["id"], first["id"]]
    assert [k["active"] for k in keys] == [True, False]

    identity = generate_development_identity(hub.settings.hub_code)
    key_pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    mismatched = generate_development_identity(hub.settings.hub_code).certificate_pem()
    refused = await hub.client.post(
        "/api/v1/admin/keys/import",
        json={"key_pem": key_pem, "certificate_pem": mismatched},
        headers=hub.auth("admin"),
    )
    assert refused.status_code == 400 and "cannot be imported" in refused.json()["detail"]
    imported = await hub.client.post(
        "/api/v1/admin/keys/import",
        json={"key_pem": key_pem, "certificate_pem": identity.certificate_pem()},
        headers=hub.auth("admin"),
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["fingerprint_sha256"] == identity.fingerprint and imported.json()["active"]

    for garbage in ({"pkcs12_base64": "\u0094j/"}, {"pkcs12_base64": "not base64!"}, {"key_pem": "x"}):
        answer = await hub.client.post("/api/v1/admin/keys/import", json=garbage, headers=hub.auth("admin"))
        assert answer.status_code == 400, (garbage, answer.text)

    other = generate_development_identity(hub.settings.hub_code)
    bundle = pkcs12.serialize_key_and_certificates(
        b"hub", other.private_key, other.certificate, None, serialization.BestAvailableEncryption(b"mat-khau")
    )
    from_p12 = await hub.client.post(
        "/api/v1/admin/keys/import",
        json={"pkcs12_base64": base64.b64encode(bundle).decode(), "passphrase": "mat-khau"},
        headers=hub.auth("admin"),
    )
    assert from_p12.status_code == 200, from_p12.text
    assert from_p12.json()["fingerprint_sha256"] == other.fingerprint
    logged = await rows(
        hub.database, "SELECT action, actor FROM admin_log WHERE action LIKE 'keys.%' ORDER BY id"
    )
    assert [r.action for r in logged][-3:] == ["keys.rotate", "keys.import", "keys.import"]
    assert all(r.actor.startswith("api:") for r in logged[-3:])


async def test_rotations_at_the_same_moment_take_turns(hub: Hub) -> None:
    # Two at once each retired the same key and both inserted an active one: a 500 on PostgreSQL.
    answers = await asyncio.gather(
        *(hub.client.post("/api/v1/admin/keys/rotate", json={}, headers=hub.auth("admin")) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    keys = (await hub.client.get("/api/v1/admin/keys", headers=hub.auth("admin"))).json()
    assert len(keys) == 5 and [k["active"] for k in keys].count(True) == 1
