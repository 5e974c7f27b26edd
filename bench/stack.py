"""How the benchmarks start and measure things, in one place: fresh PostgreSQL databases and RabbitMQ
vhosts, `lienthong` processes, wrk driven by bench/intake.lua, and the per-process CPU and memory
counters read from /proc.

Only the set-up talks HTTP from Python (readiness checks); the load itself always comes from wrk, a
C load generator: a Python client spends more CPU per request than the hub does on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
SAMPLE = REPO / "schemas" / "samples" / "sample.edxml"
POSTGRES = os.environ.get("LIENTHONG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"
LIENTHONG = [sys.executable, "-c", "from app.cli import main; main()"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hub_env(data_dir: Path, database_url: str, broker_url: str = "") -> dict[str, str]:
    """The environment of every `lienthong` process of one run. Development, so that the gateway
    makes its signing key and loads the demo directory; it changes nothing on the request path."""
    return {
        **os.environ,
        "LIENTHONG_DATA_DIR": str(data_dir),
        "LIENTHONG_ENVIRONMENT": "development",
        "LIENTHONG_LOAD_DEMO_DIRECTORY": "true",
        "LIENTHONG_DATABASE_URL": database_url,
        "LIENTHONG_BROKER_URL": broker_url,
    }


def lienthong(env: dict[str, str], *args: str) -> str:
    """Run one `lienthong` command to completion; returns the last line it printed."""
    done = subprocess.run([*LIENTHONG, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"lienthong {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A long-running process with its output in `log` (kept for a post-mortem)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float, process: Any = None) -> None:
    """Poll `condition` until it holds; fail early if `process` died meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def start_gateway(
    env: dict[str, str],
    port: int,
    log: Path,
    *,
    command: list[str] | None = None,
) -> subprocess.Popen[bytes]:
    """`lienthong serve` (or `command`), once /readyz answers. (With RabbitMQ the gateway does not
    connect to it: the workers do.)"""
    gateway = spawn(command or [*LIENTHONG, "serve", "--port", str(port)], env, log)

    def ready() -> bool:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    try:
        wait_until(ready, f"the gateway (log: {log})", timeout=90, process=gateway)
    except BaseException:
        stop(gateway)
        raise
    return gateway


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, what, timeout=30, process=process)


class Postgres:
    """One connection for the harness's own statements, used from synchronous code."""

    def __init__(self, dsn: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._connection: asyncpg.Connection = self._loop.run_until_complete(asyncpg.connect(dsn))

    def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        return self._loop.run_until_complete(self._connection.fetch(sql, *args))

    def value(self, sql: str, *args: object) -> Any:
        return self._loop.run_until_complete(self._connection.fetchval(sql, *args))

    def close(self) -> None:
        self._loop.run_until_complete(self._connection.close())
        self._loop.close()


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one run, dropped afterwards; yields its plain DSN."""
    name = f"lienthong_bench_{uuid.uuid4().hex[:8]}"
    admin = Postgres(POSTGRES)
    try:
        admin.value(f'CREATE DATABASE "{name}"')
        try:
            yield database_dsn(name)
        finally:
            admin.value(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.close()


def database_dsn(name: str) -> str:
    """`POSTGRES` naming another database on the same server (a socket directory in its query,
    `?host=/run/postgresql`, is kept)."""
    return urllib.parse.urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()


def database_name(dsn: str) -> str:
    return urllib.parse.urlsplit(dsn).path.lstrip("/")


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.contextmanager
def fresh_vhost() -> Iterator[str]:
    """A new RabbitMQ vhost for one run, so runs never see each other's queues; yields its URL."""
    name = f"lienthong_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        yield f"{RABBITMQ}/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)


def run_wrk(
    url: str,
    token: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    offset: int,
    rate: float | None = None,
    sample: Path = SAMPLE,
) -> dict[str, Any]:
    """POST fresh copies of `sample` (numbered 1234/VP-KSTT, renumbered per request) for `seconds`
    with bench/intake.lua: as fast as the connections go, or paced at `rate` requests/s (one thread
    then, see intake.lua). Returns intake.lua's summary plus wrk's own CPU seconds."""
    if rate is not None and threads != 1:
        raise ValueError("a paced load runs on one wrk thread")
    args = [str(sample), token, str(offset), *([f"{rate:g}"] if rate is not None else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(BENCH / "intake.lua"),
            url,
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary.update(
        connections=connections,
        threads=threads,
        cpu_s=round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
    )
    return summary


def _stat_fields(pid: int | str) -> list[str]:
    # The command name may contain spaces and parentheses: the fields start after the last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads) so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def parent_pid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def server_cpu_seconds(server: int, keep: Callable[[str], bool] = lambda _cmdline: True) -> float:
    """CPU so far of a server process and its live children whose command line `keep` accepts (the
    postmaster and the backends of one database, say). A child that exits between two readings
    takes its CPU with it: fine for pooled connections, wrong for a fork per request."""
    total = cpu_seconds(server)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if parent_pid(int(entry.name)) != server:
                continue
            if keep((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")):
                total += cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def postmaster_pid(database: Postgres) -> int:
    """The PostgreSQL server process behind `database` (the parent of its backend)."""
    return parent_pid(int(database.value("SELECT pg_backend_pid()")))


def rabbitmq_pid() -> int:
    """The RabbitMQ node's (beam.smp) process, as the node itself reports it."""
    answer = subprocess.run(
        ["rabbitmqctl", "-q", "eval", "os:getpid()."], check=True, capture_output=True, text=True
    )
    return int(answer.stdout.strip().strip('"'))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle, since boot (from /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq = (
        int(v) for v in Path("/proc/stat").read_text().split(maxsplit=8)[1:8]
    )
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) since it started or since `reset_peak_rss`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM afresh (Linux ≥ 4.0, own processes), so a peak belongs to one phase."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
