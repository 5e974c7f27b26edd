"""Scale-out (issue 15): two gateways and two workers against one PostgreSQL database and a
three-node RabbitMQ cluster, documents at a fixed rate split across both gateways, and the RabbitMQ
node the hub's processes are connected to stopped in the middle of the load; then a reconciliation.

    .venv/bin/python bench/scale.py                      # 40 documents/s for 60 s, the node stopped at 40%
    .venv/bin/python bench/scale.py --rate 60 --seconds 60 --stop-at 0.5 --out bench/results/scale.json

What runs, all on 127.0.0.1:
- three RabbitMQ nodes of the run's own (tests/support/rabbitmq.py `PrivateNode`: own node names,
  ports and data directories, one Erlang cookie), joined into one cluster before anything declares a
  queue, so that each of the hub's quorum queues has a member on every node (checked);
- a fresh database on the shared PostgreSQL (bench/stack.py), dropped at the end;
- bench/receiver.py, the QLVB of the sample's two recipients (two deliveries per document);
- two `lienthong serve` and two `lienthong worker` (each worker with its outbox relay), every one
  with LIENTHONG_BROKER_URL naming the three nodes in the same order, so that all of them connect to
  the first node;
- two wrk processes (bench/intake.lua, paced), each sending half the rate to one gateway.

At `--stop-at` of the load the node the processes are connected to is stopped (`rabbitmqctl stop`, as
an operator would) and stays down to the end. The harness records when both workers consume again
and where the connections went (the gateways hold no broker connection).

Then it waits until no delivery is queued, sending or retrying, and reconciles over the whole run:
every document answered 2xx is stored; every delivery is `delivered`; the receiver saw every delivery
id, and no unknown one; a delivery id seen more than once is a duplicate, shown with the attempt
numbers it came with; the quorum queues are empty. Exit status 0 only if all of that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
from pipeline import (
    CLIENT_BACKEND,
    RECIPIENTS,
    SENDER,
    code_version,
    delivery_stats,
    progress,
    settle,
    wait_for_quiet,
)
from stack import (
    BENCH,
    LIENTHONG,
    REPO,
    Postgres,
    cpu_seconds,
    database_name,
    free_port,
    fresh_database,
    hub_env,
    lienthong,
    machine_busy_seconds,
    peak_rss_mb,
    postmaster_pid,
    reset_peak_rss,
    run_wrk,
    server_cpu_seconds,
    spawn,
    sqlalchemy_url,
    start_gateway,
    stop,
    wait_for_port,
    wait_until,
)

sys.path.insert(0, str(REPO / "tests"))
from support.rabbitmq import PrivateNode  # the tests' private node, on purpose

from app.broker.rabbitmq import DEAD_QUEUE, queue_name

QLVB_QUEUE = queue_name("qlvb-push")
NODES = 3
WARM_UP_RATE, WARM_UP_SECONDS = 10, 3
IDLE_SECONDS = 10


@dataclass
class Cluster:
    nodes: list[PrivateNode]

    def ctl_json(self, node: PrivateNode, *args: str) -> Any:
        done = node.ctl(*args, "--formatter", "json", timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def beam_pid(self, node: PrivateNode) -> int:
        done = node.ctl("eval", "os:getpid().", timeout=120)
        return int(done.stdout.strip().strip('"'))

    def queues(self, on: PrivateNode) -> dict[str, dict[str, Any]]:
        """The hub's queues as the cluster sees them: type, members, members online, leader."""
        rows = self.ctl_json(
            on,
            "list_queues",
            *("name", "type", "members", "online", "leader", "consumers"),
            *("messages", "messages_ready", "messages_unacknowledged"),
        )
        return {row["name"]: row for row in rows if row["name"].startswith("lienthong.")}

    def connections_by_port(self, on: PrivateNode) -> dict[str, int]:
        """Client connections per node, as the AMQP port they reached (one port per node)."""
        ports = {str(node.port): node.name.split("@")[0] for node in self.nodes}
        rows = self.ctl_json(on, "list_connections", "port")
        return dict(Counter(ports.get(str(row["port"]), str(row["port"])) for row in rows))


def form_cluster(work: Path, cleanup: contextlib.ExitStack) -> Cluster:
    """Three nodes with one cookie; the second and third join the first."""
    cookie = secrets.token_hex(20).upper()
    nodes = [PrivateNode(work / f"rabbitmq-{n}", cookie=cookie) for n in range(1, NODES + 1)]
    for node in nodes:
        node.start(timeout=120)
        cleanup.callback(node.stop)
    for node in nodes[1:]:
        for step in (("stop_app",), ("join_cluster", nodes[0].name), ("start_app",)):
            done = node.ctl(*step, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"{node.name}: rabbitmqctl {' '.join(step)}: {done.stderr.strip()}")
    cluster = Cluster(nodes)
    running = cluster.ctl_json(nodes[0], "cluster_status")["running_nodes"]
    if sorted(running) != sorted(node.name for node in nodes):
        raise RuntimeError(f"the cluster runs {running}, not the three nodes")
    return cluster


@dataclass
class Run:
    work: Path
    cluster: Cluster
    database: Postgres
    database_name: str
    gateways: list[str]  # their URLs
    token: str
    processes: dict[str, Any]  # gateway-1, gateway-2, worker-1, worker-2, receiver
    postmaster: int
    beams: dict[str, int] = field(default_factory=dict)  # node name -> beam.smp pid


def start_hub(work: Path, cluster: Cluster, cleanup: contextlib.ExitStack) -> Run:
    dsn = cleanup.enter_context(fresh_database())
    broker_url = ",".join(node.url for node in cluster.nodes)
    env = hub_env(work, sqlalchemy_url(dsn), broker_url)
    lienthong(env, "db", "upgrade")
    database = Postgres(dsn)
    cleanup.callback(database.close)

    receiver_port = free_port()
    receiver_command = [sys.executable, str(BENCH / "receiver.py"), "--port", str(receiver_port), "--detail"]
    receiver = spawn([*receiver_command, "--out", str(work / "arrivals")], env, work / "receiver.log")
    cleanup.callback(stop, receiver)
    wait_for_port(receiver_port, receiver, "the receiver")
    processes: dict[str, Any] = {"receiver": receiver}
    gateways = []
    for n in (1, 2):  # one after the other: the first makes the signing key and loads the directory
        port = free_port()
        gateway = start_gateway(env, port, work / f"gateway-{n}.log")
        cleanup.callback(stop, gateway)
        processes[f"gateway-{n}"] = gateway
        gateways.append(f"http://127.0.0.1:{port}")
    routed = database.fetch(
        "UPDATE agencies SET endpoint = $1 || code WHERE code = ANY($2::text[]) RETURNING code",
        f"http://127.0.0.1:{receiver_port}/qlvb/",
        list(RECIPIENTS),
    )
    if len(routed) != len(RECIPIENTS):
        raise RuntimeError(f"the demo directory lacks some of {RECIPIENTS}")
    token = lienthong(env, "credential", "create", "--role", "agency", "--agency", SENDER)
    for n in (1, 2):
        worker = spawn([*LIENTHONG, "worker"], env, work / f"worker-{n}.log")
        cleanup.callback(stop, worker)
        processes[f"worker-{n}"] = worker
    run = Run(
        work, cluster, database, database_name(dsn), gateways, token, processes, postmaster_pid(database)
    )
    wait_until(lambda: consumers(cluster.nodes[0].url) == 2, "both workers consuming", timeout=90)
    run.beams = {node.name: cluster.beam_pid(node) for node in cluster.nodes}
    return run


def consumers(url: str) -> int:
    """Consumers of the QLVB queue (a passive declare over AMQP: rabbitmqctl is slow here)."""

    async def ask() -> int:
        connection = await aio_pika.connect(url, timeout=5)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(QLVB_QUEUE, passive=True)
            return queue.declaration_result.consumer_count or 0
        finally:
            await connection.close()

    try:
        return asyncio.run(ask())
    except (TimeoutError, OSError, aio_pika.exceptions.AMQPError):
        return -1


def counters(run: Run, stopped: dict[str, float]) -> dict[str, float]:
    """CPU seconds so far of each process, of PostgreSQL (its own processes and this database's
    backends), of each RabbitMQ node (a stopped node: its last reading) and of the machine."""
    cpu = {name: cpu_seconds(process.pid) for name, process in run.processes.items()}
    cpu["postgresql"] = server_cpu_seconds(
        run.postmaster, lambda cmdline: run.database_name in cmdline or not CLIENT_BACKEND.search(cmdline)
    )
    for n, (name, pid) in enumerate(run.beams.items(), start=1):
        cpu[f"rabbitmq-{n}"] = stopped[name] if name in stopped else server_cpu_seconds(pid)
    cpu["machine"] = machine_busy_seconds()
    return cpu


def idle_cores(run: Run, stopped: dict[str, float]) -> dict[str, float]:
    """Cores each process uses with no load (a RabbitMQ node's Erlang VM is never quite idle)."""
    before = counters(run, stopped)
    time.sleep(IDLE_SECONDS)  # the idle measurement
    after = counters(run, stopped)
    return {name: round((after[name] - before[name]) / IDLE_SECONDS, 3) for name in before}


def stop_the_connected_node(run: Run, after: float, stopped: dict[str, float]) -> dict[str, Any]:
    """`after` seconds into the load, stop the node the processes are connected to, and watch them
    meanwhile and after: when the QLVB queue has fewer consumers than workers and then all of them
    again (seconds from the stop). Only the workers hold broker connections: the relays run in them,
    and a gateway's /readyz says `workers`."""
    time.sleep(after)  # the fault schedule
    cluster = run.cluster
    before = cluster.connections_by_port(cluster.nodes[0])
    victim = max(cluster.nodes, key=lambda node: before.get(node.name.split("@")[0], 0))
    survivor = next(node for node in cluster.nodes if node is not victim)
    stopped[victim.name] = server_cpu_seconds(run.beams[victim.name])
    began = time.time()
    stopping = threading.Thread(target=victim.stop)
    stopping.start()
    workers = sum(name.startswith("worker-") for name in run.processes)
    watched = {"workers": lambda: consumers(survivor.url) == workers}
    away: dict[str, float] = {}
    back: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for name, connected in watched.items():
            if name in back:
                continue
            if not connected():
                away.setdefault(name, round(time.time() - began, 1))
            elif name in away:
                back[name] = round(time.time() - began, 1)
        if not stopping.is_alive() and set(back) == set(away):
            break  # stopped, and whoever was seen away is back (a quick one is not seen away at all)
        time.sleep(0.2)  # polling interval of the watch
    stopping.join()
    progress(f"stopped {victim.name}; away {away}, back {back}")
    return {
        "node": victim.name,
        "at": began,
        "connections_before": before,
        "connections_after": cluster.connections_by_port(survivor),
        "away_from_s": away,
        "back_after_s": back,
        "queues_after": cluster.queues(survivor),
    }


def broker_trouble(work: Path) -> dict[str, int]:
    """What the processes logged about the broker: publishes not confirmed (their outbox rows stay
    due and are published again) and acknowledgements the broker did not take (it redelivers)."""
    workers = "".join(log.read_text(errors="replace") for log in work.glob("worker-*.log"))
    return {
        "publishes_not_confirmed": len(re.findall(r"publish of delivery \S+ not confirmed", workers)),
        "acks_not_taken": sum(int(n) for n in re.findall(r"(\d+) acknowledgement\(s\) not taken", workers)),
    }


def bring_back(cluster: Cluster, name: str, survivor: PrivateNode) -> dict[str, Any]:
    """Once every delivery has settled, start the stopped node again (it rejoins the cluster) and
    wait, with the workers still consuming, until the hub's queues hold no message."""
    node = next(node for node in cluster.nodes if node.name == name)
    began = time.time()
    node.start(timeout=120)

    def empty() -> bool:
        return not any(row["messages"] for row in cluster.queues(survivor).values())

    try:
        wait_until(empty, "the queues empty after the node returned", timeout=120)
        emptied: float | None = round(time.time() - began, 1)
    except RuntimeError:
        emptied = None
    return {"queues_empty_after_s": emptied, "queues": cluster.queues(survivor)}


def load(
    run: Run, rate: float, seconds: int, offset: int, stop_after: float | None, stopped: dict[str, float]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Both wrk processes at rate/2 each (and the node stop, if asked), side by side."""
    share = rate / len(run.gateways)
    connections = max(8, math.ceil(share / 2))
    with ThreadPoolExecutor(max_workers=3) as pool:
        loads = [
            pool.submit(
                run_wrk,
                gateway,
                run.token,
                seconds=seconds,
                connections=connections,
                threads=1,
                offset=offset + n * 10**7,
                rate=share,
            )
            for n, gateway in enumerate(run.gateways)
        ]
        fault = (
            pool.submit(stop_the_connected_node, run, stop_after, stopped) if stop_after is not None else None
        )
        return [future.result() for future in loads], (fault.result() if fault else None)


def around_the_stop(database: Postgres, at: float) -> dict[str, Any]:
    """What the stop did to the flow: documents received and deliveries delivered per second from 10 s
    before to 30 s after it, the longest pause between two deliveries, and the latency (received →
    delivered) of the documents received in the 10 s after it."""
    start = datetime.fromtimestamp(at - 10, UTC)
    end = datetime.fromtimestamp(at + 30, UTC)
    per_second = database.fetch(
        """
        SELECT slot, sum(received)::int AS received, sum(delivered)::int AS delivered
        FROM (SELECT floor(extract(epoch FROM received_at - $1))::int AS slot, 1 AS received, 0 AS delivered
              FROM documents WHERE received_at >= $1 AND received_at < $2
              UNION ALL
              SELECT floor(extract(epoch FROM at - $1))::int, 0, 1
              FROM delivery_events WHERE to_state = 'delivered' AND at >= $1 AND at < $2) AS x
        GROUP BY slot ORDER BY slot
        """,
        start,
        end,
    )
    pause = database.value(
        """
        SELECT max(gap) FROM (SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at))::float8 AS gap
                              FROM delivery_events WHERE to_state = 'delivered' AND at >= $1 AND at < $2) AS x
        """,
        start,
        end,
    )
    latency = database.fetch(
        """
        SELECT count(*) AS n,
               percentile_cont(ARRAY[0.5, 0.99, 1]) WITHIN GROUP (ORDER BY ms) AS ms
        FROM (SELECT (extract(epoch FROM e.at - d.created_at) * 1000)::float8 AS ms
              FROM deliveries d JOIN delivery_events e ON e.delivery_id = d.id AND e.to_state = 'delivered'
              WHERE d.created_at >= $1 AND d.created_at < $2) AS x
        """,
        datetime.fromtimestamp(at, UTC),
        datetime.fromtimestamp(at + 10, UTC),
    )[0]
    seconds = {row["slot"] - 10: (row["received"], row["delivered"]) for row in per_second}
    return {
        "per_second_from_stop": {s: seconds.get(s, (0, 0)) for s in range(-10, 30)},
        "longest_pause_between_deliveries_s": None if pause is None else round(pause, 2),
        "received_in_10s_after": {
            "deliveries": latency["n"],
            **dict(
                zip(("p50_ms", "p99_ms", "max_ms"), [round(v) for v in latency["ms"] or []], strict=False)
            ),
        },
    }


def reconcile(run: Run, answered: int, cluster_node: PrivateNode) -> dict[str, Any]:
    """Over the whole run: documents answered 2xx against documents stored, every delivery delivered,
    the receiver's count of distinct delivery ids, duplicates and their attempt numbers, the queues."""
    deliveries = {row["id"]: row["state"] for row in run.database.fetch("SELECT id, state FROM deliveries")}
    documents = run.database.value("SELECT count(*) FROM documents")
    outcomes = Counter(row["outcome"] for row in run.database.fetch("SELECT outcome FROM attempts"))
    arrivals = [line.split("\t") for line in (run.work / "arrivals").read_text().splitlines()]
    received: dict[str, list[str]] = {}
    for key, _, attempt, status in arrivals:
        if status == "200":
            received.setdefault(key, []).append(attempt)
    duplicates = {key: attempts for key, attempts in received.items() if len(attempts) > 1}
    states = Counter(deliveries.values())
    queues = run.cluster.queues(cluster_node)
    left_in_queues = {name: row["messages"] for name, row in queues.items() if row["messages"]}
    result = {
        "documents_answered_2xx": answered,
        "documents_stored": documents,
        "deliveries": len(deliveries),
        "deliveries_by_state": dict(states),
        "receiver_requests": len(arrivals),
        "receiver_distinct_ids": len(received),
        "never_received": len(set(deliveries) - set(received)),
        "unknown_ids": len(set(received) - set(deliveries)),
        "duplicates": sum(len(attempts) - 1 for attempts in duplicates.values()),
        "duplicates_same_attempt_number": sum(
            len(attempts) - len(set(attempts)) for attempts in duplicates.values()
        ),
        "duplicate_examples": dict(list(duplicates.items())[:5]),
        "attempts": dict(outcomes),
        "messages_left_in_queues": left_in_queues,
    }
    result["ok"] = (
        documents >= answered
        and len(deliveries) == len(RECIPIENTS) * documents
        and states.get("delivered", 0) == len(deliveries)
        and result["never_received"] == 0
        and result["unknown_ids"] == 0
        and not left_in_queues
        and DEAD_QUEUE in queues
    )
    return result


def check_replication(cluster: Cluster) -> dict[str, int]:
    """Every queue of the hub is a quorum queue with a member on each of the three nodes."""
    queues = cluster.queues(cluster.nodes[0])
    members = {name: len(row["members"]) for name, row in queues.items()}
    wrong = {name: row["type"] for name, row in queues.items() if row["type"] != "quorum"}
    if not queues or wrong or set(members.values()) != {NODES}:
        raise RuntimeError(f"the hub's queues are not replicated to the {NODES} nodes: {queues}")
    return members


def measure(rate: float, seconds: int, stop_at: float, work: Path) -> dict[str, Any]:
    stopped: dict[str, float] = {}
    try:
        with contextlib.ExitStack() as cleanup:
            progress("forming the RabbitMQ cluster")
            cluster = form_cluster(work, cleanup)
            progress("starting two gateways, two workers, the receiver")
            run = start_hub(work, cluster, cleanup)
            members = check_replication(cluster)
            progress(f"warm-up, {WARM_UP_RATE}/s for {WARM_UP_SECONDS} s")
            warm_up, _ = load(run, WARM_UP_RATE, WARM_UP_SECONDS, 10**8, None, stopped)
            if settle(run.database, timeout=60):
                raise RuntimeError("the warm-up's deliveries did not settle")
            wait_for_quiet()
            idle = idle_cores(run, stopped)
            for process in run.processes.values():
                reset_peak_rss(process.pid)
            before, wall, start = counters(run, stopped), time.monotonic(), datetime.now(UTC)
            progress(f"{rate:g} documents/s for {seconds} s; the connected node stops at {stop_at:.0%}")
            loads, fault = load(run, rate, seconds, 2 * 10**8, stop_at * seconds, stopped)
            load_end = datetime.now(UTC)
            unsettled = settle(run.database, timeout=120 + 2 * seconds)
            end = datetime.now(UTC)
            after, elapsed = counters(run, stopped), time.monotonic() - wall
            stats = delivery_stats(run.database, start, load_end, end)
            assert fault is not None
            around = around_the_stop(run.database, fault["at"])
            peaks = {name: peak_rss_mb(process.pid) for name, process in run.processes.items()}
            peaks |= {
                f"rabbitmq-{n}": peak_rss_mb(pid)
                for n, (name, pid) in enumerate(run.beams.items(), 1)
                if name not in stopped
            }
            survivor = next(node for node in cluster.nodes if node.name not in stopped)
            fault["queues_once_settled"] = cluster.queues(survivor)
            fault["node_returned"] = bring_back(cluster, fault["node"], survivor)
            for name, process in run.processes.items():
                if name != "receiver":
                    stop(process)
            stop(run.processes["receiver"])  # it writes its arrivals as it exits
            fault["logged"] = broker_trouble(work)
            answered = sum(w["requests"] - w["not_2xx"] for w in [*warm_up, *loads])
            reconciliation = reconcile(run, answered, survivor)
    except BaseException:
        for log in sorted(work.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        raise

    documents = stats["documents"]
    cpu = {name: after[name] - before[name] for name in before if name != "machine"}
    last = stats["last_delivered_at"]
    span = (last - start).total_seconds() if last else math.inf
    return {
        "code": code_version(),
        "started_at": start.isoformat(timespec="seconds"),
        "offered_docs_per_s": rate,
        "seconds": seconds,
        "queue_members": members,
        "wrk": loads,
        "documents": documents,
        "intake_docs_per_s": round(documents / max(w["duration_s"] for w in loads), 1),
        "delivered_docs_per_s": round(stats["delivered"] / len(RECIPIENTS) / span, 1),
        "drain_s": round(max(0.0, (last - load_end).total_seconds()), 2) if last else None,
        "latency_ms": stats["latency_ms"],
        "per_10s": stats["per_10s"],
        "unsettled": unsettled,
        "retried": stats["retried"],
        "node_stop": fault,
        "around_the_stop": around,
        "idle_cores": idle,
        "cpu_s": {name: round(value, 2) for name, value in cpu.items()},
        "cpu_ms_per_doc": {name: round(value * 1000 / max(documents, 1), 2) for name, value in cpu.items()},
        "machine_busy_cores": round((after["machine"] - before["machine"]) / elapsed, 2),
        "other_busy_cores": round((after["machine"] - before["machine"] - sum(cpu.values())) / elapsed, 2),
        "peak_rss_mb": peaks,
        "reconciliation": reconciliation,
    }


def table(result: dict[str, Any]) -> str:
    """The result as the rows of bench/README.md's table."""
    latency = result["latency_ms"]["received_to_delivered"]
    fault, around, r = result["node_stop"], result["around_the_stop"], result["reconciliation"]
    members = set(result["queue_members"].values())
    intake = "; ".join(
        f"gateway {n}: p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms, max {w['max_ms']} ms, "
        f"non-2xx {w['not_2xx']}, late {w['late']}"
        for n, w in enumerate(result["wrk"], 1)
    )
    rows = [
        (
            "offered",
            f"{result['offered_docs_per_s']:g} documents/s for {result['seconds']} s, half to each gateway",
        ),
        (
            "intake / delivered",
            f"{result['intake_docs_per_s']} / {result['delivered_docs_per_s']} documents/s",
        ),
        ("received → delivered", ", ".join(f"{p} {latency[p]} ms" for p in ("p50", "p95", "p99", "max"))),
        ("intake answers (wrk)", intake),
        ("CPU ms per document", _pairs(result["cpu_ms_per_doc"])),
        ("idle cores (no load)", _pairs(result["idle_cores"])),
        ("machine", f"busy {result['machine_busy_cores']} cores, other {result['other_busy_cores']}"),
        ("peak RSS MB", _pairs(result["peak_rss_mb"])),
        ("queues", f"{len(result['queue_members'])} quorum queues, members each: {members}"),
        (
            "node stopped",
            f"{fault['node']}; connections {fault['connections_before']} → {fault['connections_after']}",
        ),
        ("away / back (s from the stop)", f"{fault['away_from_s']} / {fault['back_after_s']}"),
        ("logged by the processes", _pairs(fault["logged"])),
        ("longest pause between deliveries", f"{around['longest_pause_between_deliveries_s']} s"),
        ("documents received in the 10 s after the stop", str(around["received_in_10s_after"])),
        ("documents", f"{r['documents_answered_2xx']} answered 2xx, {r['documents_stored']} stored"),
        ("deliveries", f"{r['deliveries']}: {r['deliveries_by_state']}; unsettled {result['unsettled']}"),
        (
            "receiver",
            f"{r['receiver_requests']} requests, {r['receiver_distinct_ids']} distinct delivery ids, "
            f"never received {r['never_received']}, unknown {r['unknown_ids']}",
        ),
        (
            "duplicates",
            f"{r['duplicates']} ({r['duplicates_same_attempt_number']} with the same attempt number)",
        ),
        ("attempts", _pairs(r["attempts"])),
        ("held in the queues once settled, node still down", _held(fault["queues_once_settled"])),
        (
            "the stopped node started again",
            f"queues empty after {fault['node_returned']['queues_empty_after_s']} s",
        ),
        ("left in the queues at the end", str(r["messages_left_in_queues"] or "none")),
        ("reconciliation", "passed" if r["ok"] else "FAILED"),
    ]
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def _held(queues: dict[str, dict[str, Any]]) -> str:
    held = [
        f"{name}: {row['messages_ready']} ready, {row['messages_unacknowledged']} unacknowledged"
        for name, row in queues.items()
        if row["messages"]
    ]
    return "; ".join(held) or "none"


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=40, help="documents a second, both gateways together")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--stop-at", type=float, default=0.4, help="share of the load at which the node stops"
    )
    parser.add_argument("--out", type=Path, help="default: bench/results/scale-<time>.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (the processes' logs)")
    args = parser.parse_args()
    out = args.out or BENCH / "results" / f"scale-{datetime.now():%Y%m%d-%H%M%S}.json"
    work = Path(tempfile.mkdtemp(prefix="lienthong-scale-"))
    try:
        result = measure(args.rate, args.seconds, args.stop_at, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(table(result) + f"\n\n(written to {out})" + (f"\n(logs in {work})" if args.keep else ""))
    sys.exit(0 if result["reconciliation"]["ok"] else 1)


if __name__ == "__main__":
    main()
