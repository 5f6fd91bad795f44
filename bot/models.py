"""SQLAlchemy 2 typed models: the core tables every feature stands on."""

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


class _Json(TypeDecorator[Any]):
    """Free-form data (payloads, audiences): JSONB on PostgreSQL, JSON text on SQLite.

    Strings lose NUL characters, which jsonb cannot hold: a text a customer sent with one keeps
    the rest, the same on both engines.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return _without_nul(value)


Json = _Json()

# Integer primary keys autoincrement on SQLite only as INTEGER; PostgreSQL gets 64 bits.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC (SQLite keeps no zone, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Carebot stores only aware times")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: object
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _enum(cls: type[enum.Enum]) -> Enum:
    # Portable: a VARCHAR with a CHECK, not a PostgreSQL type that every migration must manage.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        name=cls.__name__.lower(),
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Market(enum.StrEnum):
    TAIWAN = "taiwan"
    MAINLAND = "mainland"


class FleetTag(enum.StrEnum):
    GOVERNMENT = "government"
    ENTERPRISE = "enterprise"
    TAXI = "taxi"
    RENTAL = "rental"
    PRIVATE = "private"


class VehicleUsage(enum.StrEnum):
    PRIVATE = "private"
    OPERATING = "operating"


class ReadingSource(enum.StrEnum):
    VISIT = "visit"
    CUSTOMER = "customer"
    IMPORT = "import"


class VisitKind(enum.StrEnum):
    MAINTENANCE = "maintenance"
    REPAIR = "repair"
    BODYWORK = "bodywork"
    INSPECTION = "inspection"
    OTHER = "other"


class Store(Base):
    __tablename__ = "store"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(64))
    market: Mapped[Market] = mapped_column(_enum(Market))
    advisor_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("store_id", "phone", name="uq_customer_store_phone"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    marketing_consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    privacy_accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    fleet_tag: Mapped[FleetTag | None] = mapped_column(_enum(FleetTag))
    banned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())

    vehicles: Mapped[list["Vehicle"]] = relationship(back_populates="customer")


class Vehicle(Base):
    __tablename__ = "vehicle"
    __table_args__ = (
        UniqueConstraint("store_id", "plate", name="uq_vehicle_store_plate"),
        UniqueConstraint("store_id", "vin", name="uq_vehicle_store_vin"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    plate: Mapped[str | None] = mapped_column(String(16))
    vin: Mapped[str | None] = mapped_column(String(17))
    brand: Mapped[str | None] = mapped_column(String(60))
    model: Mapped[str | None] = mapped_column(String(60))
    registration_date: Mapped[dt.date | None] = mapped_column(Date)
    manufacture_year: Mapped[int | None] = mapped_column(Integer)
    usage: Mapped[VehicleUsage] = mapped_column(_enum(VehicleUsage), default=VehicleUsage.PRIVATE)
    leased: Mapped[bool] = mapped_column(Boolean, default=False)
    inspection_market: Mapped[Market | None] = mapped_column(_enum(Market))
    insurance_end_date: Mapped[dt.date | None] = mapped_column(Date)
    interval_km: Mapped[int | None] = mapped_column(Integer)
    interval_months: Mapped[int | None] = mapped_column(Integer)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())

    customer: Mapped[Customer] = relationship(back_populates="vehicles")


class OdometerReading(Base):
    __tablename__ = "odometer_reading"
    __table_args__ = (Index("ix_odometer_reading_vehicle_day", "vehicle_id", "read_on"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicle.id", ondelete="CASCADE"))
    read_on: Mapped[dt.date] = mapped_column(Date)
    km: Mapped[int] = mapped_column(Integer)
    source: Mapped[ReadingSource] = mapped_column(_enum(ReadingSource))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


class ServiceVisit(Base):
    __tablename__ = "service_visit"
    __table_args__ = (
        Index("ix_service_visit_vehicle_day", "vehicle_id", "visited_on"),
        UniqueConstraint("store_id", "repair_order", name="uq_service_visit_store_repair_order"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicle.id", ondelete="CASCADE"))
    visited_on: Mapped[dt.date] = mapped_column(Date)
    km: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[VisitKind] = mapped_column(_enum(VisitKind))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    repair_order: Mapped[str | None] = mapped_column(String(40))
    # The appointment table arrives with booking; until then this records only the id.
    appointment_id: Mapped[int | None] = mapped_column(BigInteger)
    from_appointment: Mapped[bool] = mapped_column(Boolean, default=False)
    comeback: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


# --- appointments ------------------------------------------------------------------------------


class AppointmentStatus(enum.StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class Confirmation(enum.StrEnum):
    """The store's day-before (N-1) confirmation of an appointment."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNREACHABLE = "unreachable"
    RESCHEDULED = "rescheduled"


class Appointment(Base):
    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_store_slot", "store_id", "slot_start"),
        Index("ix_appointment_customer_status", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle.id", ondelete="SET NULL"))
    service_type: Mapped[str] = mapped_column(String(32))
    slot_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[AppointmentStatus] = mapped_column(
        _enum(AppointmentStatus), default=AppointmentStatus.BOOKED
    )
    confirmation: Mapped[Confirmation] = mapped_column(
        _enum(Confirmation), default=Confirmation.PENDING
    )
    note: Mapped[str | None] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(200))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class SlotUsage(Base):
    """Places taken in one slot for one service type; the row that booking races lock."""

    __tablename__ = "slot_usage"
    __table_args__ = (CheckConstraint("taken >= 0", name="taken_not_negative"),)

    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"), primary_key=True)
    service_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    taken: Mapped[int] = mapped_column(Integer, default=0)


class Conversation(Base):
    """Where a user is in a multi-step flow, kept in the database so restarts resume it."""

    __tablename__ = "conversation"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    flow: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


# --- advisors and the relay --------------------------------------------------------------------


class AdvisorThread(Base):
    """A customer's place in the advisor group: a forum topic, or the plain group itself."""

    __tablename__ = "advisor_thread"
    __table_args__ = (UniqueConstraint("chat_id", "topic_id", name="uq_advisor_thread_topic"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    topic_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_reply_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


class LinkDirection(enum.StrEnum):
    TO_GROUP = "to_group"
    TO_CUSTOMER = "to_customer"


class MessageLink(Base):
    """A message and its copy on the other side, so quotes and edits map both ways."""

    __tablename__ = "message_link"
    __table_args__ = (
        Index("ix_message_link_customer_message", "customer_id", "customer_message_id"),
        Index("ix_message_link_group_message", "group_chat_id", "group_message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    customer_message_id: Mapped[int] = mapped_column(BigInteger)
    group_chat_id: Mapped[int] = mapped_column(BigInteger)
    group_message_id: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[LinkDirection] = mapped_column(_enum(LinkDirection))
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


class CustomerNote(Base):
    """An advisor's internal note; never shown to the customer."""

    __tablename__ = "customer_note"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    author_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str | None] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


# --- care messages -----------------------------------------------------------------------------


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Outbox(Base):
    """A message to send, once: the idempotency key is (rule, subject, occurrence)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "due_at"),
        Index("ix_outbox_customer_sent", "customer_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    template: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())


class SurveyResponse(Base):
    """The post-service satisfaction question and its answer; at most one per visit."""

    __tablename__ = "survey_response"
    __table_args__ = (
        CheckConstraint("score IS NULL OR score BETWEEN 1 AND 5", name="score_range"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_visit.id", ondelete="SET NULL"), unique=True
    )
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    asked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Campaign(Base):
    """A manager's message to a segment, sent through the outbox."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    name: Mapped[str] = mapped_column(String(120))
    template: Mapped[str] = mapped_column(String(80))
    audience: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# --- car-club events ---------------------------------------------------------------------------


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class SignupStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    ATTENDED = "attended"


class ClubEvent(Base):
    __tablename__ = "club_event"
    __table_args__ = (CheckConstraint("seats >= 0", name="seats_not_negative"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    place: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seats: Mapped[int] = mapped_column(Integer)
    signup_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    companions_allowed: Mapped[int] = mapped_column(Integer, default=0)
    audience: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    photo_file_id: Mapped[str | None] = mapped_column(String(200))
    checkin_code: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus), default=EventStatus.DRAFT)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class EventSignup(Base):
    __tablename__ = "event_signup"
    __table_args__ = (
        UniqueConstraint("event_id", "customer_id", name="uq_event_signup_event_customer"),
        CheckConstraint("party_size >= 1", name="party_size_positive"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("club_event.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    party_size: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[SignupStatus] = mapped_column(_enum(SignupStatus))
    # Arrival order for the waitlist: ids grow with arrival on both engines.
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )
