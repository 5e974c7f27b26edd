"""What operations cost on a large history: the `/metrics` database snapshot, connector health and
one alert evaluation, on PostgreSQL with N deliveries (and as many attempts, spread over 30 days).

    .venv/bin/python bench/operations.py [--deliveries 1000000] [--repeat 5]

A fresh database is seeded with SQL (generate_series), analysed, timed, and dropped. Prints one JSON
object: the seeding time and, per operation, the median and the worst of --repeat runs in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from stack import Postgres, fresh_database, sqlalchemy_url

from app.config import Settings
from app.kit.db import Database
from app.kit.migrate import upgrade
from app.operations.alerts import AlertEngine
from app.operations.connectors import connector_health, endpoint_health
from app.operations.metrics import read_snapshot

PER_DOCUMENT = 10  # recipients per document

SEED = """
INSERT INTO payloads (sha256, size, content, created_at)
  SELECT lpad(to_hex(n), 64, '0'), 1, 'x', now() FROM generate_series(1, {documents}) AS n;
INSERT INTO documents (id, kind, edxml_document_id, business_type, sender_code, subject, code_number,
                       code_notation, received_at, original_sha256, sealed_sha256, sender_signature,
                       received_via)
  SELECT 'doc-' || n, 'edoc', 'D' || n, 0, '000.00.01.H62', 's', n::text, 'X',
         now() - (n % 43200) * interval '1 minute', lpad(to_hex(n), 64, '0'), lpad(to_hex(n), 64, '0'),
         'absent', 'api'
  FROM generate_series(1, {documents}) AS n;
INSERT INTO deliveries (id, document_id, recipient_code, connector, state, attempt_count, next_attempt_at,
                        created_at, updated_at)
  SELECT 'dlv-' || d || '-' || r, 'doc-' || d,
         lpad(r::text, 3, '0') || '.00.' || lpad((d % 90)::text, 2, '0') || '.H62',
         (ARRAY['qlvb-push', 'inbox', 'national-axis'])[1 + (d + r) % 3],
         CASE WHEN (d * r) % 1000 = 0 THEN 'failed' WHEN (d * r) % 997 = 0 THEN 'retrying'
              WHEN (d * r) % 991 = 0 THEN 'queued' ELSE 'delivered' END,
         1, now() - (d % 600) * interval '1 second', now(), now()
  FROM generate_series(1, {documents}) AS d, generate_series(1, {per_document}) AS r;
INSERT INTO attempts (id, delivery_id, number, started_at, ended_at, outcome, http_status, duration_ms)
  SELECT 'att-' || d || '-' || r, 'dlv-' || d || '-' || r, 1,
         now() - ((d * 7 + r) % 43200) * interval '1 minute',
         now() - ((d * 7 + r) % 43200) * interval '1 minute' + interval '50 ms',
         CASE WHEN (d * r) % 50 = 0 THEN 'transient' ELSE 'delivered' END, 200, 50
  FROM generate_series(1, {documents}) AS d, generate_series(1, {per_document}) AS r;
ANALYZE;
"""


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        runs.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(runs), 1), "worst_ms": round(max(runs), 1)}


async def measure(url: str, repeat: int) -> dict[str, Any]:
    database = Database(url)
    settings = Settings(_env_file=None, database_url=url)
    engine = AlertEngine(database, settings)
    try:

        async def snapshot() -> None:  # every SETTLED_SNAPSHOT_SECONDS: the settled ones counted too
            async with database.reading() as session:
                await read_snapshot(session)

        async def live_snapshot() -> None:  # every other scrape
            async with database.reading() as session:
                await read_snapshot(session, settled={})

        async def connectors() -> None:
            async with database.reading() as session:
                await connector_health(session, window=timedelta(hours=1))

        async def endpoints() -> None:
            async with database.reading() as session:
                await endpoint_health(session, connector="qlvb-push", window=timedelta(hours=1))

        await engine.round()  # the first round sets the cursor
        return {
            "metrics_snapshot_full": await timed(snapshot, repeat),
            "metrics_snapshot_live": await timed(live_snapshot, repeat),
            "connector_health_1h": await timed(connectors, repeat),
            "endpoint_health_1h": await timed(endpoints, repeat),
            "alert_round": await timed(engine.round, repeat),
        }
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="measure an existing, seeded database instead")
    args = parser.parse_args()
    if args.database_url:
        print(json.dumps(asyncio.run(measure(args.database_url, args.repeat))))
        return
    documents = max(1, args.deliveries // PER_DOCUMENT)
    with fresh_database() as dsn:
        url = sqlalchemy_url(dsn)
        asyncio.run(upgrade(url))
        seeding = Postgres(dsn)
        started = time.perf_counter()
        for statement in SEED.format(documents=documents, per_document=PER_DOCUMENT).split(";\n"):
            if statement.strip():
                seeding.value(statement)
        seeded = time.perf_counter() - started
        seeding.close()
        result = asyncio.run(measure(url, args.repeat))
    print(json.dumps({"deliveries": documents * PER_DOCUMENT, "seed_seconds": round(seeded, 1), **result}))


if __name__ == "__main__":
    main()
