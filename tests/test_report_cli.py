"""`carebot import` and `carebot report` end to end: files in, figures out, errors in one line."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parents[1]

OWNERS = """客戶姓名,手機,車牌號碼,廠牌,車型
陳志明,0912-345-678,ABC-1234,Toyota,RAV4
林美玲,0922333444,AB-1234,Audi,A4
黃淑芬,0933111222,CCC-3333,,
王大同,12345,DDD-4444,,
"""
VISITS = """車牌號碼,進廠日期,公里數,維修類別,預約
ABC-1234,2025-12-10,10000,保養,否
ABC-1234,2026-06-20,20000,維修,是
AB-1234,2025-03-01,5000,保養,否
CCC-3333,2026-01-15,3000,保養,否
"""


def carebot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot` with only the settings given here (no .env, no CAREBOT_* from outside)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CAREBOT_", "TELEGRAM_", "WEBHOOK_", "DATABASE_URL", "ADVISOR_"))
    }
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean | {"CAREBOT_TIMEZONE": "Asia/Taipei", "CAREBOT_LOG_LEVEL": "WARNING"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_imported_files_give_the_report_worked_by_hand(
    database_url: str, tmp_path: Path
) -> None:
    owners, visits = tmp_path / "owners.csv", tmp_path / "visits.csv"
    owners.write_bytes(OWNERS.encode("cp950"))
    visits.write_bytes(VISITS.encode("utf-8-sig"))
    db = {"DATABASE_URL": database_url}

    dry = carebot("import", "customers", str(owners), "--dry-run", cwd=tmp_path, **db)
    assert dry.returncode == 1, dry.stderr
    assert "dry run: nothing was written" in dry.stdout
    imported = carebot("import", "customers", str(owners), cwd=tmp_path, **db)
    assert imported.returncode == 1, imported.stderr
    assert "4 rows, 3 good, 1 bad" in imported.stdout
    assert "line 5: phone: '12345'" in imported.stdout
    assert "created: customers 3, vehicles 3" in imported.stdout
    result = carebot("import", "visits", str(visits), cwd=tmp_path, **db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created: odometer readings 4, visits 4" in result.stdout

    result = carebot("report", "--as-of", "2026-06-30", "--format", "json", cwd=tmp_path, **db)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # As of 2026-06-30 (last 12 months from 2025-07-01):
    #   ABC (Toyota): 2025-12-10 and 2026-06-20, 10,000 km in 192 days = 52 km/day, interval
    #     min(365.25, 10,000 / 52 = 192) = 192 days, 10 days since: active, loyal, not lost.
    #   AB (Audi): 2025-03-01, no pace known: 182.6 x 1.5 = 273.9 < 486 days: lost, and in
    #     the 3-, 6- and 12-month counts.
    #   CCC: 2026-01-15, 166 days < 273.9: active, not lost; in the 3-month count.
    assert report["segments"] == {
        "archived": 3,
        "active": 2,
        "loyal": 1,
        "lost": 1,
        "lost_3m": 2,
        "lost_6m": 1,
        "lost_12m": 1,
    }
    # June: one visit (ABC's repair, from an appointment); the December cohort {ABC} came back;
    # customers with a visit in 12 months: ABC's and CCC's owners.
    assert report["kpis"] == {
        "return_rate": 1.0,
        "churn_rate": 0.0,
        "appointment_rate": 1.0,
        "show_rate": None,
        "no_show_rate": None,
        "retention_count": 2,
        "comeback_rate": 0.0,
        "csat_mean": None,
        "csat_top2_share": None,
    }
    assert report["as_of"] == "2026-06-30" and report["month"] == "2026-06"
    assert {row["brand"]: row["lost"] for row in report["breakdowns"]["brand"]} == {
        "Audi": 1,
        "Toyota": 0,
        None: 0,
    }

    result = carebot("report", "--as-of", "2026-06-30", "--format", "csv", cwd=tmp_path, **db)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["section", "group", "metric", "value"]
    assert ["segments", "", "archived", "3"] in rows
    assert ["kpis", "", "show_rate", ""] in rows
    assert ["brand", "Audi", "lost", "1"] in rows

    result = carebot("report", "--as-of", "2026-06-30", "--locale", "en", cwd=tmp_path, **db)
    assert "Lost (mileage-aware)" in result.stdout and "Return rate" in result.stdout
    result = carebot("report", "--as-of", "2026-06-30", cwd=tmp_path, **db)
    assert "檔案客戶" in result.stdout  # the default locale, zh-Hant

    target = tmp_path / "report.xlsx"
    result = carebot(
        "report",
        "--as-of",
        "2026-06-30",
        "--format",
        "xlsx",
        "--output",
        str(target),
        cwd=tmp_path,
        **db,
    )
    assert result.returncode == 0, result.stderr
    workbook = load_workbook(target, read_only=True)
    try:
        assert workbook.sheetnames == ["總覽", "依廠牌", "依車型", "依客戶類別", "關懷訊息成效"]
        summary = {
            row[0]: row[1] for row in workbook["總覽"].iter_rows(values_only=True) if len(row) > 1
        }
    finally:
        workbook.close()
    assert summary["檔案客戶"] == 3 and summary["流失（依里程）"] == 1
    assert summary.get("預約達成率") is None and summary["客戶保有量"] == 2


@pytest.mark.parametrize(
    ("args", "subject"),
    [
        (("import", "customers", "missing.csv"), "missing.csv: no such file"),
        (("import", "visits", "noise.csv"), "no recognised column names"),
        (("import", "visits", "owners.csv"), "no visited_on column"),
        (("report", "--as-of", "2026-13-01"), "--as-of: '2026-13-01' is not a date"),
        (("report", "--format", "pdf"), "--format: unknown format 'pdf'"),
        (("report", "--format", "xlsx"), "needs --output"),
        (("report", "--locale", "fr"), "--locale: unknown locale"),
    ],
)
def test_unusable_input_is_one_clear_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], subject: str
) -> None:
    (tmp_path / "noise.csv").write_bytes(b"\x00\x01 not, a, header\n")
    (tmp_path / "owners.csv").write_text("phone,plate\n0912345678,ABC-1234\n", "utf-8")
    result = carebot(*args, cwd=tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("carebot: ") and subject in lines[0], lines
