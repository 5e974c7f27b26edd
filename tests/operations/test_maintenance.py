"""Maintenance mode: intake (REST documents and statuses, /vxp sendEdoc) answers 503 + Retry-After
with a body in its own shape; /readyz says so; deliveries and pickups go on; the switch is in the
database, so a switch made elsewhere (the CLI, another replica) reaches a running gateway."""

from __future__ import annotations

from sqlalchemy import select
from support.cli import lienthong
from support.delivery import document, rows, states
from support.hub import RECIPIENT, Hub, scalars
from support.receiver import until

from app.config import Settings
from app.models import AdminLogEntry
from app.operations.maintenance import REFRESH_SECONDS, set_maintenance


async def _switch(hub: Hub, on: bool, message: str = "", who: str = "admin") -> dict[str, object]:
    answer = await hub.client.put(
        "/api/v1/admin/maintenance", json={"on": on, "message": message}, headers=hub.auth(who)
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_intake_answers_503_with_retry_after_while_deliveries_go_on(hub: Hub) -> None:
    assert (
        await hub.client.post("/api/v1/admin/connectors/inbox/pause", json={}, headers=hub.auth("admin"))
    ).status_code == 200
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]

    state = await _switch(hub, True, "nâng cấp cơ sở dữ liệu đến 22:00")
    assert state["on"] is True and str(state["by"]).startswith("api:")

    refused = await hub.submit(document(RECIPIENT))
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == str(hub.settings.maintenance_retry_after_seconds)
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/maintenance") and problem["status"] == 503
    assert "bảo trì" in problem["detail"] and "nâng cấp cơ sở dữ liệu đến 22:00" in problem["detail"]

    status = await hub.client.post(
        "/api/v1/statuses",
        content=b"<x/>",
        headers={"Content-Type": "application/xml", **hub.auth(RECIPIENT)},
    )
    assert status.status_code == 503
    vxp = await hub.client.post("/vxp/sendEdoc", content=b"")
    assert vxp.status_code == 503 and vxp.headers["retry-after"]
    assert vxp.json()["status"] == "FAIL" and vxp.json()["ErrorCode"] == "20"
    other_vxp = await hub.client.post("/vxp/getReceivedEdocList")
    assert other_vxp.status_code != 503  # only sending is closed

    ready = (await hub.client.get("/readyz")).json()
    assert ready["status"] == "maintenance"
    assert ready["maintenance"]["on"] is True and ready["maintenance"]["message"].startswith("nâng cấp")

    # Deliveries go on: the waiting one is handed out, and its recipient picks it up.
    assert (
        await hub.client.post("/api/v1/admin/connectors/inbox/resume", headers=hub.auth("admin"))
    ).status_code == 200
    await until(lambda: _in(hub, delivery["id"], "awaiting_pickup"))
    inbox = (await hub.client.get("/api/v1/inbox", headers=hub.auth(RECIPIENT))).json()
    assert [item["delivery_id"] for item in inbox["items"]] == [delivery["id"]]

    assert (await _switch(hub, False))["on"] is False
    assert (await hub.submit(document(RECIPIENT))).status_code == 201
    assert (await hub.client.get("/readyz")).json()["status"] == "ready"
    logged = await rows(
        hub.database,
        "SELECT action, actor, detail FROM admin_log WHERE action LIKE 'maintenance.%' ORDER BY id",
    )
    assert [r.action for r in logged] == ["maintenance.on", "maintenance.off"]


async def _in(hub: Hub, delivery_id: str, state: str) -> bool:
    return (await states(hub.database, [delivery_id]))[delivery_id] == state


async def test_only_admins_switch_and_auditors_read(hub: Hub) -> None:
    refused = await hub.client.put(
        "/api/v1/admin/maintenance", json={"on": True}, headers=hub.auth("auditor")
    )
    assert refused.status_code == 403
    read = await hub.client.get("/api/v1/admin/maintenance", headers=hub.auth("auditor"))
    assert read.json() == {"on": False, "message": "", "since": None, "by": ""}
    assert (await hub.client.get("/api/v1/admin/maintenance", headers=hub.auth(RECIPIENT))).status_code == 403


async def test_a_switch_made_elsewhere_reaches_the_running_gateway(hub: Hub) -> None:
    async with hub.database.transaction() as session:  # as the CLI or another replica would
        await set_maintenance(session, on=True, message="", actor="cli:operator")

    async def refused() -> bool:
        # An empty body: refused as not XML (415) while intake is open, 503 once the switch is seen.
        answer = await hub.client.post("/api/v1/documents", content=b"", headers=hub.auth(RECIPIENT))
        return answer.status_code == 503

    await until(refused, timeout=REFRESH_SECONDS + 30)


def test_the_cli_switches_maintenance_and_logs_who_did(env: Settings) -> None:
    on = lienthong("maintenance", "on", "--message", "bảo trì định kỳ")
    assert on.exit_code == 0, on.output
    assert "maintenance: on" in on.output and "bảo trì định kỳ" in on.output
    assert "maintenance: on" in lienthong("maintenance", "status").output
    off = lienthong("maintenance", "off")
    assert off.exit_code == 0 and "maintenance: off" in off.output
    actions = scalars(env.effective_database_url, select(AdminLogEntry).order_by(AdminLogEntry.id))
    mine = [(e.action, e.actor) for e in actions if e.action.startswith("maintenance.")]
    assert [a for a, _ in mine] == ["maintenance.on", "maintenance.off"]
    assert all(actor.startswith("cli:") for _, actor in mine)
