"""The console and the admin API with a big history: seed 1,000,000 deliveries into a fresh
PostgreSQL database, then time the delivery list (console page and API) with each filter, and the
overview page.

    .venv/bin/python bench/seed_deliveries.py [--deliveries 1000000] [--runs 7] [--keep NAME]
                                              [--out bench/results/console.json]

Seeding is done by PostgreSQL itself (generate_series): 4 deliveries a document, over the last 30
days, with time-ordered ids like the hub's, states and connectors in proportions like a working
province's (mostly delivered; a few thousand failed, retrying, queued), recipients spread over
sở, districts and communes, 1 in 10 through the national axis, each with its attempts. Waiting
deliveries are due in a year, so the hub measured (which runs its in-process dispatcher) leaves them
where they are. The timing is the whole HTTP answer, in-process (httpx over ASGI, no network), as a
logged-in admin for the pages and with a bearer token for the API: median and slowest of --runs
after one warm-up. Targets: a delivery-list page with any one filter ≤ 300 ms, the overview ≤ 500 ms.
`--keep NAME` seeds into (or reuses) the database NAME and leaves it, for measuring again without
seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from stack import POSTGRES, database_dsn, fresh_database, sqlalchemy_url

from app.auth.service import create_credential
from app.bootstrap import prepare
from app.config import Settings
from app.kit.db import Database
from app.kit.migrate import upgrade
from app.main import create_app
from app.models import Role
from app.users.service import add_user, find_user

TARGET_LIST_MS, TARGET_OVERVIEW_MS = 300, 500
# A fixed master key, so that a kept database's signing key opens again on the next run.
MASTER_KEY = base64.urlsafe_b64encode(b"lienthong bench: console, 32 By.").decode()
PASSWORD = "đo hiệu năng 2026"  # noqa: S105  (a throwaway user of a throwaway database)
DAYS = 30
RECIPIENTS = [f"000.00.{n:02d}.H62" for n in range(2, 30)] + [
    f"000.{c:02d}.{d}.H62" for d in (31, 32, 33, 34, 35) for c in (0, 11, 12, 21, 22, 23)
]
OUTSIDE = ["000.00.00.G22", "000.00.00.G01", "000.00.00.H29"]


def uuid7_sql(ms: str, random: str) -> str:
    """A hub-like id in SQL: 48 bits of milliseconds, version 7, then random hex."""
    return (
        f"substr(lpad(to_hex({ms}), 12, '0'), 1, 8) || '-' "
        f"|| substr(lpad(to_hex({ms}), 12, '0'), 9, 4) || '-7' || substr({random}, 1, 3) "
        f"|| '-8' || substr({random}, 4, 3) || '-' || substr({random}, 7, 12)"
    )


async def seed(dsn: str, deliveries: int) -> float:
    documents = deliveries // 4
    span_ms = DAYS * 24 * 3600 * 1000
    started = time.monotonic()
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO payloads (sha256, size, content, created_at) "
            "SELECT encode(sha256(i::text::bytea), 'hex'), 10, '\\x00'::bytea, now() "
            "FROM generate_series(1, $1::bigint) i",
            documents,
        )
        doc_id = uuid7_sql("ms", "md5(i::text)")
        await connection.execute(
            f"""
            INSERT INTO documents (id, kind, edxml_document_id, business_type, sender_code, subject,
                                   code_number, code_notation, received_at, original_sha256,
                                   sealed_sha256, sender_signature, received_via)
            SELECT {doc_id}, 'edoc', sender || ',2026/11/20,' || i || '/VP', 0, sender,
                   'V/v văn bản số ' || i, i::text, 'VP', to_timestamp(ms / 1000.0),
                   encode(sha256(i::text::bytea), 'hex'), encode(sha256(i::text::bytea), 'hex'),
                   'absent', 'api'
            FROM (SELECT i,
                         (extract(epoch FROM now()) * 1000)::bigint
                           - ($1::bigint - i) * $2::bigint / $1::bigint AS ms,
                         '000.00.' || lpad((1 + i % 20)::text, 2, '0') || '.H62' AS sender
                  FROM generate_series(1, $1::bigint) i) numbered
            """,  # noqa: S608  (the id expressions are ours; values are parameters)
            documents,
            span_ms,
        )
        delivery_id = uuid7_sql("ms", "md5(i::text || ':' || k::text)")
        await connection.execute(
            f"""
            INSERT INTO deliveries (id, document_id, recipient_code, connector, state, attempt_count,
                                    next_attempt_at, dispatched_at, last_error, created_at, updated_at)
            SELECT {delivery_id}, d.id, r.code,
                   CASE WHEN r.outside THEN 'national-axis' WHEN k % 3 = 0 THEN 'inbox' ELSE 'qlvb-push' END,
                   s.state, CASE WHEN s.state IN ('failed', 'retrying') THEN 3 ELSE 1 END,
                   CASE WHEN s.state IN ('queued', 'retrying') THEN now() + interval '1 year' END,
                   CASE WHEN s.state IN ('delivered', 'failed', 'discarded') THEN d.received_at END,
                   CASE WHEN s.state IN ('failed', 'retrying') THEN 'HTTP 503: not now' END,
                   d.received_at, d.received_at
            FROM (SELECT i, id, received_at, (extract(epoch FROM received_at) * 1000)::bigint AS ms
                  FROM (SELECT row_number() OVER (ORDER BY id) AS i, id, received_at FROM documents) n) d
            CROSS JOIN generate_series(1, 4) k
            CROSS JOIN LATERAL (
                SELECT CASE WHEN (d.i + k) % 10 = 0 THEN ($2::text[])[1 + (d.i % 3)]
                            ELSE ($1::text[])[1 + ((d.i * 7 + k * 13) % array_length($1::text[], 1))]
                       END AS code,
                       (d.i + k) % 10 = 0 AS outside) r
            CROSS JOIN LATERAL (SELECT CASE
                 WHEN (d.i * 4 + k) % 1000 < 900 THEN 'delivered'
                 WHEN (d.i * 4 + k) % 1000 < 930 THEN 'failed'
                 WHEN (d.i * 4 + k) % 1000 < 950 THEN 'awaiting_pickup'
                 WHEN (d.i * 4 + k) % 1000 < 970 THEN 'retrying'
                 WHEN (d.i * 4 + k) % 1000 < 990 THEN 'queued'
                 ELSE 'discarded' END AS state) s
            """,  # noqa: S608  (the id expressions are ours; values are parameters)
            RECIPIENTS,
            OUTSIDE,
        )
        # Each delivery's attempts so far (its attempt count), all ended: the last one as its state
        # says, the earlier ones refused for now. Without them the attempts table is the load's alone
        # and the planner scans it where the workers look attempts up by id.
        attempt_id = uuid7_sql(
            "(extract(epoch FROM d.created_at) * 1000)::bigint", "md5(d.id || ':' || n::text)"
        )
        await connection.execute(
            f"""
            INSERT INTO attempts (id, delivery_id, number, started_at, ended_at, outcome, http_status,
                                  error, duration_ms)
            SELECT {attempt_id}, d.id, n, least(d.created_at + n * interval '1 minute', now()),
                   least(d.created_at + n * interval '1 minute', now()) + interval '40 milliseconds',
                   CASE WHEN n < d.attempt_count OR d.state IN ('failed', 'retrying') THEN 'transient'
                        WHEN d.state = 'awaiting_pickup' OR d.connector = 'inbox' THEN 'awaiting_pickup'
                        ELSE 'delivered' END,
                   CASE WHEN n < d.attempt_count OR d.state IN ('failed', 'retrying') THEN 503 ELSE 200 END,
                   CASE WHEN n < d.attempt_count OR d.state IN ('failed', 'retrying')
                        THEN 'HTTP 503: not now' END,
                   40.0
            FROM deliveries d CROSS JOIN LATERAL generate_series(1, d.attempt_count) n
            WHERE d.state <> 'queued'
            """  # noqa: S608  (the id expression is ours)
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return time.monotonic() - started


async def measure(dsn: str, runs: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            _env_file=None, data_dir=Path(data), database_url=sqlalchemy_url(dsn), master_key=MASTER_KEY
        )
        await prepare(settings, migrate=False)
        database = Database(settings.effective_database_url)
        async with database.transaction() as session:
            if await find_user(session, "bench") is None:
                await add_user(session, name="bench", role=Role.ADMIN, password=PASSWORD, actor="bench")
            _, token = await create_credential(session, role=Role.ADMIN, agency_code=None)
        async with database.reading() as session:
            row = (
                await session.execute(
                    text("SELECT d.edxml_document_id FROM documents d ORDER BY id DESC OFFSET 1000 LIMIT 1")
                )
            ).first()
        document_id = row[0] if row else ""
        await database.dispose()
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                form = await client.get("/admin/login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                assert csrf
                login = await client.post(
                    "/admin/login",
                    data={"username": "bench", "password": PASSWORD, "csrf_token": csrf.group(1)},
                )
                assert login.status_code == 303, login.text
                first = await client.get(
                    "/api/v1/admin/deliveries", headers={"Authorization": f"Bearer {token}"}
                )
                cursor = first.json()["next_cursor"]
                filters = {
                    "no filter": "",
                    "state=failed": "state=failed",
                    "state=retrying": "state=retrying",
                    "state=discarded": "state=discarded",
                    "connector=national-axis": "connector=national-axis",
                    "connector=inbox": "connector=inbox",
                    "sender=000.00.05.H62": "sender=000.00.05.H62",
                    "sender=*.H62": "sender=*.H62",
                    "recipient=000.00.02.H62": "recipient=000.00.02.H62",
                    "recipient=*.31.H62 (a district)": "recipient=*.31.H62",
                    "recipient=000.00.00.G22": "recipient=000.00.00.G22",
                    "document_id": f"document_id={document_id}",
                    "since (last hour)": "since=" + _ago(3600),
                    "until (10 days ago)": "until=" + _ago(10 * 86400),
                    "page 2 (cursor)": f"cursor={cursor}",
                    "state=failed&recipient=*.31.H62": "state=failed&recipient=*.31.H62",
                }
                results = []
                for name, query in filters.items():
                    results.append(
                        await _time(
                            client, f"/admin/deliveries?{query}", f"page: {name}", runs, TARGET_LIST_MS
                        )
                    )
                    results.append(
                        await _time(
                            client,
                            f"/api/v1/admin/deliveries?{query}",
                            f"api: {name}",
                            runs,
                            TARGET_LIST_MS,
                            {"Authorization": f"Bearer {token}"},
                        )
                    )
                results.append(await _time(client, "/admin", "page: overview", runs, TARGET_OVERVIEW_MS))
                results.append(
                    await _time(
                        client, "/admin/overview/panel", "overview panel (polling)", runs, TARGET_OVERVIEW_MS
                    )
                )
                return results


def _ago(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _time(
    client: httpx.AsyncClient,
    path: str,
    name: str,
    runs: int,
    target: float,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    answer = await client.get(path, headers=headers)  # warm-up
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    items = answer.json()["items"] if path.startswith("/api/") else None
    result = {
        "name": name,
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "target_ms": target,
        "ok": statistics.median(times) <= target,
        **({"rows": len(items)} if items is not None else {}),
    }
    print(
        f"{name:<48} median {result['median_ms']:>7} ms  max {result['max_ms']:>7} ms  "
        f"(target {target} ms){'' if result['ok'] else '  OVER'}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", help="seed into (or reuse) this database and leave it")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    async def run(dsn: str, fresh: bool) -> dict[str, Any]:
        report: dict[str, Any] = {"deliveries": args.deliveries}
        if fresh:
            await upgrade(sqlalchemy_url(dsn))
            report["seed_seconds"] = round(await seed(dsn, args.deliveries), 1)
            print(f"seeded {args.deliveries:,} deliveries in {report['seed_seconds']} s", flush=True)
        report["results"] = await measure(dsn, args.runs)
        return report

    if args.keep:
        dsn = database_dsn(args.keep)
        fresh = not asyncio.run(_exists(args.keep))
        if fresh:
            asyncio.run(_create(args.keep))
        report = asyncio.run(run(dsn, fresh))
    else:
        with fresh_database() as dsn:
            report = asyncio.run(run(dsn, True))
    over = [r["name"] for r in report["results"] if not r["ok"]]
    print("all within target" if not over else f"over target: {', '.join(over)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))


async def _exists(name: str) -> bool:
    connection = await asyncpg.connect(POSTGRES)
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


async def _create(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
