"""`lienthong user …`: the people who log into the console."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.i18n import format_datetime, gettext
from app.i18n.cli import operator_locale
from app.kit.cli import cli_actor, fail, run_in_transaction
from app.models import Role
from app.users.service import add_user, list_users, new_password, reset_password, set_disabled

user_app = typer.Typer(help="People who log into the console (admin or auditor).", no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        fail("no password given")
    return password


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[Role, typer.Option(help="admin (changes things) or auditor (reads)")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Add a person; the password is prompted for, or read from stdin."""
    password = _password(password_stdin)

    async def work(session: AsyncSession, _settings: Settings) -> None:
        await add_user(session, name=name, role=role, password=password, actor=cli_actor())

    run_in_transaction(work)
    typer.echo(gettext("user {name} ({role}) added", operator_locale()).format(name=name, role=role.value))


@user_app.command("list")
def user_list() -> None:
    """Every person, with role, state and last login."""

    async def work(session: AsyncSession, _settings: Settings) -> list[tuple[str, str, str, str]]:
        return [
            (
                u.name,
                u.role,
                "disabled" if u.disabled_at else "active",
                format_datetime(u.last_login_at, seconds=True)
                if u.last_login_at
                else gettext("never", operator_locale()),
            )
            for u in await list_users(session)
        ]

    for name, role, state, last in run_in_transaction(work):
        typer.echo(
            f"{name:<24} {role:<8} {state:<9} "
            + gettext("last login: {when}", operator_locale()).format(when=last)
        )


@user_app.command("reset-password")
def user_reset_password(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the new password from stdin")
    ] = False,
    generate: Annotated[bool, typer.Option(help="generate one and print it once, as the last line")] = False,
) -> None:
    """Set a new password (ends the person's sessions)."""
    password = new_password() if generate else _password(password_stdin)

    async def work(session: AsyncSession, _settings: Settings) -> None:
        await reset_password(session, name, password=password, actor=cli_actor())

    run_in_transaction(work)
    typer.echo(gettext("password of {name} reset", operator_locale()).format(name=name), err=generate)
    if generate:
        typer.echo(password)


@user_app.command("disable")
def user_disable(name: str) -> None:
    """The person can no longer log in; open sessions end at once."""

    async def work(session: AsyncSession, _settings: Settings) -> None:
        await set_disabled(session, name, disabled=True, actor=cli_actor())

    run_in_transaction(work)
    typer.echo(gettext("user {name} disabled", operator_locale()).format(name=name))


@user_app.command("enable")
def user_enable(name: str) -> None:
    """The person may log in again."""

    async def work(session: AsyncSession, _settings: Settings) -> None:
        await set_disabled(session, name, disabled=False, actor=cli_actor())

    run_in_transaction(work)
    typer.echo(gettext("user {name} enabled", operator_locale()).format(name=name))
