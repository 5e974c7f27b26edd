"""Hearing PostgreSQL's notifications (LISTEN) on a connection of the process's own, for as long
as the process runs: opened again, ever longer between tries, whenever it is lost. Whoever listens
is told when listening starts and when it stops, since notifications sent meanwhile are lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

FIRST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 10.0


async def listen(
    database_url: str,
    channel: str,
    on_notification: Callable[[str], None],
    *,
    on_open: Callable[[], None] = lambda: None,
    on_lost: Callable[[], None] = lambda: None,
) -> None:
    """Call `on_notification(payload)` for every notification on `channel`, until cancelled."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    wait = FIRST_WAIT_SECONDS
    while True:
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("cannot listen on %s (%s); next try in %.0f s", channel, error, wait)
            await asyncio.sleep(wait)  # back-off while the database is away, not a synchronisation
            wait = min(LONGEST_WAIT_SECONDS, wait * 2)
            continue
        wait = FIRST_WAIT_SECONDS
        try:
            await _until_lost(connection, channel, on_notification, on_open)
            log.warning("the connection listening on %s was lost; opening another", channel)
        finally:
            on_lost()
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await connection.close(timeout=1)


async def _until_lost(
    connection: asyncpg.Connection,
    channel: str,
    on_notification: Callable[[str], None],
    on_open: Callable[[], None],
) -> None:
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _connection: lost.set())
    await connection.add_listener(channel, lambda *notification: on_notification(notification[-1]))
    on_open()
    await lost.wait()
