"""Care planning time and peak memory for 100k and 1M vehicles, on SQLite and PostgreSQL.

    .venv/bin/python bench/plan_bench.py [--sizes 100000,1000000] [--postgres URL] [--no-sqlite]

For each size it builds a fresh database with that many vehicles (0.8 owners per vehicle,
about 3 visits each, with their odometer readings, some open appointments and a published event),
then plans the same day twice, each run in its own process: the first run inserts the day's
messages, the second must insert none. Printed per run: seconds, rows inserted, and the
planning process's peak resident memory (ru_maxrss, interpreter and libraries included).
PostgreSQL runs when --postgres or CAREBOT_TEST_POSTGRES_URL is given.
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema  # noqa: E402
from bot.store_config import load_store_config  # noqa: E402
from bot.stores import sync_store  # noqa: E402
from scheduler.plan_day import PlanDay  # noqa: E402
from scheduler.planner import plan_care  # noqa: E402

TZ = ZoneInfo("Asia/Taipei")
AS_OF = dt.datetime(2026, 3, 10, 7, 0, tzinfo=TZ)
TODAY = AS_OF.date()
OUT = ROOT / "bench" / "out"
BRANDS = (
    ("Toyota", ("Corolla Cross", "RAV4", "Camry")),
    ("Lexus", ("NX", "RX", "ES")),
    ("Audi", ("A4", "Q5")),
    ("Honda", ("CR-V", "Fit")),
)
BRAND_WEIGHTS = (50, 15, 15, 20)
EPOCH = dt.date(2008, 1, 1)


# --- the generated base -------------------------------------------------------------------------


def customer_rows(count: int) -> Iterator[tuple]:  # type: ignore[type-arg]
    rng = random.Random(1)
    for i in range(1, count + 1):
        birthday = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(18_000))
        yield (
            i,
            1,
            f"Owner {i}",
            7_000_000_000 + i,
            rng.choice(("zh-Hant", "zh-Hans", "en")),
            birthday,
            rng.random() < 0.7,
            True,
        )


def vehicle_facts(i: int) -> tuple:  # type: ignore[type-arg]
    rng = random.Random(i * 7919)
    brand, models = rng.choices(BRANDS, BRAND_WEIGHTS)[0]
    registered = EPOCH + dt.timedelta(days=rng.randrange((TODAY - EPOCH).days))
    # Mostly built the year they were registered; 1% imported 6 years later (old cycle).
    built = registered.year - (6 if rng.random() < 0.01 else int(rng.random() < 0.1))
    insurance_end = dt.date(2026, registered.month, min(registered.day, 28))
    if insurance_end < TODAY:
        insurance_end = insurance_end.replace(year=2027)
    return brand, rng.choice(models), registered, built, rng.random() < 0.05, insurance_end, rng


def vehicle_rows(count: int, customers: int) -> Iterator[tuple]:  # type: ignore[type-arg]
    for i in range(1, count + 1):
        brand, model, registered, built, leased, insurance_end, _ = vehicle_facts(i)
        yield (
            i,
            1,
            (i - 1) % customers + 1,
            f"P{i:07d}",
            brand,
            model,
            registered,
            built,
            "private",
            leased,
            insurance_end,
        )


def visit_rows(count: int) -> Iterator[tuple]:  # type: ignore[type-arg]
    """(vehicle_id, visited_on, km, kind): about 3 per vehicle, 10% never came."""
    for i in range(1, count + 1):
        *_, registered, _, _, _, rng = vehicle_facts(i)
        if rng.random() < 0.1:
            continue
        per_day = rng.uniform(15, 90) if rng.random() < 0.9 else rng.uniform(120, 250)
        newest = max(
            registered + dt.timedelta(days=30), TODAY - dt.timedelta(days=rng.randrange(1, 700))
        )
        if newest >= TODAY:
            continue
        days = [newest]
        for _ in range(rng.randrange(0, 5)):
            earlier = days[-1] - dt.timedelta(days=rng.randrange(150, 400))
            if earlier <= registered:
                break
            days.append(earlier)
        for day in reversed(days):
            kind = "maintenance" if rng.random() < 0.85 else "repair"
            yield i, day, int(((day - registered).days + 1) * per_day), kind


def appointment_rows(count: int, customers: int) -> Iterator[tuple]:  # type: ignore[type-arg]
    rng = random.Random(3)
    for n, vehicle in enumerate(rng.sample(range(1, count + 1), count // 50), start=1):
        day = TODAY + dt.timedelta(days=rng.randrange(0, 30))
        slot = dt.datetime.combine(day, dt.time(rng.randrange(9, 17)), TZ).astimezone(dt.UTC)
        yield (
            n,
            1,
            (vehicle - 1) % customers + 1,
            vehicle,
            "maintenance",
            slot,
            "booked",
            "pending",
            dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        )


# --- loading ------------------------------------------------------------------------------------

TABLES = {
    "customer": (
        "id",
        "store_id",
        "name",
        "telegram_user_id",
        "locale",
        "birthday",
        "marketing_consent",
        "reachable",
    ),
    "vehicle": (
        "id",
        "store_id",
        "customer_id",
        "plate",
        "brand",
        "model",
        "registration_date",
        "manufacture_year",
        "usage",
        "leased",
        "insurance_end_date",
    ),
    "appointment": (
        "id",
        "store_id",
        "customer_id",
        "vehicle_id",
        "service_type",
        "slot_start",
        "status",
        "confirmation",
        "created_at",
    ),
}


def visits_and_readings(count: int) -> tuple[Iterator[tuple], Iterator[tuple]]:  # type: ignore[type-arg]
    def visits() -> Iterator[tuple]:  # type: ignore[type-arg]
        for n, (vehicle, day, km, kind) in enumerate(visit_rows(count), start=1):
            yield n, 1, vehicle, day, km, kind, False, False

    def readings() -> Iterator[tuple]:  # type: ignore[type-arg]
        for n, (vehicle, day, km, _) in enumerate(visit_rows(count), start=1):
            yield n, vehicle, day, km, "visit"

    return visits(), readings()


VISIT_COLUMNS = (
    "id",
    "store_id",
    "vehicle_id",
    "visited_on",
    "km",
    "kind",
    "from_appointment",
    "comeback",
)
READING_COLUMNS = ("id", "vehicle_id", "read_on", "km", "source")
EVENT = {"title": "NX owners' coast drive", "seats": 40, "audience": '{"models": ["NX"]}'}


def load_sqlite(path: Path, count: int) -> None:
    customers = int(count * 0.8)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")

    def put(table: str, columns: tuple[str, ...], rows: Iterator[tuple]) -> None:  # type: ignore[type-arg]
        marks = ", ".join("?" * len(columns))
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            (tuple(_sqlite_value(v) for v in row) for row in rows),
        )

    put("customer", TABLES["customer"], customer_rows(customers))
    put("vehicle", TABLES["vehicle"], vehicle_rows(count, customers))
    visits, readings = visits_and_readings(count)
    put("service_visit", VISIT_COLUMNS, visits)
    put("odometer_reading", READING_COLUMNS, readings)
    put("appointment", TABLES["appointment"], appointment_rows(count, customers))
    starts = dt.datetime.combine(TODAY + dt.timedelta(days=20), dt.time(10), TZ)
    connection.execute(
        "INSERT INTO club_event (store_id, title, seats, starts_at, companions_allowed, audience,"
        " status) VALUES (1, ?, ?, ?, 0, ?, 'published')",
        (EVENT["title"], EVENT["seats"], _sqlite_value(starts), EVENT["audience"]),
    )
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()


def _sqlite_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


async def load_postgres(url: str, count: int) -> None:
    customers = int(count * 0.8)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "customer", records=customer_rows(customers), columns=TABLES["customer"]
        )
        await connection.copy_records_to_table(
            "vehicle", records=vehicle_rows(count, customers), columns=TABLES["vehicle"]
        )
        visits, readings = visits_and_readings(count)
        await connection.copy_records_to_table(
            "service_visit", records=visits, columns=VISIT_COLUMNS
        )
        await connection.copy_records_to_table(
            "odometer_reading", records=readings, columns=READING_COLUMNS
        )
        await connection.copy_records_to_table(
            "appointment",
            records=appointment_rows(count, customers),
            columns=TABLES["appointment"],
        )
        starts = dt.datetime.combine(TODAY + dt.timedelta(days=20), dt.time(10), TZ)
        await connection.execute(
            "INSERT INTO club_event (store_id, title, seats, starts_at, companions_allowed,"
            " audience, status) VALUES (1, $1, $2, $3, 0, $4::jsonb, 'published')",
            EVENT["title"],
            EVENT["seats"],
            starts,
            EVENT["audience"],
        )
        for table in ("customer", "vehicle", "service_visit", "odometer_reading", "appointment"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def prepare(url: str, count: int, sqlite_path: Path | None) -> None:
    engine = make_engine(url)
    await upgrade_schema(engine)
    async with transaction(make_sessionmaker(engine)) as session:
        await sync_store(session, load_store_config(None), timezone=str(TZ), advisor_chat_id=None)
    await engine.dispose()
    if sqlite_path is not None:
        load_sqlite(sqlite_path, count)
    else:
        await load_postgres(url, count)


# --- one planning run, in its own process -------------------------------------------------------


async def plan_once(url: str) -> dict[str, object]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    day = PlanDay(store_id=1, store=load_store_config(None), tz=TZ, as_of=AS_OF)
    started = time.perf_counter()
    async with transaction(sessions) as session:
        result = await plan_care(session, day)
    seconds = time.perf_counter() - started
    await engine.dispose()
    return {"seconds": seconds, "rows": result.total, "counts": result.counts}


def run_plan_process(url: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--plan", url], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- driver -------------------------------------------------------------------------------------


def bench_sqlite(count: int) -> list[dict[str, object]]:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"plan_{count}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    started = time.perf_counter()
    asyncio.run(prepare(url, count, path))
    print(f"  sqlite {count:,}: base built in {time.perf_counter() - started:.0f} s", flush=True)
    runs = [run_plan_process(url), run_plan_process(url)]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return runs


def bench_postgres(admin_url: str, count: int) -> list[dict[str, object]]:
    name = f"carebot_plan_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    url_text = url.render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        engine = create_async_engine(
            make_url(admin_url).set(drivername="postgresql+asyncpg"), isolation_level="AUTOCOMMIT"
        )
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        started = time.perf_counter()
        asyncio.run(prepare(url_text, count, None))
        print(
            f"  postgresql {count:,}: base built in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return [run_plan_process(url_text), run_plan_process(url_text)]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--postgres", default=os.environ.get("CAREBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan:
        outcome = asyncio.run(plan_once(args.plan))
        outcome["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(outcome))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    engines = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    print(f"care planning for {TODAY} (as of {AS_OF:%H:%M} Taipei); runs in their own process")
    results: dict[tuple[str, int], list[dict[str, object]]] = {}
    for engine in engines:
        for size in sizes:
            runs = bench_sqlite(size) if engine == "sqlite" else bench_postgres(args.postgres, size)
            results[(engine, size)] = runs
            for label, run in zip(("first", "second"), runs, strict=True):
                print(
                    f"{engine:<10} {size:>9,} vehicles  {label} run: {run['seconds']:7.2f} s  "
                    f"{run['rows']:>7,} rows inserted  peak {run['peak_mb']:6.0f} MB",
                    flush=True,
                )
            print(f"{'':<21}first run by kind: {runs[0]['counts']}", flush=True)
    for engine in engines:
        small, large = results.get((engine, min(sizes))), results.get((engine, max(sizes)))
        if small and large and len(sizes) > 1:
            ratio = float(large[0]["seconds"]) / float(small[0]["seconds"])  # type: ignore[arg-type]
            print(
                f"{engine}: {max(sizes):,} took {ratio:.1f}x the time of {min(sizes):,} "
                f"(first runs)"
            )


if __name__ == "__main__":
    main()
