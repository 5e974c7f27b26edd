"""`lienthong maintenance …` and `lienthong connector …`. Every change is written to the admin log as
`cli:<OS user>`; running gateways see it within seconds (the switch and the pauses are in the
database)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.delivery.pauses import Pause, pause, resume
from app.i18n import format_datetime
from app.kit.cli import cli_actor, fail, run_in_transaction
from app.operations.connectors import ConnectorHealth, EndpointTest, connector_health, test_endpoint
from app.operations.maintenance import MaintenanceState, maintenance_state, set_maintenance

maintenance_app = typer.Typer(help="Maintenance mode: intake answers 503 while on.", no_args_is_help=True)
connector_app = typer.Typer(help="Connectors: health, pause, resume, test an endpoint.", no_args_is_help=True)


def _describe_maintenance(state: MaintenanceState) -> str:
    if not state.on:
        return "maintenance: off"
    since = f" since {format_datetime(state.since, seconds=True)} (Vietnam time)" if state.since else ""
    message = f": {state.message}" if state.message else ""
    return f"maintenance: on{since} by {state.by}{message}"


@maintenance_app.command("on")
def maintenance_on(
    message: Annotated[str, typer.Option(help="told to callers refused meanwhile")] = "",
) -> None:
    """Close intake (503 + Retry-After); deliveries, pickups and the console go on."""
    state = run_in_transaction(
        lambda session, _settings: set_maintenance(session, on=True, message=message, actor=cli_actor())
    )
    typer.echo(_describe_maintenance(state))


@maintenance_app.command("off")
def maintenance_off() -> None:
    """Open intake again."""
    state = run_in_transaction(
        lambda session, _settings: set_maintenance(session, on=False, actor=cli_actor())
    )
    typer.echo(_describe_maintenance(state))


@maintenance_app.command("status")
def maintenance_status() -> None:
    """Whether the hub is in maintenance mode."""
    typer.echo(
        _describe_maintenance(run_in_transaction(lambda session, _settings: maintenance_state(session)))
    )


def _describe_pause(p: Pause) -> str:
    what = p.connector if p.agency_code is None else f"{p.connector}/{p.agency_code}"
    return f"{what} paused by {p.paused_by}" + (f": {p.reason}" if p.reason else "")


def _describe_health(h: ConnectorHealth) -> str:
    rate = "-" if h.success_rate is None else f"{h.success_rate:.0%}"
    waiting = h.deliveries.get("queued", 0) + h.deliveries.get("retrying", 0)
    paused = (
        "  PAUSED"
        if h.paused
        else (f"  {h.paused_endpoints} endpoint(s) paused" if h.paused_endpoints else "")
    )
    error = f"  last error: {h.last_error}" if h.last_error else ""
    return (
        f"{h.name:<14} success {rate:>4} of {h.succeeded + h.failed:<5} waiting {waiting:<6} "
        f"failed {h.deliveries.get('failed', 0):<6} oldest due {h.oldest_due_seconds:.0f} s{paused}{error}"
    )


@connector_app.command("list")
def connector_list() -> None:
    """Every connector's health over the last hour."""
    for health in run_in_transaction(lambda session, _settings: connector_health(session)):
        typer.echo(_describe_health(health))


@connector_app.command("pause")
def connector_pause(
    name: str,
    agency: Annotated[str | None, typer.Option(help="only this agency's endpoint on the connector")] = None,
    reason: str = "",
) -> None:
    """Stop handing out deliveries: they wait, nothing fails, no attempt is spent."""
    result = run_in_transaction(
        lambda session, _settings: pause(
            session, connector=name, agency_code=agency, reason=reason, actor=cli_actor()
        )
    )
    typer.echo(_describe_pause(result))


@connector_app.command("resume")
def connector_resume(
    name: str, agency: Annotated[str | None, typer.Option(help="the agency's endpoint to resume")] = None
) -> None:
    """Hand the waiting deliveries out again (within a second)."""
    run_in_transaction(
        lambda session, _settings: resume(session, connector=name, agency_code=agency, actor=cli_actor())
    )
    typer.echo(f"{name}{'/' + agency if agency else ''} resumed")


@connector_app.command("test")
def connector_test(code: str) -> None:
    """A harmless HEAD request to the agency's QLVB endpoint: status and latency. Exit 1 if it does
    not answer."""

    async def work(session: AsyncSession, settings: Settings) -> EndpointTest:
        return await test_endpoint(session, agency_code=code, settings=settings, actor=cli_actor())

    result = run_in_transaction(work)
    if not result.reachable:
        fail(f"{result.endpoint}: {result.error} ({result.latency_ms:.0f} ms)")
    typer.echo(f"{result.endpoint}: HTTP {result.status} in {result.latency_ms:.0f} ms")
