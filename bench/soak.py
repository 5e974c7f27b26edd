"""The chaos soak (issue 10): the production layout on loopback, documents at a paced rate, and every
fault the delivery machinery must ride out, then a reconciliation that says whether it did.

    .venv/bin/python bench/soak.py                                   # 20,000 documents at 20/s
    .venv/bin/python bench/soak.py --documents 1000 --rate 20 --kill-every 0   # the short version

What runs, all on 127.0.0.1 and all private to the run (nothing shared is disturbed):
- a PostgreSQL cluster made with `initdb` on a free port (tests/support/postgres.py), and a RabbitMQ
  node of its own (tests/support/rabbitmq.py `PrivateNode`);
- `lienthong serve` (the gateway and its relay) and two `lienthong worker` processes;
- bench/receiver.py as the QLVB of both recipients, answering 503 to 20% of the requests and
  answering 5% only after twice the hub's push timeout;
- a Python client that submits documents with two recipients at `--rate` per second, and, as an
  agency's software should, sends the same bytes again after a 503 (honouring Retry-After) or a
  dropped connection.

The faults, spread over the load: a worker SIGKILLed and restarted every `--kill-every` seconds (0:
once), a worker SIGSTOPped for longer than its lease and then resumed, RabbitMQ restarted once,
PostgreSQL stopped for `--outage` seconds once, the connector's queue purged once.

The reconciliation, once nothing is queued, sending or retrying any more: every delivery of every
accepted document is `delivered` (0 failed, 0 stuck, 0 lost); every history is one unbroken chain that
never leaves `delivered`; the exchange log tells the same transitions; every request the receiver saw
carries the idempotency key of a known delivery. The exit status is 0 only if all of that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from stack import (
    BENCH,
    LIENTHONG,
    REPO,
    free_port,
    hub_env,
    lienthong,
    spawn,
    start_gateway,
    stop,
    wait_for_port,
)

sys.path.insert(0, str(REPO / "tests"))
from support.postgres import PrivatePostgres  # the tests' private servers, on purpose
from support.rabbitmq import PrivateNode

from app.broker.rabbitmq import queue_name
from app.edxml import DocumentSpec, build_document

SENDER = "000.00.01.H62"
RECIPIENTS = ("000.00.02.H62", "000.00.03.H62")
UNSETTLED = ("queued", "sending", "retrying")
SETTLED_ENDS = ("delivered", "discarded")
CONSUMERS_TIMEOUT_SECONDS = 300
FLOWING = 100  # deliveries delivered before the faults' clock starts


@dataclass
class Plan:
    documents: int = 20_000
    rate: float = 20.0
    kill_every: float = 10.0  # seconds between worker kills; 0: one kill
    outage: float = 12.0  # seconds PostgreSQL stays down
    lease: float = 20.0
    unclaimed: float = 30.0
    push_timeout: float = 4.0
    workers: int = 2
    drain_timeout: float = 900.0


@dataclass
class Intake:
    accepted: dict[str, list[str]] = field(default_factory=dict)  # document id -> its delivery ids
    answers: Counter[int] = field(default_factory=Counter)
    dropped_connections: int = 0
    refused: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


@dataclass
class Faults:
    log: list[tuple[float, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.time)

    def note(self, what: str, detail: str = "") -> None:
        self.counts[what] += 1
        self.log.append((round(time.time() - self.started, 1), f"{what} {detail}".strip()))
        print(f"[{self.log[-1][0]:7.1f} s] {self.log[-1][1]}", flush=True)


class Workers:
    """The `lienthong worker` processes, each restartable."""

    def __init__(self, env: dict[str, str], work: Path, count: int) -> None:
        self.env = env
        self.work = work
        self.started = Counter[int]()
        self.processes = [self._spawn(n) for n in range(count)]
        self.frozen: set[int] = set()

    def _spawn(self, n: int) -> subprocess.Popen[bytes]:
        self.started[n] += 1
        return spawn([*LIENTHONG, "worker"], self.env, self.work / f"worker-{n}-{self.started[n]}.log")

    def kill_and_restart(self, n: int) -> None:
        self.processes[n].send_signal(signal.SIGKILL)
        self.processes[n].wait()
        self.processes[n] = self._spawn(n)

    def signal(self, n: int, sig: signal.Signals) -> None:
        self.processes[n].send_signal(sig)

    def stop_all(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGCONT)
            stop(process)


def document(number: int, run: str) -> bytes:
    return build_document(
        DocumentSpec(
            sender=SENDER,
            recipients=list(RECIPIENTS),
            code_number=str(number),
            code_notation=f"SOAK-{run}",
            subject="V/v kiểm thử sức chịu lỗi của trục liên thông",
            promulgation_date=date(2026, 12, 2),
            attachments=[("Văn bản.pdf", "application/pdf", b"%PDF-1.4 soak")],
        )
    )


async def wait_for_consumers(node: PrivateNode, count: int) -> None:
    """Until `count` workers consume the QLVB queue: faults before that would hit nothing. (Asked
    over AMQP: `rabbitmqctl` starts an Erlang VM per call, too slow on a busy machine.)"""
    deadline = time.monotonic() + CONSUMERS_TIMEOUT_SECONDS
    connection = await aio_pika.connect(node.url)
    try:
        channel = await connection.channel()
        while True:
            try:
                queue = await channel.declare_queue(queue_name("qlvb-push"), passive=True)
                consumers = queue.declaration_result.consumer_count or 0
            except aio_pika.exceptions.ChannelClosed:  # not declared yet: no worker has started
                channel = await connection.channel()
                consumers = 0
            if consumers >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not consume within {CONSUMERS_TIMEOUT_SECONDS:g} s")
            await asyncio.sleep(0.5)  # polling interval of the wait
    finally:
        await connection.close()


async def submit(url: str, token: str, plan: Plan, intake: Intake) -> None:
    """Documents at `plan.rate` a second; each one sent again after a 503 or a dropped connection."""
    run = f"{int(time.time())}"
    in_flight = asyncio.Semaphore(64)
    loop = asyncio.get_running_loop()

    async def one(client: httpx.AsyncClient, number: int) -> None:
        body = document(number, run)
        try:
            while True:
                try:
                    response = await client.post(
                        f"{url}/api/v1/documents",
                        content=body,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
                    )
                except httpx.TransportError:
                    intake.dropped_connections += 1
                    await asyncio.sleep(1)  # an agency's client waits a moment before sending again
                    continue
                intake.answers[response.status_code] += 1
                if response.status_code in (200, 201):
                    receipt = response.json()
                    intake.accepted[receipt["id"]] = [d["id"] for d in receipt["deliveries"]]
                    return
                if response.status_code == 503:
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                intake.refused.append(f"{response.status_code}: {response.text[:200]}")
                return
        finally:
            in_flight.release()

    intake.started = time.time()
    start = loop.time()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        tasks = []
        for number in range(plan.documents):
            await asyncio.sleep(max(0.0, start + number / plan.rate - loop.time()))  # the schedule
            await in_flight.acquire()
            tasks.append(asyncio.create_task(one(client, number)))
        await asyncio.gather(*tasks)
    intake.ended = time.time()


async def kill_workers(
    plan: Plan, workers: Workers, node: PrivateNode, faults: Faults, load_seconds: float
) -> None:
    """SIGKILL a worker (never the frozen one) and restart it, `kill_every` seconds after the previous
    replacement consumes again (a kill every `kill_every` seconds while restarts are quick), until
    the load ends; or once, at 30% of the load."""
    begun = time.monotonic()
    if not plan.kill_every:
        await asyncio.sleep(load_seconds * 0.3)  # the fault schedule
    victim = 0
    while True:
        if plan.kill_every:
            await asyncio.sleep(plan.kill_every)  # the fault schedule
            if time.monotonic() - begun > load_seconds:
                return
        if victim in workers.frozen:
            victim = (victim + 1) % len(workers.processes)
        await asyncio.to_thread(workers.kill_and_restart, victim)
        faults.note("worker killed", f"(worker {victim}, SIGKILL, restarted)")
        victim = (victim + 1) % len(workers.processes)
        if not plan.kill_every:
            return
        await until_consuming(node, len(workers.processes))


async def until_consuming(node: PrivateNode, count: int) -> None:
    """`wait_for_consumers`, riding out a broker that is restarting meanwhile."""
    deadline = time.monotonic() + CONSUMERS_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            await wait_for_consumers(node, count)
            return
        except (OSError, aio_pika.exceptions.AMQPError):
            await asyncio.sleep(1)  # the broker is away: ask again


async def freeze_a_worker(plan: Plan, workers: Workers, faults: Faults) -> None:
    frozen = len(workers.processes) - 1
    workers.frozen.add(frozen)
    workers.signal(frozen, signal.SIGSTOP)
    faults.note(
        "worker frozen", f"(worker {frozen}, SIGSTOP for {plan.lease + 10:g} s, lease {plan.lease:g} s)"
    )
    await asyncio.sleep(plan.lease + 10)  # frozen past its lease
    workers.signal(frozen, signal.SIGCONT)
    workers.frozen.discard(frozen)
    faults.note("worker resumed", f"(worker {frozen}, SIGCONT)")


async def restart_rabbitmq(node: PrivateNode, faults: Faults) -> None:
    down = time.monotonic()
    await asyncio.to_thread(node.stop)
    await asyncio.to_thread(node.start)
    faults.note("rabbitmq restarted", f"(down {time.monotonic() - down:.1f} s)")


async def restart_postgresql(plan: Plan, postgres: PrivatePostgres, faults: Faults) -> None:
    down = time.monotonic()
    await asyncio.to_thread(postgres.stop)
    await asyncio.sleep(plan.outage)  # the outage
    await asyncio.to_thread(postgres.start)
    faults.note("postgresql restarted", f"(down {time.monotonic() - down:.1f} s)")


async def purge_the_queue(node: PrivateNode, faults: Faults) -> None:
    connection = await aio_pika.connect(node.url)
    try:
        channel = await connection.channel()
        deadline = time.monotonic() + 60
        # Purge when messages wait (workers that keep up leave the queue empty most of the time).
        while time.monotonic() < deadline:
            queue = await channel.declare_queue(queue_name("qlvb-push"), passive=True)
            if queue.declaration_result.message_count:
                break
            await asyncio.sleep(0.1)  # polling interval of the wait
        purged = await queue.purge()
    finally:
        await connection.close()
    faults.note("queue purged", f"({purged.message_count} messages)")


async def big_faults(
    plan: Plan,
    workers: Workers,
    node: PrivateNode,
    postgres: PrivatePostgres,
    faults: Faults,
    load_seconds: float,
) -> None:
    """One each, one after the other so that each is seen alone: a worker frozen past its lease (at
    10% of the load), PostgreSQL down (at 35%, or once the frozen worker's deliveries have been
    taken over and it has resumed), RabbitMQ restarted (at 55%, or after that), the queue purged (at
    80%, or once RabbitMQ is back)."""
    begun = time.monotonic()

    async def at(share: float) -> None:
        await asyncio.sleep(max(0.0, load_seconds * share - (time.monotonic() - begun)))  # the schedule

    await at(0.10)
    await freeze_a_worker(plan, workers, faults)
    await at(0.35)
    await restart_postgresql(plan, postgres, faults)
    await at(0.55)
    await restart_rabbitmq(node, faults)
    await at(0.80)
    await purge_the_queue(node, faults)


async def delivered(dsn: str) -> int:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM deliveries WHERE state = 'delivered'"))
    finally:
        await connection.close()


async def unsettled(dsn: str) -> int:
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return -1  # away: not settled as far as we know
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM deliveries WHERE state = ANY($1)", UNSETTLED)
        )
    finally:
        await connection.close()


async def reconcile(dsn: str, intake: Intake, arrivals_file: Path) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        deliveries = {
            r["id"]: r for r in await connection.fetch("SELECT id, document_id, state FROM deliveries")
        }
        events: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        for r in await connection.fetch(
            "SELECT delivery_id, from_state, to_state FROM delivery_events ORDER BY id"
        ):
            events[r["delivery_id"]].append((r["from_state"], r["to_state"]))
        logged: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        for r in await connection.fetch(
            "SELECT delivery_id, detail FROM exchange_log WHERE event = 'delivery-state' ORDER BY id"
        ):
            detail = json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
            logged[r["delivery_id"]].append((detail["from_state"], detail["to_state"]))
        outcomes = Counter(r["outcome"] for r in await connection.fetch("SELECT outcome FROM attempts"))
        last_delivered = await connection.fetchval(
            "SELECT max(at) FROM delivery_events WHERE to_state = 'delivered'"
        )
    finally:
        await connection.close()

    states = Counter(r["state"] for r in deliveries.values())
    accepted = {d for ids in intake.accepted.values() for d in ids}
    lost = sorted(accepted - set(deliveries))
    short = [doc for doc, ids in intake.accepted.items() if len(ids) != len(RECIPIENTS)]
    problems: list[str] = []
    for key, row in deliveries.items():
        chain = events[key]
        if not chain or chain[0] != (None, "queued"):
            problems.append(f"{key}: does not start queued")
            continue
        for (_, before), (after_from, after_to) in pairwise(chain):
            if after_from != before or before in SETTLED_ENDS:
                problems.append(f"{key}: {after_from} -> {after_to} recorded while it was {before}")
        if chain[-1][1] != row["state"]:
            problems.append(f"{key}: history ends {chain[-1][1]}, the delivery is {row['state']}")
        if logged[key] != chain[1:]:
            problems.append(f"{key}: the exchange log disagrees with the history")

    text = await asyncio.to_thread(arrivals_file.read_text)
    arrivals = [line.split("\t") for line in text.splitlines()]
    received = Counter(key for key, _, _, status in arrivals if status == "200")
    unknown = sorted({key for key, *_ in arrivals} - set(deliveries))
    duplicates = sum(count - 1 for count in received.values() if count > 1)
    never_received = sorted(accepted - set(received))
    drain = (last_delivered.timestamp() - intake.ended) if last_delivered else None
    ok = (
        not lost
        and not short
        and not intake.refused
        and states.get("delivered", 0) == len(deliveries) == len(accepted)
        and not problems
        and not unknown
        and not never_received
    )
    return {
        "ok": ok,
        "documents": {"submitted": sum(intake.answers.values()), "accepted": len(intake.accepted)},
        "intake_answers": dict(intake.answers),
        "intake_dropped_connections": intake.dropped_connections,
        "intake_refused": intake.refused[:5],
        "deliveries": {
            "total": len(deliveries),
            "delivered": states.get("delivered", 0),
            "failed": states.get("failed", 0),
            "stuck": sum(states.get(s, 0) for s in UNSETTLED),
            "lost": len(lost) + len(short),
        },
        "attempts": dict(outcomes),
        "receiver": {
            "requests": len(arrivals),
            "answered_503": sum(1 for *_, status in arrivals if status == "503"),
            "received": sum(received.values()),
            "duplicates": duplicates,
            "unknown_keys": len(unknown),
            "never_received": len(never_received),
        },
        "history_problems": len(problems),
        "history_examples": problems[:5],
        "load_seconds": round(intake.ended - intake.started, 1),
        "drain_seconds": None if drain is None else round(drain, 1),
    }


async def soak(plan: Plan, work: Path) -> dict[str, Any]:
    faults = Faults()
    intake = Intake()
    with contextlib.ExitStack() as cleanup:
        postgres = PrivatePostgres(durable=True)
        cleanup.callback(postgres.close)
        postgres.start()
        node = PrivateNode(work / "rabbitmq")
        node.start()
        cleanup.callback(node.stop)
        env = hub_env(work, postgres.url(), node.url) | {
            "LIENTHONG_DELIVERY_LEASE_SECONDS": str(plan.lease),
            "LIENTHONG_DELIVERY_UNCLAIMED_SECONDS": str(plan.unclaimed),
            "LIENTHONG_RETRY_BASE_SECONDS": "1",
            "LIENTHONG_RETRY_CAP_SECONDS": "20",
            "LIENTHONG_PUSH_TIMEOUT_SECONDS": str(plan.push_timeout),
            "LIENTHONG_WORKER_CONCURRENCY": "32",
        }
        lienthong(env, "db", "upgrade")

        receiver_port, gateway_port = free_port(), free_port()
        arrivals = work / "arrivals"
        receiver = spawn(
            [
                sys.executable,
                str(BENCH / "receiver.py"),
                *("--port", str(receiver_port), "--out", str(arrivals), "--detail"),
                *("--unavailable", "0.2", "--hang", "0.05", "--hang-seconds", str(plan.push_timeout * 2)),
            ],
            env,
            work / "receiver.log",
        )
        cleanup.callback(stop, receiver)
        wait_for_port(receiver_port, receiver, "the receiver")
        gateway = start_gateway(env, gateway_port, work / "gateway.log")
        cleanup.callback(stop, gateway)
        connection = await asyncpg.connect(postgres.admin_dsn)
        await connection.execute(
            "UPDATE agencies SET endpoint = $1 WHERE code = ANY($2::text[])",
            f"http://127.0.0.1:{receiver_port}/qlvb",
            list(RECIPIENTS),
        )
        await connection.close()
        token = lienthong(env, "credential", "create", "--role", "agency", "--agency", SENDER)
        workers = Workers(env, work, plan.workers)
        cleanup.callback(workers.stop_all)
        await wait_for_consumers(node, plan.workers)

        load_seconds = plan.documents / plan.rate
        print(
            f"soak: {plan.documents} documents at {plan.rate:g}/s (~{load_seconds:.0f} s); work in {work}",
            flush=True,
        )
        loading = asyncio.create_task(submit(f"http://127.0.0.1:{gateway_port}", token, plan, intake))
        # The faults' clock starts once deliveries flow: a fault before that would hit nothing.
        while not loading.done():
            if await delivered(postgres.admin_dsn) >= FLOWING:
                break
            await asyncio.sleep(0.5)  # polling interval of the wait
        faults.started = time.time()
        remaining = max(load_seconds - (faults.started - intake.started), load_seconds / 2)
        chaos = [
            asyncio.create_task(kill_workers(plan, workers, node, faults, remaining)),
            asyncio.create_task(big_faults(plan, workers, node, postgres, faults, remaining)),
        ]
        await loading
        await asyncio.gather(*chaos)
        print(f"soak: load done ({len(intake.accepted)} accepted); draining", flush=True)
        deadline = time.monotonic() + plan.drain_timeout
        while (left := await unsettled(postgres.admin_dsn)) != 0:
            if time.monotonic() > deadline:
                print(f"soak: {left} deliveries still unsettled after {plan.drain_timeout:g} s", flush=True)
                break
            await asyncio.sleep(1)  # polling interval of the drain
        workers.stop_all()
        stop(gateway)
        stop(receiver)  # writes the arrivals
        result = await reconcile(postgres.admin_dsn, intake, arrivals)
    result["faults"] = dict(faults.counts)
    result["fault_log"] = faults.log
    result["plan"] = asdict(plan)
    return result


def table(result: dict[str, Any]) -> str:
    d, r, f = result["deliveries"], result["receiver"], result["faults"]
    rows = [
        ("documents accepted", f"{result['documents']['accepted']:,}"),
        ("intake answers", ", ".join(f"{k}: {v:,}" for k, v in sorted(result["intake_answers"].items()))),
        (
            "deliveries",
            f"{d['total']:,} ({d['delivered']:,} delivered, {d['failed']} failed, "
            f"{d['stuck']} stuck, {d['lost']} lost)",
        ),
        ("receiver requests", f"{r['requests']:,} ({r['answered_503']:,} answered 503)"),
        ("duplicates at the receiver", f"{r['duplicates']:,} (unknown keys: {r['unknown_keys']})"),
        ("attempts", ", ".join(f"{k}: {v:,}" for k, v in sorted(result["attempts"].items(), key=str))),
        ("faults injected", ", ".join(f"{k}: {v}" for k, v in sorted(f.items()))),
        ("histories not truthful", str(result["history_problems"])),
        ("load / drain", f"{result['load_seconds']} s / {result['drain_seconds']} s"),
        ("reconciliation", "passed" if result["ok"] else "FAILED"),
    ]
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = Plan()
    parser.add_argument("--documents", type=int, default=defaults.documents)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="documents a second")
    parser.add_argument("--kill-every", type=float, default=defaults.kill_every, help="seconds; 0: one kill")
    parser.add_argument("--outage", type=float, default=defaults.outage, help="seconds PostgreSQL is down")
    parser.add_argument("--lease", type=float, default=defaults.lease)
    parser.add_argument("--unclaimed", type=float, default=defaults.unclaimed)
    parser.add_argument("--drain-timeout", type=float, default=defaults.drain_timeout)
    parser.add_argument("--out", type=Path, help="write the result (JSON) here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    plan = Plan(
        documents=args.documents,
        rate=args.rate,
        kill_every=args.kill_every,
        outage=args.outage,
        lease=args.lease,
        unclaimed=args.unclaimed,
        drain_timeout=args.drain_timeout,
    )
    work = Path(tempfile.mkdtemp(prefix="lienthong-soak-"))
    result = asyncio.run(soak(plan, work))
    result["work"] = str(work)
    print(json.dumps(result, indent=1, default=str))
    print(table(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=str))
    if not args.keep and result["ok"]:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
