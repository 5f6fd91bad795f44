"""Service intervals, due dates and the mileage-aware lost rule, as SQL over the whole base.

DOMAIN.md: a vehicle is due by time or distance, whichever comes first, and it is lost when it
has not come back within k times its own expected interval (the earlier of the brand's months
and the days its estimated daily km takes to cover the brand's km). Care rules and reports both
use these expressions, so the definitions live in one place.
"""

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
)

from bot.mileage import vehicle_mileage
from bot.sql_dates import add_days, add_months, days_between
from bot.store_config import ServiceIntervals

# An average calendar month, for comparing a months interval with a km-based one in days.
DAYS_PER_MONTH = 30.4375


def name_key(column: ColumnElement[Any]) -> ColumnElement[str]:
    """Brands and models match whatever their case or spacing (imports write TOYOTA)."""
    return func.lower(func.trim(column))


def service_interval(
    intervals: ServiceIntervals,
    *,
    brand: ColumnElement[Any],
    model: ColumnElement[Any],
    own_km: ColumnElement[Any] | None = None,
    own_months: ColumnElement[Any] | None = None,
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """(km, months) per vehicle: its own override, then model, brand, the store default."""

    def pick(part: str, own: ColumnElement[Any] | None) -> ColumnElement[int]:
        whens = [
            (name_key(model) == name.strip().lower(), getattr(interval, part))
            for name, interval in intervals.models.items()
        ] + [
            (name_key(brand) == name.strip().lower(), getattr(interval, part))
            for name, interval in intervals.brands.items()
        ]
        default = getattr(intervals.default, part)
        chosen = case(*whens, else_=default) if whens else literal(default)
        return func.coalesce(own, chosen) if own is not None else chosen

    return pick("km", own_km), pick("months", own_months)


def km_days(km: ColumnElement[Any], daily_km: ColumnElement[Any]) -> ColumnElement[float]:
    """Days the estimated daily km takes to cover `km` (NULL when the pace is unknown)."""
    return cast(km, Float) / daily_km


def due_candidates(
    basis_on: ColumnElement[Any],
    km: ColumnElement[Any],
    months: ColumnElement[Any],
    daily_km: ColumnElement[Any],
) -> tuple[ColumnElement[dt.date], ColumnElement[dt.date | None]]:
    """(basis + months, basis + km / daily km): the two dates the due date is the earlier of.

    The km date is NULL when the pace is unknown or so slow that time comes first anyway
    (nested CASE, not AND: PostgreSQL may evaluate either side of an AND first, and a tiny daily
    km would push the date out of range).
    """
    by_time = add_months(basis_on, months)
    by_km = case(
        (
            daily_km > 0,
            case(
                (
                    km_days(km, daily_km) < months * (DAYS_PER_MONTH + 1),
                    add_days(basis_on, km_days(km, daily_km)),
                )
            ),
        )
    )
    return by_time, by_km


def earlier_due(by_time: ColumnElement[Any], by_km: ColumnElement[Any]) -> ColumnElement[dt.date]:
    """The due date from its two candidates (a NULL km date compares false: time wins)."""
    return case((by_km < by_time, by_km), else_=by_time)


def due_on(
    basis_on: ColumnElement[Any],
    km: ColumnElement[Any],
    months: ColumnElement[Any],
    daily_km: ColumnElement[Any],
) -> ColumnElement[dt.date]:
    """min(basis + months, basis + km / daily km), the DOMAIN.md due date."""
    return earlier_due(*due_candidates(basis_on, km, months, daily_km))


def due_by_km(
    basis_on: ColumnElement[Any],
    km: ColumnElement[Any],
    months: ColumnElement[Any],
    daily_km: ColumnElement[Any],
) -> ColumnElement[bool]:
    """Whether the distance, not the time, sets the due date."""
    by_time, by_km = due_candidates(basis_on, km, months, daily_km)
    return case((by_km < by_time, literal(True)), else_=literal(False))


def expected_interval_days(
    km: ColumnElement[Any], months: ColumnElement[Any], daily_km: ColumnElement[Any]
) -> ColumnElement[float]:
    """The vehicle's own expected interval in days: the earlier of time and distance."""
    by_time = months * literal_column(str(DAYS_PER_MONTH))
    by_km = km_days(km, daily_km)
    return case((daily_km.is_not(None) & (daily_km > 0) & (by_km < by_time), by_km), else_=by_time)


def is_lost(
    last_visit_on: ColumnElement[Any],
    expected_days: ColumnElement[Any],
    as_of: dt.date,
    factor: float,
) -> ColumnElement[bool]:
    """Not back within factor x the expected interval, counted to the as-of date."""
    return days_between(literal(as_of), last_visit_on) > expected_days * factor


def daily_km_per_vehicle(as_of: dt.date) -> Select:
    """vehicle_id, daily_km (bot/mileage.py's estimate), shaped to be joined over the whole base.

    The GROUP BY changes nothing in the rows (there is one per vehicle already), but SQLite
    builds an index on a grouped subquery it joins; on the bare window-function subquery it
    scans all of it once per vehicle, which makes 100k vehicles take minutes instead of a second.
    """
    mileage = vehicle_mileage(as_of).subquery("mileage_rows")
    return select(
        mileage.c.vehicle_id.label("vehicle_id"),
        func.max(mileage.c.daily_km).label("daily_km"),
    ).group_by(mileage.c.vehicle_id)
