"""Outbox -> Telegram: leases, pace, courtesy rules, retries and the outcome of every send.

A sender claims small batches with a lease and the courtesy rules (scheduler/claims.py) and
sends them at a pace that keeps all senders together within `messages_per_second`
(scheduler/send_budget.py). Each result is recorded at once,
in its own transaction: sent; 429 back to pending after retry_after; 5xx and timeouts back to
pending with exponential backoff, failed after `max_attempts`; 403 blocked (the customer becomes
unreachable and their other pending rows are blocked too); 400 failed with Telegram's reason.
A sender that dies leaves its leases to expire and another one takes the rows: delivery is
at-least-once, and the window for a duplicate is the messages in flight when it died.
"""

import asyncio
import datetime as dt
import logging
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.db import transaction
from bot.locales import Locale
from bot.models import Customer, Outbox, OutboxStatus
from bot.render import Button, Renderer
from bot.store_config import StoreConfig
from scheduler.claims import Claim, Claimed, claim_outbox_batch
from scheduler.messages import Message, Signature, compose
from scheduler.send_budget import Pace, registered_sender

logger = logging.getLogger(__name__)


Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DeliveryReport:
    """What one drain did."""

    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str, count: int = 1) -> None:
        self.outcomes[outcome] += count


class _Batch:
    """A claimed batch; `launched` is set once every row has had its turn at the pace."""

    def __init__(self, ids: set[int]) -> None:
        self.waiting = set(ids)
        self.launched = asyncio.Event()
        if not ids:
            self.launched.set()

    def done_with(self, row_id: int) -> None:
        self.waiting.discard(row_id)
        if not self.waiting:
            self.launched.set()


OnSent = Callable[[Claimed, Message, int], Awaitable[None]]


class Deliverer:
    """Drains the outbox of one store through one bot."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        renderer: Renderer,
        *,
        store_id: int,
        store: StoreConfig,
        tz: ZoneInfo,
        default_locale: Locale,
        clock: Clock = utc_now,
        owner: str | None = None,
        on_sent: OnSent | None = None,
    ) -> None:
        self.sessions = sessions
        self.bot = bot
        self.renderer = renderer
        self.store_id = store_id
        self.store = store
        self.tz = tz
        self.default_locale = default_locale
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        # Called after each send (e.g. to show the message in the customer's advisor topic).
        self.on_sent = on_sent
        self.rules = store.care.delivery
        self.pace = Pace(self.rules.messages_per_second)
        self.report = DeliveryReport()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._in_flight_claims: set[asyncio.Task[Claim]] = set()
        self._pacer = asyncio.Lock()

    async def drain(self) -> DeliveryReport:
        """Send everything due now, then return (rows due later stay for the next drain)."""
        self.report = DeliveryReport()
        await self.bot.initialize()
        try:
            async with registered_sender(
                self.sessions.kw["bind"],
                batch_size=self.rules.batch_size,
                rate=self.rules.messages_per_second,
            ) as share:
                upcoming: asyncio.Task[Claim] | None = None
                while True:
                    self.pace.set_rate(self.rules.messages_per_second / await share())
                    claim = await (upcoming or self._claim())
                    upcoming = None
                    self.report.outcomes.update(claim.settled)
                    if claim.rows:
                        # Claim the next batch while this one goes out, so that the pace never
                        # waits for the database.
                        upcoming = asyncio.create_task(self._claim())
                        self._in_flight_claims.add(upcoming)
                        upcoming.add_done_callback(self._in_flight_claims.discard)
                    batch = _Batch({row.id for row in claim.rows})
                    for row in claim.rows:
                        task = asyncio.create_task(self._deliver(row, batch))
                        self._in_flight.add(task)
                        task.add_done_callback(self._in_flight.discard)
                    if claim.rows:
                        await batch.launched.wait()
                        continue
                    if self._in_flight:
                        await asyncio.gather(*self._in_flight)
                        continue
                    if claim.retry_in is None:
                        break
                    await asyncio.sleep(claim.retry_in)
        except asyncio.CancelledError:
            for claiming in self._in_flight_claims:
                claiming.cancel()
            # Stopped like a killed process: what is in flight is left to the leases.
            for task in self._in_flight:
                task.cancel()
            raise
        except Exception:
            # Record what was sent before giving up, so it is not sent again.
            await asyncio.gather(*self._in_flight, *self._in_flight_claims, return_exceptions=True)
            raise
        return self.report

    async def _claim(self) -> Claim:
        async with transaction(self.sessions) as session:
            return await claim_outbox_batch(
                session,
                store_id=self.store_id,
                store=self.store,
                tz=self.tz,
                owner=self.owner,
                now=self.clock(),
                limit=self.rules.batch_size,
                default_locale=self.default_locale,
            )

    async def _deliver(self, row: Claimed, batch: "_Batch") -> None:
        try:
            outcome = await self._send(row, batch)
        except Exception:
            # The lease runs out and another drain tries again; nothing is lost.
            logger.exception("outbox %s: unexpected error while sending", row.id)
            self.report.add("error")
            return
        finally:
            batch.done_with(row.id)
        self.report.add(outcome)

    async def _send(self, row: Claimed, batch: "_Batch") -> str:
        signature = Signature(self.store, self.tz, self.bot.username)
        try:
            message = compose(
                self.renderer,
                template=row.template,
                payload=row.payload,
                marketing=row.marketing,
                locale=row.locale,
                signature=signature,
                customer_name=row.customer_name,
            )
        except (TemplateError, ValueError, KeyError) as exc:
            batch.done_with(row.id)
            await self._finish(row, status=OutboxStatus.FAILED, error=f"template: {exc}")
            return "failed"
        # Paced right before the request: a task that started late (the process was busy) then
        # waits its turn instead of going out on the heels of another.
        async with self._pacer:
            await self.pace.wait()
        batch.done_with(row.id)
        try:
            sent = await self.bot.send_message(
                row.chat_id,
                message.text,
                parse_mode=ParseMode.HTML,
                reply_markup=_keyboard(message.buttons),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            # Telegram's limit, not the message's fault: this try does not count.
            await self._retry(row, seconds, f"429: retry after {seconds:g} s", counts=False)
            return "rate_limited"
        except Forbidden as exc:
            await self._blocked(row, exc.message)
            return "blocked"
        except BadRequest as exc:
            await self._finish(row, status=OutboxStatus.FAILED, error=f"400: {exc.message}")
            return "failed"
        except NetworkError as exc:  # 5xx and timeouts
            return await self._retry_or_fail(row, f"network: {exc.message}")
        except TelegramError as exc:
            return await self._retry_or_fail(row, f"telegram: {exc.message}")
        await self._finish(
            row,
            status=OutboxStatus.SENT,
            sent_at=self.clock(),
            chat_id=row.chat_id,
            telegram_message_id=sent.message_id,
            error=None,
        )
        if self.on_sent is not None:
            try:
                await self.on_sent(row, message, sent.message_id)
            except Exception:
                logger.exception("outbox %s: sent, but the after-send hook failed", row.id)
        return "sent"

    async def _retry_or_fail(self, row: Claimed, error: str) -> str:
        if row.attempts >= self.rules.max_attempts:
            await self._finish(row, status=OutboxStatus.FAILED, error=error)
            return "failed"
        backoff = self.rules.backoff_seconds * 2 ** (row.attempts - 1)
        await self._retry(row, backoff, error, counts=True)
        return "retried"

    async def _retry(self, row: Claimed, seconds: float, error: str, *, counts: bool) -> None:
        values: dict[str, Any] = {
            "due_at": self.clock() + dt.timedelta(seconds=seconds),
            "error": error,
        }
        if not counts:
            values["attempts"] = Outbox.attempts - 1
        await self._finish(row, **values)

    async def _finish(self, row: Claimed, **values: Any) -> None:
        """Record the outcome and give up the lease, if the lease is still ours."""
        async with transaction(self.sessions) as session:
            await self._record(session, row, **values)

    async def _record(self, session: AsyncSession, row: Claimed, **values: Any) -> None:
        result = await session.execute(
            update(Outbox)
            .where(Outbox.id == row.id, Outbox.lease_owner == self.owner)
            .values(lease_owner=None, lease_expires_at=None, **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            logger.warning("outbox %s: lease lost before the result was recorded", row.id)

    async def _blocked(self, row: Claimed, reason: str) -> None:
        now = self.clock()
        # One transaction: a claim running meanwhile must not see the row done while the
        # customer still looks reachable, or it would send them the next message.
        async with transaction(self.sessions) as session:
            await self._record(session, row, status=OutboxStatus.BLOCKED, error=f"403: {reason}")
            await session.execute(
                update(Customer)
                .where(Customer.id == row.customer_id, Customer.reachable.is_(True))
                .values(reachable=False, blocked_at=now)
            )
            await session.execute(
                update(Outbox)
                .where(
                    Outbox.customer_id == row.customer_id,
                    Outbox.status == OutboxStatus.PENDING,
                )
                .values(status=OutboxStatus.BLOCKED, error="customer blocked the bot")
            )


def _keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(button.text, url=button.url)
                if button.url
                else InlineKeyboardButton(button.text, callback_data=button.callback_data)
                for button in row
            ]
            for row in rows
        ]
    )


def _keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(button.text, url=button.url)
                if button.url
                else InlineKeyboardButton(button.text, callback_data=button.callback_data)
                for button in row
            ]
            for row in rows
        ]
    )
