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

The setting may name several nodes of a cluster, comma-separated: the first connection goes to the
first node that answers, in the order given, and every reconnection to the next node in turn, so a
process survives the loss of the node it is connected to (docs/scaling.md, "RabbitMQ").
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

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


# A comma starts the next node's address only where a scheme follows: a password may hold a comma.
_NEXT_ADDRESS = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def queue_name(connector: str) -> str:
    return f"{EXCHANGE}.{connector}"


def node_addresses(setting: str) -> list[URL]:
    """The nodes named by `LIENTHONG_BROKER_URL`: one `amqp://` (or `amqps://`) URL, or several
    separated by commas, one full URL per node."""
    addresses = []
    for number, part in enumerate(_NEXT_ADDRESS.split(setting.strip()), start=1):
        try:
            address = URL(part)
            host = address.host or ""
            valid = address.scheme in ("amqp", "amqps") and host != "" and "," not in host
        except ValueError:  # yarl's word for a malformed port or host
            valid = False
        if not valid:  # the part is not shown: it may hold a password
            raise ValueError(
                f"the broker URL's address number {number} is not an amqp:// or amqps:// URL of one node "
                "(write one full URL per node, separated by commas)"
            )
        addresses.append(address)
    return addresses


class _ClusterConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection (it reconnects, restores channels and consumers), taking its
    turn through the nodes of a cluster: every connection attempt goes to the next address, so a
    reconnection after the loss of a node goes to another one. aio-pika itself takes one address
    (mosquito/aio-pika#141); the attempt is its `__connect_transport`, wrapped here."""

    def __init__(self, addresses: Sequence[URL], first: int) -> None:
        super().__init__(addresses[first])
        self._addresses = list(addresses)
        self._turn = first

    async def _RobustConnection__connect_transport(self) -> None:
        self.url = self._addresses[self._turn % len(self._addresses)]
        self._turn += 1
        await super()._RobustConnection__connect_transport()  # type: ignore[misc]  # private to aio-pika, see above


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
        self.addresses = node_addresses(url)
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
        self._connection = await self._connect()
        self._publishing = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._declare(self._publishing)

    async def _connect(self) -> AbstractRobustConnection:
        """A robust connection to the first node that answers, in the order given."""
        failure: BaseException | None = None
        for first in range(len(self.addresses)):
            connection = _ClusterConnection(self.addresses, first)
            try:
                await connection.connect()
                return connection
            except CONNECTION_EXCEPTIONS as error:
                node = self.addresses[first].with_password(None)
                log.warning("RabbitMQ node %s not reachable: %r", node, error)
                failure = error
        assert failure is not None
        raise failure

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
