"""What every `lienthong` command shares: who acts (for the admin log), how a command fails (one line
on stderr, exit 1), and running its database work in one transaction."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.i18n.cli import operator_locale
from app.kit.db import Database
from app.kit.errors import HubError
from app.kit.problem_messages import detail_message

T = TypeVar("T")


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def fail(message: str) -> NoReturn:
    typer.echo(f"lienthong: {message}", err=True)
    raise typer.Exit(1)


def run_in_transaction(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """One command's database work in one transaction; known failures exit 1 with the reason."""
    settings = get_settings()

    async def main() -> T:
        database = Database(settings.effective_database_url)
        try:
            async with database.transaction() as session:
                return await work(session, settings)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except HubError as error:  # its detail in the operator's language (app.kit.problem_messages)
        fail(detail_message(error, operator_locale()))
    except ValueError as error:  # KeyMaterialError, SecretError, InvalidAgencyCode
        fail(str(error))
