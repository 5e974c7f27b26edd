"""`lienthong route list|add|remove|which`: the routing rules, effective at once (intake reads them
on every document). Every change is written to the admin log as `cli:<OS user>`."""

from __future__ import annotations

from typing import Annotated

import typer

from app.kit.cli import cli_actor, run_in_transaction
from app.models import Route
from app.routing.service import RouteResolution, add_route, list_routes, remove_route, resolve_route

route_app = typer.Typer(
    help="Routing rules: which connector carries documents to which codes.", no_args_is_help=True
)


def _describe(route: Route) -> str:
    text = f"{route.id}  {route.pattern:<20}  {route.connector:<14}"
    return f"{text}  {route.description}" if route.description else text


@route_app.command("list")
def route_list() -> None:
    """Every rule, the most specific first (the order in which they win)."""
    for route in run_in_transaction(lambda session, _settings: list_routes(session)):
        typer.echo(_describe(route))


@route_app.command("add")
def route_add(
    pattern: Annotated[str, typer.Argument(help="an agency code, or a pattern like *.H62, *.30.H62, *")],
    connector: Annotated[str, typer.Argument(help="qlvb-push, inbox, national-axis, or local")],
    description: Annotated[str, typer.Option(help="why the rule is there")] = "",
) -> None:
    """Add a rule; it applies to the next document."""
    route = run_in_transaction(
        lambda session, _settings: add_route(
            session, pattern=pattern, connector=connector, description=description, actor=cli_actor()
        )
    )
    typer.echo(_describe(route))


@route_app.command("remove")
def route_remove(route_id: str) -> None:
    """Remove a rule by its id (see `route list`)."""
    route = run_in_transaction(
        lambda session, _settings: remove_route(session, route_id=route_id, actor=cli_actor())
    )
    typer.echo(f"removed {_describe(route)}")


@route_app.command("which")
def route_which(code: str) -> None:
    """Which rule and connector a document to CODE would take now."""
    found: RouteResolution = run_in_transaction(lambda session, _settings: resolve_route(session, code))
    typer.echo(f"{found.code}: {found.connector or 'refused'} ({found.explanation})")
