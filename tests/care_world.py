"""Builders for care-scheduler tests: a store, its owners, their cars and visits, and planning."""

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.models import (
    Customer,
    Market,
    OdometerReading,
    Outbox,
    ReadingSource,
    ServiceVisit,
    Vehicle,
    VisitKind,
)
from bot.store_config import StoreConfig
from bot.stores import sync_store
from scheduler.plan_day import PlanDay
from scheduler.planner import PlanResult, plan_care

TAIPEI = ZoneInfo("Asia/Taipei")
_telegram_ids = itertools.count(8_000_000_001)
_plates = itertools.count(1)


def store_with(config: StoreConfig, **care: Any) -> StoreConfig:
    """The example store with some care settings replaced (nested dicts merge one level)."""
    merged = config.care.model_dump()
    for name, value in care.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return config.model_copy(update={"care": type(config.care).model_validate(merged)})


def in_market(config: StoreConfig, market: Market) -> StoreConfig:
    identity = config.store.model_copy(update={"market": market.value})
    return config.model_copy(update={"store": identity})


async def make_store(sessions: async_sessionmaker[AsyncSession], config: StoreConfig) -> int:
    async with transaction(sessions) as session:
        store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=None)
        return store.id


async def add_customer(
    session: AsyncSession,
    store_id: int,
    *,
    consent: bool = True,
    locale: str = "en",
    name: str = "Lin",
    birthday: dt.date | None = None,
    on_telegram: bool = True,
) -> Customer:
    customer = Customer(
        store_id=store_id,
        name=name,
        telegram_user_id=next(_telegram_ids) if on_telegram else None,
        locale=locale,
        birthday=birthday,
        marketing_consent=consent,
        reachable=True,
    )
    session.add(customer)
    await session.flush()
    return customer


async def add_vehicle(
    session: AsyncSession,
    customer: Customer,
    *,
    brand: str | None = "Toyota",
    model: str | None = None,
    registered: dt.date | None = None,
    manufactured: int | None = None,
    **fields: Any,
) -> Vehicle:
    vehicle = Vehicle(
        store_id=customer.store_id,
        customer_id=customer.id,
        plate=f"CAR-{next(_plates):04d}",
        brand=brand,
        model=model,
        registration_date=registered,
        manufacture_year=manufactured,
        **fields,
    )
    session.add(vehicle)
    await session.flush()
    return vehicle


async def add_visit(
    session: AsyncSession,
    vehicle: Vehicle,
    on: dt.date,
    km: int | None,
    kind: VisitKind = VisitKind.MAINTENANCE,
) -> ServiceVisit:
    """A visit, with the odometer reading every visit with km records."""
    visit = ServiceVisit(
        store_id=vehicle.store_id, vehicle_id=vehicle.id, visited_on=on, km=km, kind=kind
    )
    session.add(visit)
    if km is not None:
        session.add(
            OdometerReading(vehicle_id=vehicle.id, read_on=on, km=km, source=ReadingSource.VISIT)
        )
    await session.flush()
    return visit


async def add_reading(session: AsyncSession, vehicle: Vehicle, on: dt.date, km: int) -> None:
    session.add(
        OdometerReading(vehicle_id=vehicle.id, read_on=on, km=km, source=ReadingSource.CUSTOMER)
    )
    await session.flush()


def local(day: dt.date, hour: int = 7, minute: int = 0) -> dt.datetime:
    """A Taipei wall-clock time as an aware datetime."""
    return dt.datetime.combine(day, dt.time(hour, minute), TAIPEI)


async def plan(
    sessions: async_sessionmaker[AsyncSession],
    store_id: int,
    config: StoreConfig,
    as_of: dt.datetime | dt.date,
    *,
    dry_run: bool = False,
) -> PlanResult:
    """Plan as the morning job does (07:00 Taipei when given a date)."""
    moment = local(as_of) if not isinstance(as_of, dt.datetime) else as_of
    day = PlanDay(store_id=store_id, store=config, tz=TAIPEI, as_of=moment)
    async with transaction(sessions) as session:
        return await plan_care(session, day, dry_run=dry_run)


async def outbox(
    sessions: async_sessionmaker[AsyncSession], kind: str | None = None
) -> list[Outbox]:
    async with sessions() as session:
        query = select(Outbox).order_by(Outbox.id)
        if kind is not None:
            query = query.where(Outbox.kind == kind)
        return list(await session.scalars(query))


async def keys(sessions: async_sessionmaker[AsyncSession], kind: str | None = None) -> list[str]:
    return [row.idempotency_key for row in await outbox(sessions, kind)]
