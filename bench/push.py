"""The worker's HTTP path alone: `qlvb-push` POSTs against bench/receiver.py, CPU per POST.

    .venv/bin/python bench/push.py [--posts 20000] [--concurrency 32] [--rounds 3]
                                   [--clients http11,httpx] [--profile FILE.html]

Starts the receiver, then calls `QlvbPushConnector.deliver` with a sealed-size payload (~8 KB), so
many at a time (the worker delivers a batch concurrently), and reports this process's CPU
milliseconds per POST (`time.process_time`: the machine is shared, wall-clock would measure the
others' work too), the median of the rounds, for the connector's own HTTP/1.1 client and for httpx
(what it used before; still used behind a proxy), rounds interleaved. With --profile, one more round
per client runs under pyinstrument (`pip install pyinstrument`; not a dependency of the hub).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from stack import BENCH, SAMPLE, free_port, spawn, stop, wait_for_port

from connectors.base import Job, OutcomeKind
from connectors.qlvb_push import QlvbPushConnector


def job(endpoint: str, number: int, payload: bytes) -> Job:
    return Job(
        delivery_id=f"bench-{number}",
        document_id="doc",
        edxml_document_id="000.00.01.H62,2026/11/27,1234/VP-KSTT",
        sender_code="000.00.01.H62",
        recipient_code="000.00.02.H62",
        message_type="edoc",
        endpoint=endpoint,
        timeout_seconds=30,
        attempt=1,
        payload=payload,
    )


async def deliver_all(connector: QlvbPushConnector, endpoint: str, posts: int, concurrency: int) -> float:
    """CPU ms per POST for `posts` POSTs, `concurrency` at a time."""
    payload = SAMPLE.read_bytes() + b" " * 2500  # about the size of the sealed sample
    queue = iter(range(posts))

    async def lane() -> None:
        for number in queue:
            outcome = await connector.deliver(job(endpoint, number, payload))
            if outcome.kind is not OutcomeKind.DELIVERED:
                raise RuntimeError(f"POST {number}: {outcome}")

    before = time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return (time.process_time() - before) * 1000 / posts


def connector_with(client: str) -> QlvbPushConnector:
    connector = QlvbPushConnector(max_connections=64)
    if client == "httpx":  # what the connector used before connectors.http11, and still does behind a proxy
        connector.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64), follow_redirects=False
        )
    return connector


async def measure(args: argparse.Namespace, endpoint: str) -> dict[str, list[float]]:
    connectors = {name: connector_with(name) for name in args.clients.split(",")}
    rounds: dict[str, list[float]] = {name: [] for name in connectors}
    try:
        for connector in connectors.values():  # warm the pools
            await deliver_all(connector, endpoint, min(args.posts, 500), args.concurrency)
        for _ in range(args.rounds):
            for name, connector in connectors.items():  # interleaved: a busier moment weighs on all
                rounds[name].append(await deliver_all(connector, endpoint, args.posts, args.concurrency))
        if args.profile:
            from pyinstrument import Profiler

            for name, connector in connectors.items():
                with Profiler(async_mode="disabled") as profiler:
                    await deliver_all(connector, endpoint, args.posts, args.concurrency)
                args.profile.with_suffix(f".{name}.html").write_text(profiler.output_html())
        return rounds
    finally:
        for connector in connectors.values():
            await connector.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default="http11,httpx", help="http11 (the connector's), httpx (before)")
    parser.add_argument("--profile", type=Path, help="FILE.html: one pyinstrument report per client")
    args = parser.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        command = [
            sys.executable,
            str(BENCH / "receiver.py"),
            "--port",
            str(port),
            "--out",
            f"{work}/arrivals",
        ]
        receiver = spawn(command, dict(os.environ), Path(work) / "receiver.log")
        try:
            wait_for_port(port, receiver, "the receiver")
            rounds = uvloop.run(measure(args, f"http://127.0.0.1:{port}/qlvb/000.00.02.H62"))
        finally:
            stop(receiver)  # it writes its arrivals as it exits
        arrivals = len((Path(work) / "arrivals").read_text().splitlines())
    for name, values in rounds.items():
        print(
            f"{name:<7} {statistics.median(values):.3f} CPU ms per POST (median of {args.rounds} rounds of "
            f"{args.posts}, {args.concurrency} at a time; rounds: {', '.join(f'{v:.3f}' for v in values)})"
        )
    print(f"the receiver counted {arrivals} requests")


if __name__ == "__main__":
    main()
