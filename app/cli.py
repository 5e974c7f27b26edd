"""`lienthong`: the hub's command line (API.md). Exit 0 on success, 2 on bad usage, 1 on failure with
a one-line reason on stderr. Every administrative command is written to the admin log."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agencies.codes import AgencyCode, InvalidAgencyCode
from app.agencies.directory_file import AgencyRecord, DirectoryFileError, read_directory_file
from app.agencies.service import upsert_agencies
from app.audit.cli import audit_app
from app.audit.log import record_admin_action
from app.auth.service import create_credential, list_credentials, revoke_credential
from app.axis.cli import axis_app, dev_app
from app.axis_api.cli import vxp_system_app
from app.config import Settings, get_settings
from app.delivery.cli import delivery_app
from app.i18n import format_date, format_datetime, format_number, gettext
from app.i18n.cli import LocalisedGroup, operator_locale
from app.kit.cli import cli_actor, fail, run_in_transaction
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.heap import freeze_start_up
from app.models import AgencyStatus, Role
from app.operations.cli import connector_app, maintenance_app
from app.reports.cli import report_app
from app.routing.cli import route_app
from app.sealing.cli import agency_certificates_app, keys_app, verify
from app.users.cli import user_app

cli = typer.Typer(
    help="Liên Thông: the provincial edXML document-exchange hub.", no_args_is_help=True, cls=LocalisedGroup
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
agency_app = typer.Typer(help="The agency directory (mã định danh).", no_args_is_help=True)
credential_app = typer.Typer(help="Bearer tokens for agencies and people.", no_args_is_help=True)
cli.add_typer(db_app, name="db")
cli.add_typer(agency_app, name="agency")
cli.add_typer(credential_app, name="credential")
cli.add_typer(keys_app, name="keys")
cli.add_typer(axis_app, name="axis")
cli.add_typer(dev_app, name="dev")
cli.add_typer(vxp_system_app, name="vxp-system")
cli.add_typer(audit_app, name="audit")
agency_app.add_typer(agency_certificates_app, name="certificate")
cli.command("verify")(verify)
cli.add_typer(user_app, name="user")
cli.add_typer(delivery_app, name="delivery")
cli.add_typer(route_app, name="route")
cli.add_typer(maintenance_app, name="maintenance")
cli.add_typer(connector_app, name="connector")
cli.add_typer(report_app, name="report")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    single_node: Annotated[
        bool,
        typer.Option(
            "--single-node", help="production on SQLite and the embedded broker, on purpose (one process)"
        ),
    ] = False,
) -> None:
    """Run the gateway (on the embedded default: also the dispatcher and the connector workers)."""
    import uvicorn

    from app.bootstrap import prepare
    from app.demo import create_demo_credentials, demo_credentials_file, how_to_send
    from app.main import create_app
    from app.production import configuration_refusals

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call to a QLVB or the axis
    settings = get_settings()
    if refusals := configuration_refusals(settings, single_node=single_node):
        fail("production refuses to start: " + "; ".join(refusals))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare(settings, migrate=settings.is_sqlite))
    if refusals := asyncio.run(_state_refusals(settings)):
        fail("production refuses to start: " + "; ".join(refusals))
    if settings.demo_directory_wanted:
        asyncio.run(create_demo_credentials(settings))
        if demo_credentials_file(settings).exists():
            typer.echo(how_to_send(settings, host, port))
    app = create_app(settings)
    freeze_start_up()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        # h11 holds at most this much of a request's line and headers before refusing it (431);
        # httptools has no such limit (docs/security.md).
        http="h11",
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


async def _state_refusals(settings: Settings) -> list[str]:
    from app.production import state_refusals

    database = Database(settings.effective_database_url)
    try:
        async with database.reading() as session:
            return await state_refusals(session, settings)
    finally:
        await database.dispose()


@cli.command()
def worker(
    connector: Annotated[
        list[str] | None, typer.Option("--connector", help="connector to run (repeatable; default: all)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="also serve Prometheus metrics on this port (/metrics)")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="address the metrics port listens on")] = "127.0.0.1",
) -> None:
    """Run connector workers against RabbitMQ, and the relay that hands them due deliveries (any
    number of replicas)."""
    import signal

    from app.delivery.runtime import run_worker

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if not settings.broker_url:
        fail("LIENTHONG_BROKER_URL is not set: on the embedded default, `lienthong serve` runs the workers")

    async def main() -> None:
        database = Database(settings.effective_database_url)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await run_worker(database, settings, connector)
        except asyncio.CancelledError:
            pass
        finally:
            await database.dispose()

    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as error:
            fail(f"cannot serve metrics on {metrics_host}:{metrics_port}: {error}")

    import uvloop  # the gateway gets it from uvicorn; the worker's event loop is as busy

    freeze_start_up()
    try:
        uvloop.run(main())
    except ValueError as error:
        fail(str(error))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to the configured database."""
    from app.kit.migrate import upgrade

    settings = get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(upgrade(settings.effective_database_url))
    typer.echo(gettext("database is up to date", operator_locale()))


@agency_app.command("import")
def agency_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON")],
) -> None:
    """Load a directory file: new agencies are added, known ones updated."""
    try:
        records = read_directory_file(file)
    except DirectoryFileError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None

    async def work(session: AsyncSession, _settings: Settings) -> tuple[int, int]:
        added, updated = await upsert_agencies(session, records)
        record_admin_action(
            session, actor=cli_actor(), action="agency.import", target=str(file), added=added, updated=updated
        )
        return added, updated

    added, updated = run_in_transaction(work)
    unchanged = len(records) - added - updated
    summary = gettext("{added} added, {updated} updated, {unchanged} unchanged", operator_locale())
    typer.echo(
        summary.format(
            added=format_number(added, operator_locale()),
            updated=format_number(updated, operator_locale()),
            unchanged=format_number(unchanged, operator_locale()),
        )
    )


@agency_app.command("add")
def agency_add(
    code: str,
    name: str,
    endpoint: Annotated[
        str | None, typer.Option(help="the agency's QLVB endpoint for pushed delivery")
    ] = None,
    parent: Annotated[
        str | None, typer.Option(help="parent code (default: from the code's hierarchy)")
    ] = None,
    status: AgencyStatus = AgencyStatus.ACTIVE,
    successor: Annotated[str | None, typer.Option(help="successor code of a closed agency")] = None,
    email: str | None = None,
) -> None:
    """Add one agency, or update it if the code is known."""
    try:
        parsed = AgencyCode.parse(code)
        parent_code = parent or (str(parsed.parent) if parsed.parent else None)
        record = AgencyRecord(
            code=str(parsed),
            name=name,
            parent_code=parent_code,
            status=status,
            successor_code=successor,
            endpoint=endpoint,
            email=email,
        )
    except InvalidAgencyCode as error:
        fail(str(error))

    async def work(session: AsyncSession, _settings: Settings) -> tuple[int, int]:
        result = await upsert_agencies(session, [record])
        record_admin_action(session, actor=cli_actor(), action="agency.add", target=record.code)
        return result

    added, _ = run_in_transaction(work)
    typer.echo(
        (
            gettext("{code} added", operator_locale())
            if added
            else gettext("{code} updated", operator_locale())
        ).format(code=record.code)
    )


@credential_app.command("create")
def credential_create(
    role: Annotated[Role, typer.Option(help="agency software, or a person: admin or auditor")],
    agency: Annotated[str | None, typer.Option(help="the agency code (role agency)")] = None,
    holder: Annotated[str | None, typer.Option(help="who holds it: a person's name or the system")] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="it stops working after this many days")
    ] = None,
) -> None:
    """Issue a bearer token; the token is printed once, as the last line."""
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None

    async def work(session: AsyncSession, _settings: Settings) -> tuple[str, str]:
        credential, token = await create_credential(
            session, role=role, agency_code=agency, holder=holder, expires_at=expires_at
        )
        record_admin_action(
            session,
            actor=cli_actor(),
            action="credential.create",
            target=credential.id,
            role=role.value,
            agency=agency,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
        return credential.id, token

    credential_id, token = run_in_transaction(work)
    typer.echo(f"credential {credential_id} ({role.value}{' for ' + agency if agency else ''})", err=True)
    typer.echo(token)


@credential_app.command("revoke")
def credential_revoke(credential_id: str) -> None:
    """Revoke a credential; it stops working at once."""

    async def work(session: AsyncSession, _settings: Settings) -> None:
        await revoke_credential(session, credential_id)
        record_admin_action(session, actor=cli_actor(), action="credential.revoke", target=credential_id)

    run_in_transaction(work)
    typer.echo(gettext("credential {id} revoked", operator_locale()).format(id=credential_id))


@credential_app.command("list")
def credential_list(
    agency: Annotated[str | None, typer.Option(help="only this agency's")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Every credential (never its token): role, agency, holder, state, expiry and last use."""
    from app.auth.admin_endpoints import CredentialOut

    async def work(session: AsyncSession, _settings: Settings) -> list[CredentialOut]:
        return [CredentialOut.of(row) for row in await list_credentials(session, agency_code=agency)]

    locale = operator_locale()
    for row in run_in_transaction(work):
        if as_json:
            typer.echo(row.model_dump_json())
            continue
        last_used = format_datetime(row.last_used_at, locale) if row.last_used_at else "never used"
        expires = f"until {format_date(row.expires_at, locale)}" if row.expires_at else "no expiry"
        typer.echo(
            f"{row.id}  {row.role.value:<8} {row.agency_code or '-':<15} {row.state:<8} {expires:<16} "
            f"{last_used:<17} {row.holder}"
        )


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
    except ValidationError as error:  # the settings: say which and why, in one line
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        print(f"lienthong: configuration: {problems}", file=sys.stderr)
        sys.exit(1)
