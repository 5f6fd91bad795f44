"""A customer's cars and their odometer readings.

Plates arrive already normalised (bot/plates.py). Km always lives in odometer_reading: adding a
car with its current odometer stores a reading, and so does every later report by the owner,
which re-bases the mileage estimate (bot/mileage.py). Removing a car hides it from the owner
but keeps its history for reports.
"""

import datetime as dt
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import OPEN
from bot.models import Appointment, OdometerReading, ReadingSource, Vehicle

VehicleRefusal = Literal["plate_taken", "plate_yours", "has_appointments"]


class VehicleRefused(Exception):
    """A car change that cannot be made; `reason` says why."""

    def __init__(self, reason: VehicleRefusal) -> None:
        super().__init__(reason)
        self.reason: VehicleRefusal = reason


async def customer_vehicles(session: AsyncSession, customer_id: int) -> list[Vehicle]:
    """The customer's cars, oldest registration in the bot first."""
    rows = await session.scalars(
        select(Vehicle)
        .where(Vehicle.customer_id == customer_id, Vehicle.removed_at.is_(None))
        .order_by(Vehicle.id)
    )
    return list(rows)


async def customer_vehicle(
    session: AsyncSession, customer_id: int, vehicle_id: int
) -> Vehicle | None:
    """One of the customer's cars (None for a removed car or someone else's)."""
    return await session.scalar(
        select(Vehicle).where(
            Vehicle.id == vehicle_id,
            Vehicle.customer_id == customer_id,
            Vehicle.removed_at.is_(None),
        )
    )


async def last_readings(
    session: AsyncSession, vehicle_ids: list[int]
) -> dict[int, OdometerReading]:
    """The latest reading of each vehicle (the highest km on the latest day)."""
    if not vehicle_ids:
        return {}
    rows = await session.scalars(
        select(OdometerReading)
        .where(OdometerReading.vehicle_id.in_(vehicle_ids))
        .order_by(
            OdometerReading.vehicle_id,
            OdometerReading.read_on.desc(),
            OdometerReading.km.desc(),
        )
    )
    latest: dict[int, OdometerReading] = {}
    for reading in rows:
        latest.setdefault(reading.vehicle_id, reading)
    return latest


async def last_reading(session: AsyncSession, vehicle_id: int) -> OdometerReading | None:
    return (await last_readings(session, [vehicle_id])).get(vehicle_id)


async def check_plate_free(
    session: AsyncSession, store_id: int, customer_id: int, plate: str, keep: int | None
) -> Vehicle | None:
    """The customer's own removed car with this plate, if any; refuses a plate in use."""
    holder = await session.scalar(
        select(Vehicle).where(Vehicle.store_id == store_id, Vehicle.plate == plate)
    )
    if holder is None or holder.id == keep:
        return None
    if holder.customer_id != customer_id:
        raise VehicleRefused("plate_taken")
    if holder.removed_at is None:
        raise VehicleRefused("plate_yours")
    return holder


async def add_vehicle(
    session: AsyncSession,
    *,
    store_id: int,
    customer_id: int,
    plate: str,
    brand: str | None,
    model: str | None,
    registration_date: dt.date | None,
    km: int,
    today: dt.date,
) -> Vehicle:
    """Register a car with its current odometer; a car the owner removed earlier comes back."""
    vehicle = await check_plate_free(session, store_id, customer_id, plate, keep=None)
    if vehicle is None:
        vehicle = Vehicle(store_id=store_id, customer_id=customer_id, plate=plate)
        session.add(vehicle)
    vehicle.removed_at = None
    vehicle.brand, vehicle.model = brand, model
    vehicle.registration_date = registration_date
    await session.flush()
    await record_reading(session, vehicle.id, km=km, on=today, source=ReadingSource.CUSTOMER)
    return vehicle


async def set_make_and_model(
    session: AsyncSession, vehicle: Vehicle, brand: str | None, model: str | None
) -> None:
    vehicle.brand, vehicle.model = brand, model
    await session.flush()


async def set_registration_date(
    session: AsyncSession, vehicle: Vehicle, registration_date: dt.date | None
) -> None:
    vehicle.registration_date = registration_date
    await session.flush()


async def change_plate(session: AsyncSession, vehicle: Vehicle, plate: str) -> None:
    """Correct a car's plate; refused when another car already has it."""
    await check_plate_free(session, vehicle.store_id, vehicle.customer_id, plate, vehicle.id)
    vehicle.plate = plate
    await session.flush()


async def record_reading(
    session: AsyncSession,
    vehicle_id: int,
    *,
    km: int,
    on: dt.date,
    source: ReadingSource = ReadingSource.CUSTOMER,
) -> OdometerReading:
    """Store an odometer reading (callers question one lower than the last first)."""
    reading = OdometerReading(vehicle_id=vehicle_id, read_on=on, km=km, source=source)
    session.add(reading)
    await session.flush()
    return reading


async def remove_vehicle(session: AsyncSession, vehicle: Vehicle, now: dt.datetime) -> None:
    """Hide a car from its owner; refused while it has an open appointment."""
    pending = await session.scalar(
        select(Appointment.id).where(
            Appointment.vehicle_id == vehicle.id,
            Appointment.status.in_(OPEN),
            Appointment.slot_start >= now,
        )
    )
    if pending is not None:
        raise VehicleRefused("has_appointments")
    vehicle.removed_at = now
    await session.flush()
