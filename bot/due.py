"""Who is due for what in the coming days: the advisors' /due list.

Maintenance is due by time or distance from the last maintenance visit (DOMAIN.md), or from
delivery with the first-service interval when there is none yet; insurance by its end date;
the statutory inspection of a private car on the dates the care planner reminds its owner of
(scheduler/inspections.py). A vehicle with an open appointment is left out: the store already
has it in hand. Forgotten customers and removed cars are never listed.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Date,
    Float,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.mileage import vehicle_mileage
from bot.models import (
    Appointment,
    AppointmentStatus,
    Customer,
    Market,
    ServiceVisit,
    Vehicle,
    VisitKind,
)
from bot.service_due import due_by_km, due_on, service_interval
from bot.store_config import ServiceIntervals, StoreConfig
from scheduler.inspections import (
    half_years_around,
    inspected_vehicle,
    inspection_cycles,
    inspection_dates,
    vehicle_inspection_anchor,
)

DueWhat = Literal["maintenance", "insurance", "inspection"]


@dataclass(frozen=True)
class DueItem:
    due_on: dt.date
    what: DueWhat
    customer_id: int
    customer_name: str | None
    phone: str | None
    vehicle_id: int
    plate: str | None
    brand: str | None
    model: str | None
    # Maintenance only: whether the distance, not the time, sets the date.
    by_km: bool = False
    # Inspection only: a label applied for online, no inspection on site (mainland).
    label_only: bool = False


async def due_list(
    session: AsyncSession,
    store_id: int,
    today: dt.date,
    days: int,
    config: StoreConfig,
    *,
    overdue_days: int = 30,
    now: dt.datetime | None = None,
) -> list[DueItem]:
    """Maintenance, insurance and inspections due from `overdue_days` ago to `days` ahead,
    soonest first."""
    earliest, latest = today - dt.timedelta(days=overdue_days), today + dt.timedelta(days=days)
    now = now or dt.datetime.combine(today, dt.time(), dt.UTC)
    open_appointment = exists().where(
        # By customer first: that is the appointment table's index.
        Appointment.customer_id == Vehicle.customer_id,
        Appointment.vehicle_id == Vehicle.id,
        Appointment.status.in_([AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED]),
        Appointment.slot_start >= now,
    )
    reachable = and_(
        Vehicle.store_id == store_id,
        Vehicle.removed_at.is_(None),
        Customer.forgotten_at.is_(None),
        ~open_appointment,
    )
    items = await _maintenance(
        session, store_id, today, config.service_intervals, reachable, earliest, latest
    )
    items += await _inspections(session, today, config, reachable, earliest, latest)
    insurance = await session.execute(
        select(
            Vehicle.insurance_end_date,
            Customer.id,
            Customer.name,
            Customer.phone,
            Vehicle.id,
            Vehicle.plate,
            Vehicle.brand,
            Vehicle.model,
        )
        .join(Customer, Customer.id == Vehicle.customer_id)
        .where(
            reachable,
            Vehicle.insurance_end_date >= earliest,
            Vehicle.insurance_end_date <= latest,
        )
    )
    items += [DueItem(row[0], "insurance", *row[1:]) for row in insurance.all()]
    return sorted(items, key=lambda item: (item.due_on, item.what, item.vehicle_id))


def _service_facts(store_id: int, today: dt.date, dialect: str) -> Subquery:
    """vehicle_id, last_on (last maintenance) and daily_km of every vehicle of the store."""
    mileage = vehicle_mileage(today, store_id=store_id).subquery("mileage")
    maintenance = select(
        ServiceVisit.vehicle_id.label("vehicle_id"),
        ServiceVisit.visited_on.label("last_on"),
    ).where(
        ServiceVisit.store_id == store_id,
        ServiceVisit.kind == VisitKind.MAINTENANCE,
        ServiceVisit.visited_on <= today,
    )
    if dialect == "sqlite":
        # SQLite joins derived tables by scanning one for each row of the other (quadratic);
        # grouping one stream of all the facts stays n log n.
        facts = union_all(
            select(
                Vehicle.id.label("vehicle_id"),
                cast(null(), Date).label("last_on"),
                cast(null(), Float).label("daily_km"),
            ).where(Vehicle.store_id == store_id),
            maintenance.add_columns(cast(null(), Float)),
            select(mileage.c.vehicle_id, cast(null(), Date), mileage.c.daily_km),
        ).subquery("facts")
        return (
            select(
                facts.c.vehicle_id.label("vehicle_id"),
                func.max(facts.c.last_on).label("last_on"),
                func.max(facts.c.daily_km).label("daily_km"),
            )
            .group_by(facts.c.vehicle_id)
            .subquery("per_vehicle")
        )
    # PostgreSQL misjudges the groups of such a union; plain joins get hash joins.
    visits = maintenance.subquery("maintenance")
    last = (
        select(visits.c.vehicle_id, func.max(visits.c.last_on).label("last_on"))
        .group_by(visits.c.vehicle_id)
        .subquery("last_service")
    )
    return (
        select(Vehicle.id.label("vehicle_id"), last.c.last_on, mileage.c.daily_km)
        .outerjoin(last, last.c.vehicle_id == Vehicle.id)
        .outerjoin(mileage, mileage.c.vehicle_id == Vehicle.id)
        .where(Vehicle.store_id == store_id)
        .subquery("per_vehicle")
    )


async def _maintenance(
    session: AsyncSession,
    store_id: int,
    today: dt.date,
    intervals: ServiceIntervals,
    reachable: object,
    earliest: dt.date,
    latest: dt.date,
) -> list[DueItem]:
    per_vehicle = _service_facts(store_id, today, session.bind.dialect.name)
    km, months = service_interval(
        intervals,
        brand=Vehicle.brand,
        model=Vehicle.model,
        own_km=Vehicle.interval_km,
        own_months=Vehicle.interval_months,
    )
    first = intervals.first_service
    never = per_vehicle.c.last_on.is_(None)
    km = case((never, literal(first.km)), else_=km)
    months = case((never, literal(first.months)), else_=months)
    basis = func.coalesce(per_vehicle.c.last_on, Vehicle.registration_date)
    due = due_on(basis, km, months, per_vehicle.c.daily_km)
    inner = (
        select(
            due.label("due_on"),
            due_by_km(basis, km, months, per_vehicle.c.daily_km).label("by_km"),
            Customer.id.label("customer_id"),
            Customer.name.label("customer_name"),
            Customer.phone.label("phone"),
            Vehicle.id.label("vehicle_id"),
            Vehicle.plate.label("plate"),
            Vehicle.brand.label("brand"),
            Vehicle.model.label("model"),
        )
        .select_from(per_vehicle)
        .join(Vehicle, Vehicle.id == per_vehicle.c.vehicle_id)
        .join(Customer, Customer.id == Vehicle.customer_id)
        .where(reachable, basis.is_not(None))
        .subquery("maintenance")
    )
    rows = await session.execute(
        select(inner).where(inner.c.due_on >= earliest, inner.c.due_on <= latest)
    )
    return [_item(row, "maintenance", by_km=bool(row.by_km)) for row in rows.all()]


async def _inspections(
    session: AsyncSession,
    today: dt.date,
    config: StoreConfig,
    reachable: object,
    earliest: dt.date,
    latest: dt.date,
) -> list[DueItem]:
    variant, shift, half_years = vehicle_inspection_anchor(today, Market(config.store.market))
    aged = (
        select(
            Customer.id.label("customer_id"),
            Customer.name.label("customer_name"),
            Customer.phone.label("phone"),
            Vehicle.id.label("vehicle_id"),
            Vehicle.plate.label("plate"),
            Vehicle.brand.label("brand"),
            Vehicle.model.label("model"),
            Vehicle.registration_date.label("registration_date"),
            variant.label("variant"),
            shift.label("shift"),
            half_years.label("half_years"),
        )
        .join(Customer, Customer.id == Vehicle.customer_id)
        .where(reachable, inspected_vehicle())
        # Materialized, the anchor is worked out once per car; inlined, SQLite works it out
        # again for every half-year and every use (three times slower at 1M cars).
        .cte("inspection_aged")
        .prefix_with("MATERIALIZED")
    )
    steps = half_years_around((today - earliest).days, (latest - today).days)
    cycles = inspection_cycles(config.care.inspection.mainland_half_yearly_after_years)
    dates = inspection_dates(aged, steps, cycles).subquery("inspections")
    # BETWEEN works the date out once; two comparisons would work it out twice on SQLite.
    rows = await session.execute(select(dates).where(dates.c.due_on.between(earliest, latest)))
    return [_item(row, "inspection", label_only=bool(row.label_only)) for row in rows.all()]


def _item(row: Any, what: DueWhat, **flags: bool) -> DueItem:
    """A due item from a row with the vehicle's and customer's columns and its due_on."""
    return DueItem(
        due_on=_as_date(row.due_on),
        what=what,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        phone=row.phone,
        vehicle_id=row.vehicle_id,
        plate=row.plate,
        brand=row.brand,
        model=row.model,
        **flags,
    )


def _as_date(value: object) -> dt.date:
    # SQLite hands computed dates back as text.
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
