"""A background loop's pace: it works in rounds, waits between them until woken or its interval is
over, and stops between rounds when asked.

A loop that writes is asked to stop, not cancelled: cancelled in the middle of a transaction on
SQLite it leaves the write lock to a connection that is being torn down, and the next write (the
shutdown's own, such as handing a lease over) waits the whole busy timeout, 30 s.

The waits use `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 `wait_for` swallows a
cancellation that comes just as the awaited event is set, and the loop would never end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

STOP_GRACE_SECONDS = 5.0


class Rounds:
    def __init__(self) -> None:
        self.stopping = False
        self._running = False
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()

    def wake(self) -> None:
        """Something to do: end the current wait now."""
        self._wake.set()

    async def wait(self, seconds: float) -> bool:
        """Wait until woken or `seconds` are over; True if woken for work (not to stop)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        woken = self._wake.is_set()
        self._wake.clear()
        return woken and not self.stopping

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around the loop, so that `stop` knows whether there is a loop to wait for."""
        self._running = True
        try:
            yield
        finally:
            self._running = False
            self._ended.set()

    async def stop(self, *, grace: float = STOP_GRACE_SECONDS) -> None:
        """Ask the loop to stop after the round under way, and wait up to `grace` for it; the caller
        then cancels the loop's task, which is a no-op once it has ended."""
        self.stopping = True
        self._wake.set()
        if not self._running:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._ended.wait()
