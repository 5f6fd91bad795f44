"""The daily-km estimate and date maths agree on both engines with hand-worked figures."""

import datetime as dt

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.mileage import vehicle_mileage
from bot.models import Customer, OdometerReading, ReadingSource, Vehicle
from bot.sql_dates import add_days, add_months, days_between
from bot.store_config import StoreConfig
from bot.stores import sync_store


async def _vehicle(
    session: AsyncSession, store_id: int, plate: str, registered: dt.date | None
) -> int:
    customer = Customer(store_id=store_id, name=plate)
    session.add(customer)
    await session.flush()
    vehicle = Vehicle(
        store_id=store_id, customer_id=customer.id, plate=plate, registration_date=registered
    )
    session.add(vehicle)
    await session.flush()
    return vehicle.id


def _reading(vehicle_id: int, day: dt.date, km: int) -> OdometerReading:
    return OdometerReading(vehicle_id=vehicle_id, read_on=day, km=km, source=ReadingSource.IMPORT)


async def test_daily_km_from_the_last_two_readings_or_since_registration(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)
        two = await _vehicle(session, store.id, "AAA-0001", dt.date(2020, 1, 1))
        session.add_all(
            [
                _reading(two, dt.date(2026, 1, 1), 10_000),
                _reading(two, dt.date(2026, 3, 2), 16_000),  # 6,000 km in 60 days
                _reading(two, dt.date(2026, 3, 2), 15_000),  # same day: the higher counts
            ]
        )
        one = await _vehicle(session, store.id, "AAA-0002", dt.date(2026, 1, 1))
        session.add(_reading(one, dt.date(2026, 4, 11), 5_000))  # 5,000 km in 100 days
        unknown = await _vehicle(session, store.id, "AAA-0003", None)
        session.add(_reading(unknown, dt.date(2026, 4, 11), 5_000))
        rebased = await _vehicle(session, store.id, "AAA-0004", dt.date(2025, 1, 1))
        session.add_all(
            [
                _reading(rebased, dt.date(2025, 6, 1), 30_000),
                _reading(rebased, dt.date(2026, 6, 1), 33_650),  # the owner's own reading
            ]
        )
    async with sessions() as session:
        rows = {row.vehicle_id: row for row in (await session.execute(vehicle_mileage())).all()}
    assert rows[two].daily_km == 100.0
    assert rows[two].last_km == 16_000
    assert rows[two].last_read_on == dt.date(2026, 3, 2)
    assert rows[one].daily_km == 50.0
    assert rows[unknown].daily_km is None
    assert rows[rebased].daily_km == 10.0


async def test_date_arithmetic_is_the_same_on_both_engines(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        row = (
            await session.execute(
                select(
                    days_between(literal(dt.date(2026, 3, 1)), literal(dt.date(2026, 2, 1))),
                    add_days(literal(dt.date(2026, 2, 27)), literal(2.7)),
                    add_days(literal(dt.date(2026, 3, 1)), literal(-30)),
                    add_days(literal(dt.date(2026, 3, 1)), literal(-0.5)),
                    add_months(literal(dt.date(2026, 1, 31)), literal(1)),
                    add_months(literal(dt.date(2024, 1, 31)), literal(1)),
                    add_months(literal(dt.date(2026, 5, 15)), literal(12)),
                )
            )
        ).one()
    days, plus_days, minus_days, minus_half, end_of_feb, leap_feb, next_year = row
    assert days == 28
    assert str(plus_days) == "2026-03-01"
    assert str(minus_days) == "2026-01-30"
    assert str(minus_half) == "2026-02-28"
    assert str(end_of_feb) == "2026-02-28"
    assert str(leap_feb) == "2024-02-29"
    assert str(next_year) == "2027-05-15"
