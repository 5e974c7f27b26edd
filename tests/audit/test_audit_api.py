"""The auditor API over HTTP, on SQLite and PostgreSQL: search and export (staff only, each look
recorded in the admin log), checkpoints and proofs (anyone), evidence bundles round trip."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile

from sqlalchemy import select
from support.audit import integrate
from support.delivery import all_in, document
from support.hub import OTHER, RECIPIENT, SENDER, Hub
from support.receiver import until

from app.audit import merkle
from app.audit.bundle import verify_bundle
from app.audit.note import verify_checkpoint
from app.models import AdminLogEntry


async def submitted(hub: Hub) -> dict:
    """A new document, once its delivery is parked in the recipient's inbox (so its log is complete)."""
    answer = await hub.submit(document(RECIPIENT))
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    ids = [d["id"] for d in receipt["deliveries"]]
    await until(lambda: all_in(hub.database, ids, "awaiting_pickup", "delivered"))
    return receipt


async def entries(hub: Hub, who: str = "auditor", **params: object) -> dict:
    answer = await hub.client.get("/api/v1/audit/entries", params=params, headers=hub.auth(who))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_search_is_for_staff_and_recorded(hub: Hub) -> None:
    receipt = await submitted(hub)
    await integrate(hub.database, hub.settings)
    answer = await hub.client.get("/api/v1/audit/entries", headers=hub.auth(SENDER))
    assert answer.status_code == 403
    assert (await hub.client.get("/api/v1/audit/entries")).status_code == 401
    assert (await hub.client.get("/api/v1/audit/export", headers=hub.auth(SENDER))).status_code == 403

    found = await entries(hub, document_id=receipt["id"])
    events = {item["event"] for item in found["items"]}
    assert events == {"stored", "routed", "delivery-state"}
    assert all(isinstance(item["leaf_index"], int) for item in found["items"])
    assert {item["document_id"] for item in found["items"]} == {receipt["id"]}
    by_edxml_id = await entries(hub, document_id=receipt["document_id"])
    assert {i["id"] for i in by_edxml_id["items"]} == {i["id"] for i in found["items"]}

    async with hub.database.reading() as session:
        looks = list(
            await session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "audit.search"))
        )
    assert looks and all(look.actor.startswith("api:") for look in looks)
    assert looks[0].detail["filters"]["document_id"] == receipt["id"]


async def test_filters_and_keyset_pages(hub: Hub) -> None:
    receipts = [await submitted(hub) for _ in range(3)]
    await integrate(hub.database, hub.settings)
    everything = (await entries(hub, limit=500))["items"]
    ids = [item["id"] for item in everything]
    assert ids == sorted(ids, reverse=True)

    walked: list[int] = []
    cursor = None
    while True:
        page = await entries(hub, limit=2, **({"cursor": cursor} if cursor else {}))
        walked += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == ids

    stored = (await entries(hub, event="stored"))["items"]
    assert {item["document_id"] for item in stored} == {r["id"] for r in receipts}
    assert (await entries(hub, event="stored", agency=SENDER))["items"] == stored
    assert (await entries(hub, event="stored", agency="*.H62"))["items"] == stored
    assert (await entries(hub, event="stored", agency="*.H29"))["items"] == []
    bad = await hub.client.get("/api/v1/audit/entries", params={"agency": "h62"}, headers=hub.auth("auditor"))
    assert bad.status_code == 400
    async with hub.database.reading() as session:
        from app.models import Document

        first = await session.get(Document, receipts[0]["id"])
        assert first is not None
        code = f"{first.code_number}/{first.code_notation}"
    by_code = (await entries(hub, code=code))["items"]
    assert by_code and {item["document_id"] for item in by_code} == {receipts[0]["id"]}
    admin = (await entries(hub, log="admin_log", event="audit.search"))["items"]
    assert admin and all(item["log"] == "admin_log" for item in admin)


async def test_export_streams_every_row(hub: Hub) -> None:
    for _ in range(3):
        await submitted(hub)
    await integrate(hub.database, hub.settings)
    listed = (await entries(hub, limit=500))["items"]
    as_csv = await hub.client.get("/api/v1/audit/export", params={"format": "csv"}, headers=hub.auth("admin"))
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [int(r["id"]) for r in rows] == sorted(item["id"] for item in listed)
    assert all(r["leaf_index"] != "" for r in rows)
    lines = await hub.client.get(
        "/api/v1/audit/export", params={"format": "jsonl"}, headers=hub.auth("auditor")
    )
    parsed = [json.loads(line) for line in lines.text.splitlines()]
    assert sorted(parsed, key=lambda e: -e["id"]) == listed
    async with hub.database.reading() as session:
        exports = list(
            await session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "audit.export"))
        )
    assert [e.detail["format"] for e in exports] == ["csv", "jsonl"]


async def test_checkpoint_and_proofs_for_anyone(hub: Hub) -> None:
    assert (await hub.client.get("/api/v1/audit/checkpoint")).status_code == 404
    await submitted(hub)
    await integrate(hub.database, hub.settings)
    first = await hub.client.get("/api/v1/audit/checkpoint")
    await submitted(hub)
    await integrate(hub.database, hub.settings)
    second = await hub.client.get("/api/v1/audit/checkpoint")
    assert second.headers["content-type"].startswith("text/plain")
    key = (await hub.client.get("/api/v1/audit/log-key")).text.strip()
    old, new = verify_checkpoint(first.text, key), verify_checkpoint(second.text, key)
    assert old.origin == new.origin == hub.settings.log_origin and old.size < new.size

    proof = (
        await hub.client.get("/api/v1/audit/proofs/consistency", params={"from": old.size, "to": new.size})
    ).json()
    assert (proof["from"], proof["to"]) == (old.size, new.size)
    merkle.verify_consistency(
        old.size, new.size, old.root, new.root, [base64.b64decode(h) for h in proof["hashes"]]
    )

    item = (await entries(hub, event="stored", limit=1))["items"][0]
    from app.audit.canonical import dumps

    leaf = merkle.leaf_hash(dumps({k: v for k, v in item.items() if k != "leaf_index"}))
    inclusion = (
        await hub.client.get(
            "/api/v1/audit/proofs/inclusion", params={"index": item["leaf_index"], "size": new.size}
        )
    ).json()
    merkle.verify_inclusion(
        item["leaf_index"], new.size, leaf, [base64.b64decode(h) for h in inclusion["hashes"]], new.root
    )
    too_big = await hub.client.get(
        "/api/v1/audit/proofs/inclusion", params={"index": 0, "size": new.size + 5}
    )
    assert too_big.status_code == 404


async def bundle(hub: Hub, document_id: str, who: str) -> bytes:
    answer = await hub.client.get(f"/api/v1/documents/{document_id}/evidence", headers=hub.auth(who))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    return answer.content


def with_file(data: bytes, name: str, content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == name else source.read(info.filename))
    return buffer.getvalue()


async def test_evidence_bundle_round_trip_and_every_byte_matters(hub: Hub) -> None:
    receipt = await submitted(hub)
    await integrate(hub.database, hub.settings)
    assert (
        await hub.client.get(f"/api/v1/documents/{receipt['id']}/evidence", headers=hub.auth(OTHER))
    ).status_code == 404
    data = await bundle(hub, receipt["id"], SENDER)
    key = (await hub.client.get("/api/v1/audit/log-key")).text.strip()
    report = verify_bundle(data, trusted_key=key)
    assert report.valid, report.problems
    assert report.entries == report.proven >= 4
    files = {
        info.filename: zipfile.ZipFile(io.BytesIO(data)).read(info.filename)
        for info in zipfile.ZipFile(io.BytesIO(data)).infolist()
    }
    assert {
        "received.edxml",
        "sealed.edxml",
        "checkpoint.txt",
        "log-key.txt",
        "manifest.txt",
        "README.md",
    } <= set(files)
    assert any(name.startswith("certificates/hub-") for name in files)
    assert "Tiếng Việt" in files["README.md"].decode() and "English" in files["README.md"].decode()
    for who in (RECIPIENT, "auditor", "admin"):
        assert verify_bundle(await bundle(hub, receipt["id"], who), trusted_key=key).valid

    for name, content in files.items():
        positions = (
            range(len(content))
            if len(content) <= 300
            else sorted({0, len(content) - 1, *range(0, len(content), max(1, len(content) // 150))})
        )
        for position in positions:
            altered = bytearray(content)
            altered[position] ^= 0x01
            result = verify_bundle(with_file(data, name, bytes(altered)), trusted_key=key)
            assert not result.valid, (name, position)
            assert any(name in problem for problem in result.problems), (name, position, result.problems)
