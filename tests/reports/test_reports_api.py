"""`/api/v1/reports/` on a running hub (SQLite and PostgreSQL): a document submitted and registered
through the API shows in the indicators (JSON, CSV, XLSX); who may read and who may change; paper
counts and the working calendar through the API, each change in the admin log."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
from sqlalchemy import select
from support.hub import RECIPIENT, SENDER, Hub

from app.edxml import StatusSpec, build_status
from app.edxml.formats import format_timestamp
from app.kit.clock import VIETNAM, vietnam_now
from app.models import AdminLogEntry, Document

INDICATORS = "/api/v1/reports/indicators"


async def submit_and_register(hub: Hub, sample: bytes) -> dict[str, object]:
    response = await hub.submit(sample)
    assert response.status_code == 201, response.text
    receipt: dict[str, object] = response.json()
    status = build_status(
        StatusSpec(
            reporter=RECIPIENT,
            original_sender_id=SENDER,
            original_code="1234/VP-KSTT",
            original_document_id="000.00.01.H62,2026/11/20,1234/VP-KSTT",
            status_code="03",
            timestamp=format_timestamp(vietnam_now()),
        )
    )
    answer = await hub.client.post(
        "/api/v1/statuses",
        content=status,
        headers={"Content-Type": "application/xml", **hub.auth(RECIPIENT)},
    )
    assert answer.status_code == 202, answer.text
    return receipt


async def test_indicators_of_what_went_through_the_api(hub: Hub, sample: bytes) -> None:
    receipt = await submit_and_register(hub, sample)
    async with hub.database.reading() as session:
        document = await session.get(Document, receipt["id"])
    assert document is not None
    # The intake keeps the sample's DueDate and SteeringType for the reports.
    assert (document.due_date, document.steering_type) == (date(2026, 12, 15), 0)
    month = document.received_at.astimezone(VIETNAM).strftime("%Y-%m")

    answer = await hub.client.get(INDICATORS, params={"period": month}, headers=hub.auth("auditor"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["period"] == month
    rows = {row["agency"]: row for row in body["rows"]}
    assert (rows[SENDER]["sent"], rows[SENDER]["sent_api"], rows[SENDER]["received_status"]) == (1, 1, 1)
    recipient = rows[RECIPIENT]
    assert (recipient["received"], recipient["registered_03"], recipient["expected_to_handle"]) == (1, 1, 1)
    assert recipient["median_working_days_to_03"] == 0.0
    assert recipient["acknowledged_01"] == 1  # 03 implies 01
    assert rows["000.00.03.H62"]["registered_03"] == 0  # the other recipient said nothing
    assert rows["000.00.03.H62"]["registered_03_share"] == 0.0

    rolled = await hub.client.get(
        INDICATORS, params={"period": month, "rollup": "true"}, headers=hub.auth("admin")
    )
    province = rolled.json()["rows"][0]
    assert (province["agency"], province["rollup"], province["received"]) == ("000.00.00.H62", True, 2)

    csv = await hub.client.get(
        INDICATORS, params={"period": month, "format": "csv"}, headers=hub.auth("auditor")
    )
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("agency,name,parent,status,rollup,")
    assert any(line.startswith(f"{RECIPIENT},") for line in lines)

    xlsx = await hub.client.get(
        INDICATORS,
        params={"period": month, "format": "xlsx", "agency": RECIPIENT},
        headers=hub.auth("auditor"),
    )
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(table) if row and row[0] == "agency")
    data = dict(zip(table[header], table[header + 1], strict=True))
    assert (data["agency"], data["registered_03"]) == (RECIPIENT, 1)


async def test_who_may_read_and_bad_queries(hub: Hub) -> None:
    assert (await hub.client.get(INDICATORS, params={"period": "2026-11"})).status_code == 401
    forbidden = await hub.client.get(INDICATORS, params={"period": "2026-11"}, headers=hub.auth(SENDER))
    assert forbidden.status_code == 403
    for params in (
        {"period": "2026-13"},
        {},
        {"since": "2026-11-05"},
        {"since": "2026-11-05", "until": "2026-11-01"},
    ):
        answer = await hub.client.get(INDICATORS, params=params, headers=hub.auth("auditor"))
        assert answer.status_code in (400, 422), (params, answer.text)
    unknown = await hub.client.get(
        INDICATORS, params={"period": "2026", "agency": "000.00.99.H62"}, headers=hub.auth("auditor")
    )
    assert unknown.status_code == 404
    ranged = await hub.client.get(
        INDICATORS, params={"since": "2026-11-01", "until": "2026-11-15"}, headers=hub.auth("auditor")
    )
    assert ranged.json()["period"] == "2026-11-01..2026-11-15"


async def test_paper_counts_and_holidays_are_admin_changes(hub: Hub) -> None:
    entries = {"entries": [{"agency": SENDER, "month": "2026-11", "paper_sent": 3, "source": "Sổ văn thư"}]}
    url = "/api/v1/reports/paper-counts"
    assert (await hub.client.post(url, json=entries, headers=hub.auth("auditor"))).status_code == 403
    written = await hub.client.post(url, json=entries, headers=hub.auth("admin"))
    assert written.json() == {"written": 1}
    unknown = {"entries": [{"agency": "000.00.99.H62", "month": "2026-11", "paper_sent": 1}]}
    assert (await hub.client.post(url, json=unknown, headers=hub.auth("admin"))).status_code == 400
    listed = await hub.client.get(url, params={"period": "2026-Q4"}, headers=hub.auth("auditor"))
    [item] = listed.json()["items"]
    assert (item["agency"], item["paper_sent"], item["source"]) == (SENDER, 3, "Sổ văn thư")

    report = await hub.client.get(INDICATORS, params={"period": "2026-11"}, headers=hub.auth("auditor"))
    sender = next(row for row in report.json()["rows"] if row["agency"] == SENDER)
    assert (sender["paper_sent"], sender["electronic_share"], sender["meets_target"]) == (3, 0.0, False)

    holidays = "/api/v1/reports/holidays/2026"
    default = (await hub.client.get(holidays, headers=hub.auth("auditor"))).json()
    assert default["source"] == "default"
    assert {"day": "2026-02-17", "name": "Tết Nguyên đán", "working": False} in default["days"]
    days = {
        "days": [
            {"day": "2026-11-20", "name": "Ngày Nhà giáo (thử)"},
            {"day": "2026-11-21", "name": "làm bù", "working": True},
        ]
    }
    assert (await hub.client.put(holidays, json=days, headers=hub.auth("auditor"))).status_code == 403
    saved = await hub.client.put(holidays, json=days, headers=hub.auth("admin"))
    assert saved.status_code == 200, saved.text
    assert saved.json()["source"] == "configured" and len(saved.json()["days"]) == 2
    weekday = {"days": [{"day": "2026-11-19", "name": "x", "working": True}]}
    assert (await hub.client.put(holidays, json=weekday, headers=hub.auth("admin"))).status_code == 400

    async with hub.database.reading() as session:
        actions = list(
            await session.scalars(
                select(AdminLogEntry.action)
                .where(AdminLogEntry.action.like("report.%"))
                .order_by(AdminLogEntry.id)
            )
        )
    assert actions == ["report.paper-counts", "report.holidays"]
