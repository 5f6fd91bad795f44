"""The schema and the session rules, on SQLite and PostgreSQL."""

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.customers import customer_for_telegram_user
from bot.db import transaction
from bot.models import Customer, OdometerReading, ReadingSource, Vehicle
from bot.store_config import StoreConfig
from bot.stores import sync_store


async def test_migrations_create_the_core_tables(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"store", "customer", "vehicle", "odometer_reading", "service_visit"} <= tables
    assert "alembic_version" in tables


async def test_times_come_back_aware_and_in_utc(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    taipei = dt.timezone(dt.timedelta(hours=8))
    async with transaction(sessions) as session:
        store = await sync_store(
            session, store_config, timezone="Asia/Taipei", advisor_chat_id=None
        )
        customer = Customer(
            store_id=store.id,
            name="王小明",
            marketing_consent=True,
            marketing_consent_at=dt.datetime(2026, 11, 28, 9, 30, tzinfo=taipei),
        )
        session.add(customer)
    async with sessions() as session:
        loaded = await session.scalar(select(Customer))
        assert loaded is not None
        assert loaded.marketing_consent_at == dt.datetime(2026, 11, 28, 1, 30, tzinfo=dt.UTC)
        assert loaded.marketing_consent_at.utcoffset() == dt.timedelta(0)
        assert loaded.created_at.tzinfo is not None


async def test_naive_datetimes_are_refused(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with transaction(sessions) as session:
            store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)
            session.add(Customer(store_id=store.id, blocked_at=dt.datetime(2026, 1, 1)))


async def test_a_failed_unit_of_work_leaves_nothing_behind(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)
    with pytest.raises(RuntimeError):
        async with transaction(sessions) as session:
            customer = Customer(store_id=store.id, name="Half", phone="+886912345678")
            session.add(customer)
            await session.flush()
            session.add(Vehicle(store_id=store.id, customer_id=customer.id, plate="ABC-1234"))
            await session.flush()
            raise RuntimeError("the handler failed after writing")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0
        assert await session.scalar(select(func.count()).select_from(Vehicle)) == 0


async def test_two_first_messages_at_once_create_one_customer(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)

    async def first_contact() -> int:
        async with transaction(sessions) as session:
            customer = await customer_for_telegram_user(
                session, store_id=store.id, telegram_user_id=7_000_000_001, locale="en", name="A"
            )
            await asyncio.sleep(0.01)
            return customer.id

    ids = await asyncio.gather(*(first_contact() for _ in range(8)))
    assert len(set(ids)) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1


async def test_readings_go_with_their_vehicle(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(session, store_config, timezone="UTC", advisor_chat_id=None)
        customer = Customer(store_id=store.id, name="Lin", phone="+886912000111")
        session.add(customer)
        await session.flush()
        vehicle = Vehicle(store_id=store.id, customer_id=customer.id, plate="ABC-1234")
        session.add(vehicle)
        await session.flush()
        session.add(
            OdometerReading(
                vehicle_id=vehicle.id,
                read_on=dt.date(2026, 11, 1),
                km=12_345,
                source=ReadingSource.CUSTOMER,
            )
        )
    async with transaction(sessions) as session:
        await session.delete(await session.get(Vehicle, vehicle.id))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OdometerReading)) == 0
