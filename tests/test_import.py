"""DMS imports: every encoding and header language, bad rows reported, nothing twice, nothing half."""

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.dms_headers import CUSTOMER_COLUMNS, VISIT_COLUMNS
from bot.dms_import import ImportContext, ImportReport, Spelling, import_file
from bot.errors import SetupError
from bot.models import (
    Customer,
    FleetTag,
    OdometerReading,
    ReadingSource,
    ServiceVisit,
    Vehicle,
    VisitKind,
)
from bot.store_config import StoreConfig
from bot.stores import sync_store

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 6, 30)
NOW = dt.datetime(2026, 6, 30, 4, 0, tzinfo=dt.UTC)

# The same owners in three header languages. Rows 4 and 5 (file lines) are bad.
CUSTOMER_HEADERS = {
    "english": "name,phone,plate,VIN,brand,model,registration date,insurance end date,birthday,fleet tag,marketing consent",
    "simplified": "客户姓名,手机,车牌号,车架号,品牌,车型,上牌日期,保险到期日,生日,客户类型,营销同意",
    "traditional": "客戶姓名,手機,車牌號碼,車身號碼,廠牌,車型,領牌日期,保險到期日,生日,客戶類型,行銷同意",
}
SIMPLIFIED_OWNERS = [
    "张伟,138-1234-5678,京A12345,LSVAU2180N2123456,TOYOTA,RAV4,2021-03-01,2026-09-01,1985-05-05,个人,是",
    "王芳,13912345678,沪B8C9D7,,Audi,A4,2022/07/15,,,企业,否",
    "李娜,12345,粤B12345,,,,,,,,",
    "刘洋,13712345678,苏E12345,,Lexus,NX,2023-02-30,,,,",
    "陈静,13612345678,粤BD12345,,Lexus,NX,2024-01-10,,,出租车,1",
]
TRADITIONAL_OWNERS = [
    "陳志明,0912-345-678,abc-1234,JTDKB20U887654321,TOYOTA,RAV4,2021-03-01,2026-09-01,1985-05-05,個人,是",
    "林美玲,0922 333 444,AB1234,,Audi,A4,111/07/15,,,企業,否",
    "黃淑芬,12345,BBB-2222,,,,,,,,",
    "張家豪,0933111222,CCC-3333,,Lexus,NX,2023-02-30,,,,",
    "王大同,(02) 2790-0000,DDD-4444,,Lexus,NX,2024-01-10,,,計程車,1",
]


@pytest.fixture
async def context(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> ImportContext:
    async with transaction(sessions) as session:
        store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)
    market = "+886" if store_config.store.market == "taiwan" else "+86"
    return ImportContext(store.id, market, Spelling.from_store(store_config), TODAY, NOW)


def _mainland(context: ImportContext) -> ImportContext:
    return ImportContext(context.store_id, "+86", context.spelling, context.today, context.now)


async def _snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """Every imported table's rows, without creation times."""
    async with sessions() as session:
        tables = {
            "customer": select(
                Customer.id,
                Customer.name,
                Customer.phone,
                Customer.birthday,
                Customer.fleet_tag,
                Customer.marketing_consent,
                Customer.marketing_consent_at,
            ).order_by(Customer.id),
            "vehicle": select(
                Vehicle.id,
                Vehicle.customer_id,
                Vehicle.plate,
                Vehicle.vin,
                Vehicle.brand,
                Vehicle.model,
                Vehicle.registration_date,
                Vehicle.insurance_end_date,
            ).order_by(Vehicle.id),
            "service_visit": select(
                ServiceVisit.id,
                ServiceVisit.vehicle_id,
                ServiceVisit.visited_on,
                ServiceVisit.km,
                ServiceVisit.kind,
                ServiceVisit.amount,
                ServiceVisit.repair_order,
                ServiceVisit.from_appointment,
            ).order_by(ServiceVisit.id),
            "odometer_reading": select(
                OdometerReading.vehicle_id,
                OdometerReading.read_on,
                OdometerReading.km,
                OdometerReading.source,
            ).order_by(OdometerReading.id),
        }
        return {
            name: [tuple(row) for row in (await session.execute(query)).all()]
            for name, query in tables.items()
        }


def _bad(report: ImportReport) -> dict[int, str]:
    return {bad.line: bad.reason for bad in report.bad}


@pytest.mark.parametrize(
    ("encoding", "headers", "owners", "detected"),
    [
        ("utf-8", "simplified", SIMPLIFIED_OWNERS, "utf-8"),
        ("utf-8", "traditional", TRADITIONAL_OWNERS, "utf-8"),
        ("utf-8-sig", "simplified", SIMPLIFIED_OWNERS, "utf-8-sig"),
        ("utf-8-sig", "traditional", TRADITIONAL_OWNERS, "utf-8-sig"),
        ("gbk", "simplified", SIMPLIFIED_OWNERS, "gb18030"),
        ("gb18030", "traditional", TRADITIONAL_OWNERS, "gb18030"),
        ("big5", "traditional", TRADITIONAL_OWNERS, "cp950"),
        # English headers decide nothing: the text itself tells GBK from Big5.
        ("gbk", "english", SIMPLIFIED_OWNERS, "gb18030"),
        ("big5", "english", TRADITIONAL_OWNERS, "cp950"),
    ],
)
async def test_customer_files_import_in_every_encoding_and_header_language(
    sessions: async_sessionmaker[AsyncSession],
    context: ImportContext,
    tmp_path: Path,
    encoding: str,
    headers: str,
    owners: list[str],
    detected: str,
) -> None:
    path = tmp_path / "owners.csv"
    path.write_bytes("\r\n".join([CUSTOMER_HEADERS[headers], *owners, ""]).encode(encoding))
    if owners is SIMPLIFIED_OWNERS:
        context = _mainland(context)

    report = await import_file(sessions, "customers", path, context)

    assert report.encoding == detected
    assert (report.rows, report.good, report.bad_count) == (5, 3, 2)
    bad = _bad(report)
    assert "phone" in bad[4] and "12345" in bad[4]
    assert "registration date" in bad[5] and "not a real date" in bad[5]
    assert report.created == {"customers": 3, "vehicles": 3}
    async with sessions() as session:
        customers = (await session.execute(select(Customer).order_by(Customer.id))).scalars().all()
        vehicles = (await session.execute(select(Vehicle).order_by(Vehicle.id))).scalars().all()
    assert [c.name for c in customers] == [owners[i].split(",")[0] for i in (0, 1, 4)]
    first, second, third = customers
    assert first.birthday == dt.date(1985, 5, 5)
    assert first.fleet_tag == FleetTag.PRIVATE and first.marketing_consent
    assert first.marketing_consent_at is not None
    assert second.fleet_tag == FleetTag.ENTERPRISE and not second.marketing_consent
    assert third.fleet_tag == FleetTag.TAXI and third.marketing_consent
    # The store file's spelling wins over the DMS's capitals.
    assert vehicles[0].brand == "Toyota" and vehicles[0].model == "RAV4"
    assert vehicles[0].insurance_end_date == dt.date(2026, 9, 1)
    # ROC year 111 is 2022.
    assert vehicles[1].registration_date == dt.date(2022, 7, 15)
    if owners is SIMPLIFIED_OWNERS:
        assert first.phone == "+8613812345678"
        assert [v.plate for v in vehicles] == ["京A12345", "沪B8C9D7", "粤BD12345"]
    else:
        assert first.phone == "+886912345678"
        assert third.phone == "+886227900000"
        assert [v.plate for v in vehicles] == ["ABC-1234", "AB-1234", "DDD-4444"]


VISITS = """車牌號碼,進廠日期,公里數,維修類別,金額,預約,工單號碼
ABC-1234,2025-01-10,10000,定期保養,"NT$3,200",是,RO-1
ABC-1234,2025-07-10,20000,一般維修,5000,否,RO-2
ABC-1234,2025-09-10,15000,一般維修,5000,否,RO-3
ZZZ-9999,2025-09-10,15000,維修,5000,否,RO-4
AB-1234,2025-02-30,5000,保養,1000,,RO-5
AB-1234,2027-01-01,5000,保養,1000,,RO-6
AB-1234,2025-09-12,-5,保養,1000,,RO-7
AB-1234,2025-09-12,8000,鈑金烤漆,12000,,RO-8
AB-1234,2025-09-12,8000,洗車打蠟之外,0,,RO-9
AB-1234,2025-10-01,9000,保修,0,,RO-8
"""


async def _owners(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    path = tmp_path / "owners.csv"
    path.write_text("\n".join([CUSTOMER_HEADERS["traditional"], *TRADITIONAL_OWNERS]), "utf-8")
    await import_file(sessions, "customers", path, context)


async def test_visits_import_with_bad_rows_listed_by_line_and_reason(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    await _owners(sessions, context, tmp_path)
    path = tmp_path / "visits.csv"
    path.write_bytes(VISITS.encode("cp950"))

    report = await import_file(sessions, "visits", path, context)

    bad = _bad(report)
    assert sorted(bad) == [4, 5, 6, 7, 8, 11]
    assert (
        "odometer goes backwards: 20,000 km on 2025-07-10, then 15,000 km on 2025-09-10" in bad[4]
    )
    assert "no vehicle ZZZ-9999" in bad[5]
    assert "not a real date" in bad[6]
    assert "in the future" in bad[7]
    assert "km" in bad[8] and "out of range" in bad[8]
    assert "repair order RO-8 is already recorded for another vehicle or date" in bad[11]
    assert report.created == {"visits": 4, "odometer readings": 4}
    async with sessions() as session:
        visits = (
            (await session.execute(select(ServiceVisit).order_by(ServiceVisit.visited_on)))
            .scalars()
            .all()
        )
        readings = (await session.execute(select(OdometerReading))).scalars().all()
    assert [(v.repair_order, v.kind, v.km) for v in visits] == [
        ("RO-1", VisitKind.MAINTENANCE, 10_000),
        ("RO-2", VisitKind.REPAIR, 20_000),
        ("RO-8", VisitKind.BODYWORK, 8_000),
        ("RO-9", VisitKind.OTHER, 8_000),
    ]
    assert visits[0].from_appointment and not visits[1].from_appointment
    assert str(visits[0].amount) == "3200.00"
    # Km always lives in odometer_reading too.
    assert sorted((r.read_on, r.km, r.source) for r in readings) == [
        (dt.date(2025, 1, 10), 10_000, ReadingSource.IMPORT),
        (dt.date(2025, 7, 10), 20_000, ReadingSource.IMPORT),
        (dt.date(2025, 9, 12), 8_000, ReadingSource.IMPORT),
        (dt.date(2025, 9, 12), 8_000, ReadingSource.IMPORT),
    ]


async def test_unknown_visit_kind_is_a_bad_row(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    await _owners(sessions, context, tmp_path)
    path = tmp_path / "visits.csv"
    path.write_text(
        "plate,date,kind\nABC-1234,2025-01-10,tyre party\nABC-1234,2025-01-11,\n", "utf-8"
    )
    report = await import_file(sessions, "visits", path, context)
    assert _bad(report) == {
        2: "kind: 'tyre party' is not a visit kind (maintenance, repair, bodywork, inspection, other, or 保養/維修/鈑噴/驗車)"
    }
    # A blank kind is "other"; without a km column no reading is stored.
    assert report.created == {"visits": 1}


async def test_importing_the_same_files_twice_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    owners = tmp_path / "owners.csv"
    owners.write_text("\n".join([CUSTOMER_HEADERS["traditional"], *TRADITIONAL_OWNERS]), "utf-8")
    visits = tmp_path / "visits.csv"
    visits.write_bytes(VISITS.encode("cp950"))
    # Visits without repair order numbers are keyed by vehicle, date and kind.
    plain = tmp_path / "plain.csv"
    plain.write_text("plate,date,km,kind\nABC-1234,2025-12-01,25000,maintenance\n", "utf-8")
    for path, kind in ((owners, "customers"), (visits, "visits"), (plain, "visits")):
        await import_file(sessions, kind, path, context)  # type: ignore[arg-type]
    before = await _snapshot(sessions)

    again = [
        await import_file(sessions, kind, path, context)  # type: ignore[arg-type]
        for path, kind in ((owners, "customers"), (visits, "visits"), (plain, "visits"))
    ]

    assert await _snapshot(sessions) == before
    assert all(not report.created and not report.updated for report in again)
    assert again[0].unchanged == {"customers": 3, "vehicles": 3}
    assert again[1].unchanged == {"visits": 4}
    assert again[2].unchanged == {"visits": 1}


async def test_a_later_file_updates_what_it_knows_and_keeps_what_it_leaves_blank(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "name,phone,plate,vin,brand,model,birthday\n"
        "Chen,0912345678,ABC-1234,JTDKB20U887654321,Toyota,RAV4,1985-05-05\n",
        "utf-8",
    )
    await import_file(sessions, "customers", first, context)
    # The car was re-registered: same VIN, new plate; the file has no birthday column.
    later = tmp_path / "later.csv"
    later.write_text(
        "name,phone,plate,vin,model\nChen Chih-ming,0912345678,XYZ-5678,JTDKB20U887654321,\n",
        "utf-8",
    )
    report = await import_file(sessions, "customers", later, context)
    assert report.updated == {"customers": 1, "vehicles": 1}
    async with sessions() as session:
        customer = await session.scalar(select(Customer))
        vehicle = await session.scalar(select(Vehicle))
    assert customer is not None and vehicle is not None
    assert customer.name == "Chen Chih-ming" and customer.birthday == dt.date(1985, 5, 5)
    assert vehicle.plate == "XYZ-5678" and vehicle.model == "RAV4"


async def test_dry_run_reports_the_same_counts_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    path = tmp_path / "owners.csv"
    path.write_text("\n".join([CUSTOMER_HEADERS["traditional"], *TRADITIONAL_OWNERS]), "utf-8")

    dry = await import_file(sessions, "customers", path, context, dry_run=True, batch_rows=2)

    assert await _snapshot(sessions) == {
        "customer": [],
        "vehicle": [],
        "service_visit": [],
        "odometer_reading": [],
    }
    real = await import_file(sessions, "customers", path, context, batch_rows=2)
    assert (dry.rows, dry.bad_count, dry.created) == (real.rows, real.bad_count, real.created)
    assert dry.dry_run and not real.dry_run


async def test_a_row_whose_plate_and_vin_disagree_writes_nothing_of_itself(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    path = tmp_path / "owners.csv"
    path.write_text(
        "name,phone,plate,vin\n"
        "Chen,0912345678,ABC-1234,JTDKB20U887654321\n"
        "Lin,0922333444,AB-1234,\n"
        # A new owner, but the plate is Chen's car and the VIN another one: refused whole.
        "Wang,0933111222,ABC-1234,WVWZZZ1JZXW000001\n",
        "utf-8",
    )
    report = await import_file(sessions, "customers", path, context, batch_rows=10)
    assert _bad(report) == {
        4: "plate ABC-1234 belongs to the vehicle with VIN JTDKB20U887654321, not WVWZZZ1JZXW000001"
    }
    async with sessions() as session:
        phones = set(await session.scalars(select(Customer.phone)))
    assert phones == {"+886912345678", "+886922333444"}


async def test_one_owner_with_two_cars_across_batches_is_one_customer(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    path = tmp_path / "owners.csv"
    path.write_text(
        "name,phone,plate\nChen,0912345678,ABC-1234\nLin,0922333444,AB-1234\n"
        "Chen,0912 345 678,CCC-3333\nChen,0912345678,ABC-1234\n",
        "utf-8",
    )
    progress: list[int] = []
    report = await import_file(
        sessions,
        "customers",
        path,
        context,
        batch_rows=2,
        progress=lambda r: progress.append(r.rows),
        progress_every=2,
    )
    assert report.bad_count == 0
    assert progress == [2, 4]
    async with sessions() as session:
        owners = (
            await session.execute(
                select(Customer.phone, func.count(Vehicle.id))
                .join(Vehicle, Vehicle.customer_id == Customer.id)
                .group_by(Customer.phone)
                .order_by(Customer.phone)
            )
        ).all()
    assert [tuple(o) for o in owners] == [("+886912345678", 2), ("+886922333444", 1)]


async def test_xlsx_exports_with_a_title_row_and_typed_cells_import(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["客戶資料匯出 2026-06-30"])
    sheet.append(["客戶姓名", "手機", "車牌號碼", "廠牌", "領牌日期", "出廠年份", "備註"])
    # Spreadsheets store phones as numbers (the leading 0 lost) and dates as datetimes.
    sheet.append(["陳志明", 912345678, "ABC-1234", "Toyota", dt.datetime(2021, 3, 1), 2020, "VIP"])
    sheet.append(["林美玲", "0922333444", "AB-1234", "Lexus", "2022-07-15", "2025", None])
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(["黃淑芬", "0933111222", "not a plate!", "Audi", None, None, None])
    path = tmp_path / "owners.xlsx"
    workbook.save(path)

    report = await import_file(sessions, "customers", path, context)

    assert report.format == "xlsx" and report.ignored_columns == ["備註"]
    assert report.rows == 3
    assert _bad(report) == {
        4: "registration date: 2022-07-15 is before the car was made (2025)",
        6: "plate: 'not a plate!' has characters a plate does not use",
    }
    async with sessions() as session:
        vehicle = await session.scalar(select(Vehicle))
        customer = await session.scalar(select(Customer))
    assert customer is not None and customer.phone == "+886912345678"
    assert vehicle is not None and vehicle.registration_date == dt.date(2021, 3, 1)
    assert vehicle.manufacture_year == 2020


async def test_unusable_files_are_one_clear_setup_error(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(SetupError, match="no such file"):
        await import_file(sessions, "customers", missing, context)
    unreadable = tmp_path / "noise.csv"
    unreadable.write_bytes(b"\x00\x01\x02 hello, world\n1,2\n")
    with pytest.raises(SetupError, match="no recognised column names"):
        await import_file(sessions, "customers", unreadable, context)
    no_phone = tmp_path / "no_phone.csv"
    no_phone.write_text("name,plate\nChen,ABC-1234\n", "utf-8")
    with pytest.raises(SetupError, match="no phone column"):
        await import_file(sessions, "customers", no_phone, context)
    twice = tmp_path / "twice.csv"
    twice.write_text("phone,手機,plate\n", "utf-8")
    with pytest.raises(SetupError, match="both mean phone"):
        await import_file(sessions, "customers", twice, context)
    old_excel = tmp_path / "old.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(SetupError, match=r"\.xls"):
        await import_file(sessions, "customers", old_excel, context)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SetupError, match="not a readable XLSX"):
        await import_file(sessions, "customers", broken, context)


async def test_garbage_rows_are_reported_never_raised(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    noise = random.Random(7)
    alphabet = "0123456789-/.,;\"' 年月日ABC京粵車號\t\x00\ufffdé"
    lines = [
        "".join(noise.choice(alphabet) for _ in range(noise.randint(0, 60))) for _ in range(300)
    ]
    lines += ['"an unterminated quote, ' + "x" * 2_000_000]
    path = tmp_path / "garbage.csv"
    path.write_text(
        "\n".join(["phone,plate,vin,birthday,fleet tag,registration date", *lines]), "utf-8"
    )

    report = await import_file(sessions, "customers", path, context, batch_rows=50)

    assert report.rows > 0 and report.bad_count >= report.rows - report.good
    assert all(bad.reason for bad in report.bad)
    for kind in ("customers", "visits"):
        raw = tmp_path / f"bytes_{kind}.csv"
        header = "phone,plate\n" if kind == "customers" else "plate,date\n"
        raw.write_bytes(header.encode() + bytes(noise.randrange(256) for _ in range(20_000)))
        report = await import_file(sessions, kind, raw, context)  # type: ignore[arg-type]
        assert report.good + report.bad_count == report.rows


def test_the_readme_lists_every_recognised_column_name() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Importing from your DMS", 1)[1]
    for column in (*CUSTOMER_COLUMNS, *VISIT_COLUMNS):
        for name in column.names:
            assert f"`{name}`" in section, name


async def test_control_characters_are_a_bad_row_on_every_engine(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    # PostgreSQL refuses NUL in text outright; the importer must refuse the row, not the batch.
    path = tmp_path / "owners.csv"
    path.write_text(
        "name,phone,plate\nChen\x00,0912345678,ABC-1234\nLin,0922333444,AB-1234\n", "utf-8"
    )
    report = await import_file(sessions, "customers", path, context)
    assert _bad(report) == {2: "name: has control characters"}
    assert report.created == {"customers": 1, "vehicles": 1}


async def test_a_row_the_database_refuses_costs_that_row_alone(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    # A limit validation does not know of (a later schema might add one) is still one bad row
    # with the database's reason, and nothing of it is left behind. On PostgreSQL the value is
    # refused while the batch is copied in, on SQLite when it is inserted.
    async with transaction(sessions) as session:
        if session.bind.dialect.name == "postgresql":
            await session.execute(text("ALTER TABLE vehicle ALTER COLUMN brand TYPE varchar(5)"))
        else:
            await session.execute(
                text(
                    "CREATE TRIGGER short_brands BEFORE INSERT ON vehicle "
                    "WHEN length(NEW.brand) > 5 "
                    "BEGIN SELECT RAISE(ABORT, 'brand is too long'); END"
                )
            )
    path = tmp_path / "owners.csv"
    path.write_text(
        "name,phone,plate,brand\n"
        "Chen,0912345678,ABC-1234,Lexus\n"
        "Lin,0922333444,AB-1234,Mitsubishi\n"
        "Wang,0933111222,CCC-3333,Audi\n",
        "utf-8",
    )

    report = await import_file(sessions, "customers", path, context)

    assert list(_bad(report)) == [3]
    assert _bad(report)[3].startswith("the database refused it: ")
    assert "too long" in _bad(report)[3]
    assert report.created == {"customers": 2, "vehicles": 2}
    async with sessions() as session:
        phones = set(await session.scalars(select(Customer.phone)))
        plates = set(await session.scalars(select(Vehicle.plate)))
    assert phones == {"+886912345678", "+886933111222"}
    assert plates == {"ABC-1234", "CCC-3333"}


async def test_postgresql_gets_statistics_for_the_tables_an_import_fills(
    sessions: async_sessionmaker[AsyncSession], context: ImportContext, tmp_path: Path
) -> None:
    # Without them it reads whole tables for each batch's lookups once they are large, until
    # autovacuum comes by (or never, where it is off).
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite looks keys up by index without statistics")
    await _owners(sessions, context, tmp_path)
    path = tmp_path / "visits.csv"
    path.write_text("plate,date,km\nABC-1234,2025-01-10,10000\n", "utf-8")
    await import_file(sessions, "visits", path, context)

    async with sessions() as session:
        analysed = set(
            await session.scalars(
                text("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'")
            )
        )
    assert {"customer", "vehicle", "service_visit", "odometer_reading"} <= analysed
