"""The QLVB receiver of the pipeline benchmark: answers every request with 200 at once and remembers
each arrival's Idempotency-Key (the delivery id) and time; on SIGTERM it writes them to a file, one
`key<TAB>unix time` line per arrival, and exits.

    .venv/bin/python bench/receiver.py --port 18090 --out arrivals.tsv

For the chaos soak (soak.py) it can also misbehave: `--unavailable 0.2` answers 503 to a fifth of
the requests, `--hang 0.05 --hang-seconds 8` answers a twentieth only after 8 s (past the hub's
timeout); `--detail` adds each arrival's attempt number and the status answered to its line.

Raw asyncio with the httptools parser on uvloop: nothing between the socket and the record, so the
receiver's CPU stays small next to the hub's and it never is the bottleneck being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import random
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
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: text/plain\r\n"
    b"content-length: 8\r\n\r\nnot now\n"
)
Arrival = tuple[str, float, str, int]  # key, unix time, attempt, status answered


class Misbehaviour:
    """How often to answer 503, and how often to answer only after `hang_seconds`."""

    def __init__(self, unavailable: float, hang: float, hang_seconds: float, seed: int) -> None:
        self.unavailable = unavailable
        self.hang = hang
        self.hang_seconds = hang_seconds
        self.random = random.Random(seed)  # noqa: S311 -- a test double's dice, not a secret

    def status(self) -> tuple[int, float]:
        """(status, seconds before answering) for the next request."""
        draw = self.random.random()
        if draw < self.unavailable:
            return 503, 0.0
        if draw < self.unavailable + self.hang:
            return 200, self.hang_seconds
        return 200, 0.0


BEHAVE = Misbehaviour(0.0, 0.0, 0.0, 0)


class Qlvb(asyncio.Protocol):
    """One connection; httptools calls the on_* methods as it parses."""

    def __init__(self, arrivals: list[Arrival], behave: Misbehaviour = BEHAVE) -> None:
        self.arrivals = arrivals
        self.behave = behave
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.key = ""
        self.attempt = ""

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
        self.attempt = ""

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"idempotency-key":
            self.key = value.decode()
        elif lowered == b"x-lienthong-attempt":
            self.attempt = value.decode()

    def on_message_complete(self) -> None:
        assert self.transport is not None
        status, delay = self.behave.status()
        self.arrivals.append((self.key, time.time(), self.attempt, status))
        if status == 503:
            self.transport.write(UNAVAILABLE)
        elif delay:
            asyncio.get_running_loop().call_later(delay, self._answer_late)
        elif self.parser.should_keep_alive():
            self.transport.write(OK)
        else:
            self.transport.write(OK_THEN_CLOSE)
            self.transport.close()

    def _answer_late(self) -> None:
        # The hub has given up on this request by now (and closed the connection), or it takes it.
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(OK_THEN_CLOSE)
            self.transport.close()


async def serve(port: int, behave: Misbehaviour = BEHAVE) -> list[Arrival]:
    """Answer until SIGTERM or SIGINT; returns the arrivals."""
    arrivals: list[Arrival] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Qlvb(arrivals, behave), "127.0.0.1", port, backlog=1024)
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
    parser.add_argument("--unavailable", type=float, default=0.0, help="share of requests answered 503")
    parser.add_argument("--hang", type=float, default=0.0, help="share of requests answered late")
    parser.add_argument("--hang-seconds", type=float, default=0.0, help="how late")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--detail", action="store_true", help="also write the attempt and the status")
    args = parser.parse_args()
    behave = Misbehaviour(args.unavailable, args.hang, args.hang_seconds, args.seed)
    arrivals = uvloop.run(serve(args.port, behave))
    if args.detail:
        lines = (f"{key}\t{at:.6f}\t{attempt}\t{status}\n" for key, at, attempt, status in arrivals)
    else:
        lines = (f"{key}\t{at:.6f}\n" for key, at, _, _ in arrivals)
    args.out.write_text("".join(lines))


if __name__ == "__main__":
    main()
