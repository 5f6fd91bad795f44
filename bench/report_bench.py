"""Report time for a base of 1M vehicles with about 3 visits each, on SQLite and PostgreSQL.

    .venv/bin/python bench/report_bench.py [--vehicles 1000000] [--postgres URL] [--runs 3]

The base is generated in the database itself (set-based INSERT ... SELECT): one owner per
vehicle, 1-5 visits per vehicle (3 on average) over three years with their odometer readings,
and appointments, survey answers and care messages for the KPIs. Then the whole report
(segments with their breakdowns, and the month's KPIs) is built `--runs` times and the median
printed, the /due list for 30 days and the /stats segment series (12 month ends in one
statement, median of `--runs`). With --stats also the same series the way it used to be built
(a segment query per month end, once; slow) and the whole /stats summary with the KPIs.
"""

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema  # noqa: E402
from bot.due import due_list  # noqa: E402
from bot.reports import build_report, stats_summary  # noqa: E402
from bot.segments import (  # noqa: E402
    SegmentCounts,
    segment_report,
    segment_series,
    series_days,
)
from bot.store_config import StoreConfig, load_store_config  # noqa: E402
from bot.stores import sync_store  # noqa: E402

AS_OF = dt.date(2026, 6, 30)

POSTGRES_SEED = [
    """INSERT INTO customer (store_id, name, phone, marketing_consent, reachable, fleet_tag)
       SELECT :store, 'owner ' || g, '+8869' || lpad(g::text, 8, '0'), g % 2 = 0, true,
              (ARRAY['private', 'taxi', 'enterprise', 'rental', NULL])[1 + g % 5]
       FROM generate_series(1, :n) AS g""",
    """INSERT INTO vehicle (store_id, customer_id, plate, brand, model, registration_date, usage,
                           leased)
       SELECT :store, c.id, 'P' || c.id,
              (ARRAY['Toyota', 'Lexus', 'Audi', 'Honda', NULL])[1 + c.id % 5],
              (ARRAY['RAV4', 'NX', 'A4', 'CR-V', NULL])[1 + c.id % 5],
              DATE '2014-01-01' + (c.id % 3000)::int, 'private', false
       FROM customer AS c""",
    """INSERT INTO service_visit (store_id, vehicle_id, visited_on, km, kind, from_appointment,
                                 comeback)
       SELECT :store, v.id, d.day, ((d.day - v.registration_date) * (5 + v.id % 120))::int,
              (ARRAY['maintenance', 'repair', 'maintenance', 'bodywork'])[1 + (v.id + k) % 4],
              (v.id + k) % 3 = 0, false
       FROM vehicle AS v
       CROSS JOIN LATERAL generate_series(0, (v.id % 5)::int) AS k
       CROSS JOIN LATERAL (SELECT DATE '2026-06-30' - ((v.id * 7 + k * 211) % 1100)::int AS day) AS d
       WHERE d.day > v.registration_date""",
    """INSERT INTO odometer_reading (vehicle_id, read_on, km, source)
       SELECT vehicle_id, visited_on, km, 'visit' FROM service_visit""",
    """INSERT INTO appointment (store_id, customer_id, vehicle_id, service_type, slot_start,
                               status, confirmation)
       SELECT :store, v.customer_id, v.id, 'maintenance',
              TIMESTAMPTZ '2026-06-30 02:00+00' - make_interval(days => (v.id % 400)::int),
              (ARRAY['completed', 'arrived', 'no_show', 'cancelled', 'booked'])[1 + v.id % 5],
              'pending'
       FROM vehicle AS v WHERE v.id % 5 = 0""",
    """INSERT INTO survey_response (store_id, customer_id, score, asked_at, answered_at)
       SELECT :store, v.customer_id, 1 + v.id % 5, now(),
              TIMESTAMPTZ '2026-06-30 02:00+00' - make_interval(days => (v.id % 300)::int)
       FROM vehicle AS v WHERE v.id % 10 = 0""",
    """INSERT INTO outbox (store_id, customer_id, kind, idempotency_key, marketing, template,
                          payload, due_at, status, attempts, sent_at)
       SELECT :store, v.customer_id,
              (ARRAY['maintenance_due', 'insurance_due', 'birthday'])[1 + v.id % 3],
              'bench:' || v.id, false, 'bench', '{}',
              TIMESTAMPTZ '2026-06-30 02:00+00' - make_interval(days => (v.id % 200)::int),
              (ARRAY['sent', 'sent', 'blocked', 'failed'])[1 + v.id % 4], 1,
              TIMESTAMPTZ '2026-06-30 02:00+00' - make_interval(days => (v.id % 200)::int)
       FROM vehicle AS v WHERE v.id % 4 = 0""",
]

SQLITE_SEED = [
    """WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n)
       INSERT INTO customer (store_id, name, phone, marketing_consent, reachable, fleet_tag)
       SELECT :store, 'owner ' || x, printf('+8869%08d', x), x % 2 = 0, 1,
              CASE x % 5 WHEN 0 THEN 'private' WHEN 1 THEN 'taxi' WHEN 2 THEN 'enterprise'
                         WHEN 3 THEN 'rental' END
       FROM g""",
    """INSERT INTO vehicle (store_id, customer_id, plate, brand, model, registration_date, usage,
                           leased)
       SELECT :store, c.id, 'P' || c.id,
              CASE c.id % 5 WHEN 0 THEN 'Toyota' WHEN 1 THEN 'Lexus' WHEN 2 THEN 'Audi'
                            WHEN 3 THEN 'Honda' END,
              CASE c.id % 5 WHEN 0 THEN 'RAV4' WHEN 1 THEN 'NX' WHEN 2 THEN 'A4'
                            WHEN 3 THEN 'CR-V' END,
              date('2014-01-01', '+' || (c.id % 3000) || ' days'), 'private', 0
       FROM customer AS c""",
    # SQLite has no LATERAL: the visit days come from a numbers table joined per vehicle.
    """WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < 4),
       days AS (
         SELECT v.id AS vehicle_id, v.registration_date AS registered, k.n AS n,
                date('2026-06-30', '-' || ((v.id * 7 + k.n * 211) % 1100) || ' days') AS day
         FROM vehicle AS v JOIN k ON k.n <= v.id % 5)
       INSERT INTO service_visit (store_id, vehicle_id, visited_on, km, kind,
                                  from_appointment, comeback)
       SELECT :store, vehicle_id, day,
              CAST((julianday(day) - julianday(registered)) * (5 + vehicle_id % 120) AS INTEGER),
              CASE (vehicle_id + n) % 4 WHEN 1 THEN 'repair' WHEN 3 THEN 'bodywork'
                                        ELSE 'maintenance' END,
              (vehicle_id + n) % 3 = 0, 0
       FROM days WHERE day > registered""",
    """INSERT INTO odometer_reading (vehicle_id, read_on, km, source)
       SELECT vehicle_id, visited_on, km, 'visit' FROM service_visit""",
    """INSERT INTO appointment (store_id, customer_id, vehicle_id, service_type, slot_start,
                               status, confirmation, created_at, updated_at)
       SELECT :store, customer_id, id, 'maintenance',
              strftime('%Y-%m-%d %H:%M:%S.000000', '2026-06-30 02:00:00',
                       '-' || (id % 400) || ' days'),
              CASE id % 5 WHEN 0 THEN 'completed' WHEN 1 THEN 'arrived' WHEN 2 THEN 'no_show'
                          WHEN 3 THEN 'cancelled' ELSE 'booked' END,
              'pending', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'
       FROM vehicle WHERE id % 5 = 0""",
    """INSERT INTO survey_response (store_id, customer_id, score, asked_at, answered_at)
       SELECT :store, customer_id, 1 + id % 5, '2026-01-01 00:00:00.000000',
              strftime('%Y-%m-%d %H:%M:%S.000000', '2026-06-30 02:00:00',
                       '-' || (id % 300) || ' days')
       FROM vehicle WHERE id % 10 = 0""",
    """INSERT INTO outbox (store_id, customer_id, kind, idempotency_key, marketing, template,
                          payload, due_at, status, attempts, sent_at)
       SELECT :store, customer_id,
              CASE id % 3 WHEN 0 THEN 'maintenance_due' WHEN 1 THEN 'insurance_due'
                          ELSE 'birthday' END,
              'bench:' || id, 0, 'bench', '{}',
              strftime('%Y-%m-%d %H:%M:%S.000000', '2026-06-30 02:00:00',
                       '-' || (id % 200) || ' days'),
              CASE id % 4 WHEN 2 THEN 'blocked' WHEN 3 THEN 'failed' ELSE 'sent' END, 1,
              strftime('%Y-%m-%d %H:%M:%S.000000', '2026-06-30 02:00:00',
                       '-' || (id % 200) || ' days')
       FROM vehicle WHERE id % 4 = 0""",
]


async def seed_postgres(engine: AsyncEngine, store_id: int, n: int) -> None:
    async with engine.begin() as connection:
        for statement in POSTGRES_SEED:
            await connection.execute(text(statement), {"store": store_id, "n": n})
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))


async def seed_sqlite(engine: AsyncEngine, store_id: int, n: int) -> None:
    async with engine.begin() as connection:
        for statement in SQLITE_SEED:
            await connection.execute(text(statement), {"store": store_id, "n": n})
        await connection.execute(text("ANALYZE"))


async def bench(url: str, engine_name: str, vehicles: int, runs: int, stats: bool) -> None:
    engine = make_engine(url)
    await upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    config = load_store_config(None)
    async with transaction(sessions) as session:
        store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=None)
    started = time.perf_counter()
    seed = seed_postgres if engine_name == "postgresql" else seed_sqlite
    await seed(engine, store.id, vehicles)
    async with engine.connect() as connection:
        visits = (await connection.execute(text("SELECT count(*) FROM service_visit"))).scalar()
    print(
        f"{engine_name}: seeded {vehicles:,} vehicles, {visits:,} visits "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    timezone = ZoneInfo("Asia/Taipei")
    times = []
    for _ in range(runs):
        async with sessions() as session:
            started = time.perf_counter()
            report = await build_report(session, store.id, store.code, AS_OF, config, timezone)
            times.append(time.perf_counter() - started)
    print(
        f"  report (segments + breakdowns + KPIs): median {statistics.median(times):.2f} s "
        f"of {runs} ({', '.join(f'{t:.2f}' for t in times)}); "
        f"archived {report.segments.total.archived:,}, lost {report.segments.total.lost:,}",
        flush=True,
    )
    async with sessions() as session:
        started = time.perf_counter()
        due = await due_list(session, store.id, AS_OF, 30, config)
    print(f"  /due 30 days: {len(due):,} items in {time.perf_counter() - started:.2f} s")
    series = await bench_series(sessions, store.id, config, runs)
    if stats:
        await bench_stats(sessions, store.id, config, timezone, series)
    await engine.dispose()


async def bench_series(
    sessions: async_sessionmaker[AsyncSession], store_id: int, config: StoreConfig, runs: int
) -> list[tuple[dt.date, SegmentCounts]]:
    """The /stats segment series: 12 month ends in one statement, `runs` times."""
    times = []
    for _ in range(runs):
        async with sessions() as session:
            started = time.perf_counter()
            series = await segment_series(
                session, store_id, AS_OF, config.service_intervals, config.reports
            )
            times.append(time.perf_counter() - started)
    print(
        f"  /stats series (12 month ends, one statement): median {statistics.median(times):.2f} s "
        f"of {runs} ({', '.join(f'{t:.2f}' for t in times)})",
        flush=True,
    )
    return series


async def bench_stats(
    sessions: async_sessionmaker[AsyncSession],
    store_id: int,
    config: StoreConfig,
    timezone: ZoneInfo,
    series: list[tuple[dt.date, SegmentCounts]],
) -> None:
    """The same series the way it used to be built, a segment query per month end, once; then
    the whole /stats summary."""
    async with sessions() as session:
        started = time.perf_counter()
        per_day = [
            (
                day,
                (
                    await segment_report(
                        session, store_id, day, config.service_intervals, config.reports
                    )
                ).total,
            )
            for day in series_days(AS_OF)
        ]
    print(
        f"  /stats series, a segment query per month end: {time.perf_counter() - started:.2f} s; "
        f"same figures: {per_day == series}",
        flush=True,
    )
    async with sessions() as session:
        started = time.perf_counter()
        await stats_summary(session, store_id, AS_OF, config, timezone)
    print(f"  /stats figures (series + KPIs): {time.perf_counter() - started:.2f} s", flush=True)


async def with_postgres(postgres: str, vehicles: int, runs: int, stats: bool) -> None:
    name = f"carebot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(postgres, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres).set(drivername="postgresql+asyncpg", database=name)
        await bench(url.render_as_string(hide_password=False), "postgresql", vehicles, runs, stats)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("CAREBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="also time the series a segment query per month end, and the /stats summary",
    )
    args = parser.parse_args()
    engines = args.engines.split(",")
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'report_bench.db'}"
            asyncio.run(bench(url, "sqlite", args.vehicles, args.runs, args.stats))
    if "postgresql" in engines and args.postgres:
        asyncio.run(with_postgres(args.postgres, args.vehicles, args.runs, args.stats))


if __name__ == "__main__":
    main()
