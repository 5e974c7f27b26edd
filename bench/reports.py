"""Indicator reports on a year of a province's traffic: how long a monthly province report and an
XLSX export of the whole year take on PostgreSQL.

    .venv/bin/python bench/reports.py [--documents 1000000] [--year 2026] [--repeat 3]
                                      [--keep] [--out bench/results/reports.json]

A fresh PostgreSQL database is migrated and seeded in SQL (generate_series, foreign-key triggers off
for the load: the rows are consistent by construction, and payload bytes are not seeded since no
report reads them):

- a directory of one province: UBND tỉnh, 30 sở, 10 districts with 20 communes each (241 agencies,
  one of them closed with a successor);
- `--documents` new/revoke/update/replace documents spread over the year (97/0.5/2/0.5 %), by REST,
  /vxp or the axis (80/15/5 %), 30 % with a DueDate, 5 % directives; one delivery each and a second
  one for 30 % (97 % delivered, 1.5 % failed, 0.5 % discarded, the rest waiting);
- for each delivered copy, status messages 01 (90 %), 03 (85 %, within 6 days) and 06 (60 %, within
  23 days), each one a status-message document with its delivery back to the sender and its entry on
  the timeline, as the hub stores them;
- every table written in time order, with time-ordered ids, as the hub writes them (its ids are
  UUIDv7-shaped), so the rows of one month are near each other.

Then it counts November and the whole year from the tables, as the gateways' background snapshot
does (`refresh_snapshot`), and `--repeat` times reads: the monthly report of November for the
province rolled up (one row for the province and one per sở/district) and per agency, and the year's
report per agency written as XLSX. The timings are wall-clock seconds through the hub's own Database
class; the load average at the end says how busy the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from stack import POSTGRES, REPO, Postgres, database_dsn, fresh_database, sqlalchemy_url

sys.path.insert(0, str(REPO))

from app.kit.db import Database
from app.kit.migrate import upgrade
from app.reports.export import to_xlsx
from app.reports.periods import Period
from app.reports.service import indicator_report, refresh_snapshot

PROVINCE = "000.00.00.H62"


def directory() -> list[tuple[str, str, str | None, str, str | None]]:
    """(code, name, parent, status, successor) of the bench province."""
    rows: list[tuple[str, str, str | None, str, str | None]] = [(PROVINCE, "UBND tỉnh", None, "active", None)]
    for n in range(1, 31):
        rows.append((f"000.00.{n:02d}.H62", f"Sở {n}", PROVINCE, "active", None))
    rows[4] = (rows[4][0], rows[4][1], PROVINCE, "closed", "000.00.05.H62")
    for district in range(40, 50):
        code = f"000.00.{district}.H62"
        rows.append((code, f"UBND huyện {district}", PROVINCE, "active", None))
        for commune in range(1, 21):
            rows.append(
                (f"000.{commune:02d}.{district}.H62", f"UBND xã {commune}/{district}", code, "active", None)
            )
    return rows


SEED = """
SET session_replication_role = replica;
SELECT setseed(0.42);
CREATE TEMP TABLE seed_documents AS
SELECT to_char(s.at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || 'd' || i AS id, 'edoc'::text AS kind,
       s.sender || ',2026,' || i || '/BENCH' AS edxml_document_id,
       CASE WHEN r < 0.005 THEN 1 WHEN r < 0.025 THEN 2 WHEN r < 0.03 THEN 3 ELSE 0 END AS business_type,
       NULL::text AS related_id, CASE WHEN r < 0.03 AND i > 1000 THEN i - 1000 END AS related_n,
       s.sender AS sender_code, s.at AS received_at,
       md5(i::text) || md5('o' || i) AS original_sha256, md5(i::text) || md5('s' || i) AS sealed_sha256,
       'absent'::text AS sender_signature,
       CASE WHEN r2 < 0.8 THEN 'api' WHEN r2 < 0.95 THEN 'vxp' ELSE 'axis' END AS received_via,
       CASE WHEN r3 < 0.3 THEN (s.at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date + 10 END AS due_date,
       CASE WHEN r3 > 0.95 THEN 1 ELSE 0 END AS steering_type, i AS n
FROM generate_series(1, $1::int) AS i,
     LATERAL (SELECT random() + 0 * i AS r, random() + 0 * i AS r2, random() + 0 * i AS r3) AS x,
     LATERAL (SELECT ($2::text[])[1 + (i::bigint * 7919 % array_length($2::text[], 1))] AS sender,
                     $3::timestamptz + ($4::timestamptz - $3::timestamptz) * (i::float8 / $1::int) AS at
             ) AS s;

UPDATE seed_documents d SET related_id = o.id FROM seed_documents o WHERE o.n = d.related_n;

CREATE TEMP TABLE seed_deliveries AS
SELECT to_char(d.received_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || 'l' || d.n || '-' || k AS id,
       d.id AS document_id,
       ($2::text[])[1 + ((d.n::bigint * 104729 + k * 31) % array_length($2::text[], 1))] AS recipient_code,
       CASE WHEN r < 0.015 THEN 'failed' WHEN r < 0.02 THEN 'discarded' WHEN r < 0.03 THEN 'awaiting_pickup'
            ELSE 'delivered' END AS state,
       d.received_at AS created_at, d.sender_code
FROM seed_documents d
CROSS JOIN LATERAL generate_series(1, CASE WHEN d.n % 10 < 3 THEN 2 ELSE 1 END) AS k
CROSS JOIN LATERAL (SELECT random() + 0 * k AS r) AS x;

CREATE TEMP TABLE seed_statuses AS
SELECT row_number() OVER () AS n, dl.id AS delivery_id, dl.document_id, dl.recipient_code,
       dl.sender_code, v.code, v.at
FROM seed_deliveries dl
CROSS JOIN LATERAL (VALUES
    ('01', dl.created_at + interval '1 hour' * (random() * 4), random() < 0.90),
    ('03', dl.created_at + interval '1 day' * (random() * 6), random() < 0.85),
    ('06', dl.created_at + interval '1 day' * (6 + random() * 17), random() < 0.60)
) AS v(code, at, keep)
WHERE dl.state = 'delivered' AND v.keep;

INSERT INTO documents (id, kind, edxml_document_id, business_type, related_id, sender_code, subject,
    code_number, code_notation, received_at, original_sha256, sealed_sha256, sender_signature,
    received_via, due_date, steering_type)
SELECT id, kind, edxml_document_id, business_type, related_id, sender_code, 'bench', '1', 'BENCH',
       received_at,
       original_sha256, sealed_sha256, sender_signature, received_via, due_date, steering_type
FROM (
  SELECT id, kind, edxml_document_id, business_type, related_id, sender_code, received_at, original_sha256,
         sealed_sha256, sender_signature, received_via, due_date, steering_type FROM seed_documents
  UNION ALL
  SELECT to_char(at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || 's' || n, 'status', 'status ' || document_id,
         0, document_id, recipient_code, at,
         md5('m' || n) || md5('t' || n), md5('m' || n) || md5('u' || n), 'not-checked', 'api', NULL, NULL
  FROM seed_statuses
) AS everything
ORDER BY received_at;

INSERT INTO deliveries (id, document_id, recipient_code, connector, state, attempt_count, created_at,
    updated_at)
SELECT id, document_id, recipient_code, 'inbox', state, 1, created_at, created_at
FROM (
  SELECT id, document_id, recipient_code, state, created_at FROM seed_deliveries
  UNION ALL
  SELECT to_char(at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || 'm' || n,
         to_char(at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || 's' || n, sender_code, 'delivered', at
  FROM seed_statuses
) AS everything
ORDER BY created_at;

INSERT INTO status_reports (document_id, delivery_id, message_id, reporter_code, status_code, description,
    reported_at, received_at)
SELECT document_id, delivery_id, to_char(at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || 's' || n,
       recipient_code,
       code, '', '', at
FROM seed_statuses ORDER BY at;
"""


async def seed(dsn: str, documents: int, year: int) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "INSERT INTO agencies (code, name, parent_code, status, successor_code, signature_policy, "
            "source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'optional', 'local', now(), now())",
            directory(),
        )
        senders = [code for code, _, _, status, _ in directory() if status == "active"]
        started = time.perf_counter()
        start = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC)
        # The bench's own constants are written into the text: parameters of unknown use confuse
        # PostgreSQL's type inference in statements that need only some of them.
        script = (
            SEED.replace("$1::int", str(documents))
            .replace("$2::text[]", "ARRAY[" + ",".join(f"'{code}'" for code in senders) + "]")
            .replace("$3::timestamptz", f"'{start.isoformat()}'::timestamptz")
            .replace("$4::timestamptz", f"'{end.isoformat()}'::timestamptz")
        )
        async with connection.transaction():
            for statement in script.split(";\n"):
                if statement.strip():
                    await connection.execute(statement)
        seeded = time.perf_counter() - started
        await connection.execute("ANALYZE")
        counts = {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed names)
            for table in ("documents", "deliveries", "status_reports")
        }
        counts["edoc_documents"] = await connection.fetchval(
            "SELECT count(*) FROM documents WHERE kind = 'edoc'"
        )
        counts["database_mb"] = round(
            await connection.fetchval("SELECT pg_database_size(current_database())") / 2**20
        )
        return {"seed_seconds": round(seeded, 1), **counts}
    finally:
        await connection.close()


async def measure(url: str, year: int, repeat: int) -> dict[str, Any]:
    """Counting from the tables (what the background snapshot does), then reading reports."""
    database = Database(url)
    month = Period.parse(f"{year}-11")
    whole_year = Period.parse(str(year))
    as_of = datetime(year + 1, 1, 15, tzinfo=UTC)
    result: dict[str, Any] = {}
    timings: dict[str, list[float]] = {"month_rollup": [], "month_per_agency": [], "year_xlsx": []}
    try:
        for period, name in ((month, "count_month"), (whole_year, "count_year")):
            started = time.perf_counter()
            async with database.transaction() as session:
                await refresh_snapshot(session, period, as_of=as_of)
            result[f"{name}_seconds"] = round(time.perf_counter() - started, 3)
        fresh = 24 * 3600.0
        for _ in range(repeat):
            async with database.reading() as session:
                started = time.perf_counter()
                rolled = await indicator_report(
                    session, period=month, hub_code=PROVINCE, rollup=True, snapshot_max_age=fresh
                )
                timings["month_rollup"].append(time.perf_counter() - started)
                started = time.perf_counter()
                per_agency = await indicator_report(
                    session, period=month, hub_code=PROVINCE, snapshot_max_age=fresh
                )
                timings["month_per_agency"].append(time.perf_counter() - started)
                started = time.perf_counter()
                year_report = await indicator_report(
                    session, period=whole_year, hub_code=PROVINCE, snapshot_max_age=fresh
                )
                workbook = to_xlsx(year_report)
                timings["year_xlsx"].append(time.perf_counter() - started)
        province = rolled.rows[0]
        result.update(
            {
                "month_rollup_rows": len(rolled.rows),
                "month_rows": len(per_agency.rows),
                "year_rows": len(year_report.rows),
                "xlsx_bytes": len(workbook),
                "province_november": {
                    "sent": province.sent,
                    "received": province.received,
                    "registered_03_share": province.registered_03_share,
                    "median_working_days_to_03": province.median_working_days_to_03,
                    "p90_working_days_to_06": province.p90_working_days_to_06,
                    "overdue": province.overdue,
                },
            }
        )
    finally:
        await database.dispose()
    return {
        **result,
        **{f"{name}_seconds": [round(t, 3) for t in values] for name, values in timings.items()},
        **{f"{name}_median_seconds": round(statistics.median(values), 3) for name, values in timings.items()},
        "load_average": os.getloadavg(),
    }


def kept_database(name: str) -> str:
    """The DSN of database `name` on the bench's server, created if it does not exist."""
    admin = Postgres(POSTGRES)
    try:
        if not admin.value("SELECT 1 FROM pg_database WHERE datname = $1", name):
            admin.value(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    return database_dsn(name)


async def is_empty(dsn: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        return not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM agencies)")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--database", help="seed this database once and keep it (default: a fresh one, dropped afterwards)"
    )
    arguments = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if arguments.database:
            dsn = kept_database(arguments.database)
        else:
            dsn = stack.enter_context(fresh_database())
        url = sqlalchemy_url(dsn)
        asyncio.run(upgrade(url))
        result: dict[str, Any] = {"documents_requested": arguments.documents}
        if asyncio.run(is_empty(dsn)):
            result.update(asyncio.run(seed(dsn, arguments.documents, arguments.year)))
            print(json.dumps(result), flush=True)
        result.update(asyncio.run(measure(url, arguments.year, arguments.repeat)))
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
