"""Updates are confirmed to Telegram only once they have been handled.

Telegram drops an update as soon as a getUpdates call asks for a later offset. The stock
polling loop asks again at once, while the updates it just fetched still wait in the
application's queue, so a process killed (SIGKILL, a power cut) in that moment loses them:
Telegram has let them go and nothing has recorded them yet. This bot asks for the next updates
only after every update handed to the application has been handled (its queue's `join()`),
so whatever a killed process had not finished is fetched again by the next one.

Handlers run one at a time anyway (no concurrent updates), so the wait costs no throughput:
the next batch could not have started before the last one was done.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import ExtBot


class HandledFirstBot(ExtBot[None]):
    """An ExtBot whose getUpdates waits until the updates fetched before are handled."""

    __slots__ = ("_handled",)

    def __init__(self, *args: Any, handled: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handled = handled

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        """Wait for the application to handle what it has, then confirm it and fetch more."""
        await self._handled()
        return await super().get_updates(*args, **kwargs)
