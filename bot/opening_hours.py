"""Whether the store is open at a moment, and when it opens next, in the store's time zone."""

import datetime as dt
from zoneinfo import ZoneInfo

from bot.store_config import StoreConfig

# Far enough for any holiday season; a store closed for longer has no "next opening" to promise.
_LOOKAHEAD_DAYS = 60


def is_open(store: StoreConfig, moment: dt.datetime, tz: ZoneInfo) -> bool:
    """Whether `moment` falls inside one of the day's opening spans (closed dates have none)."""
    local = moment.astimezone(tz)
    return any(span.start <= local.time() < span.end for span in store.hours_on(local.date()))


def next_opening(store: StoreConfig, moment: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
    """The first opening time after `moment` (aware, in the store's zone); None when none is near."""
    local = moment.astimezone(tz)
    for offset in range(_LOOKAHEAD_DAYS + 1):
        day = local.date() + dt.timedelta(days=offset)
        for span in store.hours_on(day):
            opens = dt.datetime.combine(day, span.start, tzinfo=tz)
            if opens > local:
                return opens
    return None
