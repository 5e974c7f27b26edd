"""What the relay and the workers need from a broker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from app.delivery.service import Due


class BrokerMessage(Protocol):
    delivery_id: str
    # An earlier holder of this message, or of its delivery, went away without settling it: the broker
    # redelivers after a crash, or the relay hands out a `sending` delivery whose lease ran out.
    redelivered: bool

    async def ack(self) -> None:
        """Done with it. Settling a message a second time (ack or requeue) does nothing."""

    async def requeue(self) -> None:
        """The worker failed on this message; counts towards the delivery limit."""


Handler = Callable[[BrokerMessage], Awaitable[None]]
DeadLetterHandler = Callable[[str, str], Awaitable[None]]  # (delivery id, reason)


def dead_letter_reason(delivery_limit: int) -> str:
    # The limit counts redeliveries (RabbitMQ's `x-delivery-limit`): the first delivery and `limit` more.
    return f"dead-lettered: a worker failed on it {delivery_limit + 1} times"


class Broker(Protocol):
    @property
    def connected(self) -> bool:
        """Whether messages can be handed over right now."""

    async def start(self) -> None: ...

    async def publish(self, due: Sequence[Due]) -> list[Due]:
        """Hand deliveries to their connectors' queues; returns those the broker confirmed."""

    async def consume(self, connector: str, handler: Handler, *, prefetch: int) -> None: ...

    async def consume_dead_letters(self, handler: DeadLetterHandler) -> None: ...

    async def close(self) -> None: ...
