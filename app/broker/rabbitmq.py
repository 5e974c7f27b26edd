"""RabbitMQ (3.10+): the topology, publishing with confirms, and consuming.

Topology, declared idempotently by every process at start:

    exchange lienthong.deliveries (direct, durable)
        --routing key = connector--> quorum queue lienthong.deliveries.<connector>
            x-delivery-limit N, dead letters (at-least-once) to
    exchange lienthong.deliveries.dead (fanout) --> quorum queue lienthong.deliveries.dead

Messages carry a delivery id and nothing else; they are persistent and every publish waits for the
broker's confirm (unroutable or refused ones count as not sent, the outbox row stays due). Publishes
go out about a hundred at a time, each with a timeout: `connect_robust` reconnects, but a publish
during an outage could otherwise hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

from app.broker.base import DeadLetterHandler, Handler, dead_letter_reason
from app.delivery.service import Due
from app.models import DeliveryState

log = logging.getLogger(__name__)

EXCHANGE = "lienthong.deliveries"
DEAD_EXCHANGE = "lienthong.deliveries.dead"
DEAD_QUEUE = "lienthong.deliveries.dead"
PUBLISH_TIMEOUT_SECONDS = 5.0
IN_FLIGHT = 100
# Marks the relay's hand-out of a `sending` delivery whose lease ran out (its worker went away): the
# worker treats it as a redelivery, not as a second copy of a delivery another worker is on.
TAKEN_OVER = "x-lienthong-taken-over"


def queue_name(connector: str) -> str:
    return f"{EXCHANGE}.{connector}"


class _Message:
    def __init__(self, message: AbstractIncomingMessage) -> None:
        self._message = message
        self.delivery_id = message.body.decode()
        self.redelivered = bool(message.redelivered) or bool((message.headers or {}).get(TAKEN_OVER))

    async def ack(self) -> None:
        if not self._message.processed:
            await self._message.ack()

    async def requeue(self) -> None:
        if not self._message.processed:
            await self._message.nack(requeue=True)


class RabbitBroker:
    def __init__(self, url: str, connectors: Sequence[str], *, delivery_limit: int) -> None:
        self.url = url
        self.connectors = list(connectors)
        self.delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publishing: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    @property
    def connected(self) -> bool:
        # A robust connection that lost the broker is not closed (it is reconnecting), only not connected.
        return self._connection is not None and self._connection.connected.is_set()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.url)
        self._publishing = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._declare(self._publishing)

    async def _declare(self, channel: AbstractChannel) -> AbstractExchange:
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        dead = await channel.declare_exchange(DEAD_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
        dead_queue = await channel.declare_queue(
            DEAD_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_queue.bind(dead)
        for connector in self.connectors:
            queue = await channel.declare_queue(
                queue_name(connector),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": self.delivery_limit,
                    "x-dead-letter-exchange": DEAD_EXCHANGE,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            await queue.bind(exchange, routing_key=connector)
        return exchange

    async def publish(self, due: Sequence[Due]) -> list[Due]:
        assert self._exchange is not None, "start() first"
        confirmed: list[Due] = []
        for start in range(0, len(due), IN_FLIGHT):
            chunk = due[start : start + IN_FLIGHT]
            results = await asyncio.gather(
                *(self._publish_one(item) for item in chunk), return_exceptions=True
            )
            for item, result in zip(chunk, results, strict=True):
                if isinstance(result, BaseException):
                    log.warning("publish of delivery %s not confirmed: %r", item.delivery_id, result)
                else:
                    confirmed.append(item)
        return confirmed

    async def _publish_one(self, item: Due) -> None:
        assert self._exchange is not None
        message = aio_pika.Message(
            item.delivery_id.encode(),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=item.delivery_id,
            content_type="text/plain",
            headers={TAKEN_OVER: True} if item.state is DeliveryState.SENDING else None,
        )
        await self._exchange.publish(message, routing_key=item.connector, timeout=PUBLISH_TIMEOUT_SECONDS)

    async def consume(self, connector: str, handler: Handler, *, prefetch: int) -> None:
        assert self._connection is not None, "start() first"
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name(connector), ensure=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await handler(_Message(message))

        await queue.consume(on_message)

    async def consume_dead_letters(self, handler: DeadLetterHandler) -> None:
        assert self._connection is not None, "start() first"
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=16)
        queue = await channel.get_queue(DEAD_QUEUE, ensure=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                await handler(message.body.decode(), dead_letter_reason(self.delivery_limit))
            except Exception:
                # Not lost: the delivery stays unsettled in the database and the relay's sweep
                # hands it out again (ARCHITECTURE.md §5; docs/operators.md, "Faults").
                log.exception(
                    "dead letter %r not recorded; the relay's sweep will hand it out again", message.body
                )
            try:
                await message.ack()
            except Exception as error:  # the connection went away: the dead letter comes back
                log.info("dead letter %r not acknowledged (%r); it will be redelivered", message.body, error)

        await queue.consume(on_message)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
