"""Claiming due outbox rows: leases, one row per customer, and the courtesy rules.

A sender claims a small batch in one short transaction: due rows it may take (`FOR UPDATE SKIP
LOCKED` on PostgreSQL; on SQLite the transaction holds the write lock from BEGIN, so claims run
one at a time), one per customer, each leased to the sender for `lease_seconds`. While claiming it
applies the courtesy rules: marketing only to consenting customers and only inside the store's
messaging hours (outside them marketing rows are not claimed and wait for the next window), at
most `marketing_per_week` marketing messages per customer in any 7 days (a row over the cap is
moved to when the oldest of those leaves the window), never to forgotten or banned customers.
A row whose reason went away meanwhile (the appointment was cancelled or moved, the car was
booked) is cancelled. A customer gets one message at a time, `per_chat_seconds` apart.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import OPEN
from bot.locales import Locale, as_locale
from bot.models import (
    Appointment,
    ClubEvent,
    Customer,
    EventSignup,
    EventStatus,
    Outbox,
    OutboxStatus,
    SignupStatus,
    UTCDateTime,
)
from bot.relay_queue import KIND as RELAY
from bot.store_config import StoreConfig
from scheduler import kinds
from scheduler.messages import parse_time

WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class Claimed:
    """A leased row with what it takes to send it."""

    id: int
    kind: str
    template: str
    payload: dict[str, Any]
    marketing: bool
    attempts: int
    customer_id: int
    chat_id: int
    locale: Locale
    customer_name: str | None


@dataclass
class Claim:
    rows: list[Claimed] = field(default_factory=list)
    # Rows settled without sending: cancelled, blocked, failed, deferred.
    settled: Counter[str] = field(default_factory=Counter)
    # Due rows left for a moment (their customer has a message in flight or just got one):
    # how long until they can go.
    retry_in: float | None = None


def in_messaging_hours(store: StoreConfig, tz: ZoneInfo, now: dt.datetime) -> bool:
    """May marketing go now: inside the messaging hours, on a day the store is open."""
    messaging = store.messaging
    local = now.astimezone(tz)
    if not messaging.on_closed_days and not store.hours_on(local.date()):
        return False
    return messaging.hours.start <= local.time() < messaging.hours.end


async def claim_outbox_batch(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    tz: ZoneInfo,
    owner: str,
    now: dt.datetime,
    limit: int,
    default_locale: Locale,
) -> Claim:
    """Lease up to `limit` due rows to `owner`, applying the courtesy rules (module docstring)."""
    rules = store.care.delivery
    postgres = session.bind.dialect.name == "postgresql"
    due = (
        select(Outbox)
        .where(
            Outbox.store_id == store_id,
            # Relay rows are posts for the advisor groups, sent by the relay's own sender.
            Outbox.kind != RELAY,
            Outbox.status == OutboxStatus.PENDING,
            Outbox.due_at <= now,
            or_(Outbox.lease_expires_at.is_(None), Outbox.lease_expires_at <= now),
        )
        .order_by(Outbox.due_at, Outbox.id)
        # More than a batch: rows of customers already served this round are passed over.
        .limit(limit * 4)
    )
    if not in_messaging_hours(store, tz, now):
        due = due.where(Outbox.marketing.is_(False))
    if postgres:
        due = due.with_for_update(of=Outbox, skip_locked=True)
    candidates = list(await session.scalars(due))
    if not candidates:
        return Claim()
    customers = await _lock_customers(session, {row.customer_id for row in candidates}, postgres)
    history = await _recent_history(session, set(customers), now)
    stale = await _stale_rows(session, candidates, now)

    claim = Claim()
    chosen: list[Outbox] = []
    taken: set[int] = set()
    for row in candidates:
        customer = customers.get(row.customer_id) if row.customer_id is not None else None
        if row.customer_id is not None and row.customer_id not in customers and postgres:
            continue  # another sender is claiming for this customer right now
        refusal = _refusal(row, customer)
        if refusal is not None:
            _close(claim, row, *refusal)
            continue
        assert customer is not None
        if row.attempts >= rules.max_attempts:
            _close(claim, row, OutboxStatus.FAILED, f"gave up after {row.attempts} attempts")
            continue
        if row.id in stale:
            _close(claim, row, OutboxStatus.CANCELLED, stale[row.id])
            continue
        seen = history.get(customer.id, _History())
        wait = seen.wait(now, rules.per_chat_seconds)
        if customer.id in taken or wait > 0:
            pause = wait if wait > 0 else rules.per_chat_seconds
            claim.retry_in = min(claim.retry_in or pause, pause)
            continue
        if row.marketing and seen.marketing_week >= store.messaging.marketing_per_week:
            if store.messaging.marketing_per_week == 0:
                _close(claim, row, OutboxStatus.CANCELLED, "marketing_per_week is 0")
            else:
                row.due_at = (seen.oldest_marketing or now) + WEEK
                row.error = "weekly marketing cap reached"
                claim.settled["deferred"] += 1
            continue
        if len(chosen) < limit:
            chosen.append(row)
            taken.add(customer.id)
    lease_until = now + dt.timedelta(seconds=rules.lease_seconds)
    for row in chosen:
        row.lease_owner, row.lease_expires_at = owner, lease_until
        row.attempts += 1
        customer = customers[row.customer_id]  # type: ignore[index]
        assert customer.telegram_user_id is not None
        claim.rows.append(
            Claimed(
                id=row.id,
                kind=row.kind,
                template=row.template,
                payload=dict(row.payload or {}),
                marketing=row.marketing,
                attempts=row.attempts,
                customer_id=customer.id,
                chat_id=customer.telegram_user_id,
                locale=as_locale(customer.locale, default_locale),
                customer_name=customer.name,
            )
        )
    await session.flush()
    return claim


def _refusal(row: Outbox, customer: Customer | None) -> tuple[OutboxStatus, str] | None:
    if customer is None:
        return OutboxStatus.CANCELLED, "no customer"
    if customer.forgotten_at is not None:
        return OutboxStatus.CANCELLED, "customer forgotten"
    if customer.banned_at is not None:
        return OutboxStatus.CANCELLED, "customer banned"
    if customer.telegram_user_id is None:
        return OutboxStatus.CANCELLED, "customer not on Telegram"
    if not customer.reachable:
        return OutboxStatus.BLOCKED, "customer blocked the bot"
    if row.marketing and not customer.marketing_consent:
        return OutboxStatus.CANCELLED, "no marketing consent"
    return None


def _close(claim: Claim, row: Outbox, status: OutboxStatus, reason: str) -> None:
    row.status, row.error = status, reason
    row.lease_owner, row.lease_expires_at = None, None
    claim.settled[status.value] += 1


async def _lock_customers(
    session: AsyncSession, ids: set[int | None], postgres: bool
) -> dict[int, Customer]:
    query = select(Customer).where(Customer.id.in_([i for i in ids if i is not None]))
    if postgres:
        # The weekly cap and the one-in-flight rule read a customer's other rows; two senders
        # must not both decide for the same customer at once. NO KEY: outbox inserts that only
        # reference the customer are not held up.
        query = query.with_for_update(key_share=True, skip_locked=True)
    return {customer.id: customer for customer in await session.scalars(query)}


@dataclass
class _History:
    in_flight: int = 0
    last_sent: dt.datetime | None = None
    marketing_week: int = 0
    oldest_marketing: dt.datetime | None = None

    def wait(self, now: dt.datetime, per_chat_seconds: float) -> float:
        """Seconds before this customer may get another message (in flight: the usual gap)."""
        if self.in_flight:
            return per_chat_seconds or 0.05
        if self.last_sent is None:
            return 0.0
        return max(0.0, per_chat_seconds - (now - self.last_sent).total_seconds())


async def _recent_history(
    session: AsyncSession, customer_ids: set[int], now: dt.datetime
) -> dict[int, _History]:
    if not customer_ids:
        return {}
    leased = and_(Outbox.status == OutboxStatus.PENDING, Outbox.lease_expires_at > now)
    sent = and_(Outbox.status == OutboxStatus.SENT, Outbox.sent_at > now - WEEK)
    marketing = Outbox.marketing.is_(True)
    rows = await session.execute(
        select(
            Outbox.customer_id,
            func.sum(case((leased, 1), else_=0)),
            func.max(Outbox.sent_at),
            func.sum(case((marketing, 1), else_=0)),
            func.min(type_coerce(case((marketing & sent, Outbox.sent_at)), UTCDateTime)),
        )
        .where(Outbox.customer_id.in_(customer_ids), Outbox.kind != RELAY, or_(sent, leased))
        .group_by(Outbox.customer_id)
    )
    return {
        customer_id: _History(int(flying or 0), last, int(week or 0), oldest)
        for customer_id, flying, last, week, oldest in rows
    }


def _same_time(value: object, moment: dt.datetime | None) -> bool:
    if not isinstance(value, str) or moment is None:
        return value is None and moment is None
    try:
        return parse_time(value) == moment
    except ValueError:
        return False


async def _stale_rows(
    session: AsyncSession, rows: list[Outbox], now: dt.datetime
) -> dict[int, str]:
    """Rows whose reason went away since planning, with why."""
    stale: dict[int, str] = {}
    by_appointment = {
        int(row.payload["appointment_id"]): row
        for row in rows
        if row.kind in kinds.ABOUT_APPOINTMENT and row.payload.get("appointment_id") is not None
    }
    if by_appointment:
        current = await session.execute(
            select(Appointment.id, Appointment.status, Appointment.slot_start).where(
                Appointment.id.in_(by_appointment)
            )
        )
        found = {row_id: (status, slot) for row_id, status, slot in current}
        for appointment_id, row in by_appointment.items():
            status, slot = found.get(appointment_id, (None, None))
            if status not in OPEN:
                stale[row.id] = "the appointment is no longer open"
            elif not _same_time(row.payload.get("slot_at"), slot):
                stale[row.id] = "the appointment moved"
    reminders = [row for row in rows if row.kind in (kinds.EVENT_DAY_BEFORE, kinds.EVENT_SOON)]
    if reminders:
        places = await session.execute(
            select(EventSignup.event_id, EventSignup.customer_id, ClubEvent.starts_at)
            .join(ClubEvent, ClubEvent.id == EventSignup.event_id)
            .where(
                EventSignup.event_id.in_({int(r.payload["event_id"]) for r in reminders}),
                EventSignup.status == SignupStatus.CONFIRMED,
                ClubEvent.status == EventStatus.PUBLISHED,
            )
        )
        confirmed = {(event, customer): starts for event, customer, starts in places}
        for row in reminders:
            starts = confirmed.get((int(row.payload["event_id"]), row.customer_id))
            if starts is None:
                stale[row.id] = "no confirmed place at the event"
            elif not _same_time(row.payload.get("starts_at"), starts):
                stale[row.id] = "the event moved"
    invitations = [row for row in rows if row.kind in kinds.STOP_WHEN_BOOKED]
    vehicles = {int(r.payload["vehicle_id"]) for r in invitations if r.payload.get("vehicle_id")}
    if vehicles:
        booked = set(
            await session.scalars(
                select(Appointment.vehicle_id).where(
                    Appointment.vehicle_id.in_(vehicles),
                    Appointment.status.in_(OPEN),
                    Appointment.slot_start >= now - dt.timedelta(days=1),
                )
            )
        )
        for row in invitations:
            if row.payload.get("vehicle_id") in booked:
                stale[row.id] = "the car was booked meanwhile"
    return stale
