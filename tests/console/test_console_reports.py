"""The console's Báo cáo chỉ số on SQLite and PostgreSQL: a document submitted and registered
through the API shows on the page with the API's figures for the same period; a row leads to that
agency's page and to its documents; the export downloads the API's XLSX; an admin enters a paper
count through the page's form (admin-logged under their name), an auditor sees no form and a
forged POST of theirs is refused with 403."""

from __future__ import annotations

import io
import re

import openpyxl
from conftest import ADMIN, AUDITOR, add_people, csrf_of, log_in
from reports.test_reports_api import INDICATORS, submit_and_register
from support.hub import RECIPIENT, SENDER, Hub

from app.i18n import format_number
from app.kit.clock import VIETNAM
from app.models import Document
from app.reports.service import province_root

PAGE = "/admin/reports"


def cell(html: str, agency: str, column: str) -> str:
    row = re.search(rf'<tr data-agency="{re.escape(agency)}".*?</tr>', html, re.S)
    assert row, agency
    found = re.search(rf'data-column="{column}">(.*?)</td>', row.group(0), re.S)
    assert found, column
    return found.group(1).strip()


async def test_the_page_shows_the_apis_figures_with_drill_down_and_export(hub: Hub, sample: bytes) -> None:
    receipt = await submit_and_register(hub, sample)
    async with hub.database.reading() as session:
        document = await session.get(Document, receipt["id"])
    assert document is not None
    month = document.received_at.astimezone(VIETNAM).strftime("%Y-%m")
    api = await hub.client.get(
        INDICATORS, params={"period": month, "rollup": "true"}, headers=hub.auth("auditor")
    )
    expected = {row["agency"]: row for row in api.json()["rows"]}
    province = province_root(hub.settings.hub_code)

    await add_people(hub.database)
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    page = await hub.client.get(PAGE, params={"period": month})
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Báo cáo chỉ số</h1>" in html and 'href="/admin/reports" aria-current="page"' in html
    for agency, row in expected.items():
        assert cell(html, agency, "sent") == format_number(row["sent"], "vi"), agency
        assert cell(html, agency, "received") == format_number(row["received"], "vi"), agency
        assert cell(html, agency, "overdue") == format_number(row["overdue"], "vi"), agency
    assert "chưa nhập số liệu giấy" in cell(html, province, "electronic_share")
    assert "<svg" in html and "data-trend" in html and "<script" not in html.split("<main", 1)[-1]
    assert "data-paper-form" not in html  # an auditor enters nothing

    # Drill-down: a child's row leads to its own page (its subtree rolled up), then to documents.
    child = next(a for a in expected if a != province)
    assert f"agency={child}" in html
    own = await hub.client.get(PAGE, params={"period": month, "agency": child})
    assert own.status_code == 200 and f'<tr data-agency="{child}" class="total"' in own.text
    documents = await hub.client.get(f"{PAGE}/documents", params={"period": month, "agency": RECIPIENT})
    assert documents.status_code == 200 and f'data-document="{document.id}"' in documents.text
    assert SENDER in documents.text
    failed = await hub.client.get(
        f"{PAGE}/documents", params={"period": month, "agency": RECIPIENT, "which": "failed"}
    )
    assert failed.status_code == 200 and "data-document=" not in failed.text

    # The export is the API's workbook.
    export = await hub.client.get(f"{PAGE}/export", params={"period": month, "format": "xlsx"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in export.headers["content-disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(export.content), read_only=True)
    api_xlsx = await hub.client.get(
        INDICATORS, params={"period": month, "rollup": "true", "format": "xlsx"}, headers=hub.auth("auditor")
    )
    reference = openpyxl.load_workbook(io.BytesIO(api_xlsx.content), read_only=True)
    mine = [r for r in workbook.worksheets[0].iter_rows(values_only=True)]
    theirs = [r for r in reference.worksheets[0].iter_rows(values_only=True)]
    assert len(mine) == len(theirs) and mine[-1] == theirs[-1]
    csv = await hub.client.get(f"{PAGE}/export", params={"period": month, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert (await hub.client.get(PAGE, params={"period": "2026-13"})).status_code == 400


async def test_paper_counts_by_admins_only(hub: Hub) -> None:
    await add_people(hub.database)
    assert (await log_in(hub.client, AUDITOR)).status_code == 303
    token = csrf_of((await hub.client.get(PAGE)).text)
    forged = await hub.client.post(
        f"{PAGE}/paper-counts",
        data={"agency": RECIPIENT, "month": "2026-11", "paper_sent": "5", "csrf_token": token},
    )
    assert forged.status_code == 403
    assert await hub.scalar("SELECT count(*) FROM paper_counts") == 0
    hub.client.cookies.clear()

    assert (await log_in(hub.client, ADMIN)).status_code == 303
    html = (await hub.client.get(PAGE, params={"period": "2026-11"})).text
    assert "data-paper-form" in html
    answer = await hub.client.post(
        f"{PAGE}/paper-counts",
        data={
            "agency": RECIPIENT,
            "month": "2026-11",
            "paper_sent": "7",
            "source": "Văn thư",
            "period": "2026-11",
            "csrf_token": csrf_of(html),
        },
    )
    assert answer.status_code == 303, answer.text
    shown = (await hub.client.get(answer.headers["location"])).text
    assert "Đã lưu số văn bản giấy" in shown
    listed = await hub.client.get(
        "/api/v1/reports/paper-counts", params={"period": "2026-11"}, headers=hub.auth("admin")
    )
    assert [(i["agency"], i["paper_sent"], i["entered_by"]) for i in listed.json()["items"]] == [
        (RECIPIENT, 7, f"user:{ADMIN}")
    ]
    assert (
        await hub.scalar(
            "SELECT count(*) FROM admin_log WHERE action = 'report.paper-counts' AND actor = :a",
            a=f"user:{ADMIN}",
        )
        == 1
    )
    refused = await hub.client.post(
        f"{PAGE}/paper-counts",
        data={"agency": "000.00.99.H62", "month": "2026-11", "paper_sent": "1", "csrf_token": csrf_of(html)},
    )
    assert refused.status_code == 303
    assert "000.00.99.H62" in (await hub.client.get(refused.headers["location"])).text
