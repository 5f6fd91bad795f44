"""/due: who is due for maintenance, insurance or an inspection in the coming days, worked by hand.

Today is 2026-06-30; looking 30 days ahead and 30 back: due dates 2026-05-31..2026-07-30.
Intervals from the store file: default 5,000 km / 6 months (first service the same), Toyota
10,000 km / 12 months. The store is in Taiwan (DOMAIN.md: private cars are inspected yearly
from 5 years after manufacture, twice a year from 10; leased ones yearly from 3).
"""

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.due import due_list
from bot.models import (
    Appointment,
    AppointmentStatus,
    Customer,
    FleetTag,
    Market,
    ServiceVisit,
    VehicleUsage,
    VisitKind,
)
from bot.store_config import StoreConfig
from bot.stores import sync_store
from tests.test_segments import add_vehicle

TODAY = dt.date(2026, 6, 30)
D = dt.date


async def test_due_list_names_who_is_due_for_what_soonest_first(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(
            session, store_config, timezone="Asia/Taipei", advisor_chat_id=None
        )
        s = store.id
        # Toyota at 10 km/day: 12 months after 2025-07-15 (10,000 km would take 1,000 days).
        # The later repair is not a maintenance visit and moves nothing.
        toyota = await add_vehicle(
            session,
            s,
            "TOY-0001",
            brand="Toyota",
            visits=[(D(2024, 7, 15), 10_000), (D(2025, 7, 15), 13_650)],
        )
        session.add(
            ServiceVisit(
                store_id=s, vehicle_id=toyota.id, visited_on=D(2026, 3, 1), kind=VisitKind.REPAIR
            )
        )
        # A taxi at 150 km/day (6,000 km in 40 days): 5,000 km in 33.3 days -> 2026-07-13.
        taxi = await add_vehicle(
            session,
            s,
            "TAX-0002",
            fleet=FleetTag.TAXI,
            visits=[(D(2026, 5, 1), 10_000), (D(2026, 6, 10), 16_000)],
        )
        # Due 2026-07-01, but already booked for 07-02: the store has it in hand.
        booked = await add_vehicle(session, s, "BKD-0003", visits=[(D(2026, 1, 1), None)])
        session.add(
            Appointment(
                store_id=s,
                customer_id=booked.customer_id,
                vehicle_id=booked.id,
                service_type="maintenance",
                slot_start=dt.datetime(2026, 7, 2, 2, 0, tzinfo=dt.UTC),
                status=AppointmentStatus.BOOKED,
            )
        )
        # Delivered 2026-01-20, never serviced: first service 6 months later, 2026-07-20.
        new = await add_vehicle(session, s, "NEW-0004", registered=D(2026, 1, 20))
        # Serviced this month (next due in December); insurance ends 2026-07-10.
        insured = await add_vehicle(session, s, "INS-0005", visits=[(D(2026, 6, 1), None)])
        insured.insurance_end_date = D(2026, 7, 10)
        # A forgotten customer and a removed car are never listed.
        gone = await add_vehicle(session, s, "GON-0006", visits=[(D(2026, 1, 5), None)])
        gone.insurance_end_date = D(2026, 7, 5)
        customer = await session.get(Customer, gone.customer_id)
        assert customer is not None
        customer.forgotten_at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        removed = await add_vehicle(session, s, "REM-0007", visits=[(D(2026, 1, 5), None)])
        removed.removed_at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        # Overdue: 2026-04-30 is further back than 30 days, 2026-06-10 is not.
        await add_vehicle(session, s, "OLD-0008", visits=[(D(2025, 10, 31), None)])
        late = await add_vehicle(session, s, "LAT-0009", visits=[(D(2025, 12, 10), None)])
        await session.flush()

    async with sessions() as session:
        items = await due_list(session, s, TODAY, 30, store_config)

    assert [(item.due_on, item.what, item.plate, item.by_km) for item in items] == [
        (D(2026, 6, 10), "maintenance", "LAT-0009", False),
        (D(2026, 7, 10), "insurance", "INS-0005", False),
        (D(2026, 7, 13), "maintenance", "TAX-0002", True),
        (D(2026, 7, 15), "maintenance", "TOY-0001", False),
        (D(2026, 7, 20), "maintenance", "NEW-0004", False),
    ]
    assert items[0].vehicle_id == late.id and items[2].customer_id == taxi.customer_id
    assert items[4].vehicle_id == new.id
    assert items[2].customer_name == "TAX-0002"


async def test_due_list_names_the_inspections_the_owners_are_reminded_of(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(
            session, store_config, timezone="Asia/Taipei", advisor_chat_id=None
        )
        s = store.id
        # Six years old on 07-15: the yearly inspection. Four years old: none yet.
        await add_vehicle(session, s, "TWN-0001", registered=D(2020, 7, 15))
        await add_vehicle(session, s, "TWN-0002", registered=D(2022, 7, 10))
        # Registered in 2022 but built in 2019: Taiwan counts from manufacture, so 7 years.
        built = await add_vehicle(session, s, "TWN-0003", registered=D(2022, 7, 20))
        built.manufacture_year = 2019
        # Leased: yearly from 3 years, so 2026-06-05, overdue.
        leased = await add_vehicle(session, s, "LSE-0004", registered=D(2023, 6, 5))
        leased.leased = True
        # Twelve years old: twice a year, 01-10 (long past) and 07-10.
        await add_vehicle(session, s, "OLD-0005", registered=D(2014, 1, 10))
        # Mainland rules for these two (the car's own market): year 2 needs only the label
        # applied for online, year 6 an inspection on site.
        label = await add_vehicle(session, s, "CHN-0006", registered=D(2024, 7, 1))
        label.inspection_market = Market.MAINLAND
        on_site = await add_vehicle(session, s, "CHN-0007", registered=D(2020, 6, 10))
        on_site.inspection_market = Market.MAINLAND
        # A taxi is not a private car; a booked car is in hand.
        taxi = await add_vehicle(session, s, "TAX-0008", registered=D(2020, 7, 5))
        taxi.usage = VehicleUsage.OPERATING
        booked = await add_vehicle(session, s, "BKD-0009", registered=D(2020, 7, 8))
        session.add(
            Appointment(
                store_id=s,
                customer_id=booked.customer_id,
                vehicle_id=booked.id,
                service_type="maintenance",
                slot_start=dt.datetime(2026, 7, 3, 2, 0, tzinfo=dt.UTC),
                status=AppointmentStatus.CONFIRMED,
            )
        )
        await session.flush()

    async with sessions() as session:
        items = await due_list(session, s, TODAY, 30, store_config)

    assert [(item.due_on, item.plate, item.label_only) for item in items] == [
        (D(2026, 6, 5), "LSE-0004", False),
        (D(2026, 6, 10), "CHN-0007", False),
        (D(2026, 7, 1), "CHN-0006", True),
        (D(2026, 7, 10), "OLD-0005", False),
        (D(2026, 7, 15), "TWN-0001", False),
        (D(2026, 7, 20), "TWN-0003", False),
    ]
    assert {item.what for item in items} == {"inspection"}
