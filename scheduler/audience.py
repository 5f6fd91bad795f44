"""Who a campaign or an event invitation goes to: a segment, narrowed by brand, model or fleet.

Segments are the dealer's definitions from DOMAIN.md, counted per vehicle; a customer is in the
audience when one of their vehicles is. The spec is stored as JSON on campaign and club_event.
"""

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, and_, case, exists, func, literal, select

from bot.models import Customer, FleetTag, ServiceVisit, Vehicle
from bot.months import shift_months
from bot.service_due import (
    daily_km_per_vehicle,
    expected_interval_days,
    is_lost,
    name_key,
    service_interval,
)
from bot.store_config import StoreConfig

Segment = Literal["all", "archived", "active", "loyal", "lost"]
SEGMENTS: tuple[Segment, ...] = ("all", "archived", "active", "loyal", "lost")


class Audience(BaseModel):
    """A segment, optionally narrowed; an empty spec means every customer of the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: Segment = "all"
    brands: list[str] = []
    models: list[str] = []
    fleet_tags: list[FleetTag] = []

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Audience":
        return cls.model_validate(data or {})

    def describe(self) -> str:
        parts: list[str] = [self.segment]
        for label, values in (("brand", self.brands), ("model", self.models)):
            if values:
                parts.append(f"{label} {', '.join(values)}")
        if self.fleet_tags:
            parts.append(f"fleet {', '.join(tag.value for tag in self.fleet_tags)}")
        return "; ".join(parts)


def audience_customers(
    audience: Audience, *, store_id: int, store: StoreConfig, as_of: dt.date
) -> Select:
    """customer_id of everyone in the audience, one row each."""
    condition = [Customer.store_id == store_id, Customer.forgotten_at.is_(None)]
    if audience.fleet_tags:
        condition.append(Customer.fleet_tag.in_(audience.fleet_tags))
    if audience.segment == "all" and not audience.brands and not audience.models:
        return select(Customer.id.label("customer_id")).where(*condition)
    vehicles = _matching_vehicles(audience, store_id=store_id, store=store, as_of=as_of)
    condition.append(exists(vehicles.where(Vehicle.customer_id == Customer.id)))
    return select(Customer.id.label("customer_id")).where(*condition)


def _matching_vehicles(
    audience: Audience, *, store_id: int, store: StoreConfig, as_of: dt.date
) -> Select:
    query = select(literal(1)).select_from(Vehicle)
    condition = [Vehicle.store_id == store_id, Vehicle.removed_at.is_(None)]
    if audience.brands:
        condition.append(name_key(Vehicle.brand).in_([b.strip().lower() for b in audience.brands]))
    if audience.models:
        condition.append(name_key(Vehicle.model).in_([m.strip().lower() for m in audience.models]))
    if audience.segment != "all":
        visits = visit_summary(as_of).subquery("visits")
        query = query.join(visits, visits.c.vehicle_id == Vehicle.id)
        condition.append(visits.c.last_visit_on <= as_of)
        if audience.segment == "active":
            condition.append(visits.c.visits_in_year >= 1)
        elif audience.segment == "loyal":
            condition.append(visits.c.visits_in_year >= store.reports.loyal_visits)
        elif audience.segment == "lost":
            mileage = daily_km_per_vehicle(as_of).subquery("mileage")
            query = query.outerjoin(mileage, mileage.c.vehicle_id == Vehicle.id)
            km, months = service_interval(
                store.service_intervals,
                brand=Vehicle.brand,
                model=Vehicle.model,
                own_km=Vehicle.interval_km,
                own_months=Vehicle.interval_months,
            )
            expected = expected_interval_days(km, months, mileage.c.daily_km)
            condition.append(
                is_lost(visits.c.last_visit_on, expected, as_of, store.reports.lost_factor)
            )
    return query.where(and_(*condition))


def visit_summary(as_of: dt.date) -> Select:
    """Per vehicle: last visit on or before as_of, and visits in the 12 months ending then."""
    # The 12 months that end on as_of, as the reports count them.
    in_year = and_(
        ServiceVisit.visited_on > shift_months(as_of, -12), ServiceVisit.visited_on <= as_of
    )
    return (
        select(
            ServiceVisit.vehicle_id.label("vehicle_id"),
            func.max(ServiceVisit.visited_on).label("last_visit_on"),
            func.sum(case((in_year, 1), else_=0)).label("visits_in_year"),
        )
        .where(ServiceVisit.visited_on <= as_of)
        .group_by(ServiceVisit.vehicle_id)
    )
