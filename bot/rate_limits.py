"""PTB's rate limiter, with group posts paced by the relay's `GroupPacer` instead of its own.

PTB's AIORateLimiter keeps the overall limit (about 30 messages a second) and retries a 429 after
retry_after; on a 429 it also holds back *every* request of the bot for that long. The relay's
queue paces its group posts itself and handles its own 429s for the one group concerned, so its
requests (marked `rate_limit_args=PACED`) are passed through without retries. Every other post
into a group (an advisor's button answer, say) takes its turn in the same pacer, so one budget
per group is shared by everything the bot posts there and the two limiters never disagree.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

from bot.group_pacing import GroupPacer

JSONDict = dict[str, Any]

# rate_limit_args for a request the caller has already paced and whose 429 it handles itself.
PACED = -1

# Methods that put messages into a chat; only these count against the group limit.
POSTING_METHODS = frozenset(
    name.lower()
    for name in (
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVoice",
        "sendVideo",
        "sendAudio",
        "sendAnimation",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendVenue",
        "sendVideoNote",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    )
)


def _posts(endpoint: str, data: dict[str, Any]) -> int:
    """How many messages a request puts into its chat."""
    for key in ("media", "message_ids"):
        items = data.get(key)
        if isinstance(items, list):
            return len(items)
    return 1


def _group_chat(data: dict[str, Any]) -> int | None:
    chat_id = data.get("chat_id")
    try:
        value = int(chat_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value < 0 else None


class PacedRateLimiter(AIORateLimiter):
    """AIORateLimiter whose group limit is the shared `GroupPacer`."""

    def __init__(self, pacer: GroupPacer, max_retries: int = 3) -> None:
        # Group limits are the pacer's; retries are given per request below.
        super().__init__(group_max_rate=0, max_retries=0)
        self.pacer = pacer
        self.retries = max_retries

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if rate_limit_args == PACED:
            # Paced for its group already, and its 429 is the caller's to handle: only the
            # bot's overall limit applies (AIORateLimiter's, as a subclass may use it).
            if self._base_limiter is None:
                return await callback(*args, **kwargs)
            async with self._base_limiter:
                return await callback(*args, **kwargs)
        group = _group_chat(data)
        if group is None or endpoint.lower() not in POSTING_METHODS:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args or self.retries
            )
        count = _posts(endpoint, data)
        await self.pacer.take(group, count)
        try:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args or self.retries
            )
        finally:
            self.pacer.settle(group, count)
