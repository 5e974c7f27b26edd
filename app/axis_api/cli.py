"""`lienthong vxp-system …`: credentials of agencies' software on the axis-compatible API (`/vxp`).

The secret is printed once, on the last line with the system id, and never again: the hub keeps it
only encrypted with the master key. Every change is written to the admin log, never the secret.
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.axis_api.systems import create_system, list_systems, parse_sources, revoke_system
from app.config import Settings
from app.i18n import format_date
from app.kit.cli import cli_actor, run_in_transaction
from app.kit.secrets import load_master_key
from app.models import VxpSystem

vxp_system_app = typer.Typer(
    help="Systems on the axis-compatible API (/vxp): an agency's software with its id and secret.",
    no_args_is_help=True,
)


def _describe(system: VxpSystem) -> str:
    state = f"revoked {format_date(system.revoked_at)}" if system.revoked_at else "active"
    mode = "strict" if system.strict else "sdk"
    sources = f"  from {system.allowed_sources}" if system.allowed_sources else ""
    return (
        f"{system.id}  {system.agency_code}  {state:<18}  {mode:<6}  "
        f"created {format_date(system.created_at)}  "
        f"{system.holder}{sources}"
    )


@vxp_system_app.command("create")
def create(
    agency: Annotated[str, typer.Option(help="the agency the system sends and receives for")],
    holder: Annotated[str | None, typer.Option(help="who runs it: the software or its vendor")] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="chế độ nghiêm ngặt / strict mode: refuse timestamps more than 300 s from the hub's "
            "clock and any signature seen before. Only for software that builds a new SDK object per "
            "call: the official SDK keeps one timestamp per object for hours.",
        ),
    ] = False,
    allow_from: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-from",
            help="only accept this system's requests from this address or network (CIDR); repeatable",
        ),
    ] = None,
) -> None:
    """Create a system for an active agency; prints `SYSTEM_ID SECRET` once, as the last line."""
    try:
        parse_sources(allow_from or [])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--allow-from") from None

    async def work(session: AsyncSession, settings: Settings) -> tuple[str, str]:
        system, secret = await create_system(
            session,
            load_master_key(settings),
            agency_code=agency,
            holder=holder,
            actor=cli_actor(),
            strict=strict,
            allowed_sources=allow_from or [],
        )
        return system.id, secret

    system_id, secret = run_in_transaction(work)
    typer.echo(
        f"vxp system {system_id} for {agency}: configure the agency's software with the hub's /vxp "
        "base URL and this system id and secret. The secret is shown only now.",
        err=True,
    )
    typer.echo(f"{system_id} {secret}")


@vxp_system_app.command("revoke")
def revoke(system_id: str) -> None:
    """Revoke a system; its requests are refused at once."""
    system = run_in_transaction(
        lambda session, _settings: revoke_system(session, system_id=system_id, actor=cli_actor())
    )
    typer.echo(_describe(system))


@vxp_system_app.command("list")
def list_(
    agency: Annotated[str | None, typer.Option(help="only this agency's systems")] = None,
) -> None:
    """Every system, revoked ones included (never their secrets)."""

    async def work(session: AsyncSession, _settings: Settings) -> list[VxpSystem]:
        return await list_systems(session, agency_code=agency)

    for system in run_in_transaction(work):
        typer.echo(_describe(system))
