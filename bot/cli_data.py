"""What `carebot import` and `carebot report` do: open the database, run, print the outcome."""

import asyncio
import datetime as dt
import sys
from pathlib import Path

from bot.config import Settings
from bot.dms_import import ImportContext, ImportKind, ImportReport, Spelling, import_file
from bot.errors import SetupError
from bot.locales import Locale
from bot.phones import country_for_market
from bot.render import Renderer
from bot.reports import REPORT_FORMATS, Report, ReportFormat, build_report, report_bytes
from bot.startup import open_store
from bot.store_config import StoreConfig

PROGRESS_EVERY = 50_000


def run_import(
    settings: Settings, config: StoreConfig, kind: ImportKind, path: Path, *, dry_run: bool
) -> int:
    """Import one file; 0 when every row was good, 1 when some were refused."""
    if not path.is_file():
        raise SetupError(str(path), "no such file")
    report = asyncio.run(_import(settings, config, kind, path, dry_run=dry_run))
    _print_import(report)
    return 1 if report.bad_count else 0


async def _import(
    settings: Settings, config: StoreConfig, kind: ImportKind, path: Path, *, dry_run: bool
) -> ImportReport:
    async with open_store(settings, config) as opened:
        now = dt.datetime.now(dt.UTC)
        context = ImportContext(
            store_id=opened.store_id,
            default_country=country_for_market(config.store.market),
            spelling=Spelling.from_store(config),
            today=now.astimezone(settings.timezone).date(),
            now=now,
        )
        return await import_file(
            opened.sessions,
            kind,
            path,
            context,
            dry_run=dry_run,
            progress=_print_progress,
            progress_every=PROGRESS_EVERY,
        )


def _print_progress(report: ImportReport) -> None:
    print(
        f"carebot: {report.rows:,} rows read, {report.bad_count:,} bad so far",
        file=sys.stderr,
        flush=True,
    )


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counter.items())) or "none"


def _print_import(report: ImportReport) -> None:
    encoding = f", {report.encoding}" if report.encoding else ""
    print(
        f"{report.path} ({report.format}{encoding}): {report.rows:,} rows, "
        f"{report.good:,} good, {report.bad_count:,} bad"
    )
    for bad in report.bad:
        print(f"  line {bad.line}: {bad.reason}")
    if report.bad_count > len(report.bad):
        print(f"  ... and {report.bad_count - len(report.bad):,} more bad rows")
    print(f"created: {_counts(report.created)}")
    print(f"updated: {_counts(report.updated)}")
    print(f"unchanged: {_counts(report.unchanged)}")
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}")
    if report.dry_run:
        print("dry run: nothing was written")


def parse_as_of(value: str | None, settings: Settings) -> dt.date:
    if value is None:
        return dt.datetime.now(settings.timezone).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SetupError("--as-of", f"{value!r} is not a date (use YYYY-MM-DD)") from None


def parse_format(value: str) -> ReportFormat:
    for known in REPORT_FORMATS:
        if value.lower() == known:
            return known
    raise SetupError("--format", f"unknown format {value!r}; use {', '.join(REPORT_FORMATS)}")


def run_report(
    settings: Settings,
    config: StoreConfig,
    *,
    as_of: dt.date,
    format: ReportFormat,
    output: Path | None,
    locale: Locale,
) -> int:
    """Print the report, or write it to a file."""
    if format == "xlsx" and output is None:
        raise SetupError("--format xlsx", "needs --output FILE.xlsx")
    if output is not None and not output.parent.exists():
        raise SetupError("--output", f"no such folder: {output.parent}")
    report = asyncio.run(_report(settings, config, as_of))
    renderer = Renderer(settings.carebot_template_dir)
    data = report_bytes(report, format, lambda key: renderer.label(locale, f"report_{key}"))
    if output is None:
        sys.stdout.write(data.decode("utf-8-sig"))
    else:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise SetupError("--output", f"cannot write {output}: {exc.strerror}") from None
        print(f"wrote {output}", file=sys.stderr)
    return 0


async def _report(settings: Settings, config: StoreConfig, as_of: dt.date) -> Report:
    async with open_store(settings, config) as opened, opened.sessions() as session:
        return await build_report(
            session, opened.store_id, opened.store_code, as_of, config, settings.timezone
        )
