"""Import speed and peak memory for generated DMS files of 100k and 1M rows.

    .venv/bin/python bench/import_bench.py [--rows 100000,1000000] [--postgres URL]

For each size it writes a customers file (one owner and vehicle a row) and a visits file (one
repair order a row) as Big5 CSV, imports both into a fresh database (SQLite, and PostgreSQL when
--postgres or CAREBOT_TEST_POSTGRES_URL is given), and prints rows per second and the peak
memory. Each import runs in its own process and memory is that process's peak resident set
(ru_maxrss) minus its resident set just before the import began, so the interpreter and the
libraries are not counted and sizes compare fairly.
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema  # noqa: E402
from bot.dms_import import ImportContext, Spelling, import_file  # noqa: E402
from bot.store_config import load_store_config  # noqa: E402
from bot.stores import sync_store  # noqa: E402

BRANDS = ("Toyota", "Lexus", "Audi", "豐田")
MODELS = ("RAV4", "NX", "A4", "Corolla Cross")


def plate(i: int) -> str:
    letters = ""
    n = i // 10_000
    for _ in range(3):
        n, r = divmod(n, 26)
        letters = chr(65 + r) + letters
    return f"{letters}-{i % 10_000:04d}"


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    customers = folder / f"customers_{rows}.csv"
    visits = folder / f"visits_{rows}.csv"
    start = dt.date(2024, 1, 1)
    with customers.open("w", encoding="cp950", newline="") as out:
        out.write("客戶姓名,手機,車牌號碼,廠牌,車型,領牌日期,客戶類型,行銷同意\n")
        for i in range(rows):
            registered = start - dt.timedelta(days=i % 2000)
            out.write(
                f"陳志明{i % 1000},09{i:08d},{plate(i)},{BRANDS[i % 4]},{MODELS[i % 4]},"
                f"{registered.isoformat()},{'個人' if i % 7 else '計程車'},{'是' if i % 2 else '否'}\n"
            )
    with visits.open("w", encoding="cp950", newline="") as out:
        out.write("車牌號碼,進廠日期,公里數,維修類別,金額,預約,工單號碼\n")
        for i in range(rows):
            day = start + dt.timedelta(days=i % 700)
            out.write(
                f"{plate(i)},{day.isoformat()},{10_000 + i % 50_000},"
                f"{'定期保養' if i % 3 else '一般維修'},{1000 + i % 9000},{'是' if i % 4 else '否'},RO{i}\n"
            )
    return customers, visits


def rss_kib() -> int:
    # ru_maxrss is in KiB on Linux; the current resident set comes from /proc.
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def child(url: str, kind: str, path: Path) -> dict[str, float]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    config = load_store_config(None)
    async with transaction(sessions) as session:
        store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=None)
    context = ImportContext(
        store.id, "+886", Spelling.from_store(config), dt.date(2026, 6, 30), dt.datetime.now(dt.UTC)
    )
    before = rss_kib()
    started = time.perf_counter()
    report = await import_file(sessions, kind, path, context)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await engine.dispose()
    return {
        "rows": report.rows,
        "bad": report.bad_count,
        "seconds": seconds,
        "peak_mib": (peak - before) / 1024,
        "baseline_mib": before / 1024,
    }


async def fresh_database(
    kind: str, folder: Path, postgres: str | None, rows: int
) -> tuple[str, object]:
    if kind == "sqlite":
        path = folder / f"bench_{rows}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
        drop = None
    else:
        assert postgres is not None
        name = f"carebot_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(postgres, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = (
            make_url(postgres)
            .set(drivername="postgresql+asyncpg", database=name)
            .render_as_string(hide_password=False)
        )
        drop = name
    engine = make_engine(url)
    await upgrade_schema(engine)
    await engine.dispose()
    return url, drop


async def drop_database(postgres: str, name: str) -> None:
    admin = create_async_engine(postgres, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def run_child(url: str, kind: str, path: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", url, kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated file sizes")
    parser.add_argument("--postgres", default=os.environ.get("CAREBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, kind, path = args.child
        print(json.dumps(asyncio.run(child(url, kind, Path(path)))))
        return
    engines = [e for e in args.engines.split(",") if e == "sqlite" or args.postgres]
    print("memory: peak resident set of the importing process above its resident set at start")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for rows in (int(n) for n in args.rows.split(",")):
            started = time.perf_counter()
            customers, visits = write_files(folder, rows)
            size = (customers.stat().st_size + visits.stat().st_size) / 2**20
            print(
                f"{rows:,} rows: files written in {time.perf_counter() - started:.1f} s ({size:.0f} MiB)",
                flush=True,
            )
            for engine in engines:
                url, drop = asyncio.run(fresh_database(engine, folder, args.postgres, rows))
                try:
                    for kind, path in (("customers", customers), ("visits", visits)):
                        figures = run_child(url, kind, path)
                        print(
                            f"  {engine:10} {kind:9} {rows:>9,} rows  "
                            f"{figures['rows'] / figures['seconds']:>9,.0f} rows/s  "
                            f"{figures['seconds']:7.1f} s  peak +{figures['peak_mib']:.0f} MiB "
                            f"(bad {figures['bad']:.0f})",
                            flush=True,
                        )
                finally:
                    if drop is not None:
                        asyncio.run(drop_database(args.postgres, str(drop)))


if __name__ == "__main__":
    main()
