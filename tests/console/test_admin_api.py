"""The admin API (/api/v1/admin/…) for deliveries and the admin log, on SQLite and PostgreSQL: who
may read and who may change, filters and pages, and the repairs through the state machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ADMIN, AUDITOR, add_people, csrf_of, log_in
from support.delivery import document, history, set_endpoint
from support.hub import OTHER, RECIPIENT, SENDER, Hub
from support.receiver import Receiver, until

from app.audit.retention import purge_payloads
from app.config import Settings

API = "/api/v1/admin/deliveries"
OUTSIDE = "000.00.00.G22"  # reached through the national axis, which these hubs do not have: fails


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.retry_base_seconds = 60  # a transient failure waits in `retrying` for the test to act
    return settings


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


async def state(hub: Hub, delivery_id: str) -> str:
    return str(await hub.scalar("SELECT state FROM deliveries WHERE id = :d", d=delivery_id))


async def failed_delivery(hub: Hub, *recipients: str) -> list[str]:
    receipt = (await hub.submit(document(*(recipients or (OUTSIDE,))))).json()
    ids = [d["id"] for d in receipt["deliveries"]]
    for delivery_id in ids:
        await until(lambda d=delivery_id: _is(hub, d, "failed", "awaiting_pickup"))
    return ids


async def _is(hub: Hub, delivery_id: str, *wanted: str) -> bool:
    return await state(hub, delivery_id) in wanted


async def test_who_may_read_and_who_may_change(hub: Hub) -> None:
    [delivery_id] = await failed_delivery(hub)
    assert (await hub.client.get(API)).status_code == 401
    assert (await hub.client.get(API, headers=hub.auth(SENDER))).status_code == 403
    assert (await hub.client.get(API, headers=hub.auth("auditor"))).status_code == 200
    assert (await hub.client.get(f"{API}/{delivery_id}", headers=hub.auth("auditor"))).is_success
    refused = await hub.client.post(
        f"{API}/{delivery_id}/requeue", json={"reason": "x"}, headers=hub.auth("auditor")
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    bulk = await hub.client.post(
        f"{API}/discard",
        json={"ids": [delivery_id], "reason": "x"},
        headers=hub.auth("auditor"),
    )
    assert bulk.status_code == 403
    assert await state(hub, delivery_id) == "failed"
    assert (await hub.client.get("/api/v1/admin/log", headers=hub.auth(SENDER))).status_code == 403


async def test_requeue_discard_and_the_conflicts_the_state_machine_raises(hub: Hub) -> None:
    [delivery_id] = await failed_delivery(hub)
    detail = (await hub.client.get(f"{API}/{delivery_id}", headers=hub.auth("admin"))).json()
    assert detail["delivery"]["state"] == "failed"
    assert detail["actions"] == ["requeue", "discard"]
    assert [a["outcome"] for a in detail["attempts"]] == ["permanent"]
    assert "not configured" in detail["attempts"][0]["error"]
    assert detail["document"]["sender"] == SENDER

    requeued = await hub.client.post(
        f"{API}/{delivery_id}/requeue",
        json={"reason": "axis back"},
        headers=hub.auth("admin"),
    )
    assert requeued.status_code == 200, requeued.text
    assert requeued.json()["id"] == delivery_id
    assert requeued.json()["state"] in ("queued", "sending", "failed")  # the dispatcher takes it at once
    await until(lambda: _is(hub, delivery_id, "failed"))  # still no axis: it fails again
    events = [(e.from_state, e.to_state) for e in await history(hub.database, delivery_id)]
    assert ("failed", "queued") in events
    assert events.count(("sending", "failed")) + events.count(("queued", "failed")) == 2
    reasons = [e.reason for e in await history(hub.database, delivery_id) if e.to_state == "queued"]
    assert any(r.startswith("requeue by api:") and r.endswith(": axis back") for r in reasons)

    no_reason = await hub.client.post(
        f"{API}/{delivery_id}/discard", json={"reason": " "}, headers=hub.auth("admin")
    )
    assert no_reason.status_code == 400
    discarded = await hub.client.post(
        f"{API}/{delivery_id}/discard",
        json={"reason": "the agency was merged"},
        headers=hub.auth("admin"),
    )
    assert discarded.status_code == 200 and discarded.json()["state"] == "discarded"
    for action in ("discard", "requeue", "retry-now"):
        again = await hub.client.post(
            f"{API}/{delivery_id}/{action}",
            json={"reason": "again"},
            headers=hub.auth("admin"),
        )
        assert again.status_code == 409, action
    missing = await hub.client.post(f"{API}/no-such-id/requeue", json={}, headers=hub.auth("admin"))
    assert missing.status_code == 404

    log = (await hub.client.get("/api/v1/admin/log?action=delivery.", headers=hub.auth("auditor"))).json()
    actions = [(e["action"], e["target"], e["detail"].get("reason")) for e in log["items"]]
    assert actions == [
        ("delivery.discard", delivery_id, "the agency was merged"),
        ("delivery.requeue", delivery_id, "axis back"),
    ]
    assert all(e["actor"].startswith("api:") for e in log["items"])


async def test_an_inbox_delivery_can_be_discarded_but_not_requeued(hub: Hub) -> None:
    [delivery_id] = await failed_delivery(hub, RECIPIENT)
    assert await state(hub, delivery_id) == "awaiting_pickup"
    refused = await hub.client.post(f"{API}/{delivery_id}/requeue", json={}, headers=hub.auth("admin"))
    assert refused.status_code == 409
    done = await hub.client.post(
        f"{API}/{delivery_id}/discard",
        json={"reason": "sent twice"},
        headers=hub.auth("admin"),
    )
    assert done.json()["state"] == "discarded"
    inbox = (await hub.client.get("/api/v1/inbox", headers=hub.auth(RECIPIENT))).json()
    assert delivery_id not in [item["delivery_id"] for item in inbox["items"]]


async def test_retry_now_makes_a_waiting_retry_due_at_once(hub: Hub, qlvb: Receiver) -> None:
    qlvb.script("/busy", [503])
    await set_endpoint(hub.database, RECIPIENT, qlvb.url("/busy"))
    [delivery] = (await hub.submit(document(RECIPIENT))).json()["deliveries"]
    await until(lambda: _is(hub, delivery["id"], "retrying"))
    answer = await hub.client.post(f"{API}/{delivery['id']}/retry-now", json={}, headers=hub.auth("admin"))
    assert answer.status_code == 200, answer.text
    await until(lambda: _is(hub, delivery["id"], "delivered"), timeout=30)  # not after the 60 s back-off
    assert len(qlvb.at("/busy")) == 2


async def test_filters_and_keyset_pages(hub: Hub) -> None:
    outside = await failed_delivery(hub)
    local = await failed_delivery(hub, RECIPIENT, OTHER)
    admin = hub.auth("admin")

    async def ids(query: str) -> list[str]:
        answer = await hub.client.get(f"{API}?{query}", headers=admin)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    everything = await ids("")
    assert everything == sorted(outside + local, reverse=True)  # newest first
    assert await ids("state=failed") == outside
    assert await ids("connector=national-axis") == outside
    assert await ids(f"recipient={RECIPIENT}") == [local[0]]
    assert sorted(await ids("recipient=*.H62")) == sorted(local)
    assert await ids("recipient=*.G22") == outside
    assert await ids(f"sender={SENDER}&state=awaiting_pickup") == sorted(local, reverse=True)
    assert await ids("sender=*.H29") == []
    detail = (await hub.client.get(f"{API}/{outside[0]}", headers=admin)).json()
    assert await ids(f"document_id={detail['document']['document_id']}") == outside
    now = datetime.now(UTC)
    assert await ids(f"since={(now - timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}") == everything
    assert await ids(f"until={(now - timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}") == []

    first = (await hub.client.get(f"{API}?limit=2", headers=admin)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (await hub.client.get(f"{API}?limit=2&cursor={first['next_cursor']}", headers=admin)).json()
    assert [i["id"] for i in first["items"] + second["items"]] == everything
    assert second["next_cursor"] is None

    bad = await hub.client.get("/api/v1/admin/deliveries?recipient=000.00.02.h62", headers=admin)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"].endswith("recipient")
    assert (await hub.client.get("/api/v1/admin/deliveries?state=lost", headers=admin)).status_code == 400


async def test_bulk_actions_by_ids_and_by_filter(hub: Hub) -> None:
    outside = await failed_delivery(hub) + await failed_delivery(hub)
    [inbox] = await failed_delivery(hub, RECIPIENT)
    admin = hub.auth("admin")
    both = await hub.client.post(
        f"{API}/requeue",
        json={"ids": outside, "filter": {"state": "failed"}, "reason": "x"},
        headers=admin,
    )
    assert both.status_code == 400
    unreasoned = await hub.client.post(f"{API}/discard", json={"ids": outside}, headers=admin)
    assert unreasoned.status_code == 400

    by_filter = await hub.client.post(
        f"{API}/requeue",
        json={"filter": {"recipient": "*.G22"}, "reason": "the axis is back"},
        headers=admin,
    )
    assert by_filter.json() == {"changed": 2, "skipped": 0}
    for delivery_id in outside:
        await until(lambda d=delivery_id: _is(hub, d, "failed"))

    by_ids = await hub.client.post(
        f"{API}/discard",
        json={"ids": [*outside, inbox, "no-such-id"], "reason": "duplicates"},
        headers=admin,
    )
    assert by_ids.json() == {"changed": 3, "skipped": 1}
    assert {await state(hub, d) for d in [*outside, inbox]} == {"discarded"}
    nothing = await hub.client.post(f"{API}/requeue", json={"filter": {"state": "failed"}}, headers=admin)
    assert nothing.json() == {"changed": 0, "skipped": 0}

    log = (await hub.client.get("/api/v1/admin/log?action=delivery.discard", headers=admin)).json()
    [entry] = log["items"]
    assert entry["detail"]["reason"] == "duplicates" and entry["detail"]["changed"] == 3
    assert sorted(entry["detail"]["ids"]) == sorted([*outside, inbox])


async def test_a_logged_in_person_uses_the_api_with_the_csrf_token(hub: Hub) -> None:
    await add_people(hub.database)
    [delivery_id] = await failed_delivery(hub)
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    assert (await hub.client.get(API)).status_code == 200
    token = csrf_of((await hub.client.get("/admin/account")).text)
    as_auditor = await hub.client.post(
        f"{API}/{delivery_id}/discard",
        json={"reason": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert as_auditor.status_code == 403

    hub.client.cookies.clear()
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    token = csrf_of((await hub.client.get("/admin/account")).text)
    forged = await hub.client.post(f"{API}/{delivery_id}/discard", json={"reason": "x"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    done = await hub.client.post(
        f"{API}/{delivery_id}/discard",
        json={"reason": "by a person"},
        headers={"X-CSRF-Token": token},
    )
    assert done.status_code == 200, done.text
    log = (await hub.client.get("/api/v1/admin/log?action=delivery.discard")).json()
    assert log["items"][0]["actor"] == f"user:{ADMIN}"
    hub.client.cookies.clear()


async def test_a_document_whose_bytes_retention_purged_is_discarded_not_requeued(hub: Hub) -> None:
    first, second = await failed_delivery(hub), await failed_delivery(hub)
    async with hub.database.transaction() as session:
        purged = await purge_payloads(session, before=datetime.now(UTC) + timedelta(seconds=1), actor="test")
    assert purged == 4  # as received and as sealed, for each document

    refused = await hub.client.post(
        f"{API}/{first[0]}/requeue", json={"reason": "x"}, headers=hub.auth("admin")
    )
    assert refused.status_code == 409 and "purged by retention" in refused.json()["detail"]
    bulk = await hub.client.post(
        f"{API}/requeue", json={"ids": first + second, "reason": "x"}, headers=hub.auth("admin")
    )
    assert bulk.json() == {"changed": 0, "skipped": 2}
    assert {await state(hub, d) for d in first + second} == {"failed"}
    discarded = await hub.client.post(
        f"{API}/{first[0]}/discard", json={"reason": "purged"}, headers=hub.auth("admin")
    )
    assert discarded.status_code == 200 and discarded.json()["state"] == "discarded"


async def test_text_postgresql_cannot_store_is_refused_not_failed(hub: Hub) -> None:
    """Found by schemathesis: a NUL or a lone surrogate in a bulk selection made PostgreSQL fail (500)."""
    for ids in (["a\x00"], ["\udb3b"]):
        answer = await hub.client.post(
            f"{API}/requeue",
            content=json.dumps({"ids": ids, "reason": "x"}),
            headers={**hub.auth("admin"), "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
