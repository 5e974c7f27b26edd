"""The QLVB receiver of the pipeline benchmark: answers every request with 200 at once and remembers
each arrival's Idempotency-Key (the delivery id) and time; on SIGTERM it writes them to a file, one
`key<TAB>unix time` line per arrival, and exits.

    .venv/bin/python bench/receiver.py --port 18090 --out arrivals.tsv

Raw asyncio with the httptools parser on uvloop: nothing between the socket and the record, so the
receiver's CPU stays small next to the hub's and it never is the bottleneck being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import cast

import httptools
import uvloop

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
OK_THEN_CLOSE = (
    b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
)


class Qlvb(asyncio.Protocol):
    """One connection; httptools calls the on_* methods as it parses."""

    def __init__(self, arrivals: list[tuple[str, float]]) -> None:
        self.arrivals = arrivals
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.key = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's own class, same interface

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.key = ""

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"idempotency-key":
            self.key = value.decode()

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.arrivals.append((self.key, time.time()))
        if self.parser.should_keep_alive():
            self.transport.write(OK)
        else:
            self.transport.write(OK_THEN_CLOSE)
            self.transport.close()


async def serve(port: int) -> list[tuple[str, float]]:
    """Answer until SIGTERM or SIGINT; returns the arrivals."""
    arrivals: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Qlvb(arrivals), "127.0.0.1", port, backlog=1024)
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    server.close()
    return arrivals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    arrivals = uvloop.run(serve(args.port))
    args.out.write_text("".join(f"{key}\t{at:.6f}\n" for key, at in arrivals))


if __name__ == "__main__":
    main()
