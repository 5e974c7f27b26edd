"""The national axis, both ways, in the production layout: documents out through the `national-axis`
connector to the axis simulator, and documents in by the inbound poller.

    .venv/bin/python bench/axis.py [--rate 20] [--seconds 30] [--inbound 300] [--out FILE.json]

Starts a fresh PostgreSQL database and RabbitMQ vhost, `lienthong dev axis-sim` (the hub's system
serving *.H62, and 000.00.00.G22), bench/receiver.py as the QLVB of 000.00.02.H62 and 000.00.03.H62,
one `lienthong serve` and one `lienthong worker`, pointed at the simulator.

- **out**: wrk sends schemas/samples/to-g22.edxml (fresh DocumentIds) at --rate documents/s for
  --seconds; each is sealed, routed to `national-axis` and sent with sendEdoc. Measured from the
  database: received → delivered (the axis answered with its DocId), and what the simulator holds.
- **in**: G22 puts --inbound documents for the two local agencies on the simulator (faster than the
  hub's next polling round, every 2 s here), and the gateway's poller takes them in: fetched,
  validated, sealed, stored, acknowledged, and pushed to the receiver. Measured: packages taken in
  per second (first to last stored), and stored → delivered to the QLVB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from stack import (
    BENCH,
    LIENTHONG,
    REPO,
    Postgres,
    cpu_seconds,
    free_port,
    fresh_database,
    fresh_vhost,
    hub_env,
    lienthong,
    run_wrk,
    spawn,
    sqlalchemy_url,
    start_gateway,
    stop,
    wait_for_port,
    wait_until,
)

from app.axis.client import AxisClient
from app.edxml import DocumentSpec, build_document

TO_G22 = REPO / "schemas" / "samples" / "to-g22.edxml"
G22, G22_SECRET = "000.00.00.G22", "bench-g22-secret"
HUB_SYSTEM, HUB_SECRET = "hub-bench", "bench-hub-secret"
LOCAL = ("000.00.02.H62", "000.00.03.H62")


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# Per delivery of one connector and one way in: the document's receipt to the delivery's `delivered`.
LATENCY = """
    SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY ms) AS p
    FROM (SELECT (extract(epoch FROM e.at - d.created_at) * 1000)::float8 AS ms
          FROM deliveries d JOIN delivery_events e ON e.delivery_id = d.id AND e.to_state = 'delivered'
          JOIN documents doc ON doc.id = d.document_id
          WHERE d.connector = $1 AND doc.received_via = $2) AS x
"""


def latency(database: Postgres, connector: str, via: str) -> dict[str, float | None]:
    values = database.fetch(LATENCY, connector, via)[0]["p"] or [None] * 4
    rounded = [None if v is None else round(v, 1) for v in values]
    return dict(zip(("p50", "p95", "p99", "max"), rounded, strict=True))


def outbound(
    url: str, token: str, database: Postgres, processes: dict[str, Any], rate: int, seconds: int, work: Path
) -> dict[str, Any]:
    # intake.lua renumbers 1234/VP-KSTT on every request; to-g22.edxml is number 1235.
    sample = work / "to-g22.edxml"
    sample.write_bytes(
        TO_G22.read_bytes().replace(b"1235/VP-KSTT", b"1234/VP-KSTT").replace(b">1235<", b">1234<")
    )
    before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
    load = run_wrk(
        url,
        token,
        seconds=seconds,
        connections=max(8, rate // 2),
        threads=1,
        offset=0,
        rate=rate,
        sample=sample,
    )

    def settled() -> bool:
        return not database.value(
            "SELECT count(*) FROM deliveries WHERE connector = 'national-axis' "
            "AND state IN ('queued', 'sending', 'retrying')"
        )

    wait_until(settled, "the national-axis deliveries", timeout=120 + seconds)
    documents = database.value("SELECT count(*) FROM documents WHERE received_via = 'api'")
    states = {
        r["state"]: r["n"]
        for r in database.fetch(
            "SELECT state, count(*) AS n FROM deliveries WHERE connector = 'national-axis' GROUP BY state"
        )
    }
    cpu = {
        name: round((cpu_seconds(p.pid) - before[name]) * 1000 / max(documents, 1), 2)
        for name, p in processes.items()
    }
    return {
        "offered_docs_per_s": rate,
        "seconds": seconds,
        "wrk": load,
        "documents": documents,
        "deliveries": states,
        "received_to_delivered_ms": latency(database, "national-axis", "api"),
        "cpu_ms_per_doc": cpu,
    }


async def put_on_axis(axis_url: str, count: int) -> float:
    """G22 sends `count` documents to the two local agencies; returns the seconds it took."""
    started = time.monotonic()
    async with AxisClient(axis_url, G22, G22_SECRET, timeout=30) as g22:
        for number in range(count):
            spec = DocumentSpec(
                sender=G22,
                recipients=list(LOCAL),
                code_number=str(50000 + number),
                code_notation="VPCP-BENCH",
                subject="V/v đo tốc độ liên thông qua trục quốc gia",
                promulgation_date=date(2026, 11, 20),
                attachments=[("Công văn.pdf", "application/pdf", b"%PDF-1.4 " + bytes(4000))],
            )
            await g22.send_edoc(build_document(spec), from_code=G22)
    return time.monotonic() - started


def inbound(axis_url: str, database: Postgres, processes: dict[str, Any], count: int) -> dict[str, Any]:
    before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
    loading = asyncio.run(put_on_axis(axis_url, count))
    progress(f"{count} documents on the axis in {loading:.1f} s")

    def taken_in() -> bool:
        return bool(database.value("SELECT count(*) FROM documents WHERE received_via = 'axis'") >= count)

    def delivered() -> bool:
        return not database.value(
            "SELECT count(*) FROM deliveries d JOIN documents doc ON doc.id = d.document_id "
            "WHERE doc.received_via = 'axis' AND d.state IN ('queued', 'sending', 'retrying')"
        )

    wait_until(taken_in, "the inbound documents", timeout=300)
    wait_until(delivered, "the inbound deliveries", timeout=300)
    span = database.fetch(
        "SELECT count(*) AS n, min(received_at) AS first, max(received_at) AS last "
        "FROM documents WHERE received_via = 'axis'"
    )[0]
    stored_s = (span["last"] - span["first"]).total_seconds()
    cpu = {
        name: round((cpu_seconds(p.pid) - before[name]) * 1000 / max(count, 1), 2)
        for name, p in processes.items()
    }
    return {
        "packages": count,
        "stored": span["n"],
        "seconds_to_put_them_on_the_axis": round(loading, 2),
        "taken_in_per_s": round((span["n"] - 1) / stored_s, 1) if stored_s else None,
        "stored_to_delivered_ms": latency(database, "qlvb-push", "axis"),
        "cpu_ms_per_package": cpu,  # the simulator's includes G22's sends
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=20, help="documents/s sent out through the axis")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--inbound", type=int, default=300, help="documents the axis holds for the province")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or BENCH / "results" / f"axis-{datetime.now():%Y%m%d-%H%M%S}.json"

    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory(prefix="lienthong-axis-") as tmp:
        work = Path(tmp)
        dsn = cleanup.enter_context(fresh_database())
        broker_url = cleanup.enter_context(fresh_vhost())
        axis_port, receiver_port, gateway_port = free_port(), free_port(), free_port()
        axis_url = f"http://127.0.0.1:{axis_port}"
        env = hub_env(work, sqlalchemy_url(dsn), broker_url) | {
            "LIENTHONG_AXIS_URL": axis_url,
            "LIENTHONG_AXIS_SYSTEM_ID": HUB_SYSTEM,
            "LIENTHONG_AXIS_SECRET": HUB_SECRET,
            "LIENTHONG_AXIS_POLL_SECONDS": "2",
        }
        lienthong(env, "db", "upgrade")
        database = Postgres(dsn)
        cleanup.callback(database.close)

        simulator = spawn(
            [
                *LIENTHONG,
                "dev",
                "axis-sim",
                "--port",
                str(axis_port),
                "--system",
                f"{HUB_SYSTEM}:{HUB_SECRET}@*.H62",
                "--system",
                f"{G22}:{G22_SECRET}",
            ],
            env,
            work / "axis-sim.log",
        )
        cleanup.callback(stop, simulator)
        wait_for_port(axis_port, simulator, "the axis simulator")
        receiver = spawn(
            [
                sys.executable,
                str(BENCH / "receiver.py"),
                "--port",
                str(receiver_port),
                "--out",
                str(work / "arrivals"),
            ],
            env,
            work / "receiver.log",
        )
        cleanup.callback(stop, receiver)
        wait_for_port(receiver_port, receiver, "the receiver")
        gateway = start_gateway(env, gateway_port, work / "gateway.log")
        cleanup.callback(stop, gateway)
        database.fetch(
            "UPDATE agencies SET endpoint = $1 || code WHERE code = ANY($2::text[]) RETURNING code",
            f"http://127.0.0.1:{receiver_port}/qlvb/",
            list(LOCAL),
        )
        worker = spawn([*LIENTHONG, "worker"], env, work / "worker.log")
        cleanup.callback(stop, worker)
        token = lienthong(env, "credential", "create", "--role", "agency", "--agency", "000.00.01.H62")
        processes = {"gateway": gateway, "worker": worker, "simulator": simulator}

        progress(f"out: {args.rate}/s for {args.seconds} s to {G22}")
        results = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "out": outbound(
                f"http://127.0.0.1:{gateway_port}", token, database, processes, args.rate, args.seconds, work
            ),
        }
        progress(f"in: {args.inbound} documents from {G22}")
        results["in"] = inbound(axis_url, database, processes, args.inbound)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
