"""The bare-bones pipeline issue 15 compares the hub with: the same essential work per document, no
framework, no batching. `bench/pipeline.py --mode bare` runs it with the hub's harness and wrk.

    python bench/bare.py gateway --port P --database DSN --broker URL --token T --endpoint BASE
    python bench/bare.py worker --database DSN --broker URL

gateway (raw ASGI on uvicorn with uvloop and httptools): bearer token, hardened parse, RSA-2048
seal with signxml (key loaded once), one PostgreSQL transaction (the document and a delivery per
recipient), one confirmed persistent publish per delivery to a quorum queue, 201.
worker: consumes (prefetch 64), POSTs the sealed document to BASE + recipient code with httpx, then
one transaction marks the delivery delivered and records the event; then acknowledges.
The tables carry the names and columns bench/pipeline.py reads (documents.received_at, deliveries,
delivery_events), nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import httpx
import uvicorn
import uvloop
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from app.sealing.keys import KeyAlgorithm, generate_development_identity

QUEUE = "bare.deliveries"
EDXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (id text PRIMARY KEY, received_at timestamptz NOT NULL,
    sha256 text NOT NULL, sealed bytea NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (id text PRIMARY KEY, document_id text NOT NULL REFERENCES documents,
    recipient text NOT NULL, state text NOT NULL, attempt_count int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS delivery_events (id bigserial PRIMARY KEY, delivery_id text NOT NULL
    REFERENCES deliveries, to_state text NOT NULL, at timestamptz NOT NULL);
"""


def hardened_parse(body: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    root = etree.fromstring(body, parser)
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or any(isinstance(e, etree._Entity) for e in root.iter()):
        raise ValueError("a DTD or an entity")
    return root


async def queue_of(channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractQueue:
    return await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})


class Gateway:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.expected = f"Bearer {args.token}".encode()
        identity = generate_development_identity("000.00.00.H62", algorithm=KeyAlgorithm.RSA_2048)
        self.key, self.cert = identity.private_key, [identity.certificate]
        self.signer = XMLSigner(
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(self.args.database, min_size=4, max_size=16)
        await self.pool.execute(SCHEMA)
        self.connection = await aio_pika.connect(self.args.broker)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await queue_of(self.channel)

    def seal(self, root: etree._Element) -> bytes:
        header = root.find(f"{{{EDXML}}}edXMLEnvelope/{{{EDXML}}}edXMLHeader")
        if header is None:
            raise ValueError("no edXMLHeader")
        etree.SubElement(header, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder")
        signed = self.signer.sign(root, key=self.key, cert=self.cert)
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/readyz":
            return await answer(send, 200, {"broker": "connected"})
        if dict(scope["headers"]).get(b"authorization") != self.expected:
            return await answer(send, 401, {"detail": "unauthorized"})
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        try:
            root = hardened_parse(body)
            recipients = [e.text or "" for e in root.iterfind(f".//{{{EDXML}}}To/{{{EDXML}}}OrganId")]
            received_at = datetime.now(UTC)
            sealed = self.seal(root)
        except (etree.XMLSyntaxError, ValueError) as error:
            return await answer(send, 422, {"detail": str(error)})
        document_id = uuid.uuid4().hex
        deliveries = [(uuid.uuid4().hex, code) for code in recipients]
        async with self.pool.acquire() as connection, connection.transaction():
            digest = hashlib.sha256(sealed).hexdigest()
            await connection.execute(
                "INSERT INTO documents VALUES ($1, $2, $3, $4)", document_id, received_at, digest, sealed
            )
            for delivery_id, code in deliveries:
                row = (delivery_id, document_id, code, received_at)
                await connection.execute("INSERT INTO deliveries VALUES ($1, $2, $3, 'queued', 0, $4)", *row)
        for delivery_id, code in deliveries:
            headers = {"delivery": delivery_id, "endpoint": self.args.endpoint + code}
            message = aio_pika.Message(
                sealed, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await self.channel.default_exchange.publish(message, routing_key=QUEUE)  # awaits the confirm
        await answer(send, 201, {"id": document_id})


async def answer(send: Any, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def work(args: argparse.Namespace) -> None:
    pool = await asyncpg.create_pool(args.database, min_size=4, max_size=16)
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
    connection = await aio_pika.connect(args.broker)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=64)
    tasks: set[asyncio.Task[None]] = set()

    async def deliver(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        delivery_id, endpoint = str(message.headers["delivery"]), str(message.headers["endpoint"])
        headers = {"Content-Type": "application/xml", "Idempotency-Key": delivery_id}
        try:
            response = await client.post(endpoint, content=message.body, headers=headers)
        except httpx.TransportError:
            await message.nack(requeue=True)
            return
        state = "delivered" if response.is_success else "failed"
        at = datetime.now(UTC)
        async with pool.acquire() as db, db.transaction():
            update = "UPDATE deliveries SET state = $2, attempt_count = attempt_count + 1 WHERE id = $1"
            await db.execute(update, delivery_id, state)
            event = "INSERT INTO delivery_events (delivery_id, to_state, at) VALUES ($1, $2, $3)"
            await db.execute(event, delivery_id, state, at)
        await message.ack()

    async def receive(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.create_task(deliver(message))  # up to the prefetch, concurrently
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await (await queue_of(channel)).consume(receive)
    await asyncio.Future()  # until the process is stopped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("role", choices=["gateway", "worker"])
    parser.add_argument("--database", required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="")
    parser.add_argument("--endpoint", default="", help="the recipient's code is appended")
    args = parser.parse_args()
    if args.role == "gateway":
        uvicorn.run(
            Gateway(args),
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools",
            interface="asgi3",
            access_log=False,
        )
    else:
        uvloop.run(work(args))


if __name__ == "__main__":
    main()
