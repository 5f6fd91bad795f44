"""The application's update queue: an update counts as received only once it has been handled.

Telegram lets an update go as soon as the bot has it: when the next getUpdates asks for a later
offset (polling), or when the webhook request is answered. The stock loop does both the moment an
update is queued, before any handler has seen it, so a process killed in that moment (SIGKILL, a
power cut) loses it. Here `put()` returns only once everything queued so far has been handled:
the polling loop asks for more updates, and the webhook server answers, only after that, so
whatever a killed process had not finished reaches the next one again.

Handlers run one at a time anyway (no concurrent updates), so the wait costs no throughput.
"""

import asyncio


class HandledUpdateQueue(asyncio.Queue[object]):
    """A queue whose put() waits until every update in it has been handled."""

    async def put(self, item: object) -> None:
        await super().put(item)
        await self.join()
