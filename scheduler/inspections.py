"""Statutory inspections of private cars: the mainland and Taiwan cycles, as SQL arithmetic.

The care planner reminds owners before each inspection and the advisors' /due lists them; both
take the dates from `vehicle_inspection_anchor` and `inspection_dates`.
"""

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    extract,
    func,
    literal,
    or_,
    select,
    true,
)

from bot.models import Market, Vehicle, VehicleUsage
from bot.sql_dates import add_months, as_int
from scheduler.plan_day import PlanDay, lead_profiles, table_of

# Inspections are scheduled up to this age; older cars are rare enough to leave to the advisor.
INSPECTION_MAX_YEARS = 40


@dataclass(frozen=True)
class InspectionCycle:
    """When one kind of private car is inspected, in half-years from its anchor date.

    `points` are inspections before the regular part; from `yearly_from` every even half-year
    (once a year), from `half_yearly_from` every half-year. `label_only` points need only the
    label applied for online (mainland).
    """

    variant: str
    points: tuple[int, ...] = ()
    label_only: tuple[int, ...] = ()
    yearly_from: int | None = None
    half_yearly_from: int | None = None


def inspection_cycles(half_yearly_after: int | None) -> list[InspectionCycle]:
    """The anchor is the registration date on the mainland, and the registration day in the
    year of manufacture in Taiwan (whose rules count from manufacture).

    - mainland (2022 rules): years 2, 4 and 8 a label, 6 and 10 on site, then yearly; every 6
      months after `half_yearly_after` years when the store sets it.
    - mainland_old (registered more than 4 years after manufacture): the old cycle, every 2
      years up to 6, yearly to 15, then every 6 months.
    - taiwan: none under 5 years, yearly from 5, twice a year from 10.
    - taiwan_leased (leased for a year or more): none under 3, yearly from 3, twice from 6.
    """
    return [
        InspectionCycle(
            "mainland",
            points=(4, 8, 12, 16, 20),
            label_only=(4, 8, 16),
            yearly_from=22,
            half_yearly_from=None if half_yearly_after is None else 2 * half_yearly_after + 1,
        ),
        InspectionCycle("mainland_old", points=(4, 8, 12), yearly_from=14, half_yearly_from=31),
        InspectionCycle("taiwan", yearly_from=10, half_yearly_from=20),
        InspectionCycle("taiwan_leased", yearly_from=6, half_yearly_from=12),
    ]


def inspected_in(
    cycles: list[InspectionCycle], variant: ColumnElement[str], half_year: ColumnElement[int]
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(an inspection falls in this half-year, it needs only a label), as plain arithmetic.

    Arithmetic rather than a join with a schedule table: PostgreSQL misjudged such a join at
    1M vehicles and compared every car with every schedule row.
    """

    def due_in(cycle: InspectionCycle) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if cycle.points:
            parts.append(half_year.in_(cycle.points))
        if cycle.yearly_from is not None:
            parts.append(and_(half_year >= cycle.yearly_from, half_year % 2 == 0))
        if cycle.half_yearly_from is not None:
            parts.append(half_year >= cycle.half_yearly_from)
        return and_(half_year <= INSPECTION_MAX_YEARS * 2, or_(*parts))

    inspected = case(
        *((variant == cycle.variant, due_in(cycle)) for cycle in cycles), else_=literal(False)
    )
    labels = [(variant == c.variant, half_year.in_(c.label_only)) for c in cycles if c.label_only]
    label_only = case(*labels, else_=literal(False)) if labels else literal(False)
    return inspected, label_only


def half_year_steps(day: PlanDay) -> range:
    """Half-years, counted from today's, that can hold an inspection a reminder is due for today.

    Reminders fire from offset o to o + catch_up days, so the inspection lies between today -
    (o_max + catch_up) and today - o_min; in months, with one month's slack either side, that
    is months_back before and months_ahead after today's month since the anchor, and today's
    half-year starts up to 5 months before it.
    """
    lead = day.store.care.inspection
    offsets = [o for days in lead_profiles(lead).values() for o in days]
    months_back = max(0, math.ceil((max(offsets) + day.store.care.catch_up_days) / 28)) + 1
    months_ahead = max(0, math.ceil(-min(offsets) / 28)) + 1
    return range(-(months_back // 6), (5 + months_ahead) // 6 + 1)


def inspection_anchor(
    today: dt.date,
    *,
    market: ColumnElement[str],
    registration_date: ColumnElement[Any],
    manufacture_year: ColumnElement[Any],
    leased: ColumnElement[Any],
) -> tuple[ColumnElement[str], ColumnElement[int], ColumnElement[int]]:
    """(cycle variant, anchor shift in months, half-years since the anchor up to today)."""
    # EXTRACT gives numeric on PostgreSQL; whole numbers keep the half-year division integral.
    registered_year = as_int(extract("year", registration_date))
    built_years_before = registered_year - manufacture_year
    variant = case(
        (
            market == Market.MAINLAND.value,
            case(
                (and_(manufacture_year.is_not(None), built_years_before > 4), "mainland_old"),
                else_="mainland",
            ),
        ),
        (leased.is_(True), "taiwan_leased"),
        else_="taiwan",
    )
    # Taiwan counts the car's age from manufacture: shift the anchor back by the whole years
    # between manufacture and registration.
    shift = case(
        (
            and_(
                market == Market.TAIWAN.value,
                manufacture_year.is_not(None),
                built_years_before > 0,
            ),
            built_years_before * 12,
        ),
        else_=0,
    )
    months_registered = (
        (today.year * 12 + today.month)
        - (registered_year * 12 + as_int(extract("month", registration_date)))
        - case((as_int(extract("day", registration_date)) > today.day, 1), else_=0)
    )
    return variant, shift, (months_registered + shift) // 6


def inspected_vehicle() -> ColumnElement[bool]:
    """Private cars with a known registration date are inspected (DOMAIN.md)."""
    return and_(Vehicle.usage == VehicleUsage.PRIVATE, Vehicle.registration_date.is_not(None))


def vehicle_inspection_market(store_market: Market) -> ColumnElement[str]:
    """Whose rules a car follows: its own market when set (a car from across the strait), or
    the store's."""
    return func.coalesce(Vehicle.inspection_market, store_market.value)


def vehicle_inspection_anchor(
    today: dt.date, store_market: Market
) -> tuple[ColumnElement[str], ColumnElement[int], ColumnElement[int]]:
    """inspection_anchor of each Vehicle row; NULLs for a car that is not inspected."""
    anchor = inspection_anchor(
        today,
        market=vehicle_inspection_market(store_market),
        registration_date=Vehicle.registration_date,
        manufacture_year=Vehicle.manufacture_year,
        leased=Vehicle.leased,
    )
    variant, shift, half_years = (case((inspected_vehicle(), part)) for part in anchor)
    return variant, shift, half_years


def half_years_around(days_back: int, days_ahead: int) -> range:
    """Half-years, counted from today's, that can hold an inspection from `days_back` days
    before today to `days_ahead` after; callers keep the dates inside.

    Today's half-year falls on or before today and the next one on or after it, and they come
    at least 178 days apart (six months, less up to three when the registration day is
    missing from a month).
    """
    return range(-(days_back // 178), days_ahead // 178 + 2)


def inspection_dates(
    aged: Subquery | CTE, steps: Iterable[int], cycles: list[InspectionCycle]
) -> Select:
    """Every inspection of the `aged` vehicles in the half-years `steps` away from today's.

    `aged` carries registration_date and inspection_anchor's parts as variant, shift and
    half_years; the rows keep all its columns and add half_year, label_only and due_on (the
    anchor plus the half-years, on the registration day of the month).
    """
    step_table = table_of([{"step": step} for step in steps], "inspection_steps")
    half_year = aged.c.half_years + step_table.c.step
    inspected, label_only = inspected_in(cycles, aged.c.variant, half_year)
    occurrence_months = half_year * 6 - aged.c.shift
    return (
        select(
            aged,
            label_only.label("label_only"),
            half_year.label("half_year"),
            add_months(aged.c.registration_date, occurrence_months).label("due_on"),
        )
        .select_from(aged)
        .join(step_table, true())
        .where(inspected, occurrence_months >= 0)
    )
