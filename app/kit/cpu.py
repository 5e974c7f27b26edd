"""CPU-heavy steps (parse, canonicalise, seal, verify) off the event loop, bounded and fair.

`off_loop(fn, ...)` runs `fn` in a worker thread, as `asyncio.to_thread` does, under two limits:

- at most `CPU_SLOTS` steps run at once in the process: more threads would not run faster (the steps
  hold the GIL part of the time), they would only make every request slower and hold more memory;
- at most `SLOTS_PER_CALLER` of them, waiting or running, belong to one caller (a credential, a
  `/vxp` system, or an address for anonymous calls), so one caller sending a hundred documents at
  once queues behind itself, not in front of everyone else.

Waiters are served in arrival order (asyncio's semaphores are FIFO). Who the caller is comes from a
context variable the authentication sets (`caller_scope`), so services need not pass it along.

`cpu_step(size, fn, ...)` is `off_loop` for a step whose cost grows with an input of `size` bytes:
below `ON_LOOP_BYTES` it runs on the event loop, where it costs less than handing it to a thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

CPU_SLOTS = max(2, os.cpu_count() or 2)
#: Reading and sealing a message this size takes about a millisecond (1.1 ms for 34 KB, 0.8 ms for
#: 3 KB); handing that to a thread and back, and the two threads' turns at the GIL, cost the gateway
#: more than it spares the loop (3.8 -> 3.5 ms of gateway CPU per 6 KB document at full speed).
ON_LOOP_BYTES = 32 * 1024
SLOTS_PER_CALLER = 2

_caller: ContextVar[str] = ContextVar("lienthong_caller", default="anonymous")


def set_caller(key: str) -> None:
    """Name the caller of the current request (its credential, system or address)."""
    _caller.set(key)


@contextmanager
def caller_scope(key: str) -> Iterator[None]:
    token = _caller.set(key)
    try:
        yield
    finally:
        _caller.reset(token)


class _Limits:
    """The semaphores of one event loop (a test suite runs many loops in one process)."""

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(CPU_SLOTS)
        self.per_caller: dict[str, tuple[asyncio.Semaphore, int]] = {}

    def enter(self, key: str) -> asyncio.Semaphore:
        semaphore, users = self.per_caller.get(key, (None, 0))
        if semaphore is None:
            semaphore = asyncio.Semaphore(SLOTS_PER_CALLER)
        self.per_caller[key] = (semaphore, users + 1)
        return semaphore

    def leave(self, key: str) -> None:
        semaphore, users = self.per_caller[key]
        if users <= 1:
            del self.per_caller[key]  # forgotten when idle: the table holds only current callers
        else:
            self.per_caller[key] = (semaphore, users - 1)


_limits: dict[asyncio.AbstractEventLoop, _Limits] = {}


def _limits_of_loop() -> _Limits:
    loop = asyncio.get_running_loop()
    limits = _limits.get(loop)
    if limits is None:
        for closed in [other for other in _limits if other.is_closed()]:
            del _limits[closed]
        limits = _limits[loop] = _Limits()
    return limits


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in a worker thread, within the process's and the caller's CPU slots."""
    limits = _limits_of_loop()
    key = _caller.get()
    mine = limits.enter(key)
    try:
        async with mine, limits.slots:
            return await asyncio.to_thread(fn, *args, **kwargs)
    finally:
        limits.leave(key)


async def cpu_step(size: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on the event loop when its input is under ON_LOOP_BYTES, else `off_loop`."""
    if size < ON_LOOP_BYTES:
        return fn(*args, **kwargs)
    return await off_loop(fn, *args, **kwargs)
