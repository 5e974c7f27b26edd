"""Leases (app.kit.lease) on the real database (SQLite and PostgreSQL): one holder at a time, renewed
by its holder, taken over once it has run out or been released."""

from __future__ import annotations

import asyncio
import uuid

from support.delivery import rows
from support.receiver import until

from app.kit.db import Database
from app.kit.lease import hold, holder_name, release

FIRST, SECOND = "replica-a:101:0001", "replica-b:202:0002"


def fresh() -> str:
    return f"test-lease-{uuid.uuid4().hex[:12]}"


async def holder_of(database: Database, name: str) -> str:
    [row] = await rows(database, "SELECT holder FROM leases WHERE name = :n", n=name)
    return str(row.holder)


async def test_the_first_holder_takes_the_lease_and_renews_it_while_others_wait(database: Database) -> None:
    name = fresh()

    assert await hold(database, name, FIRST, seconds=60) is True
    assert await hold(database, name, SECOND, seconds=60) is False
    assert await hold(database, name, FIRST, seconds=60) is True  # renewed
    assert await hold(database, name, SECOND, seconds=60) is False
    assert await holder_of(database, name) == FIRST


async def test_an_expired_lease_is_taken_over_and_its_old_holder_has_lost_it(database: Database) -> None:
    name = fresh()
    assert await hold(database, name, FIRST, seconds=0.2) is True
    assert await hold(database, name, SECOND, seconds=60) is False  # still running

    # FIRST stops renewing (a dead replica): once its 0.2 s have run out, SECOND takes over.
    await until(lambda: hold(database, name, SECOND, seconds=60), timeout=10)

    assert await holder_of(database, name) == SECOND
    assert await hold(database, name, FIRST, seconds=60) is False
    assert await hold(database, name, SECOND, seconds=60) is True


async def test_a_released_lease_can_be_taken_at_once(database: Database) -> None:
    name = fresh()
    assert await hold(database, name, FIRST, seconds=600) is True
    assert await hold(database, name, SECOND, seconds=600) is False

    await release(database, name, SECOND)  # not its holder: changes nothing
    assert await hold(database, name, SECOND, seconds=600) is False

    await release(database, name, FIRST)
    assert await hold(database, name, SECOND, seconds=600) is True
    assert await hold(database, name, FIRST, seconds=600) is False


async def test_of_many_holders_racing_for_a_new_lease_exactly_one_wins(database: Database) -> None:
    name = fresh()
    holders = [holder_name() for _ in range(16)]
    assert len(set(holders)) == len(holders)

    won = await asyncio.gather(*(hold(database, name, holder, seconds=60) for holder in holders))

    assert won.count(True) == 1, won
    assert await holder_of(database, name) == holders[won.index(True)]


async def test_of_many_holders_racing_for_an_expired_lease_exactly_one_wins(database: Database) -> None:
    name = fresh()
    assert await hold(database, name, FIRST, seconds=0.1) is True
    await until(lambda: hold(database, name, SECOND, seconds=0.1), timeout=10)  # FIRST has run out
    await until(lambda: hold(database, name, FIRST, seconds=60), timeout=10)  # and so has SECOND
    await release(database, name, FIRST)
    holders = [holder_name() for _ in range(16)]

    won = await asyncio.gather(*(hold(database, name, holder, seconds=60) for holder in holders))

    assert won.count(True) == 1, won
    assert await holder_of(database, name) == holders[won.index(True)]
