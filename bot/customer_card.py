"""What advisors see first in a customer's topic: who, which cars, what is due, what is booked.

Per car: the last visit, the last odometer reading with today's estimate (bot/mileage.py), the
next maintenance by time or distance (bot/service_due.py, as the care rules compute it) and the
insurance end, and the car's segments as the reports define them (bot/service_due.py's lost
rule, ReportRules' loyal count). All of it in one statement for the customer's cars.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import OPEN
from bot.mileage import vehicle_mileage
from bot.models import Appointment, Customer, CustomerNote, ServiceVisit, Vehicle, VisitKind
from bot.months import shift_months
from bot.relay import recent_notes
from bot.service_due import due_by_km, due_on, expected_interval_days, is_lost, service_interval
from bot.store_config import StoreConfig


@dataclass(frozen=True)
class CarLine:
    plate: str | None
    brand: str | None
    model: str | None
    last_visit: dt.date | None
    last_km: int | None
    last_read_on: dt.date | None
    km_today: int | None
    maintenance_due: dt.date | None
    due_by_km: bool
    insurance_end: dt.date | None
    segments: tuple[str, ...]


@dataclass(frozen=True)
class CustomerCard:
    customer: Customer
    cars: list[CarLine]
    appointments: list[Appointment]
    notes: list[CustomerNote]


async def customer_card(
    session: AsyncSession, customer: Customer, store: StoreConfig, today: dt.date, now: dt.datetime
) -> CustomerCard:
    """The card's facts as of `today` (store time) and `now`."""
    appointments = await session.scalars(
        select(Appointment)
        .where(
            Appointment.customer_id == customer.id,
            Appointment.status.in_(OPEN),
            Appointment.slot_start >= now,
        )
        .order_by(Appointment.slot_start)
        .limit(5)
    )
    return CustomerCard(
        customer=customer,
        cars=await _cars(session, customer.id, store, today),
        appointments=list(appointments),
        notes=await recent_notes(session, customer.id),
    )


async def _cars(
    session: AsyncSession, customer_id: int, store: StoreConfig, today: dt.date
) -> list[CarLine]:
    year_ago = shift_months(today, -12)
    visits = (
        select(
            ServiceVisit.vehicle_id.label("vehicle_id"),
            func.max(ServiceVisit.visited_on).label("last_visit"),
            func.max(
                case((ServiceVisit.kind == VisitKind.MAINTENANCE, ServiceVisit.visited_on))
            ).label("last_maintenance"),
            func.sum(case((ServiceVisit.visited_on > year_ago, 1), else_=0)).label("visits_12m"),
        )
        .join(Vehicle, Vehicle.id == ServiceVisit.vehicle_id)
        .where(Vehicle.customer_id == customer_id, ServiceVisit.visited_on <= today)
        .group_by(ServiceVisit.vehicle_id)
        .subquery("visits")
    )
    mileage = vehicle_mileage(today).subquery("mileage")
    intervals = store.service_intervals
    km, months = service_interval(
        intervals,
        brand=Vehicle.brand,
        model=Vehicle.model,
        own_km=Vehicle.interval_km,
        own_months=Vehicle.interval_months,
    )
    never = visits.c.last_maintenance.is_(None)
    first = intervals.first_service
    due_km = case((never, literal(first.km)), else_=km)
    due_months = case((never, literal(first.months)), else_=months)
    basis = func.coalesce(visits.c.last_maintenance, Vehicle.registration_date)
    rules = store.reports
    lost = is_lost(
        visits.c.last_visit,
        expected_interval_days(km, months, mileage.c.daily_km),
        today,
        rules.lost_factor,
    )
    rows = await session.execute(
        select(
            Vehicle.plate,
            Vehicle.brand,
            Vehicle.model,
            Vehicle.insurance_end_date,
            visits.c.last_visit,
            visits.c.visits_12m,
            mileage.c.last_km,
            mileage.c.last_read_on,
            mileage.c.daily_km,
            case(
                (basis.is_(None), None), else_=due_on(basis, due_km, due_months, mileage.c.daily_km)
            ).label("due"),
            due_by_km(basis, due_km, due_months, mileage.c.daily_km).label("by_km"),
            case((visits.c.last_visit.is_(None), False), else_=lost).label("lost"),
        )
        .outerjoin(visits, visits.c.vehicle_id == Vehicle.id)
        .outerjoin(mileage, mileage.c.vehicle_id == Vehicle.id)
        .where(Vehicle.customer_id == customer_id, Vehicle.removed_at.is_(None))
        .order_by(Vehicle.id)
    )
    cars = []
    for row in rows.all():
        visits_12m = int(row.visits_12m or 0)
        segments = []
        if row.last_visit is not None:
            segments.append("archived")
            if visits_12m >= 1:
                segments.append("active")
            if visits_12m >= rules.loyal_visits:
                segments.append("loyal")
            if row.lost:
                segments.append("lost")
        last_read_on = _date(row.last_read_on)
        km_today = None
        if row.last_km is not None and last_read_on is not None:
            pace = float(row.daily_km or 0)
            km_today = int(row.last_km + pace * max(0, (today - last_read_on).days))
        cars.append(
            CarLine(
                plate=row.plate,
                brand=row.brand,
                model=row.model,
                last_visit=_date(row.last_visit),
                last_km=row.last_km,
                last_read_on=last_read_on,
                km_today=km_today,
                maintenance_due=_date(row.due),
                due_by_km=bool(row.by_km),
                insurance_end=_date(row.insurance_end_date),
                segments=tuple(segments),
            )
        )
    return cars


def _date(value: object) -> dt.date | None:
    # SQLite hands computed dates back as text.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
