"""One large document (issue 15: ~50 MB, one 36 MB attachment as base64) through the hub, and the
memory each process needs for it.

    .venv/bin/python bench/large.py [--mode embedded,production] [--attachment-mib 36] [--out FILE.json]

Per mode it starts `lienthong dev axis-sim`, bench/receiver.py (answers 200, keeps no body) and the
hub: **embedded**, one `lienthong serve` on a SQLite file with no broker (the default); **production**,
`lienthong serve` and `lienthong worker` on a fresh PostgreSQL database and RabbitMQ vhost. The
document is schemas/samples/sample.edxml with a third recipient and a generated attachment: it goes
to 000.00.02.H62 by push (its endpoint is the receiver), to 000.00.03.H62 by inbox (no endpoint),
and to 000.00.00.G22 through the axis simulator.

A warm-up sends the small samples the same three ways (so lazy imports and first connections are
not counted), then each process's resident memory is read (*idle*) and its peak (VmHWM) reset. The
large document is submitted; the harness waits for the push and the axis deliveries, picks the
inbox copy up as 000.00.03.H62 would (GET inbox, GET the edXML, checking its SHA-256, acknowledge).
Each process's peak is read (and reset) as each phase ends: intake (until the 201), delivery (until
the push and the axis deliveries are delivered), pickup. Reported per process: idle and peak MB, the
rise (peak − idle), the rise as a multiple of the document's size and the rise in each phase; and
the seconds from submit to each milestone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from stack import (
    BENCH,
    LIENTHONG,
    SAMPLE,
    Postgres,
    free_port,
    fresh_database,
    fresh_vhost,
    hub_env,
    lienthong,
    peak_rss_mb,
    reset_peak_rss,
    spawn,
    sqlalchemy_url,
    start_gateway,
    stop,
    wait_for_port,
    wait_until,
)

SENDER, PUSHED, INBOX, AXIS = "000.00.01.H62", "000.00.02.H62", "000.00.03.H62", "000.00.00.G22"
G22_SECRET, HUB_SYSTEM, HUB_SECRET = "bench-g22-secret", "hub-bench", "bench-hub-secret"
MIB = 1024 * 1024
AXIS_RECIPIENT = f"""<edXML:To>
          <edXML:OrganId>{AXIS}</edXML:OrganId>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
        </edXML:To>
        <edXML:DocumentId>""".encode()


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def large_document(attachment_bytes: int, *, number: int) -> bytes:
    """sample.edxml with CodeNumber `number`, addressed to G22 as well, its attachment replaced by
    `attachment_bytes` of pseudo-random data (incompressible, like a scanned PDF)."""
    data = SAMPLE.read_bytes().replace(b"1234/VP-KSTT", b"%d/VP-KSTT" % number)
    data = data.replace(b">1234<", b">%d<" % number)
    data = data.replace(b"<edXML:DocumentId>", AXIS_RECIPIENT, 1)
    start = data.index(b"<edXML:ContentTransferEncoded>") + len(b"<edXML:ContentTransferEncoded>")
    end = data.index(b"</edXML:ContentTransferEncoded>")
    content = base64.b64encode(random.Random(15).randbytes(attachment_bytes))  # noqa: S311 -- filler
    return data[:start] + content + data[end:]


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Hub:
    """The processes of one mode, and its gateway's address."""

    def __init__(self, mode: str, work: Path, cleanup: contextlib.ExitStack) -> None:
        self.mode = mode
        axis_port, receiver_port, gateway_port = free_port(), free_port(), free_port()
        if mode == "production":
            dsn = cleanup.enter_context(fresh_database())
            database_url, broker_url = sqlalchemy_url(dsn), cleanup.enter_context(fresh_vhost())
        else:
            dsn, database_url, broker_url = "", f"sqlite+aiosqlite:///{work}/hub.db", ""
        self.env = hub_env(work, database_url, broker_url) | {
            "LIENTHONG_AXIS_URL": f"http://127.0.0.1:{axis_port}",
            "LIENTHONG_AXIS_SYSTEM_ID": HUB_SYSTEM,
            "LIENTHONG_AXIS_SECRET": HUB_SECRET,
            "LIENTHONG_AXIS_POLL_SECONDS": "600",  # nothing comes in: the poller stays out of the way
        }
        lienthong(self.env, "db", "upgrade")
        systems = ["--system", f"{HUB_SYSTEM}:{HUB_SECRET}@*.H62", "--system", f"{AXIS}:{G22_SECRET}"]
        simulator = spawn(
            [*LIENTHONG, "dev", "axis-sim", "--port", str(axis_port), *systems], self.env, work / "axis.log"
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
                str(work / "rx"),
            ],
            self.env,
            work / "receiver.log",
        )
        cleanup.callback(stop, receiver)
        wait_for_port(receiver_port, receiver, "the receiver")
        gateway = start_gateway(self.env, gateway_port, work / "gateway.log")
        cleanup.callback(stop, gateway)
        endpoint = f"http://127.0.0.1:{receiver_port}/qlvb/{PUSHED}"
        if dsn:
            database = Postgres(dsn)
            database.fetch(
                "UPDATE agencies SET endpoint = $1 WHERE code = $2 RETURNING code", endpoint, PUSHED
            )
            database.close()
        else:
            with contextlib.closing(sqlite3.connect(work / "hub.db")) as connection, connection:
                connection.execute("UPDATE agencies SET endpoint = ? WHERE code = ?", (endpoint, PUSHED))
        self.processes = {"gateway": gateway, "axis-sim": simulator, "receiver": receiver}
        if broker_url:
            self.processes["worker"] = spawn([*LIENTHONG, "worker"], self.env, work / "worker.log")
            cleanup.callback(stop, self.processes["worker"])
        self.url = f"http://127.0.0.1:{gateway_port}"
        self.sender = self._token(SENDER)
        self.inbox = self._token(INBOX)

    def _token(self, agency: str) -> str:
        return lienthong(self.env, "credential", "create", "--role", "agency", "--agency", agency)


def through(
    hub: Hub, data: bytes, *, timeout: float, phase: Callable[[str], None] = lambda _: None
) -> dict[str, float]:
    """Submit `data` and follow it to every recipient; seconds from submit to each milestone.
    `phase(name)` is called as each phase ends: intake, delivery (push and axis), pickup."""
    sender = {"Authorization": f"Bearer {hub.sender}"}
    started = time.time()
    with httpx.Client(base_url=hub.url, timeout=timeout) as client:
        answer = client.post(
            "/api/v1/documents", content=data, headers=sender | {"Content-Type": "application/xml"}
        )
        if answer.status_code != 201:
            raise RuntimeError(f"submit: HTTP {answer.status_code}: {answer.text[:500]}")
        receipt = answer.json()
        times = {"accepted": time.time() - started}
        phase("intake")
        document_url = f"/api/v1/documents/{receipt['id']}"
        by_connector: dict[str, dict[str, Any]] = {}

        def settled() -> bool:
            nonlocal by_connector
            deliveries = client.get(document_url, headers=sender).json()["deliveries"]
            by_connector = {d["connector"]: d for d in deliveries}
            wanted = {"qlvb-push": "delivered", "national-axis": "delivered", "inbox": "awaiting_pickup"}
            return all(by_connector.get(c, {}).get("state") == s for c, s in wanted.items())

        wait_until(settled, "the deliveries", timeout=timeout)
        phase("delivery")
        for connector in ("qlvb-push", "national-axis"):
            delivered = next(e for e in by_connector[connector]["history"] if e["to_state"] == "delivered")
            times[connector] = datetime.fromisoformat(delivered["at"]).timestamp() - started
        times["inbox"] = pick_up(client, hub.inbox, receipt["sealed_sha256"]) - started
        phase("pickup")
    return {name: round(seconds, 2) for name, seconds in times.items()}


def pick_up(client: httpx.Client, token: str, sealed_sha256: str) -> float:
    """What the recipient's system does: list its inbox, download, check, acknowledge. The end time."""
    headers = {"Authorization": f"Bearer {token}"}
    [item] = [i for i in client.get("/api/v1/inbox", headers=headers).json()["items"]]
    digest = hashlib.sha256()
    with client.stream("GET", item["edxml_url"], headers=headers) as download:
        download.raise_for_status()
        for chunk in download.iter_bytes():
            digest.update(chunk)
    if digest.hexdigest() != sealed_sha256:
        raise RuntimeError("the inbox download is not the sealed document")
    client.post(f"/api/v1/inbox/{item['delivery_id']}/ack", headers=headers).raise_for_status()
    return time.time()


def run(mode: str, data: bytes, work: Path) -> dict[str, Any]:
    with contextlib.ExitStack() as cleanup:
        progress(f"{mode}: starting")
        hub = Hub(mode, work, cleanup)
        progress(f"{mode}: warm-up with the small samples")
        through(hub, large_document(1000, number=1235), timeout=120)
        time.sleep(2)  # let the warm-up's garbage be collected before reading the idle level
        idle = {name: memory_mb(p.pid, "VmRSS") for name, p in hub.processes.items()}
        for process in hub.processes.values():
            reset_peak_rss(process.pid)
        progress(f"{mode}: the {len(data) / MIB:.1f} MiB document")
        phases: dict[str, dict[str, float]] = {}

        def phase(name: str) -> None:
            phases[name] = {name: peak_rss_mb(p.pid) for name, p in hub.processes.items()}
            for process in hub.processes.values():
                reset_peak_rss(process.pid)

        times = through(hub, data, timeout=600, phase=phase)
        peaks = {name: max(peak[name] for peak in phases.values()) for name in hub.processes}
    size = len(data) / MIB
    return {
        "mode": mode,
        "document_mib": round(size, 1),
        "seconds_from_submit": times,
        "memory_mb": {
            name: {
                "idle": idle[name],
                "peak": peaks[name],
                "rise": round(peaks[name] - idle[name], 1),
                "rise_per_document": round((peaks[name] - idle[name]) / size, 2),
                "rise_by_phase": {p: round(peak[name] - idle[name], 1) for p, peak in phases.items()},
            }
            for name in hub.processes
        },
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = ["mode        process    idle MB  peak MB  rise MB  rise/doc  rise in intake/delivery/pickup"]
    for result in results:
        for name, memory in result["memory_mb"].items():
            lines.append(
                f"{result['mode']:<11} {name:<10} {memory['idle']:>7} {memory['peak']:>8} "
                f"{memory['rise']:>8} {memory['rise_per_document']:>8}  "
                + " / ".join(str(v) for v in memory["rise_by_phase"].values())
            )
    lines.append("mode        document MiB  accepted s  push s  axis s  inbox pickup s")
    for result in results:
        t = result["seconds_from_submit"]
        lines.append(
            f"{result['mode']:<11} {result['document_mib']:>12} {t['accepted']:>11} {t['qlvb-push']:>7} "
            f"{t['national-axis']:>7} {t['inbox']:>15}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode", default="embedded,production", help="embedded, production, or both with a comma"
    )
    parser.add_argument("--attachment-mib", type=float, default=36)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or BENCH / "results" / f"large-{datetime.now():%Y%m%d-%H%M%S}.json"
    data = large_document(int(args.attachment_mib * MIB), number=1236)
    results = []
    for mode in args.mode.split(","):
        with tempfile.TemporaryDirectory(prefix=f"lienthong-large-{mode}-") as tmp:
            results.append(run(mode, data, Path(tmp)))
        print(json.dumps(results[-1]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"at": datetime.now(UTC).isoformat(), "results": results}, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
