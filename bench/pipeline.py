"""End to end: documents in at the gateway, out at a receiving QLVB, at fixed offered rates and at
full speed, in the production layout and in the embedded one, and bench/bare.py (the bare-bones
pipeline of issue 15) measured with the same harness.

    .venv/bin/python bench/pipeline.py [--mode production|embedded|bare|both|MODE,MODE…] [--rates 50,100,full]
                                       [--seconds 60] [--out bench/results/pipeline-….json]

Each mode gets a fresh PostgreSQL database (and, in production, a fresh RabbitMQ vhost), all dropped
afterwards. The processes: bench/receiver.py (the QLVB endpoint of both recipients of the sample),
one `lienthong serve` and, in production, one `lienthong worker`; in embedded mode the gateway also
runs the dispatcher and the connector workers. After a short warm-up, each rate is one phase: wrk
sends for --seconds (paced, or as fast as 16 connections go for `full`), then the harness waits until
every delivery has settled. Each phase prints one JSON object; the end prints two tables, and --out
gets the whole list. bench/README.md says how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stack import (
    BENCH,
    LIENTHONG,
    REPO,
    SAMPLE,
    Postgres,
    cpu_seconds,
    database_dsn,
    database_name,
    free_port,
    fresh_database,
    fresh_vhost,
    hub_env,
    lienthong,
    machine_busy_seconds,
    peak_rss_mb,
    postmaster_pid,
    rabbitmq_pid,
    reset_peak_rss,
    run_wrk,
    server_cpu_seconds,
    spawn,
    sqlalchemy_url,
    start_gateway,
    stop,
    wait_for_port,
)

from app.delivery.states import DISPATCHABLE

MODES = ("production", "embedded", "bare")
SENDER = "000.00.01.H62"
RECIPIENTS = ("000.00.02.H62", "000.00.03.H62")  # the sample's two To: two deliveries per document
FULL_SPEED_CONNECTIONS = 16
WARM_UP_RATE, WARM_UP_SECONDS = 20, 3
NOISY_CORES = 0.25  # CPU used by neither the stack nor wrk above which a phase was not alone
UNSETTLED = sorted(state.value for state in DISPATCHABLE)
FLOW_COLUMNS = "mode|load|intake doc/s|delivered doc/s|deliveries/s|p50 ms|p95 ms|p99 ms|drain s|not ok"
RESOURCE_COLUMNS = "mode|load|gateway|worker|receiver|postgres|rabbitmq|wrk|busy|other|peak MB gw|wk|rx"
# A PostgreSQL client backend's title: "postgres: 15/main: postgres <database> 127.0.0.1(50944) idle".
CLIENT_BACKEND = re.compile(r"\(\d+\)|\[local\]")


@dataclass
class Hub:
    """The running processes of one mode and what the phases need to drive and read them."""

    mode: str
    url: str
    token: str
    database: Postgres
    database_name: str
    processes: dict[str, subprocess.Popen[bytes]]  # gateway, worker (production), receiver
    servers: dict[str, int]  # postgresql, rabbitmq (production): their main process


def start_hub(mode: str, work: Path, cleanup: contextlib.ExitStack) -> Hub:
    dsn = cleanup.enter_context(fresh_database())
    broker_url = cleanup.enter_context(fresh_vhost()) if mode == "production" else ""
    env = hub_env(work, sqlalchemy_url(dsn), broker_url)
    lienthong(env, "db", "upgrade")
    database = Postgres(dsn)
    cleanup.callback(database.close)

    receiver_port, gateway_port = free_port(), free_port()
    receiver_command = [sys.executable, str(BENCH / "receiver.py"), "--port", str(receiver_port)]
    receiver = spawn([*receiver_command, "--out", str(work / "arrivals")], env, work / "receiver.log")
    cleanup.callback(stop, receiver)
    wait_for_port(receiver_port, receiver, "the receiver")
    gateway = start_gateway(env, gateway_port, work / "gateway.log")
    cleanup.callback(stop, gateway)
    processes = {"gateway": gateway, "receiver": receiver}

    # With an endpoint, routing sends the recipients to qlvb-push (the gateway reads it per request).
    routed = database.fetch(
        "UPDATE agencies SET endpoint = $1 || code WHERE code = ANY($2::text[]) RETURNING code",
        f"http://127.0.0.1:{receiver_port}/qlvb/",
        list(RECIPIENTS),
    )
    if len(routed) != len(RECIPIENTS):
        raise RuntimeError(f"the demo directory lacks some of {RECIPIENTS}")
    token = lienthong(env, "credential", "create", "--role", "agency", "--agency", SENDER)
    if broker_url:
        processes["worker"] = spawn([*LIENTHONG, "worker"], env, work / "worker.log")
        cleanup.callback(stop, processes["worker"])
    servers = {"postgresql": postmaster_pid(database)} | ({"rabbitmq": rabbitmq_pid()} if broker_url else {})
    url = f"http://127.0.0.1:{gateway_port}"
    return Hub(mode, url, token, database, database_name(dsn), processes, servers)


def start_bare(work: Path, cleanup: contextlib.ExitStack) -> Hub:
    """bench/bare.py's gateway and worker on a fresh database and vhost, with the same receiver."""
    dsn = cleanup.enter_context(fresh_database())
    broker_url = cleanup.enter_context(fresh_vhost())
    database = Postgres(dsn)
    cleanup.callback(database.close)
    env = dict(os.environ)
    receiver_port, gateway_port = free_port(), free_port()
    receiver_command = [sys.executable, str(BENCH / "receiver.py"), "--port", str(receiver_port)]
    receiver = spawn([*receiver_command, "--out", str(work / "arrivals")], env, work / "receiver.log")
    cleanup.callback(stop, receiver)
    wait_for_port(receiver_port, receiver, "the receiver")
    token = secrets.token_urlsafe(24)
    bare = [sys.executable, str(BENCH / "bare.py")]
    connections = ["--database", dsn, "--broker", broker_url]
    gateway = start_gateway(
        env,
        gateway_port,
        work / "gateway.log",
        command=[
            *bare,
            "gateway",
            *connections,
            "--port",
            str(gateway_port),
            "--token",
            token,
            "--endpoint",
            f"http://127.0.0.1:{receiver_port}/qlvb/",
        ],
    )
    cleanup.callback(stop, gateway)
    worker = spawn([*bare, "worker", *connections], env, work / "worker.log")
    cleanup.callback(stop, worker)
    processes = {"gateway": gateway, "receiver": receiver, "worker": worker}
    servers = {"postgresql": postmaster_pid(database), "rabbitmq": rabbitmq_pid()}
    url = f"http://127.0.0.1:{gateway_port}"
    return Hub("bare", url, token, database, database_name(dsn), processes, servers)


def drive(hub: Hub, rate: int | None, seconds: int, offset: int) -> dict[str, Any]:
    """wrk for `seconds`: paced at `rate` documents/s, or as fast as it goes if `rate` is None."""
    if rate is None:
        return run_wrk(
            hub.url, hub.token, seconds=seconds, connections=FULL_SPEED_CONNECTIONS, threads=2, offset=offset
        )
    # Each connection then waits about half a second for its next slot: answers may take that long
    # before the schedule slips (and `late` counts it).
    connections = min(256, max(8, math.ceil(rate / 2)))
    return run_wrk(
        hub.url, hub.token, seconds=seconds, connections=connections, threads=1, offset=offset, rate=rate
    )


def seed_history(hub: Hub, deliveries: int) -> None:
    """A working hub's past (bench/seed_deliveries.py: a month of documents, 4 deliveries each),
    all of it settled, then ANALYZE: the plans of a hub in service, not of a new empty database
    whose statistics say its tables are empty while the load fills them."""
    from seed_deliveries import seed

    asyncio.run(seed(database_dsn(hub.database_name), deliveries))
    hub.database.value(
        "UPDATE deliveries SET state = 'delivered', next_attempt_at = NULL, last_error = NULL, "
        "dispatched_at = created_at WHERE state = ANY($1)",
        UNSETTLED,
    )
    hub.database.value("ANALYZE")


def settle(database: Postgres, timeout: float) -> int:
    """Wait until no delivery is queued, sending or retrying; returns how many still were."""
    time.sleep(1)  # requests still in the gateway when wrk stopped are committing
    deadline = time.monotonic() + timeout
    while True:
        pending = int(database.value("SELECT count(*) FROM deliveries WHERE state = ANY($1)", UNSETTLED))
        if pending == 0 or time.monotonic() > deadline:
            return pending
        time.sleep(0.25)


def counters(hub: Hub) -> dict[str, float]:
    """CPU seconds so far: each process of the hub, the servers it uses, the whole machine.
    PostgreSQL counts its own processes and the backends of this run's database, not the backends
    of whatever else uses the server; RabbitMQ is one process for all its vhosts."""
    cpu = {name: cpu_seconds(process.pid) for name, process in hub.processes.items()}
    cpu["postgresql"] = server_cpu_seconds(
        hub.servers["postgresql"],
        lambda cmdline: hub.database_name in cmdline or not CLIENT_BACKEND.search(cmdline),
    )
    if "rabbitmq" in hub.servers:
        cpu["rabbitmq"] = server_cpu_seconds(hub.servers["rabbitmq"])
    cpu["machine"] = machine_busy_seconds()
    return cpu


def committed_transactions(hub: Hub) -> int:
    """Transactions committed in this run's database so far, a statement in autocommit counting as
    one: a measure of round trips. PostgreSQL publishes a backend's counts within a second or so
    (up to 10 s for a backend gone idle), so per phase it is close, not exact."""
    return int(
        hub.database.value("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", hub.database_name)
    )


def delivery_stats(database: Postgres, start: datetime, load_end: datetime, end: datetime) -> dict[str, Any]:
    """What the database says about the phase's documents: counts, states, latency (received →
    delivered, one value per delivery: the document's received_at to its `delivered` event)."""
    documents = database.value(
        "SELECT count(*) FROM documents WHERE received_at >= $1 AND received_at < $2", start, end
    )
    by_state = database.fetch(
        "SELECT state, count(*) AS n, count(*) FILTER (WHERE attempt_count > 1) AS retried "
        "FROM deliveries WHERE created_at >= $1 AND created_at < $2 GROUP BY state",
        start,
        end,
    )
    states = {row["state"]: row["n"] for row in by_state}
    retried = sum(row["retried"] for row in by_state)
    delivered = database.fetch(
        """
        SELECT count(*) AS n, count(*) FILTER (WHERE at <= $3) AS during_load, max(at) AS last_at,
               percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY total) AS total,
               percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY waiting) AS waiting,
               percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY sending) AS sending
        FROM (SELECT e.at,
                     (extract(epoch FROM e.at - d.created_at) * 1000)::float8 AS total,
                     (extract(epoch FROM claimed - d.created_at) * 1000)::float8 AS waiting,
                     (extract(epoch FROM e.at - claimed) * 1000)::float8 AS sending
              FROM deliveries d
              JOIN delivery_events e ON e.delivery_id = d.id AND e.to_state = 'delivered'
              CROSS JOIN LATERAL (SELECT max(s.at) AS claimed FROM delivery_events s
                                  WHERE s.delivery_id = d.id AND s.to_state = 'sending') AS c
              WHERE d.created_at >= $1 AND d.created_at < $2) AS x
        """,
        start,
        end,
        load_end,
    )[0]

    # Whether a rate was sustained: documents received and deliveries delivered per 10 s of the phase.
    timeline = database.fetch(
        """
        SELECT slot, sum(received)::int AS received, sum(delivered)::int AS delivered
        FROM (SELECT floor(extract(epoch FROM received_at - $1) / 10)::int AS slot, 1 AS received,
                     0 AS delivered
              FROM documents WHERE received_at >= $1 AND received_at < $2
              UNION ALL
              SELECT floor(extract(epoch FROM e.at - $1) / 10)::int, 0, 1
              FROM deliveries d JOIN delivery_events e ON e.delivery_id = d.id
              WHERE e.to_state = 'delivered' AND d.created_at >= $1 AND d.created_at < $2) AS x
        GROUP BY slot ORDER BY slot
        """,
        start,
        end,
    )

    def percentiles(values: list[float] | None) -> dict[str, float | None]:
        return dict(zip(("p50", "p95", "p99", "max"), [_round(v) for v in values or [None] * 4], strict=True))

    return {
        "documents": documents,
        "states": states,
        "retried": retried,
        "delivered": delivered["n"],
        "delivered_during_load": delivered["during_load"],
        "last_delivered_at": delivered["last_at"],
        "per_10s": {
            "documents_received": [row["received"] for row in timeline],
            "deliveries_delivered": [row["delivered"] for row in timeline],
        },
        # received → delivered, split where the worker claims the delivery (its `sending` event):
        # before it, the relay, the broker and the worker's queue; after it, the claim, the POST and
        # the batch's other POSTs.
        "latency_ms": {
            "received_to_delivered": percentiles(delivered["total"]),
            "received_to_claimed": percentiles(delivered["waiting"]),
            "claimed_to_delivered": percentiles(delivered["sending"]),
        },
    }


def wait_for_quiet(limit: float = 180) -> None:
    """Before a phase, wait (a while) until other work on the machine is done: tests that others
    run here would take the cores the stack is being measured on."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_busy_seconds()
        time.sleep(2)
        busy = (machine_busy_seconds() - before) / 2
        if busy < NOISY_CORES:
            return
        if time.monotonic() > deadline:
            progress(f"warning: the machine stayed busy with other work ({busy:.2f} cores); going on")
            return
        progress(f"the machine is busy with other work ({busy:.2f} cores); waiting")


def start_profilers(hub: Hub, directory: Path, label: str, seconds: int) -> list[subprocess.Popen[bytes]]:
    """py-spy on the gateway and the worker for the load's `seconds`: on-CPU samples of every thread,
    100/s, without pausing the process, as collapsed stacks in DIRECTORY/LABEL-<process>.txt (read
    them with bench/profile.py)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    options = ["--rate", "100", "--nonblocking", "--format", "raw", "--duration", str(seconds), "--output"]
    return [
        subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(hub.processes[name].pid),
                *options,
                str(directory / f"{label}-{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("gateway", "worker")
        if name in hub.processes
    ]


def run_phase(
    hub: Hub, rate: int | None, seconds: int, offset: int, profile: Path | None = None
) -> tuple[dict[str, Any], tuple[float, float]]:
    """One rate: load, settle, measure. Returns the result and its wall-clock window (unix time)."""
    for process in hub.processes.values():
        reset_peak_rss(process.pid)
    before, wall, transactions = counters(hub), time.monotonic(), committed_transactions(hub)
    start = datetime.now(UTC)
    label = f"{hub.mode}-{rate or 'full'}"
    profilers = start_profilers(hub, profile, label, seconds) if profile else []
    load = drive(hub, rate, seconds, offset)
    load_end = datetime.now(UTC)
    for profiler in profilers:
        profiler.wait(timeout=60)
    unsettled = settle(hub.database, timeout=120 + 2 * seconds)
    end = datetime.now(UTC)
    after, elapsed = counters(hub), time.monotonic() - wall
    transactions = committed_transactions(hub) - transactions
    stats = delivery_stats(hub.database, start, load_end, end)

    documents = stats["documents"]
    per_document = len(RECIPIENTS)
    last = stats["last_delivered_at"]
    span = (last - start).total_seconds() if last else math.inf
    cpu = {name: after[name] - before[name] for name in before if name != "machine"}
    cpu["wrk"] = load["cpu_s"]
    # Everything else the machine did meanwhile: the kernel's share of loopback networking, the
    # harness, and any other work on the machine (which makes the phase's numbers suspect).
    other = after["machine"] - before["machine"] - sum(cpu.values())
    result = {
        "mode": hub.mode,
        "load": f"{rate}/s" if rate else "full",
        "started_at": start.isoformat(timespec="seconds"),
        "code": code_version(),
        # Production runs autovacuum; without it the deliveries' updates leave their dead versions
        # in every index, and PostgreSQL's figure (and the hub's throughput) is not one to plan with.
        "postgres_autovacuum": hub.database.value("SHOW autovacuum"),
        "offered_docs_per_s": rate,
        "seconds": seconds,
        "document_bytes": SAMPLE.stat().st_size,
        "deliveries_per_document": per_document,
        "wrk": load,
        "documents": documents,
        "intake_docs_per_s": round(documents / load["duration_s"], 1),
        "delivered_docs_per_s": round(stats["delivered"] / per_document / span, 1),
        "delivered_deliveries_per_s": round(stats["delivered"] / span, 1),
        "delivered_during_load_docs_per_s": round(
            stats["delivered_during_load"] / per_document / load["duration_s"], 1
        ),
        "drain_s": round(max(0.0, (last - load_end).total_seconds()), 2) if last else None,
        "latency_ms": stats["latency_ms"],
        "per_10s": stats["per_10s"],
        "deliveries": stats["states"],
        "unsettled": unsettled,
        "retried": stats["retried"],
        "cpu_s": {name: round(value, 2) for name, value in cpu.items()},
        "cpu_ms_per_doc": {name: round(value * 1000 / max(documents, 1), 2) for name, value in cpu.items()},
        "machine_busy_cores": round((after["machine"] - before["machine"]) / elapsed, 2),
        "other_busy_cores": round(other / elapsed, 2),
        "phase_s": round(elapsed, 1),
        "pg_transactions_per_doc": round(transactions / max(documents, 1), 1),
        "peak_rss_mb": {name: peak_rss_mb(process.pid) for name, process in hub.processes.items()},
    }
    return result, (start.timestamp(), end.timestamp())


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def count_arrivals(path: Path, results: list[dict[str, Any]], windows: list[tuple[float, float]]) -> None:
    """What the receiver saw in each phase: requests, and distinct deliveries (a repeat is a redelivery)."""
    arrivals = [line.split("\t") for line in path.read_text().splitlines()]
    for result, (start, end) in zip(results, windows, strict=True):
        keys = [key for key, at in arrivals if start <= float(at) < end]
        result["receiver"] = {"requests": len(keys), "distinct_deliveries": len(set(keys))}


def run_mode(
    mode: str, rates: list[int | None], seconds: int, profile: Path | None = None, history: int = 0
) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix=f"lienthong-pipeline-{mode}-"))
    try:
        with contextlib.ExitStack() as cleanup:
            progress(f"{mode}: starting the stack")
            hub = start_bare(work, cleanup) if mode == "bare" else start_hub(mode, work, cleanup)
            if history and mode != "bare":
                progress(f"{mode}: seeding a history of {history:,} settled deliveries")
                seed_history(hub, history)
            progress(f"{mode}: warm-up, {WARM_UP_RATE}/s for {WARM_UP_SECONDS} s")
            drive(hub, WARM_UP_RATE, WARM_UP_SECONDS, offset=10**8)
            if settle(hub.database, timeout=60):
                raise RuntimeError("the warm-up's deliveries did not settle")
            results, windows = [], []
            for number, rate in enumerate(rates, start=2):
                progress(f"{mode}: {f'{rate}/s' if rate else 'full speed'} for {seconds} s")
                wait_for_quiet()
                result, window = run_phase(hub, rate, seconds, offset=number * 10**8, profile=profile)
                result["history_deliveries"] = history if mode != "bare" else 0
                print(json.dumps(result, default=str), flush=True)
                if result["other_busy_cores"] > NOISY_CORES:
                    progress(f"warning: other work took {result['other_busy_cores']} cores; run again")
                if result["postgres_autovacuum"] != "on":
                    progress("warning: this PostgreSQL runs without autovacuum, unlike production")
                results.append(result)
                windows.append(window)
            stop(hub.processes["receiver"])  # it writes its arrivals as it exits
            count_arrivals(work / "arrivals", results, windows)
        return results
    except BaseException:
        for log in sorted(work.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def code_version() -> str:
    """The commit measured, `+changes` if the hub's code differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", "app", "connectors", "migrations")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def tables(results: list[dict[str, Any]]) -> str:
    """Throughput and latency, then resources: one line per mode and load."""
    flow = [
        [
            r["mode"],
            r["load"],
            r["intake_docs_per_s"],
            r["delivered_docs_per_s"],
            r["delivered_deliveries_per_s"],
            *(r["latency_ms"]["received_to_delivered"][p] for p in ("p50", "p95", "p99")),
            r["drain_s"],
            r["unsettled"] + r["deliveries"].get("failed", 0) + r["wrk"]["not_2xx"],
        ]
        for r in results
    ]
    resources = [
        [
            r["mode"],
            r["load"],
            *(r["cpu_ms_per_doc"].get(name) for name in ("gateway", "worker", "receiver", "postgresql")),
            *(r["cpu_ms_per_doc"].get(name) for name in ("rabbitmq", "wrk")),
            r["machine_busy_cores"],
            r["other_busy_cores"],
            *(r["peak_rss_mb"].get(name) for name in ("gateway", "worker", "receiver")),
        ]
        for r in results
    ]
    return "\n".join(
        [
            *_render(
                FLOW_COLUMNS.split("|"),
                flow,
            ),
            "",
            "CPU ms per document; busy = cores the machine used, other = of them not by the processes listed",
            *_render(
                RESOURCE_COLUMNS.split("|"),
                resources,
            ),
        ]
    )


def _render(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [
        header,
        *[
            [
                "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
                for value in row
            ]
            for row in rows
        ],
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]


def parse_modes(text: str) -> list[str]:
    modes = ["production", "embedded"] if text == "both" else text.split(",")
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(MODES)}")
    return modes


def parse_rates(text: str) -> list[int | None]:
    return [None if part.strip() == "full" else int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode",
        type=parse_modes,
        default=parse_modes("both"),
        help="production, embedded, bare (bench/bare.py), or a list with commas; both: production,embedded",
    )
    parser.add_argument("--rates", type=parse_rates, default=parse_rates("50,full"), help="e.g. 50,100,full")
    parser.add_argument("--seconds", type=int, default=60, help="load per rate")
    parser.add_argument("--out", type=Path, help="default: bench/results/pipeline-<time>.json")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="N: seed N settled deliveries (a month's past) into the hub's database first",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="DIR: py-spy the gateway and the worker during each load (bench/profile.py)",
    )
    args = parser.parse_args()
    out = args.out or BENCH / "results" / f"pipeline-{datetime.now():%Y%m%d-%H%M%S}.json"

    results = []
    for mode in args.mode:
        results += run_mode(mode, args.rates, args.seconds, args.profile, args.history)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("\n" + tables(results) + f"\n\n(written to {out})")


if __name__ == "__main__":
    main()
