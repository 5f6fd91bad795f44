"""One planning run: the store, its settings and the moment it runs at, and the outbox row shape.

Every rule selects rows in OUTBOX_COLUMNS order, built with `outbox_row`, so the planner can
insert them with INSERT ... SELECT.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Subquery,
    case,
    cast,
    extract,
    literal,
    select,
    union_all,
)

from bot.models import Market, UTCDateTime
from bot.service_due import name_key
from bot.store_config import LeadTimes, StoreConfig
from scheduler import kinds

OUTBOX_COLUMNS = (
    "store_id",
    "customer_id",
    "kind",
    "idempotency_key",
    "marketing",
    "template",
    "payload",
    "due_at",
    "status",
    "attempts",
)


@dataclass(frozen=True)
class PlanDay:
    """One planning run: the store, its settings and the moment it runs at."""

    store_id: int
    store: StoreConfig
    tz: ZoneInfo
    as_of: dt.datetime

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")

    @property
    def today(self) -> dt.date:
        """The store's local date: day-based rules count in it."""
        return self.as_of.astimezone(self.tz).date()

    @property
    def market(self) -> Market:
        return Market(self.store.store.market)

    def local(self, day: dt.date, at: dt.time) -> dt.datetime:
        """A local wall-clock time on a day, in UTC (zoneinfo handles daylight saving)."""
        return dt.datetime.combine(day, at, self.tz).astimezone(dt.UTC)

    @property
    def due_at(self) -> dt.datetime:
        """When day-based messages are due: the store's send time today."""
        return self.local(self.today, self.store.care.send_at)


# --- building blocks ----------------------------------------------------------------------------


def reachable(customer: Any, *, marketing: bool = False) -> list[ColumnElement[bool]]:
    """Customers a message may go to: on Telegram, not blocked, banned or forgotten."""
    condition = [
        customer.telegram_user_id.is_not(None),
        customer.reachable.is_(True),
        customer.forgotten_at.is_(None),
        customer.banned_at.is_(None),
    ]
    if marketing:
        condition.append(customer.marketing_consent.is_(True))
    return condition


def key(kind: str, *parts: ColumnElement[Any] | str | int) -> ColumnElement[str]:
    """The idempotency key: kind:part:part..., built in SQL."""
    text: ColumnElement[str] = literal(kind)
    for part in parts:
        value = literal(str(part)) if isinstance(part, str | int) else cast(part, String)
        text = text + literal(":") + value
    return text


def epoch(moment: ColumnElement[Any]) -> ColumnElement[int]:
    """A timestamp as whole seconds: the same text whatever the session's time zone."""
    return cast(extract("epoch", moment), Integer)


def outbox_row(
    day: PlanDay,
    *,
    kind: str,
    customer_id: ColumnElement[Any],
    idempotency_key: ColumnElement[str],
    marketing: bool,
    data: ColumnElement[Any],
    due_at: ColumnElement[Any] | None = None,
    template: str | None = None,
) -> list[ColumnElement[Any]]:
    """The select list of one outbox row, in OUTBOX_COLUMNS order."""
    return [
        literal(day.store_id).label("store_id"),
        customer_id.label("customer_id"),
        literal(kind).label("kind"),
        idempotency_key.label("idempotency_key"),
        literal(marketing).label("marketing"),
        literal(template or kinds.template_of(kind)).label("template"),
        data.label("payload"),
        (due_at if due_at is not None else literal(day.due_at, UTCDateTime)).label("due_at"),
        literal("pending").label("status"),
        literal(0).label("attempts"),
    ]


def table_of(rows: Sequence[dict[str, Any]], name: str) -> Subquery:
    """A small constant table (lead times, schedules) that joins on both engines.

    SQLite cannot name a VALUES list's columns, so it is a UNION ALL of one-row SELECTs.
    """
    selects = [
        select(*(literal(value).label(column) for column, value in row.items())) for row in rows
    ]
    if not selects:
        raise ValueError(f"{name}: no rows")
    return (selects[0] if len(selects) == 1 else union_all(*selects)).subquery(name)


def profile_of(brands: Iterable[str], models: Iterable[str], vehicle: Any) -> ColumnElement[str]:
    """Which lead-time set a vehicle follows: its model's, its brand's, or the default ('*')."""
    whens = [
        (name_key(vehicle.model) == name.strip().lower(), f"model:{name.strip().lower()}")
        for name in models
    ] + [
        (name_key(vehicle.brand) == name.strip().lower(), f"brand:{name.strip().lower()}")
        for name in brands
    ]
    return case(*whens, else_=literal("*")) if whens else literal("*")


def lead_profiles(lead: LeadTimes) -> dict[str, list[int]]:
    return {
        "*": lead.days,
        **{f"model:{name.strip().lower()}": days for name, days in lead.models.items()},
        **{f"brand:{name.strip().lower()}": days for name, days in lead.brands.items()},
    }
