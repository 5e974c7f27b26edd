"""`/api/v1/admin/routes` and `lienthong route …`: validation, every change effective for the next
document, "which connector would this code take", auditors read, admins change, all admin-logged."""

from __future__ import annotations

from sqlalchemy import select
from support.cli import lienthong
from support.delivery import document, rows
from support.hub import RECIPIENT, Hub, scalars

from app.config import Settings
from app.models import AdminLogEntry, Route


async def test_routes_are_listed_validated_added_and_removed(hub: Hub) -> None:
    listed = (await hub.client.get("/api/v1/admin/routes", headers=hub.auth("auditor"))).json()
    assert [(r["pattern"], r["connector"]) for r in listed] == [("*.H62", "local"), ("*", "national-axis")]

    bad = await hub.client.post(
        "/api/v1/admin/routes", json={"pattern": "*.*.H62x", "connector": "fax"}, headers=hub.auth("admin")
    )
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["errors"]} == {"/pattern", "/connector"}
    assert (
        await hub.client.post(
            "/api/v1/admin/routes", json={"pattern": "*.H62", "connector": "inbox"}, headers=hub.auth("admin")
        )
    ).status_code == 409
    assert (
        await hub.client.post(
            "/api/v1/admin/routes",
            json={"pattern": RECIPIENT, "connector": "inbox"},
            headers=hub.auth("auditor"),
        )
    ).status_code == 403

    added = await hub.client.post(
        "/api/v1/admin/routes",
        json={"pattern": RECIPIENT, "connector": "national-axis", "description": "Sở qua trục"},
        headers=hub.auth("admin"),
    )
    assert added.status_code == 201, added.text
    route = added.json()
    listed = (await hub.client.get("/api/v1/admin/routes", headers=hub.auth("admin"))).json()
    assert listed[0]["id"] == route["id"]  # an exact code is the most specific

    # At once: the next document to that code takes the new rule.
    receipt = (await hub.submit(document(RECIPIENT))).json()
    assert [d["connector"] for d in receipt["deliveries"]] == ["national-axis"]
    which = (
        await hub.client.get(
            "/api/v1/admin/routes/resolve", params={"code": RECIPIENT}, headers=hub.auth("auditor")
        )
    ).json()
    assert (which["pattern"], which["connector"], which["agency_known"]) == (RECIPIENT, "national-axis", True)

    edited = await hub.client.patch(
        f"/api/v1/admin/routes/{route['id']}", json={"connector": "inbox"}, headers=hub.auth("admin")
    )
    assert edited.json()["connector"] == "inbox"
    removed = await hub.client.delete(f"/api/v1/admin/routes/{route['id']}", headers=hub.auth("admin"))
    assert removed.status_code == 200
    assert (
        await hub.client.delete(f"/api/v1/admin/routes/{route['id']}", headers=hub.auth("admin"))
    ).status_code == 404
    receipt = (await hub.submit(document(RECIPIENT))).json()
    assert [d["connector"] for d in receipt["deliveries"]] == ["inbox"]  # back to *.H62 -> local

    which = (
        await hub.client.get(
            "/api/v1/admin/routes/resolve", params={"code": RECIPIENT}, headers=hub.auth("admin")
        )
    ).json()
    assert (which["pattern"], which["target"], which["connector"]) == ("*.H62", "local", "inbox")
    unknown = (
        await hub.client.get(
            "/api/v1/admin/routes/resolve", params={"code": "000.00.99.G01"}, headers=hub.auth("admin")
        )
    ).json()
    assert (unknown["target"], unknown["connector"], unknown["agency_known"]) == (
        "national-axis",
        None,
        False,
    )
    invalid = await hub.client.get(
        "/api/v1/admin/routes/resolve", params={"code": "abc"}, headers=hub.auth("admin")
    )
    assert invalid.status_code == 400

    logged = await rows(
        hub.database, "SELECT action, actor, target FROM admin_log WHERE action LIKE 'route.%' ORDER BY id"
    )
    assert [r.action for r in logged] == ["route.add", "route.update", "route.remove"]
    assert {r.target for r in logged} == {route["id"]} and all(r.actor.startswith("api:") for r in logged)


def test_route_cli(env: Settings) -> None:
    listed = lienthong("route", "list")
    assert listed.exit_code == 0 and "*.H62" in listed.output
    added = lienthong("route", "add", "*.30.H62", "inbox", "--description", "huyện 30: hộp thư")
    assert added.exit_code == 0, added.output
    route_id = added.output.split()[0]
    assert "rule *.30.H62 -> inbox" in lienthong("route", "which", "000.00.30.H62").output
    refused = lienthong("route", "add", "*.30.H62", "qlvb-push")
    assert refused.exit_code == 1 and "exists already" in refused.output
    invalid = lienthong("route", "add", "not a pattern", "inbox")
    assert invalid.exit_code == 1
    assert lienthong("route", "remove", route_id).exit_code == 0
    assert lienthong("route", "remove", route_id).exit_code == 1
    patterns = scalars(env.effective_database_url, select(Route.pattern))
    assert "*.30.H62" not in patterns
    actions = scalars(env.effective_database_url, select(AdminLogEntry.action).order_by(AdminLogEntry.id))
    assert [a for a in actions if a.startswith("route.")] == ["route.add", "route.remove"]
