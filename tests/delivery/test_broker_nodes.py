"""`LIENTHONG_BROKER_URL` naming several RabbitMQ nodes (docs/scaling.md, "RabbitMQ"): the hub's
processes connect to the first node that answers, in the order given, and after losing the node they
are connected to they reconnect to the next one. Real brokers: a vhost of the shared node, a closed
port, and a private node that the test stops.

(Two independent brokers stand in for two nodes of a cluster here: what is tested is where the
connection goes. bench/scale.py shows the hub on a real three-node cluster with a node stopped
under load.)
"""

from __future__ import annotations

import pytest
from support.processes import free_port
from support.rabbitmq import PrivateNode, ready_messages
from support.receiver import until
from yarl import URL

from app.broker.rabbitmq import RabbitBroker, node_addresses, queue_name
from app.delivery.runtime import CONNECTOR_NAMES
from app.delivery.service import Due
from app.models import DeliveryState

QLVB_QUEUE = queue_name("qlvb-push")


def test_the_setting_names_one_node_or_several_separated_by_commas() -> None:
    assert node_addresses("amqp://hub:pw@rabbit-1:5672/lt") == [URL("amqp://hub:pw@rabbit-1:5672/lt")]
    assert node_addresses(
        " amqp://hub:pw@rabbit-1/lt , amqps://hub:pw@rabbit-2:5671/lt,amqp://rabbit-3/lt "
    ) == [
        URL("amqp://hub:pw@rabbit-1/lt"),
        URL("amqps://hub:pw@rabbit-2:5671/lt"),
        URL("amqp://rabbit-3/lt"),
    ]
    # A comma starts the next address only before a scheme: a password may hold one.
    assert [a.password for a in node_addresses("amqp://hub:p,w@rabbit-1/lt,amqp://hub:p,w@rabbit-2/lt")] == [
        "p,w",
        "p,w",
    ]


@pytest.mark.parametrize(
    "setting",
    [
        "http://rabbit-1/lt",
        "amqp:///lt",
        "amqp://rabbit-1/lt,http://rabbit-2/lt",
        "amqp://hub:pw@rabbit-1,rabbit-2/lt",  # one URL for several hosts, as libpq takes them: not here
        "amqp://hub:pw@rabbit-1:5672,rabbit-2:5672/lt",
    ],
)
def test_anything_but_amqp_urls_is_refused_when_the_broker_is_made(setting: str) -> None:
    with pytest.raises(ValueError, match="not an amqp:// or amqps:// URL of one node"):
        RabbitBroker(setting, CONNECTOR_NAMES, delivery_limit=5)


def a_delivery(number: int) -> Due:
    return Due(f"delivery-{number}", "qlvb-push", DeliveryState.QUEUED)


async def test_a_node_that_does_not_answer_is_passed_over_for_the_next(rabbitmq_url: str) -> None:
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    broker = RabbitBroker(f"{nowhere},{rabbitmq_url}", CONNECTOR_NAMES, delivery_limit=5)
    await broker.start()
    try:
        assert broker.connected
        assert await broker.publish([a_delivery(1)]) == [a_delivery(1)]
        assert await ready_messages(rabbitmq_url, [QLVB_QUEUE]) == {QLVB_QUEUE: 1}
    finally:
        await broker.close()


@pytest.mark.slow
async def test_after_losing_its_node_the_broker_reconnects_to_the_next_and_publishes_there(
    private_rabbitmq: PrivateNode, rabbitmq_url: str
) -> None:
    broker = RabbitBroker(f"{private_rabbitmq.url},{rabbitmq_url}", CONNECTOR_NAMES, delivery_limit=5)
    await broker.start()
    try:
        assert await broker.publish([a_delivery(1)]) == [a_delivery(1)]
        assert await ready_messages(private_rabbitmq.url, [QLVB_QUEUE]) == {QLVB_QUEUE: 1}

        private_rabbitmq.stop()
        # aio-pika reconnects on its own; the next attempt goes to the next node, where the
        # restored channel declares the topology again.
        await until(lambda: broker.connected, timeout=30)
        await until(lambda: one_published(broker, a_delivery(2)), timeout=30)
        assert await ready_messages(rabbitmq_url, [QLVB_QUEUE]) == {QLVB_QUEUE: 1}
    finally:
        await broker.close()


async def one_published(broker: RabbitBroker, due: Due) -> bool:
    return await broker.publish([due]) == [due]
