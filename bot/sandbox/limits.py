"""Flood limits modelled on Telegram's: per chat, per group per minute and per bot overall."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.sandbox.errors import ApiError

Clock = Callable[[], float]

# Only these methods put messages into chats, so only they count against the flood limits.
COUNTED_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendvoice",
        "sendvideo",
        "sendaudio",
        "sendsticker",
        "sendlocation",
        "sendcontact",
        "sendmediagroup",
        "sendanimation",
        "sendvideonote",
        "sendvenue",
        "sendpoll",
        "senddice",
        "copymessage",
        "copymessages",
        "forwardmessage",
        "forwardmessages",
    }
)


@dataclass(frozen=True)
class Limits:
    """Flood limit settings; Telegram does not publish exact numbers, these are its guidance."""

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: int = 20
    global_per_second: int = 30


class ManualClock:
    """A clock for deterministic tests: time moves only when ``advance`` is called."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def _retry_after(seconds: float) -> ApiError:
    wait = max(1, math.ceil(seconds))
    return ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})


class FloodControl:
    """Tracks sends per bot and answers 429 like Telegram once a limit is exceeded."""

    def __init__(self, limits: Limits, clock: Clock | None = None) -> None:
        self.limits = limits
        self.clock: Clock = clock or time.monotonic
        self._buckets: dict[tuple[int, int], tuple[float, float]] = {}
        self._group_sends: dict[tuple[int, int], deque[float]] = {}
        self._bot_sends: dict[int, deque[float]] = {}
        self.refused = 0

    def check(self, bot_id: int, chat_id: int, is_group: bool, count: int = 1) -> None:
        """Record ``count`` messages to ``chat_id``, or raise a 429 without recording them."""
        now = self.clock()
        limits = self.limits
        tokens, stamp = self._buckets.get((bot_id, chat_id), (float(limits.per_chat_burst), now))
        refill = (now - stamp) * limits.per_chat_per_second
        tokens = min(float(limits.per_chat_burst), tokens + refill)
        waits: list[float] = []
        # A request needs room for one message; an album may then run the budget into debt,
        # which matches Telegram accepting an album and throttling what follows.
        if tokens < 1:
            waits.append((1 - tokens) / limits.per_chat_per_second)
        group = self._group_sends.setdefault((bot_id, chat_id), deque())
        if is_group:
            while group and group[0] <= now - 60:
                group.popleft()
            if len(group) >= limits.group_per_minute:
                waits.append(group[len(group) - limits.group_per_minute] + 60 - now)
        overall = self._bot_sends.setdefault(bot_id, deque())
        while overall and overall[0] <= now - 1:
            overall.popleft()
        if len(overall) >= limits.global_per_second:
            waits.append(overall[len(overall) - limits.global_per_second] + 1 - now)
        if waits:
            self.refused += 1
            self._buckets[(bot_id, chat_id)] = (tokens, now)
            raise _retry_after(max(waits))
        self._buckets[(bot_id, chat_id)] = (tokens - count, now)
        if is_group:
            group.extend([now] * count)
        overall.extend([now] * count)
