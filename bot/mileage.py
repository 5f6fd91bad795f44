"""How far each vehicle drives: the estimate behind due dates and the mileage-aware lost rule.

Daily km = (km_last - km_prev) / days between the last two readings (on different days); with a
single reading, km / days since registration. Any reading, the owner's included, re-bases it.
"""

from sqlalchemy import Float, Select, and_, case, cast, func, literal_column, select

from bot.models import OdometerReading, Vehicle
from bot.sql_dates import days_between


def vehicle_mileage() -> Select:
    """One row per vehicle with readings: vehicle_id, last_read_on, last_km, daily_km (or NULL).

    A subquery for rules and reports to join; it reads the whole base in one statement.
    """
    per_day = (
        select(
            OdometerReading.vehicle_id.label("vehicle_id"),
            OdometerReading.read_on.label("read_on"),
            func.max(OdometerReading.km).label("km"),
        )
        .group_by(OdometerReading.vehicle_id, OdometerReading.read_on)
        .subquery("per_day")
    )
    ranked = select(
        per_day,
        func.row_number()
        .over(partition_by=per_day.c.vehicle_id, order_by=per_day.c.read_on.desc())
        .label("rank"),
    ).subquery("ranked")
    last = ranked.alias("last")
    prev = ranked.alias("prev")
    since_previous = days_between(last.c.read_on, prev.c.read_on)
    since_registration = days_between(last.c.read_on, Vehicle.registration_date)
    daily_km = case(
        (
            and_(prev.c.read_on.is_not(None), last.c.km > prev.c.km),
            (last.c.km - prev.c.km) * literal_column("1.0") / since_previous,
        ),
        (
            and_(
                prev.c.read_on.is_(None),
                Vehicle.registration_date.is_not(None),
                last.c.read_on > Vehicle.registration_date,
                last.c.km > 0,
            ),
            last.c.km * literal_column("1.0") / since_registration,
        ),
        else_=None,
    )
    return (
        select(
            last.c.vehicle_id.label("vehicle_id"),
            last.c.read_on.label("last_read_on"),
            last.c.km.label("last_km"),
            cast(daily_km, Float).label("daily_km"),
        )
        .join(Vehicle, Vehicle.id == last.c.vehicle_id)
        .outerjoin(prev, and_(prev.c.vehicle_id == last.c.vehicle_id, prev.c.rank == 2))
        .where(last.c.rank == 1)
    )
