"""Segments per DOMAIN.md against cases worked by hand, on both engines.

The store file's intervals: default 5,000 km / 6 months, Toyota 10,000 km / 12 months, Audi
7,500 km / 6 months; lost factor k = 1.5; loyal = 2 visits in 12 months. A month of the
expected interval is 30.4375 days (bot/service_due.py). As of 2026-06-30 the last 12 months are
2025-07-01..2026-06-30, and "no visit for 3 / 6 / 12 months" means a last visit on or before
2026-03-30 / 2025-12-30 / 2025-06-30.
"""

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.models import (
    Customer,
    FleetTag,
    Market,
    OdometerReading,
    ReadingSource,
    ServiceVisit,
    Store,
    Vehicle,
    VisitKind,
)
from bot.segments import SegmentCounts, segment_report, segment_series, series_days
from bot.store_config import ReportRules, StoreConfig
from bot.stores import sync_store

AS_OF = dt.date(2026, 6, 30)
D = dt.date


async def add_vehicle(
    session: AsyncSession,
    store_id: int,
    plate: str,
    *,
    brand: str | None = None,
    fleet: FleetTag | None = None,
    registered: dt.date | None = None,
    visits: list[tuple[dt.date, int | None]] = (),  # type: ignore[assignment]
    kind: VisitKind = VisitKind.MAINTENANCE,
    customer_id: int | None = None,
) -> Vehicle:
    """A vehicle with its visits; every visit with km also stores its odometer reading."""
    if customer_id is None:
        customer = Customer(store_id=store_id, name=plate, fleet_tag=fleet)
        session.add(customer)
        await session.flush()
        customer_id = customer.id
    vehicle = Vehicle(
        store_id=store_id,
        customer_id=customer_id,
        plate=plate,
        brand=brand,
        registration_date=registered,
    )
    session.add(vehicle)
    await session.flush()
    for day, km in visits:
        session.add(
            ServiceVisit(store_id=store_id, vehicle_id=vehicle.id, visited_on=day, km=km, kind=kind)
        )
        if km is not None:
            session.add(
                OdometerReading(
                    vehicle_id=vehicle.id, read_on=day, km=km, source=ReadingSource.VISIT
                )
            )
    await session.flush()
    return vehicle


async def seed_segment_cases(
    sessions: async_sessionmaker[AsyncSession], config: StoreConfig
) -> int:
    async with transaction(sessions) as session:
        store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=None)
        s = store.id
        # Taxi, default interval: 9,000 km in the 60 days 01-29..03-30 is 150 km/day, so the
        # expected interval is min(6 x 30.4375 = 182.6, 5,000 / 150 = 33.3) = 33.3 days, and
        # lost after 1.5 x 33.3 = 50 days; 92 days have passed: LOST at three months although
        # it is active and loyal. The visit after the as-of day counts for nothing.
        await add_vehicle(
            session,
            s,
            "TAX-0001",
            fleet=FleetTag.TAXI,
            visits=[(D(2026, 1, 29), 10_000), (D(2026, 3, 30), 19_000), (D(2026, 7, 10), 40_000)],
        )
        # Toyota, 10 km/day (3,650 km in 365 days): min(12 x 30.4375 = 365.25, 10,000 / 10 =
        # 1,000) = 365.25 days, lost after 547.9; 273 days since 2025-09-30: NOT lost at nine
        # months, though the plain 3- and 6-month counts take it.
        await add_vehicle(
            session,
            s,
            "TOY-0002",
            brand="Toyota",
            fleet=FleetTag.PRIVATE,
            visits=[(D(2024, 9, 30), 16_350), (D(2025, 9, 30), 20_000)],
        )
        # Audi, no km known: 6 x 30.4375 = 182.6 days, lost after 273.9; 411 days: lost.
        await add_vehicle(
            session,
            s,
            "AUD-0003",
            brand="Audi",
            fleet=FleetTag.PRIVATE,
            visits=[(D(2025, 5, 15), None)],
        )
        # Audi, 272 days since 2025-10-01: just inside 273.9, not lost.
        await add_vehicle(
            session,
            s,
            "AUD-0004",
            brand="Audi",
            fleet=FleetTag.PRIVATE,
            visits=[(D(2025, 10, 1), None)],
        )
        # Only a visit after the as-of day, and no visit at all: in no segment.
        await add_vehicle(session, s, "NEW-0005", visits=[(D(2026, 7, 5), 100)])
        await add_vehicle(session, s, "NEW-0009")
        # Lexus (default interval), three visits in 12 months, the last on the as-of day.
        await add_vehicle(
            session,
            s,
            "LEX-0006",
            brand="Lexus",
            fleet=FleetTag.ENTERPRISE,
            visits=[(D(2025, 8, 1), 5_000), (D(2026, 1, 15), 10_000), (D(2026, 6, 30), 15_000)],
        )
        # The 12-month window's edge: 2025-06-30 is out, 2025-07-01 in. Both lost (365 and 364
        # days > 273.9).
        await add_vehicle(session, s, "OLD-0007", visits=[(D(2025, 6, 30), None)])
        await add_vehicle(session, s, "OLD-0008", visits=[(D(2025, 7, 1), None)])
        return s


async def test_segments_match_the_hand_worked_cases(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with sessions() as session:
        report = await segment_report(
            session, store_id, AS_OF, store_config.service_intervals, store_config.reports
        )
    # archived: TAX, TOY, AUD3, AUD4, LEX, OLD7, OLD8            = 7
    # active:   TAX, TOY, AUD4, LEX, OLD8                         = 5
    # loyal:    TAX (2 in 12 months), LEX (3)                     = 2
    # lost:     TAX, AUD3, OLD7, OLD8                             = 4
    # lost_3m:  TAX (03-30), TOY, AUD3, AUD4, OLD7, OLD8          = 6
    # lost_6m:  TOY, AUD3, AUD4, OLD7, OLD8                       = 5
    # lost_12m: AUD3, OLD7                                        = 2
    assert report.total == SegmentCounts(
        archived=7, active=5, loyal=2, lost=4, lost_3m=6, lost_6m=5, lost_12m=2
    )
    brands = dict(report.by_brand())
    assert brands["Audi"] == SegmentCounts(2, 1, 0, 1, 2, 2, 1)
    assert brands["Toyota"] == SegmentCounts(1, 1, 0, 0, 1, 1, 0)
    assert brands[None] == SegmentCounts(3, 2, 1, 3, 3, 2, 1)
    models = dict(report.by_model())
    assert models[("Lexus", None)] == SegmentCounts(1, 1, 1, 0, 0, 0, 0)
    fleets = dict(report.by_fleet_tag())
    assert fleets["taxi"] == SegmentCounts(1, 1, 1, 1, 1, 0, 0)
    assert fleets["private"] == SegmentCounts(3, 2, 0, 1, 3, 3, 1)
    assert fleets[None] == SegmentCounts(2, 1, 0, 2, 2, 2, 1)
    assert sum((counts for _, counts in report.by_brand()), SegmentCounts()) == report.total


async def test_the_lost_factor_and_loyal_visits_come_from_the_store_file(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with sessions() as session:
        # k = 3: the taxi may wait 3 x 33.3 = 100 days (92 passed) and the time-only vehicles
        # 3 x 182.6 = 547.9 days (AUD3 411, OLD7 365): nobody is lost. Loyal at 3 visits: LEX.
        report = await segment_report(
            session,
            store_id,
            AS_OF,
            store_config.service_intervals,
            ReportRules(lost_factor=3, loyal_visits=3),
        )
    assert (report.total.lost, report.total.loyal) == (0, 1)


async def test_a_report_about_the_past_sees_only_what_was_known_then(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with sessions() as session:
        # As of 2026-03-31 the taxi came in yesterday: active, not lost. Visits and readings
        # after that day (LEX on 06-30, the July ones) do not exist yet.
        report = await segment_report(
            session,
            store_id,
            D(2026, 3, 31),
            store_config.service_intervals,
            store_config.reports,
        )
    taxi = dict(report.by_fleet_tag())["taxi"]
    assert taxi == SegmentCounts(archived=1, active=1, loyal=1)
    # AUD4 (2025-10-01) is not yet in the 6-month count: 2025-10-01 > 2025-09-30.
    assert dict(report.by_brand())["Audi"].lost_6m == 1


async def test_the_series_ends_on_the_as_of_day_after_eleven_month_ends(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with sessions() as session:
        series = await segment_series(
            session, store_id, AS_OF, store_config.service_intervals, store_config.reports
        )
        today = await segment_report(
            session, store_id, AS_OF, store_config.service_intervals, store_config.reports
        )
    assert [day for day, _ in series] == series_days(AS_OF)
    assert series[0][0] == D(2025, 7, 31) and series[-1][0] == AS_OF
    assert series[-1][1] == today.total
    # At the end of July 2025 only the visits up to then are archived: TOY (2024-09-30),
    # AUD3, OLD7, OLD8.
    assert series[0][1].archived == 4


@pytest.mark.parametrize(
    ("as_of", "days"),
    [
        (D(2026, 6, 15), [D(2025, 7, 31), D(2026, 5, 31), D(2026, 6, 15)]),
        (D(2024, 3, 31), [D(2023, 4, 30), D(2024, 2, 29), D(2024, 3, 31)]),
    ],
)
def test_series_days_are_month_ends_up_to_the_as_of_day(
    as_of: dt.date, days: list[dt.date]
) -> None:
    found = series_days(as_of)
    assert len(found) == 12
    assert [found[0], found[-2], found[-1]] == days


async def test_another_store_in_the_same_database_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await seed_segment_cases(sessions, store_config)
    async with transaction(sessions) as session:
        other = Store(code="other", name="Other", timezone="Asia/Taipei", market=Market.TAIWAN)
        session.add(other)
        await session.flush()
        await add_vehicle(session, other.id, "OTH-0001", visits=[(D(2025, 1, 1), 1_000)])
        await add_vehicle(session, other.id, "OTH-0002", visits=[(D(2026, 6, 1), 2_000)])
    async with sessions() as session:
        report = await segment_report(
            session, store_id, AS_OF, store_config.service_intervals, store_config.reports
        )
        theirs = await segment_report(
            session, other.id, AS_OF, store_config.service_intervals, store_config.reports
        )
    assert report.total.archived == 7 and report.total.lost == 4
    assert theirs.total == SegmentCounts(
        archived=2, active=1, lost=1, lost_3m=1, lost_6m=1, lost_12m=1
    )


async def seed_changing_base(
    sessions: async_sessionmaker[AsyncSession], config: StoreConfig
) -> int:
    """The hand-worked cases, and cars whose segments change from one month end to the next."""
    store_id = await seed_segment_cases(sessions, config)
    async with transaction(sessions) as session:
        s = store_id
        # The owner's readings between visits change the pace, so "lost" comes and goes: slow
        # (2,000 km in a year), then 9,000 km in 50 days, then a reading lower than the last
        # (no pace at all until the next one).
        owner = await add_vehicle(
            session,
            s,
            "RDG-0101",
            visits=[(D(2025, 1, 10), 20_000), (D(2026, 1, 10), 22_000)],
        )
        for day, km in [(D(2026, 3, 1), 31_000), (D(2026, 4, 20), 30_500), (D(2026, 6, 1), 40_000)]:
            session.add(
                OdometerReading(
                    vehicle_id=owner.id, read_on=day, km=km, source=ReadingSource.CUSTOMER
                )
            )
        # One reading: the pace counts from registration. Its own interval and a brand typed
        # the way imports type it.
        single = await add_vehicle(
            session,
            s,
            "REG-0102",
            brand="  TOYOTA ",
            registered=D(2025, 2, 1),
            visits=[(D(2025, 8, 31), 12_000)],
        )
        single.interval_months = 3
        # Two visits on one day count twice for "loyal"; visits on the month ends and on the
        # 12-month edges of the series days.
        await add_vehicle(
            session, s, "TWO-0103", visits=[(D(2025, 9, 30), 5_000), (D(2025, 9, 30), 5_000)]
        )
        await add_vehicle(
            session,
            s,
            "EDG-0104",
            visits=[(D(2024, 7, 31), 1_000), (D(2025, 2, 28), 4_000), (D(2025, 5, 31), 6_000)],
        )
        # Lost at the end of July 2025 by the pace of a reading taken in June (322 km/day);
        # an August reading slows it down to 1.3 km/day, and it is not lost in August.
        fast = await add_vehicle(session, s, "PAC-0108", visits=[(D(2025, 5, 1), 10_000)])
        for day, km in [(D(2025, 6, 1), 20_000), (D(2025, 8, 15), 20_100)]:
            session.add(
                OdometerReading(
                    vehicle_id=fast.id, read_on=day, km=km, source=ReadingSource.CUSTOMER
                )
            )
        # Readings only: in no segment.
        only = await add_vehicle(session, s, "ONLY-0105")
        session.add(
            OdometerReading(
                vehicle_id=only.id, read_on=D(2025, 12, 1), km=500, source=ReadingSource.CUSTOMER
            )
        )
        # A vehicle of this store serviced at another store: the visit does not count here, its
        # odometer reading does. A vehicle of another store serviced here: the visit counts,
        # its readings do not.
        other = Store(code="other", name="Other", timezone="Asia/Taipei", market=Market.TAIWAN)
        session.add(other)
        await session.flush()
        mine = await add_vehicle(session, s, "MIX-0106", visits=[(D(2025, 4, 1), 3_000)])
        theirs = await add_vehicle(session, other.id, "MIX-0107", visits=[(D(2024, 1, 1), 100)])
        for store, vehicle, day, km in [
            (other.id, mine, D(2026, 2, 1), 9_000),
            (s, theirs, D(2025, 11, 15), 8_000),
        ]:
            session.add(
                ServiceVisit(
                    store_id=store,
                    vehicle_id=vehicle.id,
                    visited_on=day,
                    km=km,
                    kind=VisitKind.MAINTENANCE,
                )
            )
            session.add(
                OdometerReading(
                    vehicle_id=vehicle.id, read_on=day, km=km, source=ReadingSource.VISIT
                )
            )
        # A spread of brands, paces and gaps, so that every month end differs.
        brands = ["Toyota", "Audi", "Lexus", None]
        for n in range(24):
            first = D(2024, 3, 1) + dt.timedelta(days=23 * n)
            gap = 40 + 17 * (n % 7)
            visits = [
                (first + dt.timedelta(days=gap * k), 1_000 + (25 + 30 * (n % 5)) * gap * k)
                for k in range(1 + n % 4)
            ]
            await add_vehicle(session, s, f"SPR-{n:04d}", brand=brands[n % 4], visits=visits)
    return store_id


@pytest.mark.parametrize("as_of", [AS_OF, D(2026, 3, 15), D(2025, 3, 1)])
@pytest.mark.parametrize(
    "rules",
    [ReportRules(), ReportRules(lost_factor=0.8, loyal_visits=3)],
    ids=["default", "strict"],
)
async def test_the_series_equals_the_segments_worked_out_day_by_day(
    sessions: async_sessionmaker[AsyncSession],
    store_config: StoreConfig,
    as_of: dt.date,
    rules: ReportRules,
) -> None:
    store_id = await seed_changing_base(sessions, store_config)
    intervals = store_config.service_intervals
    async with sessions() as session:
        series = await segment_series(session, store_id, as_of, intervals, rules)
        day_by_day = [
            (day, (await segment_report(session, store_id, day, intervals, rules)).total)
            for day in series_days(as_of)
        ]
    assert series == day_by_day
    # Not a comparison of empty months: the figures move from one month end to the next.
    assert len({counts for _, counts in series}) >= 6
    assert all(counts.archived > 0 for _, counts in series)
