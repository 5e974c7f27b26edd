"""The in-process dispatcher of the embedded default: one asyncio queue per connector, with the same
delivery limit and dead-lettering as the RabbitMQ topology. Nothing survives the process; after a
restart the relay hands out again everything that was with it (`forget_dispatches`), and while it
runs, the relay's sweep hands out again whatever a dead letter or a lost message left unclaimed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.broker.base import DeadLetterHandler, Handler, dead_letter_reason
from app.delivery.service import Due
from app.models import DeliveryState


@dataclass(eq=False)
class _Message:
    delivery_id: str
    broker: EmbeddedBroker
    connector: str
    redelivered: bool = False
    _settled: asyncio.Event = field(default_factory=asyncio.Event)

    async def ack(self) -> None:
        if self._settled.is_set():
            return
        self.broker.crashes.pop(self.delivery_id, None)
        self._settled.set()

    async def requeue(self) -> None:
        if self._settled.is_set():
            return
        self._settled.set()
        await self.broker.crashed(self)


class EmbeddedBroker:
    def __init__(self, connectors: Sequence[str], *, delivery_limit: int) -> None:
        self.queues: dict[str, asyncio.Queue[_Message]] = {name: asyncio.Queue() for name in connectors}
        self.delivery_limit = delivery_limit
        self.crashes: Counter[str] = Counter()
        self._dead_letters: DeadLetterHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return True  # it lives in this process

    async def start(self) -> None:
        return None

    async def publish(self, due: Sequence[Due]) -> list[Due]:
        for item in due:
            taken_over = item.state is DeliveryState.SENDING  # its lease ran out: its worker went away
            self.queues[item.connector].put_nowait(
                _Message(item.delivery_id, self, item.connector, redelivered=taken_over)
            )
        return list(due)

    async def crashed(self, message: _Message) -> None:
        self.crashes[message.delivery_id] += 1
        if self.crashes[message.delivery_id] <= self.delivery_limit:  # redeliveries, as RabbitMQ counts
            self.queues[message.connector].put_nowait(
                _Message(message.delivery_id, self, message.connector, redelivered=True)
            )
            return
        del self.crashes[message.delivery_id]
        if self._dead_letters is not None:
            # In a task of its own, as a dead-letter queue's consumer would: the handler may wait
            # for the database, and the worker that gave the message up must not wait with it.
            self._spawn(self._dead_letters(message.delivery_id, dead_letter_reason(self.delivery_limit)))

    async def consume(self, connector: str, handler: Handler, *, prefetch: int) -> None:
        self._spawn(self._consume(self.queues[connector], handler, prefetch))

    async def consume_dead_letters(self, handler: DeadLetterHandler) -> None:
        self._dead_letters = handler

    async def _consume(self, queue: asyncio.Queue[_Message], handler: Handler, prefetch: int) -> None:
        in_flight = asyncio.Semaphore(prefetch)
        while True:
            await in_flight.acquire()
            message = await queue.get()
            self._spawn(self._handle(message, handler, in_flight))

    async def _handle(self, message: _Message, handler: Handler, in_flight: asyncio.Semaphore) -> None:
        try:
            await handler(message)
            await message._settled.wait()
        finally:
            in_flight.release()

    def _spawn(self, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
