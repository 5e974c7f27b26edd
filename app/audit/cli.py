"""`lienthong audit …`: verify the transparency log, verify an evidence bundle offline, watch a hub's
checkpoints as a third party, run the integrator once, purge old payloads."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography import x509

from app.audit import watch as watching
from app.audit.bundle import verify_bundle
from app.audit.integrator import LEASE, Integrator
from app.audit.retention import purge_payloads
from app.audit.verify import verify_database
from app.config import get_settings
from app.kit import lease
from app.kit.cli import cli_actor, fail
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.secrets import load_master_key

audit_app = typer.Typer(
    help="The transparency log (nhật ký minh bạch) and evidence bundles.", no_args_is_help=True
)

LogKeyOption = Annotated[
    str | None,
    typer.Option("--log-key", help="the log key you trust (name+id+base64); default: the one published"),
]


@audit_app.command("verify")
def verify(
    log_key: LogKeyOption = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", exists=True, dir_okay=False, help="a checkpoint you kept (repeatable)"),
    ] = None,
    grace: Annotated[float, typer.Option(help="seconds an entry may wait for the integrator")] = 120.0,
) -> None:
    """Recompute the transparency log from the database and check every signed checkpoint; exit 0
    only if intact, else name the first bad entry."""
    settings = get_settings()
    held = [path.read_text(encoding="utf-8") for path in checkpoint or []]

    async def main() -> Any:
        database = Database(settings.effective_database_url)
        try:
            return await verify_database(
                database, pinned_key=log_key, grace=timedelta(seconds=grace), held=held
            )
        finally:
            await database.dispose()

    report = asyncio.run(main())
    if report.intact:
        typer.echo(
            f"intact: {report.size} entries, {report.checkpoints} checkpoints "
            f"(latest size {report.latest_checkpoint}) reproduced"
        )
        return
    for problem in report.problems:
        typer.echo(f"  {problem.message}", err=True)
    where = "" if report.first_bad_index is None else f"; first bad entry: leaf {report.first_bad_index}"
    fail(f"the log is NOT intact: {len(report.problems)} problem(s){where}")


@audit_app.command("verify-bundle")
def verify_bundle_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="an evidence bundle (.zip)")],
    log_key: LogKeyOption = None,
    tsa_root: Annotated[
        Path | None,
        typer.Option(
            "--tsa-root", exists=True, dir_okay=False, help="PEM of the TSA's root: check checkpoint.tsr"
        ),
    ] = None,
) -> None:
    """Verify an evidence bundle offline (no database, no network); exit 0 only if valid."""
    roots = x509.load_pem_x509_certificates(tsa_root.read_bytes()) if tsa_root else []
    report = verify_bundle(file.read_bytes(), trusted_key=log_key, tsa_roots=roots)
    for note in report.notes:
        typer.echo(f"  note: {note}")
    if not report.valid:
        for problem in report.problems:
            typer.echo(f"  {problem}", err=True)
        fail(f"{file}: NOT valid: {report.problems[0]}")
    trust = "" if log_key else " (compare log-key.txt with the hub's published key)"
    typer.echo(
        f"{file}: valid: document {report.document_id}, {report.proven}/{report.entries} entries proven "
        f"in the checkpoint of size {report.checkpoint_size}{trust}"
    )


@audit_app.command("watch")
def watch(
    url: Annotated[str, typer.Argument(help="the hub's base URL (or its /api/v1/audit/checkpoint)")],
    state: Annotated[Path, typer.Option(help="where the auditor keeps the checkpoints seen")] = Path(
        "lienthong-watch.json"
    ),
    log_key: LogKeyOption = None,
) -> None:
    """Fetch the hub's latest checkpoint and check it extends the last one seen (a consistency
    proof); a hub that rewrites its history is refused. Run it from cron."""
    kept: dict[str, Any] = json.loads(state.read_text(encoding="utf-8")) if state.exists() else {}

    async def main() -> tuple[dict[str, Any], str]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await watching.check(client, url, kept, log_key=log_key)

    try:
        new_state, summary = asyncio.run(main())
    except watching.Refused as error:
        fail(f"REFUSED: {error}")
    except watching.Unreachable as error:
        fail(str(error))
    state.write_text(json.dumps(new_state, indent=1) + "\n", encoding="utf-8")
    typer.echo(summary)


@audit_app.command("integrate")
def integrate() -> None:
    """Integrate every pending log entry now and sign a checkpoint (what the gateway does in the
    background), unless another process holds the integrator's lease."""
    settings = get_settings()

    async def main() -> int:
        database = Database(settings.effective_database_url)
        holder = lease.holder_name()
        try:
            if not await lease.hold(database, LEASE, holder, seconds=120):
                fail("another process (a gateway) runs the integrator now")
            try:
                return await Integrator(database, settings, load_master_key(settings)).round(checkpoint=True)
            finally:
                await lease.release(database, LEASE, holder)
        finally:
            await database.dispose()

    count = asyncio.run(main())
    typer.echo(f"{count} entries integrated")


@audit_app.command("purge")
def purge(
    older_than: Annotated[
        float | None, typer.Option("--older-than", help="days; default LIENTHONG_PAYLOAD_RETENTION_DAYS")
    ] = None,
) -> None:
    """Purge the payloads of settled documents older than the retention (digests and log stay)."""
    settings = get_settings()
    days = older_than or settings.payload_retention_days
    if not days:
        fail("give --older-than DAYS or set LIENTHONG_PAYLOAD_RETENTION_DAYS")

    async def main() -> int:
        database = Database(settings.effective_database_url)
        try:
            async with database.transaction() as session:
                return await purge_payloads(
                    session, before=utcnow() - timedelta(days=days), actor=cli_actor()
                )
        finally:
            await database.dispose()

    typer.echo(f"{asyncio.run(main())} payloads purged")
