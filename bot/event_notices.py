"""Event messages as care-outbox rows: invitations on publishing, and the notices events need.

Invitations use the care scheduler's own rule (scheduler/rules.py `event_invitation`), planned
at the moment an event is published instead of at the next planning run; the idempotency key is
the rule's, so the daily run adds nobody twice. They are marketing: the delivery applies
consent, messaging hours and the weekly cap.

Change, cancellation and promotion notices concern a place the owner asked for, so they are
service messages, due at once. The payload carries what their templates show (event_id, title,
place, starts_at and ends_at in ISO form, party_size, changed); the bot sends promotion notices
the moment they happen (bot/handlers/event_sends.py) and the delivery sends whatever is left.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import ClubEvent, Customer, EventSignup, Outbox, OutboxStatus
from bot.store_config import StoreConfig
from scheduler import kinds
from scheduler.audience import Audience
from scheduler.planner import outbox_insert
from scheduler.rules import PlanDay, event_invitation

# Reminders planned ahead about a place at an event: void once the place or the time goes.
REMINDERS = (kinds.EVENT_DAY_BEFORE, kinds.EVENT_SOON)


async def invite_audience(
    session: AsyncSession, event: ClubEvent, store: StoreConfig, tz: ZoneInfo, now: dt.datetime
) -> int:
    """Queue the invitations of a just-published event; how many were queued."""
    if not store.care.events.invitations:
        return 0
    day = PlanDay(store_id=event.store_id, store=store, tz=tz, as_of=now)
    rule = event_invitation(event.id, Audience.from_json(event.audience))
    result = await session.execute(outbox_insert(session, rule(day)))
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


def event_payload(event: ClubEvent, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "title": event.title,
        "place": event.place,
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat() if event.ends_at else None,
        **extra,
    }


async def queue_notices(
    session: AsyncSession,
    event: ClubEvent,
    kind: str,
    signups: list[EventSignup],
    now: dt.datetime,
    **extra: Any,
) -> list[int]:
    """One outbox row per sign-up whose owner is on Telegram; the ids of the rows inserted."""
    if not signups:
        return []
    on_telegram = set(
        await session.scalars(
            select(Customer.id).where(
                Customer.id.in_([signup.customer_id for signup in signups]),
                Customer.telegram_user_id.is_not(None),
            )
        )
    )
    occurrence = int(now.timestamp())
    rows = [
        {
            "store_id": event.store_id,
            "customer_id": signup.customer_id,
            "kind": kind,
            "idempotency_key": f"{kind}:{event.id}:{signup.customer_id}:{occurrence}",
            "marketing": False,
            "template": kinds.template_of(kind),
            "payload": event_payload(event, party_size=signup.party_size, **extra),
            "due_at": now,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
        }
        for signup in signups
        if signup.customer_id in on_telegram
    ]
    if not rows:
        return []
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    inserted = await session.scalars(
        insert(Outbox)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Outbox.id)
    )
    return list(inserted)


async def drop_planned(
    session: AsyncSession,
    event_id: int,
    planned: Iterable[str] = kinds.ABOUT_EVENT,
    customer_id: int | None = None,
) -> int:
    """Cancel pending planned messages of these kinds about an event (or one owner's place)."""
    planned = tuple(planned)
    owner = "" if customer_id is None else f"{customer_id}:"
    prefixes = [f"{kind}:{event_id}:{owner}" for kind in planned]
    result = await session.execute(
        update(Outbox)
        .where(
            Outbox.status == OutboxStatus.PENDING,
            Outbox.kind.in_(planned),
            or_(
                *(Outbox.idempotency_key.startswith(prefix, autoescape=True) for prefix in prefixes)
            ),
        )
        .values(status=OutboxStatus.CANCELLED, error="the event or the place was called off")
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
