"""Run every benchmark in bench/ and rewrite the figures section of BENCHMARKS.md.

    .venv/bin/python bench/run_all.py [--full] [--postgres URL] [--only NAME,...] [--dry-run]

By default each benchmark runs at a size that finishes in minutes on a small machine; --full
uses each script's own defaults (the sizes its docstring names: 1M rows, 3,000 messages...).
PostgreSQL runs when --postgres or CAREBOT_TEST_POSTGRES_URL names a server a superuser can
create databases on: benchmarks that need an empty database get a fresh one, dropped after.
Each benchmark's printed figures go verbatim into BENCHMARKS.md between the FIGURES markers
(--full: the FULL FIGURES markers, so both kinds of run stay side by side), with the command that
made them, the machine, and the wall time; the rest of the file is kept.
"""

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "BENCHMARKS.md"
BEGIN = "<!-- FIGURES BEGIN (bench/run_all.py rewrites this section) -->"
END = "<!-- FIGURES END -->"
# Full-size runs (--full) have a section of their own, so a quick run keeps their figures.
FULL_BEGIN = "<!-- FULL FIGURES BEGIN (bench/run_all.py --full rewrites this section) -->"
FULL_END = "<!-- FULL FIGURES END -->"


@dataclass(frozen=True)
class Bench:
    script: str
    quick: tuple[str, ...]  # arguments for the default, smaller run
    # "empty": the script wants an empty database of its own; "server": it makes its own
    # databases from the URL it is given.
    postgres: str
    sqlite_only: tuple[str, ...] = ()  # arguments that leave PostgreSQL out


BENCHES = (
    Bench("booking.py", (), "empty"),
    Bench("event_signups.py", (), "empty"),
    Bench("delivery_bench.py", ("--messages", "600"), "server"),
    Bench("relay_bench.py", ("--customers", "60"), "empty"),
    Bench("import_bench.py", ("--rows", "20000"), "server", ("--engines", "sqlite")),
    Bench("plan_bench.py", ("--sizes", "20000"), "server"),
    Bench("report_bench.py", ("--vehicles", "20000"), "empty", ("--engines", "sqlite")),
)


def _admin(url: str, statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def run_bench(bench: Bench, full: bool, postgres: str | None) -> tuple[list[str], str, float]:
    """Run one script; its printed lines, the command shown in the doc, and the seconds taken."""
    args = [] if full else list(bench.quick)
    shown = ["bench/" + bench.script, *args]
    fresh = None
    env = dict(os.environ)
    if postgres is None:
        env.pop("CAREBOT_TEST_POSTGRES_URL", None)
        args += bench.sqlite_only
        shown += bench.sqlite_only
    elif bench.postgres == "empty":
        fresh = f"carebot_bench_{uuid.uuid4().hex[:10]}"
        _admin(postgres, f'CREATE DATABASE "{fresh}"')
        args += ["--postgres", _database(postgres, fresh)]
        shown += ["--postgres", "URL"]
    else:
        args += ["--postgres", postgres]
        shown += ["--postgres", "URL"]
    began = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / bench.script), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if fresh is not None:
            _admin(postgres, f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')  # type: ignore[arg-type]
    seconds = time.monotonic() - began
    lines = result.stdout.rstrip().splitlines()
    if result.returncode != 0:
        tail = result.stderr.rstrip().splitlines()[-15:]
        lines += [f"(exited with {result.returncode})", *tail]
    return lines, " ".join(shown), seconds


def machine(postgres: str | None) -> list[str]:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        if found:
            memory = f"{int(found.group(1)) / 1024 / 1024:.1f} GiB"
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        if found:
            cpu = found.group(1).strip()
    server = "not used"
    if postgres is not None:

        async def version() -> str:
            engine = create_async_engine(postgres)
            try:
                async with engine.connect() as connection:
                    return str(await connection.scalar(text("SHOW server_version")))
            finally:
                await engine.dispose()

        server = asyncio.run(version())
    sqlite = subprocess.run(
        [sys.executable, "-c", "import sqlite3; print(sqlite3.sqlite_version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return [
        f"- CPU: {os.cpu_count()} cores ({cpu})",
        f"- Memory: {memory}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python: {platform.python_version()}; SQLite {sqlite}",
        f"- PostgreSQL: {server}",
    ]


def figures_section(
    results: list[tuple[Bench, list[str], str, float]],
    header: list[str],
    markers: tuple[str, str] = (BEGIN, END),
) -> str:
    begin, end = markers
    parts = [begin, "", *header, ""]
    for bench, lines, command, seconds in results:
        parts += [
            f"### {bench.script}",
            "",
            f"`.venv/bin/python {command}` ({seconds:.0f} s)",
            "",
            "```",
            *lines,
            "```",
            "",
        ]
    parts.append(end)
    return "\n".join(parts)


def rewrite(section: str, markers: tuple[str, str] = (BEGIN, END)) -> None:
    begin, end = markers
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin in current and end in current:
        before, rest = current.split(begin, 1)
        after = rest.split(end, 1)[1]
    else:
        before, after = current.rstrip() + "\n\n", "\n"
    DOC.write_text(before + section + after, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="each script's own (full) sizes")
    parser.add_argument("--postgres", default=os.environ.get("CAREBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--only", help="comma-separated script names (e.g. booking.py)")
    parser.add_argument("--dry-run", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.script in args.only.split(",")]
    results = []
    for bench in chosen:
        print(f"== {bench.script}", flush=True)
        lines, command, seconds = run_bench(bench, args.full, args.postgres)
        print("\n".join(lines), flush=True)
        results.append((bench, lines, command, seconds))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    size = "full sizes" if args.full else "quick sizes (the default)"
    command = " ".join(
        [
            "bench/run_all.py",
            *(["--full"] if args.full else []),
            *(["--only", args.only] if args.only else []),
        ]
    )
    header = [
        f"Run {when}, {size}, by `.venv/bin/python {command}`.",
        "",
        *machine(args.postgres),
    ]
    markers = (FULL_BEGIN, FULL_END) if args.full else (BEGIN, END)
    section = figures_section(results, header, markers)
    if args.dry_run:
        print(section)
    else:
        rewrite(section, markers)
        print(f"figures written to {DOC}")
    return 0 if all("(exited with" not in " ".join(r[1]) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
