"""Booking slots: which start times a store offers, and which still have places left.

Slots follow the store file: each opening span is cut into `slot_minutes` pieces (a piece that
would run past closing is not offered), closed weekdays and closed dates offer none. A customer
may book from `now + min_notice_hours` up to the end of `today + horizon_days`, both counted in
the store's time zone. Places taken per slot and service type live in `slot_usage`.
"""

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import SlotUsage
from bot.store_config import StoreConfig


def local_today(now: dt.datetime, tz: ZoneInfo) -> dt.date:
    return now.astimezone(tz).date()


def slot_starts(store: StoreConfig, day: dt.date, tz: ZoneInfo) -> list[dt.datetime]:
    """Every slot start on a day, in UTC, whether or not it is still bookable."""
    length = dt.timedelta(minutes=store.booking.slot_minutes)
    starts = []
    for span in store.hours_on(day):
        start = dt.datetime.combine(day, span.start, tzinfo=tz)
        closing = dt.datetime.combine(day, span.end, tzinfo=tz)
        while start + length <= closing:
            starts.append(start.astimezone(dt.UTC))
            start += length
    return starts


def bookable_days(store: StoreConfig, tz: ZoneInfo, now: dt.datetime) -> list[dt.date]:
    """Days inside the horizon with at least one slot after the minimum notice."""
    today = local_today(now, tz)
    days = (today + dt.timedelta(days=n) for n in range(store.booking.horizon_days + 1))
    return [day for day in days if bookable_starts(store, day, tz, now)]


def bookable_starts(
    store: StoreConfig, day: dt.date, tz: ZoneInfo, now: dt.datetime
) -> list[dt.datetime]:
    """Slot starts on a day that the booking window allows (capacity not considered)."""
    last_day = local_today(now, tz) + dt.timedelta(days=store.booking.horizon_days)
    if day > last_day:
        return []
    earliest = now + dt.timedelta(hours=store.booking.min_notice_hours)
    return [start for start in slot_starts(store, day, tz) if start >= earliest]


def is_bookable(store: StoreConfig, start: dt.datetime, tz: ZoneInfo, now: dt.datetime) -> bool:
    """Whether a start time is a real slot inside the booking window."""
    return start in bookable_starts(store, start.astimezone(tz).date(), tz, now)


async def places_taken(
    session: AsyncSession,
    store_id: int,
    service_type: str,
    first: dt.datetime,
    last: dt.datetime,
) -> dict[dt.datetime, int]:
    """Places taken per slot start between two instants (inclusive), in one query."""
    rows = await session.execute(
        select(SlotUsage.slot_start, SlotUsage.taken).where(
            SlotUsage.store_id == store_id,
            SlotUsage.service_type == service_type,
            SlotUsage.slot_start >= first,
            SlotUsage.slot_start <= last,
        )
    )
    return {start: taken for start, taken in rows}


async def free_starts(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    service_type: str,
    tz: ZoneInfo,
    now: dt.datetime,
    days: Iterable[dt.date],
) -> dict[dt.date, list[dt.datetime]]:
    """Bookable starts with a place left, per day; days without any are left out."""
    candidates = {day: bookable_starts(store, day, tz, now) for day in days}
    every = [start for starts in candidates.values() for start in starts]
    if not every:
        return {}
    taken = await places_taken(session, store_id, service_type, min(every), max(every))
    capacity = store.service_types[service_type].capacity
    free = {
        day: [start for start in starts if taken.get(start, 0) < capacity]
        for day, starts in candidates.items()
    }
    return {day: starts for day, starts in free.items() if starts}


async def nearest_free_starts(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    service_type: str,
    tz: ZoneInfo,
    now: dt.datetime,
    wanted: dt.datetime,
    count: int = 4,
) -> list[dt.datetime]:
    """The free starts closest in time to the one wanted, earliest first."""
    free = await free_starts(
        session,
        store_id=store_id,
        store=store,
        service_type=service_type,
        tz=tz,
        now=now,
        days=bookable_days(store, tz, now),
    )
    every = [start for starts in free.values() for start in starts if start != wanted]
    closest = sorted(every, key=lambda start: (abs(start - wanted), start))[:count]
    return sorted(closest)
