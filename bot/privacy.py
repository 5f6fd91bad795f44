"""A customer's own data: everything held about them (/mydata), and erasing it (/forget).

PIPL (mainland) and PDPA (Taiwan) give people a copy of their personal data and its erasure.
Forgetting keeps the anonymous facts that the store's statistics stand on (the vehicle's brand,
model and visits, survey scores, event attendance) but removes every way back to the person:
name, phone, Telegram id, birthday, plate, VIN, free texts, and the copies of their messages.
"""

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    AdvisorThread,
    Appointment,
    ClubEvent,
    Conversation,
    Customer,
    CustomerNote,
    EventSignup,
    MessageLink,
    OdometerReading,
    Outbox,
    OutboxStatus,
    ServiceVisit,
    Store,
    SurveyResponse,
    Vehicle,
)


def _plain(value: Any) -> Any:
    """A value as JSON can hold it."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _record(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in names}


_CUSTOMER = (
    "name",
    "phone",
    "telegram_user_id",
    "locale",
    "birthday",
    "fleet_tag",
    "marketing_consent",
    "marketing_consent_at",
    "privacy_accepted_at",
    "reachable",
    "blocked_at",
    "forgotten_at",
    "created_at",
)
_VEHICLE = (
    "plate",
    "vin",
    "brand",
    "model",
    "registration_date",
    "manufacture_year",
    "usage",
    "insurance_end_date",
    "interval_km",
    "interval_months",
    "removed_at",
)
_VISIT = ("visited_on", "km", "kind", "amount", "repair_order", "from_appointment")


async def export_customer_data(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    """Everything Carebot holds about one customer, as JSON-ready values.

    Advisors' internal notes are left out: they are the store's working notes, kept from the
    customer by design (models.CustomerNote); forgetting deletes them.
    """
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    store = await session.get(Store, customer.store_id)
    vehicles = []
    for vehicle in await session.scalars(
        select(Vehicle).where(Vehicle.customer_id == customer_id).order_by(Vehicle.id)
    ):
        visits = await session.scalars(
            select(ServiceVisit)
            .where(ServiceVisit.vehicle_id == vehicle.id)
            .order_by(ServiceVisit.visited_on, ServiceVisit.id)
        )
        readings = await session.scalars(
            select(OdometerReading)
            .where(OdometerReading.vehicle_id == vehicle.id)
            .order_by(OdometerReading.read_on, OdometerReading.id)
        )
        vehicles.append(
            {
                **_record(vehicle, _VEHICLE),
                "visits": [_record(visit, _VISIT) for visit in visits],
                "odometer_readings": [
                    _record(reading, ("read_on", "km", "source")) for reading in readings
                ],
            }
        )
    appointments = await session.scalars(
        select(Appointment)
        .where(Appointment.customer_id == customer_id)
        .order_by(Appointment.slot_start)
    )
    signups = await session.execute(
        select(ClubEvent.title, ClubEvent.starts_at, EventSignup.party_size, EventSignup.status)
        .join(ClubEvent, ClubEvent.id == EventSignup.event_id)
        .where(EventSignup.customer_id == customer_id)
        .order_by(ClubEvent.starts_at)
    )
    surveys = await session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.customer_id == customer_id)
        .order_by(SurveyResponse.asked_at)
    )
    messages = await session.scalars(
        select(Outbox).where(Outbox.customer_id == customer_id).order_by(Outbox.due_at)
    )
    copies = await session.scalar(
        select(MessageLink.id).where(MessageLink.customer_id == customer_id).limit(1)
    )
    return {
        "store": {"code": store.code, "name": store.name} if store else None,
        "customer": _record(customer, _CUSTOMER),
        "vehicles": vehicles,
        "appointments": [
            _record(
                appointment,
                ("service_type", "slot_start", "status", "note", "cancel_reason", "created_at"),
            )
            for appointment in appointments
        ],
        "event_signups": [
            {
                "event": title,
                "starts_at": _plain(starts_at),
                "party_size": party_size,
                "status": _plain(status),
            }
            for title, starts_at, party_size, status in signups.all()
        ],
        "survey_responses": [
            _record(survey, ("score", "comment", "asked_at", "answered_at")) for survey in surveys
        ],
        "messages_to_you": [
            _record(message, ("kind", "status", "due_at", "sent_at", "replied_at"))
            for message in messages
        ],
        # The relay keeps message ids only (to map replies both ways), never their text.
        "relayed_message_ids_kept": copies is not None,
    }


@dataclass(frozen=True)
class Forgotten:
    """What a handler needs after forgetting: where to tell the advisors, whom to answer."""

    customer_id: int
    telegram_user_id: int | None
    advisor_chat_id: int | None
    advisor_topic_id: int | None
    message_links_deleted: int
    notes_deleted: int


async def forget_customer(session: AsyncSession, customer_id: int, now: dt.datetime) -> Forgotten:
    """Erase the customer's personal data, keeping anonymous counts; safe to run twice."""
    customer = await session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    telegram_user_id = customer.telegram_user_id
    thread = await session.scalar(
        select(AdvisorThread).where(AdvisorThread.customer_id == customer_id)
    )
    chat_id, topic_id = (thread.chat_id, thread.topic_id) if thread else (None, None)

    links = await session.execute(delete(MessageLink).where(MessageLink.customer_id == customer_id))
    notes = await session.execute(
        delete(CustomerNote).where(CustomerNote.customer_id == customer_id)
    )
    await session.execute(delete(AdvisorThread).where(AdvisorThread.customer_id == customer_id))
    if telegram_user_id is not None:
        await session.execute(delete(Conversation).where(Conversation.user_id == telegram_user_id))
    await session.execute(
        update(Appointment)
        .where(Appointment.customer_id == customer_id)
        .values(note=None, photo_file_id=None, cancel_reason=None)
    )
    await session.execute(
        update(SurveyResponse).where(SurveyResponse.customer_id == customer_id).values(comment=None)
    )
    # Nothing more is sent to them, and no copy of what was sent (the payload) stays.
    await session.execute(
        update(Outbox)
        .where(Outbox.customer_id == customer_id, Outbox.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED, lease_owner=None, lease_expires_at=None)
    )
    await session.execute(
        update(Outbox)
        .where(Outbox.customer_id == customer_id)
        .values(payload={}, chat_id=None, error=None)
    )
    vehicle_ids = select(Vehicle.id).where(Vehicle.customer_id == customer_id)
    await session.execute(
        update(ServiceVisit)
        .where(ServiceVisit.vehicle_id.in_(vehicle_ids))
        .values(note=None, repair_order=None)
    )
    for vehicle in await session.scalars(select(Vehicle).where(Vehicle.customer_id == customer_id)):
        vehicle.plate = None
        vehicle.vin = None
        vehicle.insurance_end_date = None
        vehicle.removed_at = vehicle.removed_at or now

    customer.name = None
    customer.phone = None
    customer.telegram_user_id = None
    customer.birthday = None
    customer.marketing_consent = False
    customer.marketing_consent_at = None
    customer.privacy_accepted_at = None
    customer.reachable = False
    customer.forgotten_at = customer.forgotten_at or now
    await session.flush()
    return Forgotten(
        customer_id=customer_id,
        telegram_user_id=telegram_user_id,
        advisor_chat_id=chat_id,
        advisor_topic_id=topic_id,
        message_links_deleted=links.rowcount or 0,
        notes_deleted=notes.rowcount or 0,
    )
