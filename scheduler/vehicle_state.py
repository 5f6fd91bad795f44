"""The per-vehicle state the vehicle rules share, filled once per planning run.

The per-vehicle visit summary, daily-km estimate, due dates and inspection anchor are the costly
part of planning; maintenance, first service, insurance, inspection, new-car and win-back rules all
need them, so the planner computes them once into a temporary table.
"""

import datetime as dt

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    case,
    func,
    literal,
    select,
)

from bot.booking import OPEN
from bot.models import (
    Appointment,
    Customer,
    ServiceVisit,
    UTCDateTime,
    Vehicle,
    VisitKind,
)
from bot.service_due import daily_km_per_vehicle, due_candidates, service_interval
from scheduler.inspections import vehicle_inspection_anchor, vehicle_inspection_market
from scheduler.plan_day import PlanDay, reachable

VEHICLE_STATE = Table(
    "care_vehicle",
    MetaData(),
    Column("vehicle_id", Integer, primary_key=True),
    Column("customer_id", Integer, nullable=False),
    Column("consent", Boolean, nullable=False),
    Column("plate", String(16)),
    Column("brand", String(60)),
    Column("model", String(60)),
    Column("registration_date", Date),
    Column("manufacture_year", Integer),
    Column("leased", Boolean),
    Column("market", String(20)),
    Column("insurance_end_date", Date),
    Column("basis_on", Date),
    Column("last_visit_on", Date),
    Column("daily_km", Float),
    Column("interval_km", Integer),
    Column("interval_months", Integer),
    Column("booked", Boolean),
    # The due date's two candidates (time, km) from the last service and, for a car never
    # serviced here, from registration with the first-service interval: computed once here,
    # because date arithmetic is the costly part on SQLite.
    Column("due_by_time", Date),
    Column("due_by_km", Date),
    Column("first_by_time", Date),
    Column("first_by_km", Date),
    # Private cars only: which inspection cycle, and where today falls in it.
    Column("inspection_variant", String(20)),
    Column("inspection_shift", Integer),
    Column("inspection_half_years", Integer),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def vehicle_state(day: PlanDay) -> Select:
    """One row per vehicle of a reachable customer, for VEHICLE_STATE.

    basis_on is the last maintenance visit (the service the next due date counts from), or the
    last visit of any kind for a vehicle never maintained here; booked means an open appointment.
    """
    visits = (
        select(
            ServiceVisit.vehicle_id.label("vehicle_id"),
            func.max(
                case((ServiceVisit.kind == VisitKind.MAINTENANCE, ServiceVisit.visited_on))
            ).label("maintained_on"),
            func.max(ServiceVisit.visited_on).label("last_visit_on"),
        )
        .where(ServiceVisit.visited_on <= day.today)
        .group_by(ServiceVisit.vehicle_id)
        .subquery("visits")
    )
    mileage = daily_km_per_vehicle(day.today).subquery("mileage")
    booked = (
        select(Appointment.vehicle_id.label("vehicle_id"))
        .where(
            Appointment.store_id == day.store_id,
            Appointment.status.in_(OPEN),
            Appointment.slot_start >= literal(day.as_of - dt.timedelta(days=1), UTCDateTime),
            Appointment.vehicle_id.is_not(None),
        )
        .group_by(Appointment.vehicle_id)
        .subquery("booked")
    )
    km, months = service_interval(
        day.store.service_intervals,
        brand=Vehicle.brand,
        model=Vehicle.model,
        own_km=Vehicle.interval_km,
        own_months=Vehicle.interval_months,
    )
    basis_on = func.coalesce(visits.c.maintained_on, visits.c.last_visit_on)
    first = day.store.service_intervals.first_service
    return (
        select(
            Vehicle.id,
            Vehicle.customer_id,
            Customer.marketing_consent,
            Vehicle.plate,
            Vehicle.brand,
            Vehicle.model,
            Vehicle.registration_date,
            Vehicle.manufacture_year,
            Vehicle.leased,
            vehicle_inspection_market(day.market),
            Vehicle.insurance_end_date,
            basis_on,
            visits.c.last_visit_on,
            mileage.c.daily_km,
            km,
            months,
            booked.c.vehicle_id.is_not(None),
            *due_candidates(basis_on, km, months, mileage.c.daily_km),
            # Only cars never serviced here need the first-service dates.
            *(
                case((visits.c.last_visit_on.is_(None), candidate))
                for candidate in due_candidates(
                    Vehicle.registration_date,
                    literal(first.km),
                    literal(first.months),
                    mileage.c.daily_km,
                )
            ),
            *vehicle_inspection_anchor(day.today, day.market),
        )
        .join(Customer, Customer.id == Vehicle.customer_id)
        .outerjoin(visits, visits.c.vehicle_id == Vehicle.id)
        .outerjoin(mileage, mileage.c.vehicle_id == Vehicle.id)
        .outerjoin(booked, booked.c.vehicle_id == Vehicle.id)
        .where(Vehicle.store_id == day.store_id, Vehicle.removed_at.is_(None), *reachable(Customer))
    )
