"""core tables

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "store",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "market",
            sa.Enum(
                "taiwan",
                "mainland",
                name="market",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("advisor_chat_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store")),
        sa.UniqueConstraint("code", name=op.f("uq_store_code")),
    )
    op.create_table(
        "customer",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("marketing_consent", sa.Boolean(), nullable=False),
        sa.Column("marketing_consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("privacy_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "fleet_tag",
            sa.Enum(
                "government",
                "enterprise",
                "taxi",
                "rental",
                "private",
                name="fleettag",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_customer_store_id_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
        sa.UniqueConstraint("store_id", "phone", name="uq_customer_store_phone"),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_customer_telegram_user_id")),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_store_id"), ["store_id"], unique=False)

    op.create_table(
        "vehicle",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("brand", sa.String(length=60), nullable=True),
        sa.Column("model", sa.String(length=60), nullable=True),
        sa.Column("registration_date", sa.Date(), nullable=True),
        sa.Column("manufacture_year", sa.Integer(), nullable=True),
        sa.Column(
            "usage",
            sa.Enum(
                "private",
                "operating",
                name="vehicleusage",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("leased", sa.Boolean(), nullable=False),
        sa.Column(
            "inspection_market",
            sa.Enum(
                "taiwan",
                "mainland",
                name="market",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("insurance_end_date", sa.Date(), nullable=True),
        sa.Column("interval_km", sa.Integer(), nullable=True),
        sa.Column("interval_months", sa.Integer(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_vehicle_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name=op.f("fk_vehicle_store_id_store")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle")),
        sa.UniqueConstraint("store_id", "plate", name="uq_vehicle_store_plate"),
        sa.UniqueConstraint("store_id", "vin", name="uq_vehicle_store_vin"),
    )
    with op.batch_alter_table("vehicle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicle_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "odometer_reading",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "vehicle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("read_on", sa.Date(), nullable=False),
        sa.Column("km", sa.Integer(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "visit",
                "customer",
                "import",
                name="readingsource",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicle.id"],
            name=op.f("fk_odometer_reading_vehicle_id_vehicle"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odometer_reading")),
    )
    with op.batch_alter_table("odometer_reading", schema=None) as batch_op:
        batch_op.create_index(
            "ix_odometer_reading_vehicle_day", ["vehicle_id", "read_on"], unique=False
        )

    op.create_table(
        "service_visit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "vehicle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("km", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "maintenance",
                "repair",
                "bodywork",
                "inspection",
                "other",
                name="visitkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("repair_order", sa.String(length=40), nullable=True),
        sa.Column("appointment_id", sa.BigInteger(), nullable=True),
        sa.Column("from_appointment", sa.Boolean(), nullable=False),
        sa.Column("comeback", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name=op.f("fk_service_visit_store_id_store")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicle.id"],
            name=op.f("fk_service_visit_vehicle_id_vehicle"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_visit")),
        sa.UniqueConstraint("store_id", "repair_order", name="uq_service_visit_store_repair_order"),
    )
    with op.batch_alter_table("service_visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_service_visit_vehicle_day", ["vehicle_id", "visited_on"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("service_visit", schema=None) as batch_op:
        batch_op.drop_index("ix_service_visit_vehicle_day")

    op.drop_table("service_visit")
    with op.batch_alter_table("odometer_reading", schema=None) as batch_op:
        batch_op.drop_index("ix_odometer_reading_vehicle_day")

    op.drop_table("odometer_reading")
    with op.batch_alter_table("vehicle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_customer_id"))

    op.drop_table("vehicle")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_store_id"))

    op.drop_table("customer")
    op.drop_table("store")
