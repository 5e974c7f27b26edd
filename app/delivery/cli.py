"""`lienthong delivery …`: what the console's delivery pages show and do, from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.delivery.admin import (
    Action,
    DeliveryDetail,
    DeliveryFilter,
    DeliveryPage,
    act_on_many,
    delivery_detail,
    list_deliveries,
)
from app.kit.cli import cli_actor, fail, run_in_transaction
from app.models import DeliveryState

delivery_app = typer.Typer(
    help="Deliveries (hàng đợi gửi nhận): list, show, requeue, discard.", no_args_is_help=True
)


@delivery_app.command("list")
def delivery_list(
    state: Annotated[DeliveryState | None, typer.Option(help="only this state")] = None,
    connector: Annotated[str | None, typer.Option(help="only this connector")] = None,
    sender: Annotated[str | None, typer.Option(help="agency code or pattern (*.31.H62)")] = None,
    recipient: Annotated[str | None, typer.Option(help="agency code or pattern (*.31.H62)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Deliveries, newest first."""
    try:
        where = DeliveryFilter(state=state, connector=connector, sender=sender, recipient=recipient)
    except ValidationError as error:
        fail("; ".join(e["msg"] for e in error.errors()))

    async def work(session: AsyncSession, _settings: Settings) -> DeliveryPage:
        return await list_deliveries(session, where, limit=limit)

    page = run_in_transaction(work)
    for row in page.items:
        if as_json:
            typer.echo(row.model_dump_json())
        else:
            typer.echo(
                f"{row.id}  {row.state.value:<15} {row.connector:<14} {row.sender} -> {row.recipient}  "
                f"{row.document_id}  attempts={row.attempt_count}"
                + (f"  error={row.last_error}" if row.last_error else "")
            )


@delivery_app.command("show")
def delivery_show(delivery_id: str) -> None:
    """One delivery with its document, history and attempts (JSON)."""

    async def work(session: AsyncSession, _settings: Settings) -> DeliveryDetail:
        return await delivery_detail(session, delivery_id)

    typer.echo(json.dumps(run_in_transaction(work).model_dump(mode="json"), ensure_ascii=False, indent=2))


def _act(action: Action, ids: list[str], reason: str) -> None:
    async def work(session: AsyncSession, _settings: Settings) -> tuple[list[str], list[str]]:
        result = await act_on_many(session, action, actor=cli_actor(), reason=reason, ids=ids)
        return result.changed, result.skipped

    changed, skipped = run_in_transaction(work)
    for delivery_id in changed:
        typer.echo(
            f"{delivery_id} {action.value}d" if action is not Action.RETRY_NOW else f"{delivery_id} due now"
        )
    for delivery_id in skipped:
        typer.echo(f"{delivery_id} skipped: unknown, or its state does not allow {action.value}", err=True)
    if skipped and not changed:
        raise typer.Exit(1)


@delivery_app.command("requeue")
def delivery_requeue(
    ids: Annotated[list[str], typer.Argument(help="delivery ids")],
    reason: Annotated[str, typer.Option(help="why (written to the admin log)")],
) -> None:
    """Queue failed deliveries again, due now, with a fresh schedule of attempts."""
    _act(Action.REQUEUE, ids, reason)


@delivery_app.command("discard")
def delivery_discard(
    ids: Annotated[list[str], typer.Argument(help="delivery ids")],
    reason: Annotated[str, typer.Option(help="why (written to the admin log)")],
) -> None:
    """Give deliveries up: nobody will deliver them."""
    _act(Action.DISCARD, ids, reason)


@delivery_app.command("retry-now")
def delivery_retry_now(
    ids: Annotated[list[str], typer.Argument(help="delivery ids")],
    reason: Annotated[str, typer.Option(help="why (written to the admin log)")] = "",
) -> None:
    """Make deliveries waiting for a retry due at once."""
    _act(Action.RETRY_NOW, ids, reason)
