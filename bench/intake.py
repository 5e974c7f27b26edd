"""Intake throughput and latency: one `lienthong serve` process, loaded by wrk on loopback.

    .venv/bin/python bench/intake.py [--database sqlite|postgresql|both] [--seconds 30] [--connections 16]

Starts the gateway on a fresh database (a new SQLite file, or a new PostgreSQL database that is
dropped afterwards), issues a credential for the sample's sender, and drives `wrk` (Debian package
`wrk`, a C load generator cheap enough not to steal the gateway's CPU) with bench/intake.lua, which
sends schemas/samples/sample.edxml (6 KB) with a fresh DocumentId per request. Prints one JSON line
per database: requests, rate, latency percentiles, non-2xx answers, and the gateway's CPU seconds.
For the whole pipeline (broker, worker, receiver) see bench/pipeline.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from stack import (
    SAMPLE,
    cpu_seconds,
    fresh_database,
    hub_env,
    lienthong,
    run_wrk,
    sqlalchemy_url,
    start_gateway,
    stop,
)


def run(database: str, seconds: int, connections: int, port: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="lienthong-bench-"))
    try:
        with contextlib.ExitStack() as cleanup:
            if database == "postgresql":
                env = hub_env(data, sqlalchemy_url(cleanup.enter_context(fresh_database())))
                lienthong(env, "db", "upgrade")
            else:
                env = hub_env(data, "")
            gateway = start_gateway(env, port, data / "gateway.log")
            cleanup.callback(stop, gateway)
            token = lienthong(env, "credential", "create", "--role", "agency", "--agency", "000.00.01.H62")
            cpu_before = cpu_seconds(gateway.pid)
            result = run_wrk(
                f"http://127.0.0.1:{port}",
                token,
                seconds=seconds,
                connections=connections,
                threads=2,
                offset=int(time.time()) % 1000 * 10**7,
            )
            result["gateway_cpu_s_per_request"] = round(
                (cpu_seconds(gateway.pid) - cpu_before) / max(result["requests"], 1), 5
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)
    result.update(database=database, document_bytes=SAMPLE.stat().st_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    for database in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        print(json.dumps(run(database, args.seconds, args.connections, args.port)), flush=True)


if __name__ == "__main__":
    main()
