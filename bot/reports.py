"""The store's report: segments, their breakdowns and the month's KPIs, in four formats.

JSON and CSV are for machines: stable English keys, rates as fractions 0-1 or null. The table and
the XLSX workbook are for people: their headings come from templates/<locale>/labels.yaml.
"""

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.kpis import KPI_KEYS, Kpis, month_kpis
from bot.segments import SEGMENT_KEYS, SegmentCounts, SegmentReport, segment_report, segment_series
from bot.store_config import StoreConfig

ReportFormat = Literal["table", "csv", "json", "xlsx"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("table", "csv", "json", "xlsx")
# A label key (without the "report_" prefix) -> the text a person reads.
Labels = Callable[[str], str]

RATE_KEYS = frozenset(
    {
        "return_rate",
        "churn_rate",
        "churn_rate_annual",
        "appointment_rate",
        "show_rate",
        "no_show_rate",
        "comeback_rate",
        "csat_top2_share",
        "attendance_rate",
    }
)
REACH_KEYS = ("sent", "delivered", "blocked", "replied", "booked_14d")
EVENT_KEYS = ("events", "signups", "people", "waitlisted", "attended", "attendance_rate")


@dataclass(frozen=True)
class Report:
    store_code: str
    as_of: dt.date
    segments: SegmentReport
    kpis: Kpis
    lost_factor: float
    loyal_visits: int
    retention_min_visits: int


async def build_report(
    session: AsyncSession,
    store_id: int,
    store_code: str,
    as_of: dt.date,
    config: StoreConfig,
    timezone: ZoneInfo,
) -> Report:
    """Segments as of the day and the KPIs of its month."""
    rules = config.reports
    return Report(
        store_code=store_code,
        as_of=as_of,
        segments=await segment_report(session, store_id, as_of, config.service_intervals, rules),
        kpis=await month_kpis(session, store_id, as_of, timezone, rules),
        lost_factor=rules.lost_factor,
        loyal_visits=rules.loyal_visits,
        retention_min_visits=rules.retention_min_visits,
    )


# --- /stats -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsSummary:
    """Plain values for the advisors' /stats answer."""

    as_of: dt.date
    month: str
    segments: dict[str, int]
    kpis: dict[str, float | int | None]
    series: list[tuple[dt.date, dict[str, int]]]


async def stats_summary(
    session: AsyncSession,
    store_id: int,
    as_of: dt.date,
    config: StoreConfig,
    timezone: ZoneInfo,
) -> StatsSummary:
    """Today's segments and KPIs, and the segments at the end of each of the last 12 months."""
    rules = config.reports
    series = await segment_series(session, store_id, as_of, config.service_intervals, rules)
    kpis = await month_kpis(session, store_id, as_of, timezone, rules)
    return StatsSummary(
        as_of=as_of,
        month=kpis.month,
        segments=series[-1][1].as_dict(),
        kpis=kpis.as_dict(),
        series=[(day, counts.as_dict()) for day, counts in series],
    )


# --- JSON and CSV -----------------------------------------------------------------------------


def _breakdown(items: list[tuple[Any, SegmentCounts]], *names: str) -> list[dict[str, Any]]:
    rows = []
    for key, counts in items:
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(names, values, strict=True)), **counts.as_dict()})
    return rows


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready values; `segments` and `kpis` have exactly the issue's keys."""
    kpis = report.kpis
    return {
        "store": report.store_code,
        "as_of": report.as_of.isoformat(),
        "month": kpis.month,
        "segments": report.segments.total.as_dict(),
        "kpis": kpis.as_dict(),
        "churn_rate_annual": kpis.churn_rate_annual,
        "counts": kpis.counts,
        "breakdowns": {
            "brand": _breakdown(report.segments.by_brand(), "brand"),
            "model": _breakdown(report.segments.by_model(), "brand", "model"),
            "fleet_tag": _breakdown(report.segments.by_fleet_tag(), "fleet_tag"),
        },
        "care_reach": kpis.care_reach_dict(),
        "events": {key: getattr(kpis.events, key) for key in EVENT_KEYS},
        "rules": {
            "lost_factor": report.lost_factor,
            "loyal_visits": report.loyal_visits,
            "retention_min_visits": report.retention_min_visits,
        },
    }


def _long_rows(report: Report) -> Iterator[tuple[str, str, str, Any]]:
    """(section, group, metric, value): one tidy table for spreadsheets and pivots."""
    data = report_json(report)
    for key, value in data["segments"].items():
        yield "segments", "", key, value
    for key, value in data["kpis"].items():
        yield "kpis", "", key, value
    yield "kpis", "", "churn_rate_annual", data["churn_rate_annual"]
    for key, value in data["counts"].items():
        yield "counts", "", key, value
    for dimension, rows in data["breakdowns"].items():
        for row in rows:
            group = " / ".join(_group_name(row.get(name)) for name in _group_names(dimension))
            for key in SEGMENT_KEYS:
                yield dimension, group, key, row[key]
    for kind, figures in data["care_reach"].items():
        for key, value in figures.items():
            yield "care_reach", kind, key, value
    for key, value in data["events"].items():
        yield "events", "", key, value


def _group_names(dimension: str) -> tuple[str, ...]:
    return ("brand", "model") if dimension == "model" else (dimension,)


def _group_name(value: Any) -> str:
    return "" if value is None else str(value)


def report_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "group", "metric", "value"])
    for section, group, metric, value in _long_rows(report):
        writer.writerow([section, group, metric, "" if value is None else value])
    return buffer.getvalue()


def report_json_text(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2) + "\n"


# --- for people: table and workbook -----------------------------------------------------------


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in RATE_KEYS:
        return f"{value * 100:.1f}%"
    if key == "csat_mean":
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [_pad(cell, widths[i], right=i > 0) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _group_label(value: Any, labels: Labels, dimension: str) -> str:
    if value is None:
        return labels("unknown")
    if dimension == "fleet_tag":
        return labels(f"fleet_{value}")
    return str(value)


def _breakdown_sheets(
    report: Report, labels: Labels
) -> list[tuple[str, list[str], list[list[Any]]]]:
    segments = [labels(f"segment_{key}") for key in SEGMENT_KEYS]
    sheets = []
    for dimension, items in (
        ("brand", report.segments.by_brand()),
        ("model", report.segments.by_model()),
        ("fleet_tag", report.segments.by_fleet_tag()),
    ):
        if dimension == "model":
            header = [labels("brand"), labels("model"), *segments]
        else:
            header = [labels(dimension), *segments]
        rows = []
        for key, counts in items:
            names = key if isinstance(key, tuple) else (key,)
            groups = [_group_label(name, labels, dimension) for name in names]
            rows.append([*groups, *(getattr(counts, k) for k in SEGMENT_KEYS)])
        sheets.append((labels(f"by_{dimension}"), header, rows))
    return sheets


def report_table(report: Report, labels: Labels) -> str:
    kpis = report.kpis
    lines = [
        labels("title"),
        f"{labels('store')}: {report.store_code}   {labels('as_of')}: {report.as_of}   "
        f"{labels('month')}: {kpis.month}",
        "",
        f"[{labels('segments')}]",
    ]
    lines += _grid(
        [labels("metric"), labels("value")],
        [
            [labels(f"segment_{key}"), _shown(key, value)]
            for key, value in report.segments.total.as_dict().items()
        ],
    )
    lines += ["", f"[{labels('kpis')}]"]
    kpi_rows = [
        [labels(f"kpi_{key}"), _shown(key, getattr(kpis, key))]
        for key in (*KPI_KEYS, "churn_rate_annual")
    ]
    lines += _grid([labels("metric"), labels("value")], kpi_rows)
    for title, header, rows in _breakdown_sheets(report, labels):
        lines += ["", f"[{title}]"]
        lines += _grid(header, [[_shown("", cell) for cell in row] for row in rows])
    if kpis.care_reach:
        lines += ["", f"[{labels('care_reach')}]"]
        lines += _grid(
            [labels("reach_kind"), *(labels(f"reach_{key}") for key in REACH_KEYS)],
            [
                [reach.kind, *(_shown(key, getattr(reach, key)) for key in REACH_KEYS)]
                for reach in kpis.care_reach
            ],
        )
    lines += ["", f"[{labels('events')}]"]
    lines += _grid(
        [labels("metric"), labels("value")],
        [[labels(f"event_{key}"), _shown(key, getattr(kpis.events, key))] for key in EVENT_KEYS],
    )
    return "\n".join(lines) + "\n"


def write_report_xlsx(report: Report, labels: Labels, target: Path | io.BytesIO) -> None:
    """A workbook with a summary sheet and one sheet per breakdown, streamed as it is written."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    kpis = report.kpis
    summary = workbook.create_sheet(labels("summary")[:31])
    summary.append([labels("store"), report.store_code])
    summary.append([labels("as_of"), report.as_of])
    summary.append([labels("month"), kpis.month])
    summary.append([])
    summary.append([labels("segments")])
    for key, value in report.segments.total.as_dict().items():
        summary.append([labels(f"segment_{key}"), value])
    summary.append([])
    summary.append([labels("kpis")])
    for key in (*KPI_KEYS, "churn_rate_annual"):
        summary.append([labels(f"kpi_{key}"), getattr(kpis, key)])
    summary.append([])
    summary.append([labels("events")])
    for key in EVENT_KEYS:
        summary.append([labels(f"event_{key}"), getattr(kpis.events, key)])
    for title, header, rows in _breakdown_sheets(report, labels):
        sheet = workbook.create_sheet(title[:31])
        sheet.append(header)
        for row in rows:
            sheet.append(row)
    reach = workbook.create_sheet(labels("care_reach")[:31])
    reach.append([labels("reach_kind"), *(labels(f"reach_{key}") for key in REACH_KEYS)])
    for item in kpis.care_reach:
        reach.append([item.kind, *(getattr(item, key) for key in REACH_KEYS)])
    workbook.save(target)


def report_bytes(report: Report, format: ReportFormat, labels: Labels) -> bytes:
    """The report in one of the formats, as bytes to write to a file or send as a document."""
    if format == "json":
        return report_json_text(report).encode()
    if format == "csv":
        # A BOM so that Excel opens the Chinese names as UTF-8.
        return report_csv(report).encode("utf-8-sig")
    if format == "table":
        return report_table(report, labels).encode()
    buffer = io.BytesIO()
    write_report_xlsx(report, labels, buffer)
    return buffer.getvalue()
