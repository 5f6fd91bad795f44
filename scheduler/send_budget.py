"""The send budget: a steady pace, shared by every sender of the same database.

Telegram allows about 30 messages a second per bot. Each of the n live senders takes 1/n of the
budget: on PostgreSQL senders count each other through advisory locks (one slot per sender, held
for as long as it drains); on SQLite, which serves one process, they count each other in memory.
"""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Senders register under this advisory-lock class, one slot each, to share the send budget.
_SENDER_SLOTS = 0x0CA2
_MAX_SENDERS = 64
_LOCAL_SENDERS: Counter[str] = Counter()

logger = logging.getLogger(__name__)


class Pace:
    """Launches on a steady schedule of `rate` a second, never bunching up to catch up.

    A launch a little late (under a tenth of the interval: the event loop's timers overshoot)
    keeps the schedule, so the rate does not drift down; a launch later than that starts the
    schedule afresh instead of sending a burst.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    def set_rate(self, rate: float) -> None:
        self.interval = 1.0 / rate

    async def wait(self) -> None:
        slack = self.interval / 10
        now = time.monotonic()
        slot = max(self._next, now - slack)
        if slot > now:
            await asyncio.sleep(slot - now)
            # Woken much later than asked (the process was stalled): count from now.
            slot = max(slot, time.monotonic() - slack)
        self._next = slot + self.interval


@contextlib.asynccontextmanager
async def registered_sender(
    engine: AsyncEngine, *, batch_size: int, rate: float
) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Count this sender among the live ones while it drains; yields "how many are live now"."""
    if engine.dialect.name != "postgresql":
        url = str(engine.url)
        _LOCAL_SENDERS[url] += 1
        try:
            await _let_others_slow_down(_LOCAL_SENDERS[url] - 1, batch_size, rate)

            async def here() -> int:
                return max(1, _LOCAL_SENDERS[url])

            yield here
        finally:
            _LOCAL_SENDERS[url] -= 1
        return
    async with engine.connect() as connection:
        slot = await _take_sender_slot(connection)
        if slot is not None:
            await _let_others_slow_down(await _live_senders(connection) - 1, batch_size, rate)

        async def live() -> int:
            return max(1, await _live_senders(connection))

        try:
            yield live
        finally:
            if slot is not None:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:k, :slot)"),
                    {"k": _SENDER_SLOTS, "slot": slot},
                )
                await connection.commit()


async def _let_others_slow_down(others: int, batch_size: int, rate: float) -> None:
    # Running senders learn of a new one when they start their next batch, and the one they are
    # sending may already be followed by a claimed one: until both are out, the budget is theirs.
    if others > 0:
        await asyncio.sleep(2 * batch_size / (rate / others))


async def _take_sender_slot(connection: AsyncConnection) -> int | None:
    for slot in range(_MAX_SENDERS):
        taken = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:k, :slot)"), {"k": _SENDER_SLOTS, "slot": slot}
        )
        await connection.commit()
        if taken:
            return slot
    logger.warning("more than %d senders: this one shares the budget unregistered", _MAX_SENDERS)
    return None


async def _live_senders(connection: AsyncConnection) -> int:
    count = await connection.scalar(
        text(
            # pg_locks covers the whole server: count this database's senders only.
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = :k AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"k": _SENDER_SLOTS},
    )
    await connection.commit()
    return int(count or 0)
