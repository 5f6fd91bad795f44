"""Appointments: book, reschedule and cancel a slot, and the store's side of the day.

Capacity is taken atomically in `slot_usage`: the row for (store, service type, slot) is created
if missing (ON CONFLICT DO NOTHING), then `taken = taken + 1 WHERE taken < capacity`; the update
that changes a row wins. On SQLite every transaction holds the write lock from its start
(BEGIN IMMEDIATE, bot/db.py), so racers run one after the other; on PostgreSQL the second
updater waits on the row lock and re-checks `taken < capacity` against the committed row. Either
way two customers cannot both get the last place.

Statuses follow DOMAIN.md: booked -> confirmed -> arrived -> completed, or no_show, or
cancelled. `confirmation` records the store's day-before (N-1) confirmation for the scheduler.
"""

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    Appointment,
    AppointmentStatus,
    Confirmation,
    OdometerReading,
    ReadingSource,
    ServiceVisit,
    SlotUsage,
    VisitKind,
)
from bot.slots import is_bookable
from bot.store_config import StoreConfig

Refusal = Literal["slot_full", "not_bookable", "inside_cutoff", "not_open", "no_vehicle"]

OPEN = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)

# What an advisor's button may change, from which statuses.
_ADVISOR_MOVES: dict[str, tuple[tuple[AppointmentStatus, ...], AppointmentStatus | None]] = {
    "confirm": ((AppointmentStatus.BOOKED,), AppointmentStatus.CONFIRMED),
    "propose": (OPEN, None),
    "arrived": (OPEN, AppointmentStatus.ARRIVED),
    "no_show": (OPEN, AppointmentStatus.NO_SHOW),
    "complete": ((*OPEN, AppointmentStatus.ARRIVED), None),
}
ADVISOR_ACTIONS = tuple(_ADVISOR_MOVES)


class BookingRefused(Exception):
    """A change the store's rules or the appointment's state do not allow."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


async def take_place(
    session: AsyncSession, store_id: int, service_type: str, start: dt.datetime, capacity: int
) -> bool:
    """Take one place in a slot if one is left; False when the slot is full."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(SlotUsage)
        .values(store_id=store_id, service_type=service_type, slot_start=start, taken=0)
        .on_conflict_do_nothing()
    )
    result = await session.execute(
        update(SlotUsage)
        .where(
            SlotUsage.store_id == store_id,
            SlotUsage.service_type == service_type,
            SlotUsage.slot_start == start,
            SlotUsage.taken < capacity,
        )
        .values(taken=SlotUsage.taken + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def release_place(
    session: AsyncSession, store_id: int, service_type: str, start: dt.datetime
) -> None:
    """Give a place back to its slot."""
    await session.execute(
        update(SlotUsage)
        .where(
            SlotUsage.store_id == store_id,
            SlotUsage.service_type == service_type,
            SlotUsage.slot_start == start,
            SlotUsage.taken > 0,
        )
        .values(taken=SlotUsage.taken - 1)
        .execution_options(synchronize_session=False)
    )


async def book_appointment(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    tz: ZoneInfo,
    now: dt.datetime,
    customer_id: int,
    vehicle_id: int | None,
    service_type: str,
    slot_start: dt.datetime,
    note: str | None = None,
    photo_file_id: str | None = None,
) -> Appointment:
    """Book a slot, taking its place; BookingRefused when it is not bookable or full."""
    if service_type not in store.service_types or not is_bookable(store, slot_start, tz, now):
        raise BookingRefused("not_bookable")
    capacity = store.service_types[service_type].capacity
    if not await take_place(session, store_id, service_type, slot_start, capacity):
        raise BookingRefused("slot_full")
    appointment = Appointment(
        store_id=store_id,
        customer_id=customer_id,
        vehicle_id=vehicle_id,
        service_type=service_type,
        slot_start=slot_start,
        status=AppointmentStatus.BOOKED,
        confirmation=Confirmation.PENDING,
        note=note,
        photo_file_id=photo_file_id,
    )
    session.add(appointment)
    await session.flush()
    return appointment


def changeable(appointment: Appointment, store: StoreConfig, now: dt.datetime) -> bool:
    """Whether the customer may still move or cancel it (open, and outside the cut-off)."""
    cutoff = dt.timedelta(hours=store.booking.change_cutoff_hours)
    return appointment.status in OPEN and appointment.slot_start - now >= cutoff


def _check_changeable(appointment: Appointment, store: StoreConfig, now: dt.datetime) -> None:
    if appointment.status not in OPEN:
        raise BookingRefused("not_open")
    if not changeable(appointment, store, now):
        raise BookingRefused("inside_cutoff")


async def reschedule_appointment(
    session: AsyncSession,
    appointment: Appointment,
    *,
    store: StoreConfig,
    tz: ZoneInfo,
    now: dt.datetime,
    slot_start: dt.datetime,
    by_store: bool = False,
) -> Appointment:
    """Move an appointment to another slot: the new place is taken before the old is freed.

    The cut-off binds the customer only: a move the store proposed may happen inside it.
    """
    if appointment.status not in OPEN:
        raise BookingRefused("not_open")
    if not by_store:
        _check_changeable(appointment, store, now)
    if slot_start == appointment.slot_start:
        return appointment
    if not is_bookable(store, slot_start, tz, now):
        raise BookingRefused("not_bookable")
    capacity = store.service_types[appointment.service_type].capacity
    if not await take_place(
        session, appointment.store_id, appointment.service_type, slot_start, capacity
    ):
        raise BookingRefused("slot_full")
    await release_place(
        session, appointment.store_id, appointment.service_type, appointment.slot_start
    )
    appointment.slot_start = slot_start
    # A moved appointment needs the store's day-before confirmation again.
    appointment.status = AppointmentStatus.BOOKED
    appointment.confirmation = Confirmation.PENDING
    await session.flush()
    return appointment


async def cancel_appointment(
    session: AsyncSession,
    appointment: Appointment,
    *,
    store: StoreConfig,
    now: dt.datetime,
    reason: str | None,
) -> Appointment:
    """Cancel at the customer's request, freeing the place."""
    _check_changeable(appointment, store, now)
    await release_place(
        session, appointment.store_id, appointment.service_type, appointment.slot_start
    )
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancel_reason = reason
    await session.flush()
    return appointment


async def upcoming_appointments(
    session: AsyncSession, customer_id: int, now: dt.datetime
) -> list[Appointment]:
    """A customer's open appointments from now on, soonest first."""
    rows = await session.scalars(
        select(Appointment)
        .where(
            Appointment.customer_id == customer_id,
            Appointment.status.in_(OPEN),
            Appointment.slot_start >= now,
        )
        .order_by(Appointment.slot_start, Appointment.id)
    )
    return list(rows)


async def customer_appointment(
    session: AsyncSession, customer_id: int, appointment_id: int
) -> Appointment | None:
    """One of the customer's appointments (None for someone else's)."""
    return await session.scalar(
        select(Appointment).where(
            Appointment.id == appointment_id, Appointment.customer_id == customer_id
        )
    )


async def store_appointment(
    session: AsyncSession, store_id: int, appointment_id: int
) -> Appointment | None:
    """An appointment of this store, locked for the change about to be made."""
    return await session.scalar(
        select(Appointment)
        .where(Appointment.id == appointment_id, Appointment.store_id == store_id)
        .with_for_update()
    )


def advisor_may(appointment: Appointment, action: str) -> bool:
    """Whether an advisor's button still applies to the appointment's status."""
    allowed, _ = _ADVISOR_MOVES[action]
    return appointment.status in allowed


async def advisor_move(session: AsyncSession, appointment: Appointment, action: str) -> None:
    """Confirm, check in or mark a no-show; BookingRefused("not_open") when it no longer applies."""
    if not advisor_may(appointment, action):
        raise BookingRefused("not_open")
    _, status = _ADVISOR_MOVES[action]
    if status is not None:
        appointment.status = status
    if action == "confirm":
        appointment.confirmation = Confirmation.CONFIRMED
    await session.flush()


def visit_kind(service_type: str) -> VisitKind:
    """The visit kind reports count for a service type (store codes outside the list: other)."""
    try:
        return VisitKind(service_type)
    except ValueError:
        return VisitKind.OTHER


async def complete_appointment(
    session: AsyncSession, appointment: Appointment, *, km: int, on: dt.date
) -> ServiceVisit:
    """Close an appointment as done: a service visit from it and the odometer reading."""
    if not advisor_may(appointment, "complete"):
        raise BookingRefused("not_open")
    if appointment.vehicle_id is None:
        raise BookingRefused("no_vehicle")
    visit = ServiceVisit(
        store_id=appointment.store_id,
        vehicle_id=appointment.vehicle_id,
        visited_on=on,
        km=km,
        kind=visit_kind(appointment.service_type),
        appointment_id=appointment.id,
        from_appointment=True,
    )
    session.add(visit)
    session.add(
        OdometerReading(
            vehicle_id=appointment.vehicle_id, read_on=on, km=km, source=ReadingSource.VISIT
        )
    )
    appointment.status = AppointmentStatus.COMPLETED
    await session.flush()
    return visit
