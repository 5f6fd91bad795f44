"""The DMS importer under random files: it never fails, it reports.

Random bytes, random rows under real or scrambled headers, in every encoding a DMS writes: the
import either refuses the whole file with a SetupError that says why (unreadable header, a
required column missing) or returns a report in which every row is counted as written or listed
as bad with its line and a reason, and the database holds no more customers than good rows.
"""

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.dms_import import ImportContext, ImportReport, Spelling, import_file
from bot.errors import SetupError
from bot.models import Customer, ServiceVisit
from bot.store_config import StoreConfig
from bot.stores import sync_store

pytestmark = pytest.mark.slow

TODAY = dt.date(2026, 6, 30)
NOW = dt.datetime(2026, 6, 30, 4, 0, tzinfo=dt.UTC)
CUSTOMER_COLUMNS = ["name", "phone", "plate", "VIN", "brand", "model", "registration date"]
CUSTOMER_COLUMNS_ZH = ["客戶姓名", "手機", "車牌號碼", "車身號碼", "廠牌", "車型", "領牌日期"]
VISIT_COLUMNS = ["plate", "date", "km", "kind", "amount", "repair order"]
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "big5", "utf-16", "latin-1"]
DELIMITERS = [",", "\t", ";", "|"]
CELLS = [
    "",
    "陳志明",
    "0912-345-678",
    "+886 912 345 678",
    "12345",
    "ABC-1234",
    "京A12345",
    "JTDKB20U887654321",
    "TOYOTA",
    "RAV4",
    "2021-03-01",
    "111/07/15",
    "2023-02-30",
    "45,210",
    "-5",
    "保養",
    "maintenance",
    "1e308",
    '"quoted, with comma"',
    '"unterminated',
    "=cmd|' /C calc'!A0",
    "<b>{{ 7*7 }}</b>",
    "\x00",
    "\r",
]
_files = itertools.count()

cells = st.one_of(st.sampled_from(CELLS), st.text(max_size=30))
headers = st.one_of(
    st.sampled_from([CUSTOMER_COLUMNS, CUSTOMER_COLUMNS_ZH, VISIT_COLUMNS]),
    st.lists(st.one_of(st.sampled_from(CUSTOMER_COLUMNS + VISIT_COLUMNS), st.text(max_size=12))),
)
# Per column of CUSTOMER_COLUMNS: values a DMS writes, so that many rows are good.
LIKELY = [
    ["陳志明", "Lin", "王<小明>"],
    [f"09{n:08d}" for n in range(12, 40)] + ["+886 912 345 678", "(02) 2790-0000"],
    [f"AB{c}-{n:04d}" for c in "CDE" for n in range(1, 9)] + ["京A12345"],
    ["", "JTDKB20U887654321", "LSVAU2180N2123456"],
    ["TOYOTA", "Audi", "Lexus", ""],
    ["RAV4", "A4", "NX", ""],
    ["2021-03-01", "111/07/15", "2024/1/5", ""],
]
likely_rows = st.tuples(*(st.one_of(st.sampled_from(v), cells) for v in LIKELY)).map(list)
tables = st.tuples(
    headers,
    st.lists(st.lists(cells, max_size=9), max_size=25),
    st.sampled_from(ENCODINGS),
    st.sampled_from(DELIMITERS),
)


@pytest.fixture
async def context(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> ImportContext:
    async with transaction(sessions) as session:
        store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)
    return ImportContext(store.id, "+886", Spelling.from_store(store_config), TODAY, NOW)


def _csv(header: list[str], rows: list[list[str]], encoding: str, delimiter: str) -> bytes:
    lines = [delimiter.join(line) for line in [header, *rows]]
    return "\r\n".join(lines).encode(encoding, errors="replace")


async def _import_and_check(
    sessions: async_sessionmaker[AsyncSession],
    context: ImportContext,
    tmp_path: Path,
    data: bytes,
    suffix: str = ".csv",
) -> ImportReport | None:
    path = tmp_path / f"fuzz-{next(_files)}{suffix}"
    path.write_bytes(data)
    async with sessions() as session:
        customers_before = await session.scalar(select(func.count()).select_from(Customer))
        visits_before = await session.scalar(select(func.count()).select_from(ServiceVisit))
    reports = []
    for kind in ("customers", "visits"):
        try:
            reports.append(await import_file(sessions, kind, path, context, batch_rows=7))
        except SetupError as refused:
            assert str(refused).strip(), "a refusal says why"
    async with sessions() as session:
        customers = await session.scalar(select(func.count()).select_from(Customer))
        visits = await session.scalar(select(func.count()).select_from(ServiceVisit))
    for report in reports:
        assert 0 <= report.bad_count <= report.rows
        assert len(report.bad) == min(report.bad_count, 1000)
        for bad in report.bad:
            assert bad.line >= 1 and bad.reason.strip()
        if report.kind == "customers":
            assert customers - customers_before <= report.good
        else:
            assert visits - visits_before <= report.good
    return reports[0] if reports else None


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.binary(max_size=2_000))
async def test_random_bytes_are_refused_with_a_reason_or_reported_row_by_row(
    sessions: async_sessionmaker[AsyncSession],
    context: ImportContext,
    tmp_path: Path,
    data: bytes,
) -> None:
    await _import_and_check(sessions, context, tmp_path, data)


@FUZZ
@given(table=tables)
async def test_random_rows_under_any_header_and_encoding_are_reported_row_by_row(
    sessions: async_sessionmaker[AsyncSession],
    context: ImportContext,
    tmp_path: Path,
    table: tuple[list[str], list[list[str]], str, str],
) -> None:
    header, rows, encoding, delimiter = table
    await _import_and_check(sessions, context, tmp_path, _csv(header, rows, encoding, delimiter))


@FUZZ
@given(
    rows=st.lists(likely_rows, max_size=25),
    encoding=st.sampled_from(ENCODINGS[:4]),
    chinese=st.booleans(),
)
async def test_likely_customer_rows_mixed_with_junk_are_written_or_listed_as_bad(
    sessions: async_sessionmaker[AsyncSession],
    context: ImportContext,
    tmp_path: Path,
    rows: list[list[str]],
    encoding: str,
    chinese: bool,
) -> None:
    header = CUSTOMER_COLUMNS_ZH if chinese else CUSTOMER_COLUMNS
    data = _csv(header, [[c.replace(",", " ") for c in row] for row in rows], encoding, ",")
    report = await _import_and_check(sessions, context, tmp_path, data)
    assert report is not None and report.kind == "customers"


@FUZZ
@given(data=st.binary(max_size=600))
async def test_a_broken_xlsx_is_refused_with_a_reason(
    sessions: async_sessionmaker[AsyncSession],
    context: ImportContext,
    tmp_path: Path,
    data: bytes,
) -> None:
    await _import_and_check(sessions, context, tmp_path, b"PK\x03\x04" + data, ".xlsx")
