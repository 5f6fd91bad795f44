"""SQLAlchemy 2 typed models: the core tables every feature stands on."""

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

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
