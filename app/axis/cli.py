"""`lienthong axis`: the national axis now (one directory sync, one polling round), for operators.
`lienthong dev`: tools for development and tests: `axis-sim` runs the national-axis simulator;
`demo` runs the hub on the embedded default with a simulator beside it as its national axis."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.kit.errors import HubError

if TYPE_CHECKING:
    from app.axis.client import AxisClient
    from app.config import Settings

axis_app = typer.Typer(
    help="The national axis now: the running gateways also do this on their own schedule.",
    no_args_is_help=True,
)
dev_app = typer.Typer(help="Tools for development and tests.", no_args_is_help=True)


def _configured_axis() -> tuple[Settings, AxisClient]:
    """The settings and the hub's axis client; exit 1 when no axis is configured."""
    from app.config import get_settings
    from app.kit.cli import fail
    from connectors.national_axis import axis_client

    settings = get_settings()
    client = axis_client(settings)
    if client is None:
        fail("LIENTHONG_AXIS_URL is not set")
    return settings, client


@axis_app.command("sync-directory")
def sync_directory_now() -> None:
    """Read the axis's agency directory and bring the hub's in step (admin-logged)."""
    from app.axis.client import AxisError
    from app.axis.directory import sync_directory
    from app.kit.cli import cli_actor, fail
    from app.kit.db import Database

    settings, client = _configured_axis()

    async def main() -> str:
        database = Database(settings.effective_database_url)
        try:
            report = await sync_directory(database, await client.agencies(), actor=cli_actor())
        finally:
            await client.aclose()
            await database.dispose()
        skipped = f", {len(report.skipped)} skipped (invalid codes)" if report.skipped else ""
        return (
            f"{report.listed} listed: {report.added} added, {report.updated} updated, "
            f"{report.closed} closed, {report.reopened} reopened{skipped}"
        )

    try:
        typer.echo(asyncio.run(main()))
    except (AxisError, ValueError) as error:
        fail(str(error))


@axis_app.command("poll")
def poll_now() -> None:
    """One polling round now: take in what the axis holds for the province, acknowledge it."""
    from app.axis.inbound import AxisInbound
    from app.kit.cli import fail
    from app.kit.db import Database
    from app.kit.secrets import load_master_key
    from app.sealing.service import load_active_sealer

    settings, client = _configured_axis()

    async def main() -> str:
        database = Database(settings.effective_database_url)
        try:
            async with database.reading() as session:
                sealer = await load_active_sealer(session, load_master_key(settings))
            inbound = AxisInbound(database, client, settings, sealer=lambda: sealer, on_stored=lambda: None)
            report = await inbound.poll_once()
            await inbound.release()
        finally:
            await client.aclose()
            await database.dispose()
        if not report.held:
            return "another hub process is polling the axis right now; nothing done"
        return (
            f"{len(report.stored)} taken in, {len(report.refused)} refused (acknowledged fail), "
            f"{len(report.left)} left for the next round"
        )

    try:
        typer.echo(asyncio.run(main()))
    except HubError as error:
        fail(str(error))


@dev_app.command("axis-sim")
def axis_sim(
    system: Annotated[
        list[str],
        typer.Option(
            "--system",
            help="a connected system: ID:SECRET (serving the agency coded ID) or "
            "ID:SECRET@PATTERN[,PATTERN…] (e.g. hub-h62:s3cret@*.H62); repeatable",
        ),
    ],
    port: Annotated[int, typer.Option(help="port to listen on")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    directory: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="directory file, CSV or JSON (default: the demo)"),
    ] = None,
) -> None:
    """Run a simulated national document axis (in memory) at http://HOST:PORT."""
    import uvicorn

    from app.agencies.directory_file import DirectoryFileError, demo_directory, read_directory_file
    from app.axis.simulator import create_simulator, parse_system

    try:
        systems = [parse_system(text) for text in system]
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--system") from None
    try:
        records = read_directory_file(directory) if directory is not None else demo_directory()
    except DirectoryFileError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    try:
        app = create_simulator(systems, records)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--system") from None
    names = ", ".join(f"{s.system_id} ({', '.join(map(str, s.serves))})" for s in systems)
    typer.echo(f"axis simulator on http://{host}:{port} for {names}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


DEMO_HUB_SYSTEM = "hub-demo"
DEMO_OUTSIDE_AGENCY = "000.00.00.G22"  # Văn phòng Chính phủ, on the simulated axis


@dev_app.command("demo")
def demo(
    port: Annotated[int, typer.Option(help="port of the hub")] = 8080,
    axis_port: Annotated[int, typer.Option(help="port of the simulated national axis")] = 8090,
) -> None:
    """The hub on the embedded default (`lienthong serve`), with a simulated national axis on
    127.0.0.1:AXIS_PORT as its LIENTHONG_AXIS_URL: documents to agencies outside the province reach
    the simulator, and what the simulator holds for the province comes in. Fresh secrets every run,
    written with the axis's address to <data dir>/demo-axis.env; development only."""
    from app.agencies.codes import AgencyCode
    from app.cli import serve
    from app.config import Environment, get_settings

    settings = get_settings()
    if settings.environment is not Environment.DEVELOPMENT:
        raise typer.BadParameter("the demo runs in development only (LIENTHONG_ENVIRONMENT)")
    province = AgencyCode.parse(settings.hub_code).level1
    hub_secret, outside_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    axis_url = f"http://127.0.0.1:{axis_port}"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    simulator_log = (settings.data_dir / "axis-sim.log").open("ab")
    simulator = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "dev",
            "axis-sim",
            "--port",
            str(axis_port),
            "--system",
            f"{DEMO_HUB_SYSTEM}:{hub_secret}@*.{province}",
            "--system",
            f"{DEMO_OUTSIDE_AGENCY}:{outside_secret}",
        ],
        stdout=simulator_log,
        stderr=subprocess.STDOUT,
    )
    described = settings.data_dir / "demo-axis.env"
    fd = os.open(described, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "# The simulated national axis of `lienthong dev demo` (this run only).\n"
            f"AXIS_URL={axis_url}\nOUTSIDE_SYSTEM_ID={DEMO_OUTSIDE_AGENCY}\nOUTSIDE_SECRET={outside_secret}\n"
        )
    _wait_for(f"{axis_url}/_sim/health", simulator)
    os.environ.update(
        LIENTHONG_AXIS_URL=axis_url,
        LIENTHONG_AXIS_SYSTEM_ID=DEMO_HUB_SYSTEM,
        LIENTHONG_AXIS_SECRET=hub_secret,
    )
    get_settings.cache_clear()
    typer.echo(f"simulated national axis: {axis_url} ({described}; its log: {simulator_log.name})")
    # uvicorn re-raises the SIGTERM it shut down on; as an exception it lets the simulator be stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        serve(host="127.0.0.1", port=port)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        simulator_log.close()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _wait_for(url: str, process: subprocess.Popen[bytes], *, seconds: float = 20) -> None:
    """Until `url` answers (the simulator is up), or exit 1 if it does not start."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    typer.echo(f"lienthong: the axis simulator did not start (see its log); {url} did not answer", err=True)
    raise typer.Exit(1)
