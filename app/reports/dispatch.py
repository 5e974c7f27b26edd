"""Reports travel as documents: the period's indicator report, rolled up over the province, is
written as an edXML document from the hub's own agency code with the XLSX attached, and submitted
through the hub's own intake pipeline (app.documents.service), so it is validated, sealed, routed,
delivered and logged like any other document.

The monthly schedule (`LIENTHONG_REPORT_SCHEDULE_TO`) runs in the gateways under a lease, so one
replica sends it; a report already sent for a period and recipient is never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from app.audit.log import record_admin_action
from app.config import Settings
from app.documents.service import Submitter, submit_document
from app.edxml import DocumentSpec, Organ, build_document
from app.kit.clock import VIETNAM, utcnow
from app.kit.db import Database, table_of
from app.kit.errors import Conflict, InvalidDocument, Problem
from app.kit.lease import hold, holder_name
from app.models import Agency, AgencyStatus, Channel, ReportDispatch
from app.reports.export import XLSX_MEDIA_TYPE, to_xlsx
from app.reports.periods import Period, previous_month
from app.reports.service import (
    IndicatorReport,
    indicator_report,
    refresh_snapshot,
    settled_due,
    snapshot_periods,
)
from app.sealing.seal import Sealer

log = logging.getLogger(__name__)

NOTATION = "BC-LTVB"  # ký hiệu: báo cáo liên thông văn bản
LEASE = "reports.monthly"


@dataclass(frozen=True, slots=True)
class SentReport:
    period: str
    recipient: str
    number: int
    document_id: str  # the hub's id of the stored document
    edxml_document_id: str
    deliveries: list[str]  # "recipient connector state"


async def send_report(
    database: Database,
    sealer: Sealer,
    settings: Settings,
    *,
    period: Period,
    to: str,
    actor: str,
    as_of: datetime | None = None,
) -> SentReport:
    """Build the period's report and submit it to `to`. Conflict if it was sent there before."""
    hub_code = settings.hub_code
    async with database.reading() as session:
        hub = await session.get(Agency, hub_code)
        if hub is None or hub.status != AgencyStatus.ACTIVE:
            state = "is not in the agency directory" if hub is None else f"is {hub.status}"
            raise InvalidDocument(
                f"the hub's agency code {hub_code} (LIENTHONG_HUB_CODE) {state}; reports are sent in its "
                "name: add it with `lienthong agency add`",
                [
                    Problem(
                        "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId",
                        "unknown-agency",
                        hub_code,
                    )
                ],
            )
        earlier = await session.get(ReportDispatch, (period.label, to))
        if earlier is not None:
            raise Conflict(
                f"the report for {period.label} was already sent to {to} (document {earlier.document_id})"
            )
        number = (
            await session.scalar(
                select(func.max(ReportDispatch.number)).where(
                    ReportDispatch.period.like(f"{period.first.year:04d}%")
                )
            )
            or 0
        ) + 1
        report = await indicator_report(session, period=period, hub_code=hub_code, rollup=True, as_of=as_of)
        hub_name = hub.name
    workbook = await asyncio.to_thread(to_xlsx, report)
    today = utcnow().astimezone(VIETNAM).date()
    body = build_document(
        DocumentSpec(
            sender=Organ(hub_code, organ_name=hub_name),
            recipients=[to],
            code_number=str(number),
            code_notation=NOTATION,
            subject=f"Báo cáo chỉ số liên thông văn bản điện tử kỳ {period.label}",
            promulgation_date=today,
            type_name="Báo cáo",
            content=summary(report),
            steering_type=0,
            attachments=[(f"bao-cao-chi-so-{period.label}.xlsx", XLSX_MEDIA_TYPE, workbook)],
        )
    )
    result = await submit_document(
        database, sealer, Submitter(Channel.HUB, hub_code), body, hub_code=hub_code
    )
    receipt = result.receipt
    try:
        async with database.transaction() as session:
            await session.execute(
                insert(table_of(ReportDispatch)).values(
                    period=period.label,
                    recipient_code=to,
                    number=number,
                    document_id=receipt.id,
                    sent_by=actor,
                    sent_at=utcnow(),
                )
            )
            record_admin_action(
                session,
                actor=actor,
                action="report.send",
                target=receipt.id,
                period=period.label,
                to=to,
                document_id=receipt.document_id,
            )
    except IntegrityError:
        raise Conflict(
            f"the report for {period.label} was sent to {to} at the same time by another run"
        ) from None
    return SentReport(
        period=period.label,
        recipient=to,
        number=number,
        document_id=receipt.id,
        edxml_document_id=receipt.document_id,
        deliveries=[f"{d.recipient} {d.connector} {d.state}" for d in receipt.deliveries],
    )


def summary(report: IndicatorReport) -> str:
    """The document's Content (at most 500 characters): the headline figures of the first row."""
    if not report.rows:
        return f"Kỳ {report.period.label}: không có số liệu."
    row = report.rows[0]
    share = "chưa có số liệu văn bản giấy" if row.electronic_share is None else f"{row.electronic_share:.1%}"
    text = (
        f"{row.name} ({row.agency}), kỳ {report.period.label}: gửi {row.sent} văn bản, nhận {row.received}; "
        f"đã tiếp nhận (03) {row.registered_03}/{row.expected_to_handle}, "
        f"hoàn thành (06) {row.completed_06}; "
        f"quá hạn {row.overdue}; chuyển lỗi {row.failed}; tỷ lệ gửi điện tử: {share}. "
        "Chi tiết trong tệp đính kèm."
    )
    return text[:500]


class MonthlyReports:
    """The gateway's background task: once the configured day of a month has come, send the previous
    month's report to each configured recipient that has not had it yet."""

    def __init__(self, database: Database, settings: Settings, sealer: Callable[[], Sealer]) -> None:
        self.database = database
        self.settings = settings
        self._sealer = sealer  # the current sealer: keys rotate while the gateway runs
        self.holder = holder_name()

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # a failing round is logged and retried next time; it never stops the gateway
                log.exception("monthly report round failed")
            await asyncio.sleep(self.settings.report_schedule_check_seconds)

    async def round(self, now: datetime | None = None) -> list[SentReport]:
        """Send what is due now; returns what was sent."""
        recipients = [code for code in self.settings.report_schedule_to.split(",") if code.strip()]
        now = now or utcnow()
        local = now.astimezone(VIETNAM)
        if not recipients or local.day < self.settings.report_schedule_day:
            return []
        if not await hold(
            self.database, LEASE, self.holder, seconds=self.settings.report_schedule_check_seconds * 2
        ):
            return []
        period = previous_month(local.date())
        sent = []
        for recipient in (code.strip() for code in recipients):
            async with self.database.reading() as session:
                if await session.get(ReportDispatch, (period.label, recipient)) is not None:
                    continue
            try:
                sent.append(
                    await send_report(
                        self.database,
                        self._sealer(),
                        self.settings,
                        period=period,
                        to=recipient,
                        actor="schedule",
                    )
                )
            except Conflict:
                continue
            log.info("sent the indicator report for %s to %s", period.label, recipient)
        return sent


class Snapshots:
    """The gateway's background task that keeps the recent periods' snapshots fresh, so reading a
    report of a month or a year does not recount it (one replica at a time). Each round also counts
    the settled months (the 11 before the previous one) that have no snapshot, or else recounts the
    one whose snapshot is the oldest, so a year's monthly trend reads no month live."""

    LEASE = "reports.snapshots"

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.holder = holder_name()

    async def run(self) -> None:
        interval = self.settings.report_snapshot_seconds
        while True:
            # The first round waits one interval: a gateway that starts answers from the tables.
            await asyncio.sleep(interval)
            try:
                await self.round()
            except Exception:  # logged and retried next time; it never stops the gateway
                log.exception("report snapshot round failed")

    async def round(self, now: datetime | None = None) -> list[str]:
        """Refresh the snapshots now (if this replica holds the lease); returns the periods done."""
        interval = self.settings.report_snapshot_seconds
        if not await hold(self.database, self.LEASE, self.holder, seconds=interval * 2):
            return []
        today = (now or utcnow()).astimezone(VIETNAM).date()
        done = []
        async with self.database.reading() as session:
            settled = await settled_due(session, today)
        for period in [*snapshot_periods(today), *settled]:
            async with self.database.transaction() as session:
                await refresh_snapshot(session, period, as_of=now)
            done.append(period.label)
        return done
