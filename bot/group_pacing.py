"""The pace of posts into advisor groups: about 20 a minute per group and about one a second.

Telegram does not publish exact numbers; over them it answers 429 with retry_after, and the
429 costs more than waiting would have. The pacer keeps, per group, the times of the posts of
the last minute and the earliest moment the next one may go, and says how long a post has to
wait. Time comes from a `Clock`, so a benchmark can run a simulated minute in a second.
"""

import asyncio
import time
from collections import deque
from typing import Protocol

WINDOW_SECONDS = 60.0
# Telegram forgets a post exactly a minute later; a hair more avoids arriving a hair early.
_MARGIN = 0.01


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class GroupPacer:
    """Per group: `per_minute` posts in any 60 seconds, and about one per `gap` seconds.

    The per-second part is a bucket of `burst` posts refilled one per `gap` seconds, as Telegram
    tolerates short bursts; an album takes as many as it has items and may leave the bucket in
    debt, which the following posts wait out.
    """

    def __init__(
        self,
        per_minute: int = 20,
        gap: float = 1.0,
        burst: int = 3,
        clock: Clock | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.gap = gap
        self.burst = burst
        self.clock: Clock = clock or RealClock()
        self._sent: dict[int, deque[float]] = {}
        # Per group: (tokens, when they were counted).
        self._bucket: dict[int, tuple[float, float]] = {}
        self._held: dict[int, float] = {}

    def delay(self, chat_id: int, count: int = 1) -> float:
        """Seconds until `count` posts (an album counts each item) may go to the group."""
        now = self.clock.now()
        waits = [self._held.get(chat_id, now) - now]
        tokens = self._tokens(chat_id, now)
        if tokens < 1 and self.gap > 0:
            waits.append((1 - tokens) * self.gap)
        sent = self._recent(chat_id, now)
        over = len(sent) + min(count, self.per_minute) - self.per_minute
        if over > 0:
            waits.append(sent[over - 1] + WINDOW_SECONDS + _MARGIN - now)
        return max(0.0, *waits)

    def record(self, chat_id: int, count: int = 1) -> None:
        """Count `count` posts made now."""
        now = self.clock.now()
        self._recent(chat_id, now).extend([now] * count)
        self._bucket[chat_id] = (self._tokens(chat_id, now) - count, now)

    def try_take(self, chat_id: int, count: int = 1) -> bool:
        """Record the posts and return True when they may go now; else change nothing."""
        if self.delay(chat_id, count) > 0:
            return False
        self.record(chat_id, count)
        return True

    async def take(self, chat_id: int, count: int = 1) -> None:
        """Wait until the posts may go, then record them."""
        while (wait := self.delay(chat_id, count)) > 0:
            await self.clock.sleep(wait)
        self.record(chat_id, count)

    def settle(self, chat_id: int, count: int = 1) -> None:
        """The posts taken last reached Telegram now: count them from now, not from when taken.

        Telegram counts a post when it arrives; counting from the earlier moment would let the
        next minute start a little early, which is a 429.
        """
        now = self.clock.now()
        sent = self._sent.get(chat_id)
        if sent:
            for index in range(1, min(count, len(sent)) + 1):
                sent[-index] = max(sent[-index], now)
        bucket = self._bucket.get(chat_id)
        if bucket is not None and bucket[1] < now:
            self._bucket[chat_id] = (bucket[0], now)

    def hold(self, chat_id: int, seconds: float) -> None:
        """Nothing goes to the group for `seconds` (Telegram's retry_after)."""
        until = self.clock.now() + seconds
        self._held[chat_id] = max(self._held.get(chat_id, until), until)

    def _tokens(self, chat_id: int, now: float) -> float:
        tokens, stamp = self._bucket.get(chat_id, (float(self.burst), now))
        if self.gap <= 0:
            return float(self.burst)
        return min(float(self.burst), tokens + (now - stamp) / self.gap)

    def _recent(self, chat_id: int, now: float) -> deque[float]:
        sent = self._sent.setdefault(chat_id, deque())
        while sent and sent[0] <= now - WINDOW_SECONDS:
            sent.popleft()
        return sent
