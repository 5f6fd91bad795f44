"""How far each vehicle drives: the estimate behind due dates and the mileage-aware lost rule.

Daily km = (km_last - km_prev) / days between the last two readings (on different days); with a
single reading, km / days since registration. Any reading, the owner's included, re-bases it.
"""

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal_column,
    select,
)

from bot.models import OdometerReading, Vehicle
from bot.sql_dates import days_between


def _readings_per_day(as_of: dt.date | None, store_id: int | None) -> Subquery:
    """vehicle_id, read_on, km: the highest reading of each vehicle on each day."""
    readings = select(
        OdometerReading.vehicle_id.label("vehicle_id"),
        OdometerReading.read_on.label("read_on"),
        func.max(OdometerReading.km).label("km"),
    ).group_by(OdometerReading.vehicle_id, OdometerReading.read_on)
    if as_of is not None:
        readings = readings.where(OdometerReading.read_on <= as_of)
    if store_id is not None:
        readings = readings.where(
            OdometerReading.vehicle_id.in_(select(Vehicle.id).where(Vehicle.store_id == store_id))
        )
    return readings.subquery("per_day")


def _daily_km(
    read_on: ColumnElement[Any],
    km: ColumnElement[Any],
    prev_read_on: ColumnElement[Any],
    prev_km: ColumnElement[Any],
) -> ColumnElement[float]:
    """The estimate as of a reading day, from the reading day before it or the registration."""
    since_previous = days_between(read_on, prev_read_on)
    since_registration = days_between(read_on, Vehicle.registration_date)
    daily_km = case(
        (
            and_(prev_read_on.is_not(None), km > prev_km),
            (km - prev_km) * literal_column("1.0") / since_previous,
        ),
        (
            and_(
                prev_read_on.is_(None),
                Vehicle.registration_date.is_not(None),
                read_on > Vehicle.registration_date,
                km > 0,
            ),
            km * literal_column("1.0") / since_registration,
        ),
        else_=None,
    )
    return cast(daily_km, Float)


def vehicle_mileage(as_of: dt.date | None = None, *, store_id: int | None = None) -> Select:
    """One row per vehicle with readings: vehicle_id, last_read_on, last_km, daily_km (or NULL).

    A subquery for rules and reports to join; it reads the whole base in one statement. With
    `as_of`, readings after that day are ignored (reports about the past); with `store_id`,
    only that store's vehicles are read (a dealer group keeps many stores in one database).
    """
    per_day = _readings_per_day(as_of, store_id)
    # One window pass gives each vehicle's latest day and the day before it; a self-join of the
    # ranked rows would do the same, but SQLite runs that join in quadratic time.
    newest_first = {"partition_by": per_day.c.vehicle_id, "order_by": per_day.c.read_on.desc()}
    ranked = select(
        per_day.c.vehicle_id,
        per_day.c.read_on,
        per_day.c.km,
        func.row_number().over(**newest_first).label("rank"),
        func.lead(per_day.c.read_on).over(**newest_first).label("prev_read_on"),
        func.lead(per_day.c.km).over(**newest_first).label("prev_km"),
    ).subquery("ranked")
    last = ranked.alias("last")
    return (
        select(
            last.c.vehicle_id.label("vehicle_id"),
            last.c.read_on.label("last_read_on"),
            last.c.km.label("last_km"),
            _daily_km(last.c.read_on, last.c.km, last.c.prev_read_on, last.c.prev_km).label(
                "daily_km"
            ),
        )
        .join(Vehicle, Vehicle.id == last.c.vehicle_id)
        .where(last.c.rank == 1)
    )


def mileage_by_reading_day(as_of: dt.date, *, store_id: int) -> Select:
    """One row per vehicle and reading day: vehicle_id, read_on, next_read_on and daily_km.

    daily_km is what vehicle_mileage() gives on any day from read_on up to the day before
    next_read_on (NULL for the latest reading: up to as_of), so a report over many days can
    read each day's estimate from one pass over the readings.
    """
    per_day = _readings_per_day(as_of, store_id)
    oldest_first = {"partition_by": per_day.c.vehicle_id, "order_by": per_day.c.read_on}
    ranked = select(
        per_day.c.vehicle_id,
        per_day.c.read_on,
        per_day.c.km,
        func.lead(per_day.c.read_on).over(**oldest_first).label("next_read_on"),
        func.lag(per_day.c.read_on).over(**oldest_first).label("prev_read_on"),
        func.lag(per_day.c.km).over(**oldest_first).label("prev_km"),
    ).subquery("ranked")
    return select(
        ranked.c.vehicle_id.label("vehicle_id"),
        ranked.c.read_on.label("read_on"),
        ranked.c.next_read_on.label("next_read_on"),
        _daily_km(ranked.c.read_on, ranked.c.km, ranked.c.prev_read_on, ranked.c.prev_km).label(
            "daily_km"
        ),
    ).join(Vehicle, Vehicle.id == ranked.c.vehicle_id)
