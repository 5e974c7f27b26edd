"""How the worker gathers the messages the broker hands it into batches (`next_batch`)."""

from __future__ import annotations

import asyncio

from connectors.worker import next_batch


async def test_messages_that_arrive_back_to_back_form_one_batch_without_waiting_the_window() -> None:
    inbox: asyncio.Queue[int] = asyncio.Queue()
    for number in range(3):
        inbox.put_nowait(number)
    async with asyncio.timeout(2):  # the window is 10 s: the batch closed when the messages stopped
        batch = await next_batch(inbox, limit=64, window=10)
    assert batch == [0, 1, 2]


async def test_a_pause_longer_than_a_tenth_of_the_window_closes_the_batch() -> None:
    inbox: asyncio.Queue[int] = asyncio.Queue()
    inbox.put_nowait(1)
    asyncio.get_running_loop().call_later(0.5, inbox.put_nowait, 2)  # after the 0.1-s pause
    batch = await next_batch(inbox, limit=64, window=1.0)
    assert batch == [1]
    assert await next_batch(inbox, limit=64, window=1.0) == [2]


async def test_messages_that_keep_coming_are_cut_at_the_window() -> None:
    inbox: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    # One every 10 ms for 2 s: far closer than the 0.1-s pause that would close the batch.
    arrivals = [loop.call_later(number * 0.01, inbox.put_nowait, number) for number in range(1, 200)]
    inbox.put_nowait(0)
    batch = await next_batch(inbox, limit=1000, window=1.0)
    for arrival in arrivals:
        arrival.cancel()
    assert batch == list(range(len(batch))) and 20 <= len(batch) < 200


async def test_a_batch_stops_at_the_limit() -> None:
    inbox: asyncio.Queue[int] = asyncio.Queue()
    for number in range(100):
        inbox.put_nowait(number)
    assert await next_batch(inbox, limit=64, window=10) == list(range(64))
    assert await next_batch(inbox, limit=64, window=0.1) == list(range(64, 100))
