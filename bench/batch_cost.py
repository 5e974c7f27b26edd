"""What one batch of the delivery machinery costs the process that runs it: the relay's hand-out,
the worker's claim, the connector, the recording of the outcomes and the acknowledgements, for a
document with two recipients, on PostgreSQL.

    .venv/bin/python bench/batch_cost.py [--batches 200] [--size 2]        # CPU ms per batch
    .venv/bin/python bench/batch_cost.py --batches 40 --instructions      # under callgrind

One process runs a `Relay` and a `Worker` with the in-process broker and the `inbox` connector (no
network), one batch at a time: the relay hands out `--size` due deliveries (2: one document with
two recipients, as at a low rate), the worker claims them,
runs the connector and records `awaiting_pickup`. The first 20 batches warm up (statements
compiled, connections opened) and are not counted. PostgreSQL's own CPU is not in the figure.

CPU time on this VM drifts by half within an hour; `--instructions` re-runs the script under
valgrind's callgrind with instrumentation switched on for the counted batches only, and reports
instructions per batch: the same count, run after run, for the same code, whatever else the machine
does. Compare two trees with it, not with the CPU time. The suite runs three batches
(tests/delivery/test_batch_cost.py), so the harness keeps up with the relay and the worker.

Needs PostgreSQL on 127.0.0.1:5432 (`LIENTHONG_TEST_POSTGRES` for another admin DSN) and, for
`--instructions`, the Debian package valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from stack import fresh_database, hub_env, lienthong, sqlalchemy_url  # noqa: E402

WARM_UP = 20
INSTRUMENTED = "LIENTHONG_BENCH_CALLGRIND"


async def batches(url: str, count: int, size: int) -> float:
    """Run `count` counted batches; CPU seconds they took."""
    from support.delivery import direct_deliveries

    from app.broker.embedded import EmbeddedBroker
    from app.config import Settings
    from app.delivery import relay as relay_module
    from app.delivery.relay import Relay
    from app.delivery.runtime import CONNECTOR_NAMES
    from app.kit.db import Database
    from connectors.inbox import InboxConnector
    from connectors.worker import Worker

    database = Database(url)
    for _ in range(WARM_UP + count):
        await direct_deliveries(database, size)
    async with database.engine.connect() as connection:  # as autovacuum would: plans for the real size
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    broker = EmbeddedBroker(CONNECTOR_NAMES, delivery_limit=5)
    worker = Worker(database, broker, {"inbox": InboxConnector()}, Settings(database_url=url))
    relay = Relay(database, broker, lease_seconds=300)
    relay_module.BATCH = size
    settled = asyncio.Event()
    deliver = worker.deliver

    async def deliver_and_tell(claims: list[object]) -> None:
        await deliver(claims)  # type: ignore[arg-type]
        settled.set()

    worker.deliver = deliver_and_tell  # type: ignore[method-assign]
    await worker.start(batchers=1)
    started = 0.0
    for number in range(WARM_UP + count):
        if number == WARM_UP:
            _instrument("on")
            started = time.process_time()
        if await relay.relay_once() != (size, size):
            raise RuntimeError("the relay did not hand out the batch")
        await settled.wait()
        settled.clear()
    spent = time.process_time() - started
    _instrument("off")
    await worker.stop()
    await database.dispose()
    return spent


def _instrument(switch: str) -> None:
    if os.environ.get(INSTRUMENTED):
        subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True, check=True)


def instructions(count: int, size: int) -> int:
    """Instructions of `count` counted batches, run under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--batches",
                str(count),
                "--size",
                str(size),
            ],
            env={**os.environ, INSTRUMENTED: "1"},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the run under callgrind failed:\n{done.stderr[-3000:]}")
        totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
    if not totals:
        raise RuntimeError("callgrind wrote no totals")
    return int(totals[-1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument(
        "--size", type=int, default=2, help="deliveries per batch (2: one document, as at a low rate)"
    )
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    arguments = parser.parse_args()
    if arguments.instructions:
        per_batch = instructions(arguments.batches, arguments.size) / arguments.batches
        print(f"{per_batch / 1e6:.2f} million instructions per batch of {arguments.size}")
        return
    import uvloop

    with fresh_database() as dsn, tempfile.TemporaryDirectory() as data:
        url = sqlalchemy_url(dsn)
        lienthong(hub_env(Path(data), url), "db", "upgrade")
        spent = uvloop.run(batches(url, arguments.batches, arguments.size))
    print(f"{spent / arguments.batches * 1000:.2f} ms of CPU per batch of {arguments.size}")


if __name__ == "__main__":
    main()
