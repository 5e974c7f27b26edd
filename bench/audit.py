"""The transparency log's figures: integrator throughput, `audit verify` time, CSV export rate at
constant memory, and intake with the integrator on against off.

    .venv/bin/python bench/audit.py [--entries 1000000] [--parts integrator,verify,export,intake]
                                    [--intake-seconds 20] [--out bench/results/audit-….json]

`integrator`, `verify` and `export` run in this process against a fresh PostgreSQL database (dropped
afterwards): the exchange log is filled with `--entries` rows shaped like the hub's own (a `stored`
entry with its recipients and digests, then `routed` and `delivery-state` ones), in bulk; the
integrator then takes them all into the tree (timed: entries/s), `audit verify` recomputes the whole
tree against its checkpoint (timed), and the CSV export streams every row (rows/s, and the
process's peak resident memory before and during the export: constant memory means the second does
not grow with the number of rows). `intake` runs bench/intake.py's measurement (one `lienthong serve`
on PostgreSQL, wrk at 16 connections) twice each way, alternating, with the gateway's integrator on
and off (`LIENTHONG_AUDIT_INTEGRATOR`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stack import BENCH, free_port, fresh_database, peak_rss_mb, reset_peak_rss, sqlalchemy_url

from app.audit.integrator import Integrator
from app.audit.service import EntryFilter, export_lines
from app.audit.verify import verify_database
from app.config import Settings
from app.kit.db import Database, table_of
from app.kit.migrate import upgrade
from app.kit.secrets import new_master_key
from app.models import ExchangeLogEntry

EVENTS = ("stored", "routed", "delivery-state", "delivery-state", "delivery-state")


def rows(start: int, count: int, base: datetime) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + count):
        event = EVENTS[i % len(EVENTS)]
        detail: dict[str, Any] = (
            {
                "kind": "edoc",
                "edxml_document_id": f"000.00.01.H62,2026/12/02,{i}",
                "recipients": ["000.00.02.H62"],
            }
            if event == "stored"
            else {"from_state": "queued", "to_state": "sending", "reason": "picked up by the worker"}
        )
        out.append(
            {
                "at": base + timedelta(microseconds=i * 100),
                "event": event,
                "document_id": f"{i // 5:08d}-0000-4000-8000-000000000000",
                "delivery_id": None if event == "stored" else f"{i // 5:08d}-0000-4000-8000-00000000000d",
                "agency_code": "000.00.01.H62" if event == "stored" else "000.00.02.H62",
                "credential_id": None,
                "sha256": f"{i:064x}" if event == "stored" else None,
                "detail": detail,
            }
        )
    return out


async def fill(database: Database, entries: int) -> float:
    base = datetime(2026, 12, 1, tzinfo=UTC)
    started = time.perf_counter()
    from sqlalchemy import insert

    for start in range(0, entries, 5000):
        async with database.transaction() as session:
            await session.execute(
                insert(table_of(ExchangeLogEntry)), rows(start, min(5000, entries - start), base)
            )
    return time.perf_counter() - started


async def in_process(dsn: str, entries: int, parts: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"entries": entries}
    url = sqlalchemy_url(dsn)
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url, master_key=new_master_key())  # type: ignore[call-arg]
    database = Database(url)
    try:
        result["fill_s"] = round(await fill(database, entries), 1)
        print(f"filled {entries} entries in {result['fill_s']} s", flush=True)
        integrator = Integrator(database, settings, bytes(32))
        started = time.perf_counter()
        integrated = await integrator.round(checkpoint=True)
        elapsed = time.perf_counter() - started
        result["integrator"] = {
            "entries": integrated,
            "seconds": round(elapsed, 1),
            "per_second": round(integrated / elapsed),
        }
        print(json.dumps(result["integrator"]), flush=True)
        if "verify" in parts:
            started = time.perf_counter()
            report = await verify_database(database, grace=timedelta(0))
            elapsed = time.perf_counter() - started
            result["verify"] = {
                "entries": report.size,
                "intact": report.intact,
                "seconds": round(elapsed, 1),
                "per_second": round(report.size / elapsed),
            }
            print(json.dumps(result["verify"]), flush=True)
        if "export" in parts:
            pid = os.getpid()
            reset_peak_rss(pid)
            before = peak_rss_mb(pid)
            count = 0
            size = 0
            started = time.perf_counter()
            async for chunk in export_lines(database, EntryFilter(), "csv"):
                count += chunk.count(b"\r\n")
                size += len(chunk)
            elapsed = time.perf_counter() - started
            result["export_csv"] = {
                "rows": count - 1,
                "megabytes": round(size / 1e6, 1),
                "seconds": round(elapsed, 1),
                "rows_per_second": round((count - 1) / elapsed),
                "peak_rss_mb_before": before,
                "peak_rss_mb_during": peak_rss_mb(pid),
            }
            print(json.dumps(result["export_csv"]), flush=True)
    finally:
        await database.dispose()
    return result


def intake(seconds: int, rounds: int) -> dict[str, Any]:
    from intake import run

    rates: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for state in ("on", "off"):
            os.environ["LIENTHONG_AUDIT_INTEGRATOR"] = "true" if state == "on" else "false"
            measured = run("postgresql", seconds, 16, free_port())  # 18080 may be another run's
            rates[state].append(float(measured["rate_per_s"]))  # type: ignore[arg-type]
            print(json.dumps({"integrator": state, **measured}), flush=True)
    os.environ.pop("LIENTHONG_AUDIT_INTEGRATOR", None)
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {
        "runs": rates,
        "median_on": on,
        "median_off": off,
        "lower_with_log_percent": round(100 * (off - on) / off, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--parts", default="integrator,verify,export,intake")
    parser.add_argument("--intake-seconds", type=int, default=20)
    parser.add_argument("--intake-rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    if parts & {"integrator", "verify", "export"}:
        with fresh_database() as dsn:
            result.update(asyncio.run(in_process(dsn, args.entries, parts)))
    if "intake" in parts:
        result["intake"] = intake(args.intake_seconds, args.intake_rounds)
        print(json.dumps(result["intake"]), flush=True)
    out = args.out or BENCH / "results" / f"audit-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
