"""Booking rules and capacity on both engines: slots, races, reschedule, cancel, completion."""

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import (
    BookingRefused,
    advisor_move,
    book_appointment,
    cancel_appointment,
    complete_appointment,
    reschedule_appointment,
    upcoming_appointments,
)
from bot.db import transaction
from bot.models import (
    Appointment,
    AppointmentStatus,
    Confirmation,
    Customer,
    OdometerReading,
    ReadingSource,
    ServiceVisit,
    SlotUsage,
    Vehicle,
    VisitKind,
)
from bot.slots import bookable_days, free_starts, nearest_free_starts, slot_starts
from bot.store_config import StoreConfig
from bot.stores import sync_store

TAIPEI = ZoneInfo("Asia/Taipei")
# A Tuesday morning; the example store opens 08:30-12:00 and 13:00-17:30 on weekdays.
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=TAIPEI)
WEDNESDAY_10 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=TAIPEI)


async def _store_with_customers(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig, count: int
) -> tuple[int, list[tuple[int, int]]]:
    """A store and `count` customers with one car each: (store id, [(customer, vehicle)])."""
    async with transaction(sessions) as session:
        store = await sync_store(
            session, store_config, timezone="Asia/Taipei", advisor_chat_id=None
        )
        owners = []
        for n in range(count):
            customer = Customer(store_id=store.id, name=f"Owner {n}", phone=f"+88691200{n:04d}")
            session.add(customer)
            await session.flush()
            vehicle = Vehicle(store_id=store.id, customer_id=customer.id, plate=f"RAC-{n:04d}")
            session.add(vehicle)
            await session.flush()
            owners.append((customer.id, vehicle.id))
        return store.id, owners


async def _book(
    sessions: async_sessionmaker[AsyncSession],
    store_config: StoreConfig,
    store_id: int,
    owner: tuple[int, int],
    start: dt.datetime,
    service_type: str = "bodywork",
) -> int:
    async with transaction(sessions) as session:
        appointment = await book_appointment(
            session,
            store_id=store_id,
            store=store_config,
            tz=TAIPEI,
            now=NOW,
            customer_id=owner[0],
            vehicle_id=owner[1],
            service_type=service_type,
            slot_start=start,
        )
        return appointment.id


def test_slots_follow_opening_hours_notice_and_horizon(store_config: StoreConfig) -> None:
    tuesday = slot_starts(store_config, dt.date(2026, 12, 1), TAIPEI)
    assert tuesday[0] == dt.datetime(2026, 12, 1, 8, 30, tzinfo=TAIPEI)
    assert tuesday[-1] == dt.datetime(2026, 12, 1, 17, 0, tzinfo=TAIPEI)
    assert dt.datetime(2026, 12, 1, 12, 0, tzinfo=TAIPEI) not in tuesday  # lunch break
    assert len(tuesday) == 7 + 9
    assert slot_starts(store_config, dt.date(2026, 12, 6), TAIPEI) == []  # Sunday
    assert slot_starts(store_config, dt.date(2027, 1, 1), TAIPEI) == []  # a closed date

    days = bookable_days(store_config, TAIPEI, NOW)
    assert days[0] == dt.date(2026, 12, 1)  # slots from 11:00 on are still two hours away
    assert dt.date(2026, 12, 6) not in days
    assert days[-1] <= dt.date(2026, 12, 31)
    late = dt.datetime(2026, 12, 1, 16, 0, tzinfo=TAIPEI)
    assert bookable_days(store_config, TAIPEI, late)[0] == dt.date(2026, 12, 2)


async def test_last_place_goes_to_exactly_one_of_twenty_racing_customers(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    assert store_config.service_types["repair"].capacity == 2
    store_id, owners = await _store_with_customers(sessions, store_config, 21)
    # One of the two places is gone already, so the slot's row exists when the race starts.
    await _book(sessions, store_config, store_id, owners[0], WEDNESDAY_10, "repair")

    async def race(owner: tuple[int, int]) -> int | None:
        try:
            return await _book(sessions, store_config, store_id, owner, WEDNESDAY_10, "repair")
        except BookingRefused as refused:
            assert refused.reason == "slot_full"
            return None

    results = await asyncio.gather(*(race(owner) for owner in owners[1:]))
    winners = [appointment for appointment in results if appointment is not None]
    assert len(winners) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Appointment)) == 2
        assert await session.scalar(select(SlotUsage.taken)) == 2


async def test_a_full_slot_is_refused_and_the_nearest_free_ones_are_offered(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 2)
    await _book(sessions, store_config, store_id, owners[0], WEDNESDAY_10)
    with pytest.raises(BookingRefused) as refused:
        await _book(sessions, store_config, store_id, owners[1], WEDNESDAY_10)
    assert refused.value.reason == "slot_full"
    async with sessions() as session:
        nearest = await nearest_free_starts(
            session,
            store_id=store_id,
            store=store_config,
            service_type="bodywork",
            tz=TAIPEI,
            now=NOW,
            wanted=WEDNESDAY_10,
            count=2,
        )
        wednesday = dt.date(2026, 12, 2)
        free = await free_starts(
            session,
            store_id=store_id,
            store=store_config,
            service_type="bodywork",
            tz=TAIPEI,
            now=NOW,
            days=[wednesday],
        )
    assert nearest == [
        WEDNESDAY_10 - dt.timedelta(minutes=30),
        WEDNESDAY_10 + dt.timedelta(minutes=30),
    ]
    assert WEDNESDAY_10 not in free[wednesday]
    # Another service type has its own places in the same slot.
    await _book(sessions, store_config, store_id, owners[1], WEDNESDAY_10, "maintenance")


async def test_slots_outside_the_window_or_off_the_grid_are_refused(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 1)
    for start in (
        NOW + dt.timedelta(minutes=30),  # inside the minimum notice
        NOW - dt.timedelta(days=1),  # in the past
        dt.datetime(2026, 12, 2, 10, 10, tzinfo=TAIPEI),  # not a slot start
        dt.datetime(2026, 12, 6, 10, 0, tzinfo=TAIPEI),  # Sunday
        dt.datetime(2027, 1, 20, 10, 0, tzinfo=TAIPEI),  # beyond the horizon
    ):
        with pytest.raises(BookingRefused) as refused:
            await _book(sessions, store_config, store_id, owners[0], start)
        assert refused.value.reason == "not_bookable"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SlotUsage)) == 0


async def test_reschedule_moves_the_place_and_cancel_frees_it(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 2)
    appointment_id = await _book(sessions, store_config, store_id, owners[0], WEDNESDAY_10)
    later = WEDNESDAY_10 + dt.timedelta(hours=4)
    async with transaction(sessions) as session:
        appointment = await session.get_one(Appointment, appointment_id)
        await advisor_move(session, appointment, "confirm")
        await reschedule_appointment(
            session, appointment, store=store_config, tz=TAIPEI, now=NOW, slot_start=later
        )
        assert appointment.status == AppointmentStatus.BOOKED
        assert appointment.confirmation == Confirmation.PENDING
    # The old place is free again: someone else takes it.
    await _book(sessions, store_config, store_id, owners[1], WEDNESDAY_10)
    async with transaction(sessions) as session:
        appointment = await session.get_one(Appointment, appointment_id)
        await cancel_appointment(
            session, appointment, store=store_config, now=NOW, reason="car sold"
        )
    async with sessions() as session:
        usage = dict((await session.execute(select(SlotUsage.slot_start, SlotUsage.taken))).all())
        cancelled = await session.get_one(Appointment, appointment_id)
        upcoming = await upcoming_appointments(session, owners[0][0], NOW)
    assert usage == {WEDNESDAY_10: 1, later: 0}
    assert cancelled.status == AppointmentStatus.CANCELLED
    assert cancelled.cancel_reason == "car sold"
    assert upcoming == []


async def test_a_reschedule_into_a_full_slot_keeps_the_old_place(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 2)
    mine = await _book(sessions, store_config, store_id, owners[0], WEDNESDAY_10)
    later = WEDNESDAY_10 + dt.timedelta(hours=1)
    await _book(sessions, store_config, store_id, owners[1], later)
    with pytest.raises(BookingRefused) as refused:
        async with transaction(sessions) as session:
            appointment = await session.get_one(Appointment, mine)
            await reschedule_appointment(
                session, appointment, store=store_config, tz=TAIPEI, now=NOW, slot_start=later
            )
    assert refused.value.reason == "slot_full"
    async with sessions() as session:
        assert (await session.get_one(Appointment, mine)).slot_start == WEDNESDAY_10
        usage = dict((await session.execute(select(SlotUsage.slot_start, SlotUsage.taken))).all())
    assert usage == {WEDNESDAY_10: 1, later: 1}


async def test_changes_inside_the_cutoff_are_refused(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 1)
    appointment_id = await _book(sessions, store_config, store_id, owners[0], WEDNESDAY_10)
    an_hour_before = WEDNESDAY_10 - dt.timedelta(hours=1)
    with pytest.raises(BookingRefused) as refused:
        async with transaction(sessions) as session:
            appointment = await session.get_one(Appointment, appointment_id)
            await cancel_appointment(
                session, appointment, store=store_config, now=an_hour_before, reason=None
            )
    assert refused.value.reason == "inside_cutoff"
    async with sessions() as session:
        appointment = await session.get_one(Appointment, appointment_id)
        assert appointment.status == AppointmentStatus.BOOKED
        assert await session.scalar(select(SlotUsage.taken)) == 1


async def test_completing_an_appointment_records_a_visit_and_a_reading(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 1)
    appointment_id = await _book(
        sessions, store_config, store_id, owners[0], WEDNESDAY_10, "maintenance"
    )
    async with transaction(sessions) as session:
        appointment = await session.get_one(Appointment, appointment_id)
        await advisor_move(session, appointment, "arrived")
        await complete_appointment(session, appointment, km=42_195, on=dt.date(2026, 12, 2))
    with pytest.raises(BookingRefused):
        async with transaction(sessions) as session:
            appointment = await session.get_one(Appointment, appointment_id)
            await complete_appointment(session, appointment, km=42_200, on=dt.date(2026, 12, 2))
    async with sessions() as session:
        visit = await session.scalar(select(ServiceVisit))
        readings = list(await session.scalars(select(OdometerReading)))
        appointment = await session.get_one(Appointment, appointment_id)
    assert visit is not None
    assert (visit.vehicle_id, visit.visited_on, visit.km, visit.kind) == (
        owners[0][1],
        dt.date(2026, 12, 2),
        42_195,
        VisitKind.MAINTENANCE,
    )
    assert visit.from_appointment and visit.appointment_id == appointment_id
    assert [(r.km, r.source) for r in readings] == [(42_195, ReadingSource.VISIT)]
    assert appointment.status == AppointmentStatus.COMPLETED


async def test_an_advisor_cannot_confirm_a_cancelled_appointment(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, owners = await _store_with_customers(sessions, store_config, 1)
    appointment_id = await _book(sessions, store_config, store_id, owners[0], WEDNESDAY_10)
    async with transaction(sessions) as session:
        appointment = await session.get_one(Appointment, appointment_id)
        await cancel_appointment(session, appointment, store=store_config, now=NOW, reason=None)
    for action in ("confirm", "arrived", "no_show", "propose"):
        async with transaction(sessions) as session:
            appointment = await session.get_one(Appointment, appointment_id)
            with pytest.raises(BookingRefused):
                await advisor_move(session, appointment, action)
