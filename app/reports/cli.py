"""`lienthong report`: the indicator reports from the command line: show or export a period, send it
as a document, enter paper counts from CSV, set a year's working calendar."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.config import Settings
    from app.models import PaperCount
    from app.reports.calendar import DayException
    from app.reports.dispatch import SentReport
    from app.reports.periods import Period
    from app.reports.service import IndicatorReport

report_app = typer.Typer(help="Indicator reports (báo cáo chỉ số).", no_args_is_help=True)
paper_app = typer.Typer(help="Paper counts: the documents agencies sent on paper.", no_args_is_help=True)
holidays_app = typer.Typer(
    help="The working calendar: holidays and worked weekend days.", no_args_is_help=True
)
report_app.add_typer(paper_app, name="paper")
report_app.add_typer(holidays_app, name="holidays")


def _period(text: str) -> Period:
    from app.kit.cli import fail
    from app.reports.periods import InvalidPeriod, Period

    try:
        return Period.parse(text)
    except InvalidPeriod as error:
        fail(str(error))


@report_app.command("show")
def show(
    period: Annotated[str, typer.Option(help="YYYY-MM, YYYY-Qn or YYYY")],
    agency: Annotated[
        str | None, typer.Option(help="the subtree of this agency (default: the province)")
    ] = None,
    rollup: Annotated[bool, typer.Option(help="one row for the subtree, then one per child")] = False,
    format: Annotated[str, typer.Option(help="json, csv or xlsx")] = "json",
    output: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """Compute a period's indicators and print or write them."""
    from app.kit.cli import fail, run_in_transaction
    from app.reports.export import to_csv, to_xlsx
    from app.reports.service import indicator_report

    if format not in ("json", "csv", "xlsx"):
        fail("--format is json, csv or xlsx")
    if format == "xlsx" and output is None:
        fail("xlsx needs --output FILE")
    parsed = _period(period)

    async def work(session: AsyncSession, settings: Settings) -> IndicatorReport:
        return await indicator_report(
            session, period=parsed, hub_code=settings.hub_code, agency=agency, rollup=rollup
        )

    report = run_in_transaction(work)
    content = (
        to_xlsx(report)
        if format == "xlsx"
        else to_csv(report)
        if format == "csv"
        else (json.dumps(report.as_dict(), ensure_ascii=False, indent=1) + "\n").encode()
    )
    if output is None:
        sys.stdout.buffer.write(content)
    else:
        output.write_bytes(content)
        typer.echo(f"{len(report.rows)} rows written to {output}", err=True)


@report_app.command("refresh")
def refresh(
    period: Annotated[
        list[str] | None,
        typer.Option(
            help="YYYY-MM, YYYY-Qn or YYYY (repeatable; default: the recent ones and the settled months due)"
        ),
    ] = None,
) -> None:
    """Recount periods now and keep the figures as their snapshots (what the gateways do hourly)."""
    from app.kit.cli import run_in_transaction
    from app.kit.clock import vietnam_now
    from app.reports.service import refresh_snapshot, settled_due, snapshot_periods

    async def work(session: AsyncSession, _settings: Settings) -> list[str]:
        today = vietnam_now().date()
        periods = (
            [_period(p) for p in period]
            if period
            else [*snapshot_periods(today), *await settled_due(session, today)]
        )
        done = []
        for each in periods:
            agencies = await refresh_snapshot(session, each)
            done.append(f"{each.label}: {agencies} agencies")
        return done

    for line in run_in_transaction(work):
        typer.echo(line)


@report_app.command("send")
def send(
    period: Annotated[str, typer.Option(help="the month, YYYY-MM")],
    to: Annotated[str, typer.Option(help="the recipient's agency code")],
) -> None:
    """Build the period's report (the province rolled up, XLSX attached) and submit it through the hub
    as an edXML document from the hub's own agency code."""
    from app.config import get_settings
    from app.kit.cli import cli_actor, fail
    from app.kit.db import Database
    from app.kit.errors import HubError
    from app.kit.secrets import load_master_key
    from app.reports.dispatch import send_report
    from app.sealing.service import load_active_sealer

    parsed = _period(period)
    if parsed.months() is None or len(parsed.months() or []) != 1:
        fail("--period is a month, YYYY-MM")
    settings = get_settings()

    async def main() -> SentReport:
        database = Database(settings.effective_database_url)
        try:
            async with database.reading() as session:
                sealer = await load_active_sealer(session, load_master_key(settings))
            return await send_report(database, sealer, settings, period=parsed, to=to, actor=cli_actor())
        finally:
            await database.dispose()

    try:
        sent = asyncio.run(main())
    except (HubError, ValueError) as error:
        fail(str(error).splitlines()[0])
    for delivery in sent.deliveries:
        typer.echo(f"delivery {delivery}", err=True)
    typer.echo(f"report {sent.period} sent to {sent.recipient} as document {sent.document_id}")
    typer.echo(sent.edxml_document_id)


@paper_app.command("import")
def paper_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV: agency,month,paper_sent,source")
    ],
) -> None:
    """Enter or correct paper counts from a CSV file (admin-logged)."""
    from app.audit.log import record_admin_action
    from app.kit.cli import cli_actor, fail, run_in_transaction
    from app.reports.service import ImportFileError, read_paper_csv, set_paper_counts

    try:
        entries = read_paper_csv(file.read_text(encoding="utf-8-sig"))
    except (ImportFileError, UnicodeDecodeError) as error:
        fail(f"{file}: {error}")

    async def work(session: AsyncSession, _settings: Settings) -> int:
        written = await set_paper_counts(session, entries, actor=cli_actor())
        record_admin_action(
            session, actor=cli_actor(), action="report.paper-counts", target=str(file), written=written
        )
        return written

    typer.echo(f"{run_in_transaction(work)} paper counts written")


@paper_app.command("list")
def paper_list(period: Annotated[str, typer.Option(help="YYYY-MM, YYYY-Qn or YYYY")]) -> None:
    """The paper counts entered for a period's months, as CSV."""
    from app.kit.cli import run_in_transaction
    from app.reports.service import paper_counts

    months = _period(period).months() or []

    async def work(session: AsyncSession, _settings: Settings) -> list[PaperCount]:
        return await paper_counts(session, months=months)

    typer.echo("agency,month,paper_sent,source,entered_by,entered_at")
    for row in run_in_transaction(work):
        typer.echo(
            f'{row.agency_code},{row.month},{row.paper_sent},"{row.source}",{row.entered_by},{row.entered_at:%Y-%m-%dT%H:%M:%SZ}'
        )


@holidays_app.command("show")
def holidays_show(year: int) -> None:
    """A year's holidays and worked weekend days, and whether they were set or are the defaults."""
    from app.kit.cli import run_in_transaction
    from app.reports.service import year_exceptions

    async def work(session: AsyncSession, _settings: Settings) -> tuple[list[DayException], str]:
        return await year_exceptions(session, year)

    days, source = run_in_transaction(work)
    typer.echo(f"# {year}: {source}", err=True)
    typer.echo("day,name,working")
    for day in days:
        typer.echo(f'{day.day.isoformat()},"{day.name}",{int(day.working)}')


@holidays_app.command("set")
def holidays_set(
    year: int,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: day,name,working")],
) -> None:
    """Replace a year's holidays and worked weekend days from a CSV file (admin-logged); a file with
    no rows goes back to the built-in defaults."""
    from app.audit.log import record_admin_action
    from app.kit.cli import cli_actor, fail, run_in_transaction
    from app.reports.service import ImportFileError, read_calendar_csv, set_year_exceptions

    try:
        days = read_calendar_csv(file.read_text(encoding="utf-8-sig"), year)
    except (ImportFileError, UnicodeDecodeError) as error:
        fail(f"{file}: {error}")

    async def work(session: AsyncSession, _settings: Settings) -> None:
        await set_year_exceptions(session, year, days)
        record_admin_action(
            session,
            actor=cli_actor(),
            action="report.holidays",
            target=str(year),
            days=[[d.day.isoformat(), d.name, d.working] for d in days],
        )

    run_in_transaction(work)
    typer.echo(f"{year}: {len(days)} days set" if days else f"{year}: back to the defaults")
