"""The auditors' console pages over HTTP with a logged-in session, on SQLite and PostgreSQL: the
search with the API's filters and keyset pages, the streamed export, an entry's proof status, a
document's trail and its evidence bundle (which verifies offline); each search, export and bundle
recorded in the admin log under the person's name; the latest checkpoint on the page."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from conftest import ADMIN, AUDITOR, add_people, log_in
from sqlalchemy import select, text
from support.audit import as_attacker, integrate
from support.delivery import all_in, document
from support.hub import RECIPIENT, Hub
from support.receiver import until

from app.audit.bundle import verify_bundle
from app.audit.tree import latest_checkpoint
from app.config import Settings
from app.console.pages import audit as audit_page
from app.models import AdminLogEntry

ROW = re.compile(r'<tr data-entry="(\d+)">')


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.audit_integrator = False  # the tests integrate when they choose to
    return settings


async def submitted(hub: Hub) -> str:
    """A new document's hub id, once its delivery is parked (so its log is complete)."""
    answer = await hub.submit(document(RECIPIENT))
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    ids = [d["id"] for d in receipt["deliveries"]]
    await until(lambda: all_in(hub.database, ids, "awaiting_pickup", "delivered"))
    return str(receipt["id"])


async def looks(hub: Hub, action: str, actor: str) -> list[AdminLogEntry]:
    """The admin log's record of one person's searches, exports or bundles (the API's looks apart)."""
    async with hub.database.reading() as session:
        return list(
            await session.scalars(
                select(AdminLogEntry)
                .where(AdminLogEntry.action == action, AdminLogEntry.actor == f"user:{actor}")
                .order_by(AdminLogEntry.id)
            )
        )


async def api_ids(hub: Hub, **params: object) -> list[int]:
    answer = await hub.client.get(
        "/api/v1/audit/entries", params={"limit": 500, **params}, headers=hub.auth("auditor")
    )
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def test_search_pages_export_and_every_look_recorded(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    await add_people(hub.database)
    first = await submitted(hub)
    await submitted(hub)
    await integrate(hub.database, hub.settings)
    assert (await hub.client.get("/admin/audit")).status_code == 303  # not logged in: to the login page
    assert (await log_in(hub.client, AUDITOR)).status_code == 303

    page = await hub.client.get("/admin/audit")
    assert page.status_code == 200
    assert "<h1>Nhật ký trao đổi</h1>" in page.text and 'href="/admin/audit" aria-current="page"' in page.text
    async with hub.database.reading() as session:
        checkpoint = await latest_checkpoint(session)
    assert checkpoint is not None and checkpoint.size > 0
    assert f"<dd>{checkpoint.size}</dd>" in page.text  # the latest checkpoint's tree size
    assert ROW.findall(page.text) == [str(i) for i in await api_ids(hub)][: audit_page.PAGE_SIZE]

    # The API's filters, in the form: only the first document's "stored" entry.
    found = await hub.client.get("/admin/audit", params={"document_id": first, "event": "stored"})
    [only] = ROW.findall(found.text)
    assert [int(only)] == await api_ids(hub, document_id=first, event="stored")
    searches = await looks(hub, "audit.search", AUDITOR)
    assert len(searches) == 2  # the first page and this search
    assert searches[-1].detail["filters"] == {"log": "exchange_log", "document_id": first, "event": "stored"}
    assert searches[-1].detail["returned"] == 1
    refused = await hub.client.get("/admin/audit", params={"agency": "h62"})
    assert refused.status_code == 200 and 'role="alert"' in refused.text and not ROW.findall(refused.text)
    admin_log = await hub.client.get("/admin/audit", params={"log": "admin_log", "event": "audit.search"})
    assert len(ROW.findall(admin_log.text)) >= len(searches)

    # Keyset pages: following "next page" walks every entry once, newest first.
    monkeypatch.setattr(audit_page, "PAGE_SIZE", 3)
    walked: list[int] = []
    path = "/admin/audit?log=exchange_log"
    while path:
        answer = await hub.client.get(path)
        walked += [int(i) for i in ROW.findall(answer.text)]
        link = re.search(r'<a href="([^"]+)" rel="next">', answer.text)
        path = link.group(1).replace("&amp;", "&") if link else ""
    assert walked == await api_ids(hub) and len(walked) > 3

    # The export streams what the search finds, oldest first, and is recorded with its format.
    as_csv = await hub.client.get("/admin/audit/export", params={"format": "csv", "event": "stored"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == 'attachment; filename="exchange_log.csv"'
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [int(r["id"]) for r in rows] == sorted(await api_ids(hub, event="stored"))
    lines = await hub.client.get("/admin/audit/export", params={"format": "jsonl", "log": "admin_log"})
    exported = [json.loads(line) for line in lines.text.splitlines()]
    assert exported and all(e["log"] == "admin_log" for e in exported)
    assert [e["action"] for e in exported].count("audit.search") >= len(searches)
    exports = await looks(hub, "audit.export", AUDITOR)
    assert [e.detail["format"] for e in exports] == ["csv", "jsonl"]
    assert exports[0].detail["filters"] == {"log": "exchange_log", "event": "stored"}
    assert (await hub.client.get("/admin/audit/export", params={"agency": "h62"})).status_code == 400
    assert (await hub.client.get("/admin/audit/export", params={"format": "xml"})).status_code == 400

    # English on request.
    assert "<h1>Exchange log</h1>" in (await hub.client.get("/admin/audit?lang=en")).text
    hub.client.cookies.clear()


async def test_entry_proof_trail_and_evidence_bundle(hub: Hub) -> None:
    await add_people(hub.database)
    document_id = await submitted(hub)
    await integrate(hub.database, hub.settings)
    assert (await log_in(hub.client, ADMIN)).status_code == 303
    [stored] = await api_ids(hub, document_id=document_id, event="stored")

    # An integrated entry: its leaf index and its inclusion checked against the latest checkpoint.
    entry = await hub.client.get(f"/admin/audit/entries/exchange_log/{stored}")
    assert entry.status_code == 200 and 'data-proof="verified"' in entry.text
    assert "đã kiểm chứng" in entry.text
    # A look recorded since the last checkpoint is not integrated yet: the page says so.
    await hub.client.get("/admin/audit")
    fresh = (await looks(hub, "audit.search", ADMIN))[-1]
    pending = await hub.client.get(f"/admin/audit/entries/admin_log/{fresh.id}")
    assert pending.status_code == 200 and 'data-proof="pending"' in pending.text
    assert (await hub.client.get("/admin/audit/entries/admin_log/999999999")).status_code == 404
    assert (await hub.client.get("/admin/audit/entries/nothing/1")).status_code == 404

    # The document's trail: every entry about it, its delivery, the evidence button.
    trail = await hub.client.get(f"/admin/audit/documents/{document_id}")
    assert trail.status_code == 200
    events = set(re.findall(r"<td><code>([a-z.-]+)</code>", trail.text))
    assert {"stored", "routed", "delivery-state"} <= events
    assert '<a href="/admin/deliveries/' in trail.text and RECIPIENT in trail.text
    assert "Tải gói bằng chứng" in trail.text
    assert (await hub.client.get("/admin/audit/documents/no-such-document")).status_code == 404

    # The bundle verifies offline against the published log key, and the download is recorded.
    bundle = await hub.client.get(f"/admin/audit/documents/{document_id}/evidence")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    key = (await hub.client.get("/api/v1/audit/log-key")).text.strip()
    report = verify_bundle(bundle.content, trusted_key=key)
    assert report.valid, report.problems
    assert report.document_id == document_id and report.entries == report.proven >= 4
    [recorded] = await looks(hub, "audit.evidence", ADMIN)
    assert recorded.target == document_id
    # Someone with the database password rewrites the entry: its proof no longer verifies.
    async with as_attacker(hub.database) as session:
        await session.execute(
            text("UPDATE exchange_log SET agency_code = '000.00.09.H62' WHERE id = :i"), {"i": stored}
        )
    forged = await hub.client.get(f"/admin/audit/entries/exchange_log/{stored}")
    assert 'data-proof="failed"' in forged.text and 'data-proof="verified"' not in forged.text
    hub.client.cookies.clear()
