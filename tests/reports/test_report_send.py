"""Reports travel as documents (SQLite and PostgreSQL): the monthly report goes through the hub's
own intake from the hub's agency code, sealed, routed and readable by its recipient with the XLSX
attached; never twice for the same period and recipient; by the schedule once its day has come;
and from the command line."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import openpyxl
import pytest
from lxml import etree
from sqlalchemy import select
from support.cli import lienthong
from support.hub import RECIPIENT, SENDER, Hub, scalars

from app.config import Settings
from app.edxml import read_document
from app.edxml.model import NAMESPACE
from app.kit.clock import VIETNAM
from app.kit.errors import Conflict, InvalidDocument
from app.kit.secrets import load_master_key
from app.models import AdminLogEntry, Delivery, Document, ReportDispatch, ReportSnapshot
from app.reports.dispatch import MonthlyReports, Snapshots, send_report
from app.reports.periods import Period
from app.sealing.seal import Sealer
from app.sealing.service import load_active_sealer

HUB_CODE = "000.00.00.H62"
THIRD = "000.00.03.H62"


async def sealer_of(hub: Hub) -> Sealer:
    async with hub.database.reading() as session:
        return await load_active_sealer(session, load_master_key(hub.settings))


def attachment(sealed: bytes) -> tuple[str, bytes]:
    root = etree.fromstring(sealed)
    [element] = root.iter(f"{{{NAMESPACE}}}Attachment")
    name = element.findtext(f"{{{NAMESPACE}}}AttachmentName")
    content = element.findtext(f"{{{NAMESPACE}}}ContentTransferEncoded")
    assert name is not None and content is not None
    return name, base64.b64decode(content)


async def test_the_report_is_a_sealed_document_from_the_hub(hub: Hub, sample: bytes) -> None:
    assert (await hub.submit(sample)).status_code == 201
    sealer = await sealer_of(hub)
    period = Period.parse(datetime.now(VIETNAM).strftime("%Y-%m"))
    sent = await send_report(hub.database, sealer, hub.settings, period=period, to=RECIPIENT, actor="test")
    assert sent.number == 1 and sent.deliveries == [f"{RECIPIENT} inbox queued"]

    async with hub.database.reading() as session:
        document = await session.get(Document, sent.document_id)
        deliveries = list(
            await session.scalars(select(Delivery).where(Delivery.document_id == sent.document_id))
        )
        [logged] = await session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "report.send"))
    assert document is not None
    assert (document.sender_code, document.received_via, document.kind) == (HUB_CODE, "hub", "edoc")
    assert [d.recipient_code for d in deliveries] == [RECIPIENT]
    assert logged.actor == "test" and logged.detail["period"] == period.label

    # The recipient reads it like any document: sealed by the hub, with the workbook attached.
    answer = await hub.client.get(f"/api/v1/documents/{sent.document_id}/edxml", headers=hub.auth(RECIPIENT))
    assert answer.status_code == 200
    parsed = read_document(answer.content, today=datetime.now(VIETNAM).date())
    assert parsed.sender.organ_id == HUB_CODE and parsed.subject.endswith(period.label)
    assert parsed.trace_headers[-1].organ_id == hub.settings.hub_code
    name, content = attachment(answer.content)
    assert name == f"bao-cao-chi-so-{period.label}.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(table) if row and row[0] == "agency")
    province = dict(zip(table[header], table[header + 1], strict=True))
    assert (province["agency"], province["sent"], province["received"]) == (HUB_CODE, 1, 2)

    with pytest.raises(Conflict):
        await send_report(hub.database, sealer, hub.settings, period=period, to=RECIPIENT, actor="test")
    again = await send_report(hub.database, sealer, hub.settings, period=period, to=THIRD, actor="test")
    assert again.number == 2


async def test_the_hub_code_must_be_in_the_directory(hub: Hub) -> None:
    settings = hub.settings.model_copy(update={"hub_code": "000.00.77.H62"})
    with pytest.raises(InvalidDocument, match=r"000\.00\.77\.H62.*lienthong agency add"):
        await send_report(
            hub.database,
            await sealer_of(hub),
            settings,
            period=Period.parse("2026-11"),
            to=RECIPIENT,
            actor="t",
        )


async def test_the_schedule_sends_last_month_once(hub: Hub) -> None:
    settings = hub.settings.model_copy(
        update={"report_schedule_to": f"{RECIPIENT}, {THIRD}", "report_schedule_day": 3}
    )
    sealer = await sealer_of(hub)
    schedule = MonthlyReports(hub.database, settings, sealer=lambda: sealer)
    assert await schedule.round(now=datetime(2026, 12, 2, 12, tzinfo=VIETNAM)) == []  # not yet the day
    sent = await schedule.round(now=datetime(2026, 12, 3, 1, tzinfo=VIETNAM))
    assert [(s.period, s.recipient) for s in sent] == [("2026-11", RECIPIENT), ("2026-11", THIRD)]
    assert await schedule.round(now=datetime(2026, 12, 20, tzinfo=VIETNAM)) == []
    # Another replica does nothing while this one holds the lease.
    other = MonthlyReports(
        hub.database, settings.model_copy(update={"report_schedule_to": SENDER}), lambda: sealer
    )
    assert await other.round(now=datetime(2026, 12, 20, tzinfo=VIETNAM)) == []


async def test_snapshots_are_refreshed_by_one_replica(hub: Hub) -> None:
    settings = hub.settings.model_copy(update={"report_snapshot_seconds": 60.0})
    now = datetime(2026, 12, 3, 1, tzinfo=VIETNAM)
    recent = ["2026-12", "2026-11", "2026-Q4", "2026"]
    settled = ["2025-12", *(f"2026-{m:02d}" for m in range(1, 11))]  # the 11 months before November
    snapshots = Snapshots(hub.database, settings)
    assert await snapshots.round(now=now) == recent + settled  # the settled months had none: all counted
    assert await Snapshots(hub.database, settings).round(now=now) == []  # the lease is held
    async with hub.database.reading() as session:
        periods = set(await session.scalars(select(ReportSnapshot.period)))
    assert periods == set(recent + settled)
    # Later rounds recount the recent periods and only the settled month whose snapshot is the oldest.
    assert await snapshots.round(now=now) == [*recent, "2025-12"]
    assert await snapshots.round(now=now) == [*recent, "2026-01"]


def test_report_send_from_the_command_line(env: Settings) -> None:
    result = lienthong("report", "send", "--period", "2026-11", "--to", RECIPIENT)
    assert result.exit_code == 0, result.output
    assert f"report 2026-11 sent to {RECIPIENT}" in result.output
    [dispatch] = scalars(env.effective_database_url, select(ReportDispatch))
    assert (dispatch.period, dispatch.recipient_code, dispatch.sent_by.startswith("cli:")) == (
        "2026-11",
        RECIPIENT,
        True,
    )
    again = lienthong("report", "send", "--period", "2026-11", "--to", RECIPIENT)
    assert again.exit_code == 1 and "already sent" in again.output
    assert lienthong("report", "send", "--period", "2026-Q4", "--to", RECIPIENT).exit_code == 1


def test_paper_counts_and_holidays_from_files(env: Settings, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    paper = folder / "giay.csv"
    paper.write_text(
        "\ufeffma_dinh_danh,thang,so_van_ban_giay,nguon\n000.00.02.H62,2026-11,4,Sổ văn thư\n",
        encoding="utf-8",
    )
    result = lienthong("report", "paper", "import", paper)
    assert result.exit_code == 0, result.output
    assert "1 paper counts written" in result.output
    bad = folder / "sai.csv"
    bad.write_text("agency,month,paper_sent\n000.00.02.H62,2026-13,x\n", encoding="utf-8")
    failed = lienthong("report", "paper", "import", bad)
    assert failed.exit_code == 1 and "line 2" in failed.output

    calendar = folder / "2027.csv"
    calendar.write_text("day,name,working\n2027-02-05,Tết,0\n2027-02-13,làm bù,1\n", encoding="utf-8")
    assert lienthong("report", "holidays", "set", "2027", calendar).exit_code == 0
    shown = lienthong("report", "holidays", "show", "2027")
    assert "2027-02-13" in shown.output and "configured" in shown.output

    show = lienthong("report", "show", "--period", "2026-11", "--format", "csv")
    assert show.exit_code == 0, show.output
    assert "000.00.02.H62" in show.output


def test_refresh_from_the_command_line_counts_the_settled_months(env: Settings) -> None:
    result = lienthong("report", "refresh")
    assert result.exit_code == 0, result.output
    assert len([line for line in result.output.splitlines() if "agencies" in line]) == 4 + 11
    again = lienthong("report", "refresh")  # now only the oldest settled month is due
    assert len([line for line in again.output.splitlines() if "agencies" in line]) == 4 + 1
