"""CPU per POST of the HTTP clients the `qlvb-push` worker could use, against bench/receiver.py.

    .venv/bin/python bench/http_clients.py [--requests 4000] [--in-flight 64] [--rounds 5]

Each client POSTs the sample edXML (5.9 KB) with the worker's headers to one receiver on loopback,
`--in-flight` requests at a time (the worker's concurrency) over keep-alive connections, on uvloop as
the worker runs. CPU time of this process (`time.process_time`) per request, the receiver not
counted; rounds interleaved (client A, B, C, then again) and the median round reported, so a
neighbour's load spreads over every client alike. Clients not installed are skipped; only the one
the worker uses is a dependency of the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import free_port, wait_for_port

SAMPLE = Path(__file__).resolve().parent.parent / "schemas" / "samples" / "sample.edxml"
HEADERS = {
    "Content-Type": "application/xml",
    "X-Lienthong-Document": "01JBENCHDOCUMENT0000000000",
    "X-Lienthong-Message-Type": "edoc",
    "X-Lienthong-Edxml-Document-Id": "000.00.01.H62,2026/12/02,1",
    "X-Lienthong-Sender": "000.00.01.H62",
    "X-Lienthong-Recipient": "000.00.02.H62",
    "X-Lienthong-Attempt": "1",
}
Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]


@contextlib.asynccontextmanager
async def httpx_client() -> AsyncIterator[Post]:
    """What the worker used until now: one AsyncClient, pool as large as the concurrency."""
    import httpx

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await client.post(url, content=body, headers=headers, timeout=30.0)
            return response.status_code

        yield post


@contextlib.asynccontextmanager
async def httpx_over_aiohttp() -> AsyncIterator[Post]:
    """httpx's API with aiohttp underneath (the httpx-aiohttp transport)."""
    import httpx
    from httpx_aiohttp import AiohttpTransport

    async with httpx.AsyncClient(transport=AiohttpTransport(), follow_redirects=False) as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await client.post(url, content=body, headers=headers, timeout=30.0)
            return response.status_code

        yield post


@contextlib.asynccontextmanager
async def aiohttp_client() -> AsyncIterator[Post]:
    """aiohttp's ClientSession over a keep-alive TCPConnector."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=64, limit_per_host=64)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
                return response.status

        yield post


@contextlib.asynccontextmanager
async def niquests_client() -> AsyncIterator[Post]:
    import niquests

    async with niquests.AsyncSession(pool_maxsize=64) as session:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await session.post(
                url, data=body, headers=headers, timeout=30.0, allow_redirects=False
            )
            return int(response.status_code or 0)

        yield post


@contextlib.asynccontextmanager
async def curl_cffi_client() -> AsyncIterator[Post]:
    from curl_cffi.requests import AsyncSession

    async with AsyncSession(max_clients=64) as session:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await session.post(
                url, data=body, headers=headers, timeout=30.0, allow_redirects=False
            )
            return response.status_code

        yield post


CLIENTS: dict[str, tuple[str, Callable[[], contextlib.AbstractAsyncContextManager[Post]]]] = {
    "httpx": ("httpx", httpx_client),
    "httpx+aiohttp": ("httpx_aiohttp", httpx_over_aiohttp),
    "aiohttp": ("aiohttp", aiohttp_client),
    "niquests": ("niquests", niquests_client),
    "curl_cffi": ("curl_cffi", curl_cffi_client),
}


async def measure(
    make: Callable[[], contextlib.AbstractAsyncContextManager[Post]],
    url: str,
    *,
    requests: int,
    in_flight: int,
) -> tuple[float, float]:
    """(CPU ms per request, requests per wall-clock second) for one round, after a warm-up."""
    body = SAMPLE.read_bytes()
    async with make() as post:

        async def lane(numbers: Iterator[int]) -> None:
            for number in numbers:
                status = await post(url, body, {**HEADERS, "Idempotency-Key": f"k{number}"})
                assert status == 200, status

        async def run(count: int) -> None:
            numbers = iter(range(count))  # shared: each lane takes the next request number
            await asyncio.gather(*(lane(numbers) for _ in range(in_flight)))

        await run(in_flight * 4)  # warm-up: the connections are opened here
        cpu, wall = time.process_time(), time.perf_counter()
        await run(requests)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / requests, requests / wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    chosen = [name for name in args.clients.split(",") if importlib.util.find_spec(CLIENTS[name][0])]
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        receiver = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parent / "receiver.py"),
                "--port",
                str(port),
                "--out",
                str(Path(scratch) / "arrivals.tsv"),
            ]
        )
        try:
            wait_for_port(port, receiver, "receiver")
            url = f"http://127.0.0.1:{port}/qlvb"
            rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
            for _ in range(args.rounds):
                for name in chosen:
                    rounds[name].append(
                        uvloop.run(
                            measure(CLIENTS[name][1], url, requests=args.requests, in_flight=args.in_flight)
                        )
                    )
        finally:
            receiver.terminate()
            receiver.wait()
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[0]
    print(f"{args.requests} POSTs x {args.rounds} rounds, {args.in_flight} in flight, load average {load}")
    print(f"{'client':<14} {'CPU ms/POST (median)':>21} {'min':>6} {'max':>6} {'POST/s':>7}")
    for name, results in rounds.items():
        cpu = [c for c, _ in results]
        rate = statistics.median(r for _, r in results)
        print(f"{name:<14} {statistics.median(cpu):>21.3f} {min(cpu):>6.3f} {max(cpu):>6.3f} {rate:>7.0f}")
    print(json.dumps({name: [round(c, 4) for c, _ in results] for name, results in rounds.items()}))


if __name__ == "__main__":
    main()
