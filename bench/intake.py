"""Intake throughput and latency: one `lienthong serve` process, loaded by wrk on loopback.

    .venv/bin/python bench/intake.py [--database sqlite|postgresql|both] [--seconds 30] [--connections 16]

Starts the gateway on a fresh database (a new SQLite file, or a new PostgreSQL database that is
dropped afterwards), issues a credential for the sample's sender, and drives `wrk` (Debian package
`wrk`, a C load generator cheap enough not to steal the gateway's CPU) with bench/intake.lua, which
sends schemas/samples/sample.edxml (6 KB) with a fresh DocumentId per request. Prints one JSON line
per database: requests, rate, latency percentiles, non-2xx answers, and the gateway's CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "schemas" / "samples" / "sample.edxml"
POSTGRES = os.environ.get("LIENTHONG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
LIENTHONG = [sys.executable, "-c", "from app.cli import main; main()"]


def lienthong(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*LIENTHONG, *args], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(database: str, seconds: int, connections: int, port: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="lienthong-bench-"))
    env = {
        **os.environ,
        "LIENTHONG_DATA_DIR": str(data),
        "LIENTHONG_ENVIRONMENT": "development",
        "LIENTHONG_LOAD_DEMO_DIRECTORY": "true",
    }
    pg_name = None
    if database == "postgresql":
        pg_name = f"lienthong_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(f'CREATE DATABASE "{pg_name}"'))
        env["LIENTHONG_DATABASE_URL"] = (
            POSTGRES.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + "/" + pg_name
        )
        lienthong(env, "db", "upgrade")
    else:
        env["LIENTHONG_DATABASE_URL"] = ""
    server = subprocess.Popen(
        [*LIENTHONG, "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.1)
        token = lienthong(env, "credential", "create", "--role", "agency", "--agency", "000.00.01.H62")
        cpu_before = cpu_seconds(server.pid)
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(REPO / "bench" / "intake.lua"),
                f"http://127.0.0.1:{port}",
                "--",
                str(SAMPLE),
                token,
                str(int(time.time()) % 1000 * 10**7),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        result["gateway_cpu_s_per_request"] = round(
            (cpu_seconds(server.pid) - cpu_before) / max(result["requests"], 1), 5
        )
        result.update(database=database, connections=connections, document_bytes=SAMPLE.stat().st_size)
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
        if pg_name:
            asyncio.run(_admin(f'DROP DATABASE "{pg_name}" WITH (FORCE)'))


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


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
