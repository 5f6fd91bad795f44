"""Base-customer segments as of a date, per DOMAIN.md, counted per vehicle.

Segments overlap, each on its own definition, and periods are counted back from the as-of date,
which is included: "the last 12 months" of 2026-06-30 is 2025-07-01..2026-06-30. Only visits on
or before the as-of date count, so a report about the past is the report that day would have
given. Everything is one aggregate statement over the base; Python only adds up the groups
(brand x model x fleet tag), which are few. The series of month ends behind /stats is one
statement as well, with a column per day: it costs one or two days' reports, not twelve.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    Select,
    Subquery,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.mileage import mileage_by_reading_day, vehicle_mileage
from bot.models import Customer, ServiceVisit, Vehicle
from bot.months import month_end, shift_months
from bot.service_due import expected_interval_days, is_lost, service_interval
from bot.store_config import ReportRules, ServiceIntervals

K = TypeVar("K")
SEGMENT_KEYS = ("archived", "active", "loyal", "lost", "lost_3m", "lost_6m", "lost_12m")


@dataclass(frozen=True)
class SegmentCounts:
    """Vehicles in each segment; every one of them is also archived."""

    archived: int = 0
    active: int = 0
    loyal: int = 0
    lost: int = 0
    lost_3m: int = 0
    lost_6m: int = 0
    lost_12m: int = 0

    def __add__(self, other: "SegmentCounts") -> "SegmentCounts":
        return SegmentCounts(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )

    def as_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in SEGMENT_KEYS}


@dataclass(frozen=True)
class SegmentGroup:
    brand: str | None
    model: str | None
    fleet_tag: str | None
    counts: SegmentCounts


@dataclass(frozen=True)
class SegmentReport:
    as_of: dt.date
    total: SegmentCounts
    groups: list[SegmentGroup]

    def by_brand(self) -> list[tuple[str | None, SegmentCounts]]:
        return _rolled_up(self.groups, lambda g: g.brand)

    def by_model(self) -> list[tuple[tuple[str | None, str | None], SegmentCounts]]:
        return _rolled_up(self.groups, lambda g: (g.brand, g.model))

    def by_fleet_tag(self) -> list[tuple[str | None, SegmentCounts]]:
        return _rolled_up(self.groups, lambda g: g.fleet_tag)


def _rolled_up(
    groups: Iterable[SegmentGroup], key: Callable[[SegmentGroup], K]
) -> list[tuple[K, SegmentCounts]]:
    totals: dict[K, SegmentCounts] = {}
    for group in groups:
        name = key(group)
        totals[name] = totals.get(name, SegmentCounts()) + group.counts
    # Biggest first; unnamed groups ("no brand") last.
    return sorted(totals.items(), key=lambda item: (-item[1].archived, str(item[0])))


def _per_vehicle(store_id: int, as_of: dt.date, year_ago: dt.date, dialect: str) -> Subquery:
    """vehicle_id, last_visit, visits_12m and daily_km of every vehicle seen by the day."""
    mileage = vehicle_mileage(as_of, store_id=store_id).subquery("mileage")
    visit_facts = select(
        ServiceVisit.vehicle_id.label("vehicle_id"),
        ServiceVisit.visited_on.label("visited_on"),
        case((ServiceVisit.visited_on > year_ago, 1), else_=0).label("in_12m"),
    ).where(ServiceVisit.store_id == store_id, ServiceVisit.visited_on <= as_of)
    if dialect == "sqlite":
        # SQLite joins two derived tables by scanning one for each row of the other, in
        # quadratic time; grouping one stream of both kinds of facts stays n log n.
        facts = union_all(
            visit_facts.add_columns(cast(null(), Float).label("daily_km")),
            select(mileage.c.vehicle_id, cast(null(), Date), literal(0), mileage.c.daily_km),
        ).subquery("facts")
        return (
            select(
                facts.c.vehicle_id.label("vehicle_id"),
                func.max(facts.c.visited_on).label("last_visit"),
                func.sum(facts.c.in_12m).label("visits_12m"),
                func.max(facts.c.daily_km).label("daily_km"),
            )
            .group_by(facts.c.vehicle_id)
            .having(func.max(facts.c.visited_on).is_not(None))
            .subquery("per_vehicle")
        )
    # PostgreSQL cannot estimate the groups of such a union and then picks nested loops; a
    # plain join of the two per-vehicle aggregates gets hash joins.
    visits = visit_facts.subquery("visit_facts")
    per_visit = (
        select(
            visits.c.vehicle_id,
            func.max(visits.c.visited_on).label("last_visit"),
            func.sum(visits.c.in_12m).label("visits_12m"),
        )
        .group_by(visits.c.vehicle_id)
        .subquery("visits")
    )
    return (
        select(per_visit, mileage.c.daily_km)
        .outerjoin(mileage, mileage.c.vehicle_id == per_visit.c.vehicle_id)
        .subquery("per_vehicle")
    )


def segment_query(
    store_id: int,
    as_of: dt.date,
    intervals: ServiceIntervals,
    rules: ReportRules,
    dialect: str = "postgresql",
) -> Select:
    """Segment counts per brand, model and fleet tag as of a day, in one statement."""
    year_ago = shift_months(as_of, -12)
    per_vehicle = _per_vehicle(store_id, as_of, year_ago, dialect)
    km, months = service_interval(
        intervals,
        brand=Vehicle.brand,
        model=Vehicle.model,
        own_km=Vehicle.interval_km,
        own_months=Vehicle.interval_months,
    )
    expected = expected_interval_days(km, months, per_vehicle.c.daily_km)
    last_visit = per_vehicle.c.last_visit

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    return (
        select(
            Vehicle.brand.label("brand"),
            Vehicle.model.label("model"),
            Customer.fleet_tag.label("fleet_tag"),
            func.count().label("archived"),
            count_if(per_vehicle.c.visits_12m >= 1).label("active"),
            count_if(per_vehicle.c.visits_12m >= rules.loyal_visits).label("loyal"),
            count_if(is_lost(last_visit, expected, as_of, rules.lost_factor)).label("lost"),
            count_if(last_visit <= shift_months(as_of, -3)).label("lost_3m"),
            count_if(last_visit <= shift_months(as_of, -6)).label("lost_6m"),
            count_if(last_visit <= year_ago).label("lost_12m"),
        )
        .select_from(per_vehicle)
        .join(Vehicle, Vehicle.id == per_vehicle.c.vehicle_id)
        .join(Customer, Customer.id == Vehicle.customer_id)
        .group_by(Vehicle.brand, Vehicle.model, Customer.fleet_tag)
    )


async def segment_report(
    session: AsyncSession,
    store_id: int,
    as_of: dt.date,
    intervals: ServiceIntervals,
    rules: ReportRules,
) -> SegmentReport:
    """The store's segments as of a day, with the groups behind every breakdown."""
    query = segment_query(store_id, as_of, intervals, rules, session.bind.dialect.name)
    rows = (await session.execute(query)).all()
    groups = [
        SegmentGroup(
            brand=row.brand,
            model=row.model,
            fleet_tag=str(row.fleet_tag) if row.fleet_tag is not None else None,
            counts=SegmentCounts(*(int(getattr(row, key) or 0) for key in SEGMENT_KEYS)),
        )
        for row in rows
    ]
    total = sum((group.counts for group in groups), SegmentCounts())
    return SegmentReport(as_of=as_of, total=total, groups=groups)


def series_days(as_of: dt.date, months: int = 12) -> list[dt.date]:
    """The as-of day and the ends of the months before it, oldest first."""
    days = [as_of]
    for back in range(1, months):
        days.append(month_end(shift_months(as_of, -back)))
    return sorted(days)


def _visits_by_day(facts: Subquery, days: list[dt.date]) -> list[ColumnElement[Any]]:
    """last_visit_<i> and visits_12m_<i> of every day, as aggregates over a vehicle's visits."""
    visited_on = facts.c.visited_on
    columns: list[ColumnElement[Any]] = []
    for i, day in enumerate(days):
        in_12m = (visited_on > shift_months(day, -12)) & (visited_on <= day)
        columns += [
            func.max(visited_on).filter(visited_on <= day).label(f"last_visit_{i}"),
            func.count().filter(in_12m).label(f"visits_12m_{i}"),
        ]
    return columns


def _daily_km_by_day(facts: Subquery, days: list[dt.date]) -> list[ColumnElement[Any]]:
    """daily_km_<i> of every day: the estimate of the reading day the day falls after."""
    read_on, next_read_on = facts.c.read_on, facts.c.next_read_on
    return [
        func.max(facts.c.daily_km)
        .filter((read_on <= day) & (next_read_on.is_(None) | (next_read_on > day)))
        .label(f"daily_km_{i}")
        for i, day in enumerate(days)
    ]


def _per_vehicle_by_day(store_id: int, days: list[dt.date], dialect: str) -> Subquery:
    """_per_vehicle for many days at once: a column per day, one row per vehicle seen by the
    last day, from one pass over the visits and one over the readings."""
    visits = (
        select(ServiceVisit.vehicle_id.label("vehicle_id"), ServiceVisit.visited_on)
        .where(ServiceVisit.store_id == store_id, ServiceVisit.visited_on <= days[-1])
        .subquery("visits")
    )
    estimates = mileage_by_reading_day(days[-1], store_id=store_id).subquery("estimates")
    # Most readings were superseded before the first day; they hold no day's estimate.
    readings = (
        select(estimates)
        .where(estimates.c.next_read_on.is_(None) | (estimates.c.next_read_on > days[0]))
        .subquery("readings")
    )
    if dialect == "sqlite":
        # As in _per_vehicle: one stream of both kinds of facts, grouped once.
        facts = union_all(
            select(
                visits.c.vehicle_id,
                visits.c.visited_on,
                cast(null(), Date).label("read_on"),
                cast(null(), Date).label("next_read_on"),
                cast(null(), Float).label("daily_km"),
            ),
            select(
                readings.c.vehicle_id,
                cast(null(), Date),
                readings.c.read_on,
                readings.c.next_read_on,
                readings.c.daily_km,
            ),
        ).subquery("facts")
        return (
            select(
                facts.c.vehicle_id.label("vehicle_id"),
                *_visits_by_day(facts, days),
                *_daily_km_by_day(facts, days),
            )
            .group_by(facts.c.vehicle_id)
            .having(func.max(facts.c.visited_on).is_not(None))
            .subquery("per_vehicle")
        )
    per_visit = (
        select(visits.c.vehicle_id, *_visits_by_day(visits, days))
        .group_by(visits.c.vehicle_id)
        .subquery("per_visit")
    )
    per_reading = (
        select(readings.c.vehicle_id, *_daily_km_by_day(readings, days))
        .group_by(readings.c.vehicle_id)
        .subquery("per_reading")
    )
    return (
        select(per_visit, *(per_reading.c[f"daily_km_{i}"] for i in range(len(days))))
        .outerjoin(per_reading, per_reading.c.vehicle_id == per_visit.c.vehicle_id)
        .subquery("per_vehicle")
    )


def series_query(
    store_id: int,
    days: list[dt.date],
    intervals: ServiceIntervals,
    rules: ReportRules,
    dialect: str = "postgresql",
) -> Select:
    """Segment totals as of each of `days` (oldest first), in one statement and one row.

    The same definitions as segment_query, day by day; the totals only, so without the
    customer: every vehicle has one (a NOT NULL foreign key), and the join would only cost.
    """
    per_day = _per_vehicle_by_day(store_id, days, dialect)
    km, months = service_interval(
        intervals,
        brand=Vehicle.brand,
        model=Vehicle.model,
        own_km=Vehicle.interval_km,
        own_months=Vehicle.interval_months,
    )
    # MATERIALIZED (SQLite 3.35+, PostgreSQL 12+) works the interval out once per vehicle;
    # inlined, both engines work it out again for every day (a third of the time on SQLite).
    per_vehicle = (
        select(per_day, km.label("interval_km"), months.label("interval_months"))
        .join(Vehicle, Vehicle.id == per_day.c.vehicle_id)
        .cte("per_vehicle_days")
        .prefix_with("MATERIALIZED")
    )
    km, months = per_vehicle.c.interval_km, per_vehicle.c.interval_months

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count().filter(condition)

    columns = []
    for i, day in enumerate(days):
        last_visit = per_vehicle.c[f"last_visit_{i}"]
        visits_12m = per_vehicle.c[f"visits_12m_{i}"]
        expected = expected_interval_days(km, months, per_vehicle.c[f"daily_km_{i}"])
        columns += [
            count_if(last_visit.is_not(None)).label(f"archived_{i}"),
            count_if(visits_12m >= 1).label(f"active_{i}"),
            count_if(visits_12m >= rules.loyal_visits).label(f"loyal_{i}"),
            count_if(is_lost(last_visit, expected, day, rules.lost_factor)).label(f"lost_{i}"),
            count_if(last_visit <= shift_months(day, -3)).label(f"lost_3m_{i}"),
            count_if(last_visit <= shift_months(day, -6)).label(f"lost_6m_{i}"),
            count_if(last_visit <= shift_months(day, -12)).label(f"lost_12m_{i}"),
        ]
    return select(*columns).select_from(per_vehicle)


async def segment_series(
    session: AsyncSession,
    store_id: int,
    as_of: dt.date,
    intervals: ServiceIntervals,
    rules: ReportRules,
    months: int = 12,
) -> list[tuple[dt.date, SegmentCounts]]:
    """Segment totals at the end of each of the last `months` months (the last one at as_of).

    One statement for all the days rather than segment_report per day: nothing is cached, so
    visits imported later into past months show in the past months at once.
    """
    days = series_days(as_of, months)
    query = series_query(store_id, days, intervals, rules, session.bind.dialect.name)
    row = (await session.execute(query)).one()
    return [
        (day, SegmentCounts(*(int(row._mapping[f"{key}_{i}"] or 0) for key in SEGMENT_KEYS)))
        for i, day in enumerate(days)
    ]
