"""When care planning and sending run inside `carebot run`: PTB's JobQueue (APScheduler).

Planning runs every morning at `care.schedule.plan_at` and again every `plan_every_minutes`
(appointment reminders and new events need it more often than once a day); the planner is
idempotent, so the extra runs only add what became due. A send tick every
`send_every_seconds` drains the outbox. A tick that finds the previous drain still running
returns at once, so drains never overlap inside one process (other processes are kept apart by
the outbox leases).

On stop, the sender claims nothing more, finishes the messages it has in flight and records
them; everything else stays pending in the outbox for the next start.
"""

import asyncio
import datetime as dt
import logging

from markupsafe import Markup
from telegram.ext import Application, ContextTypes

from bot.context import Carebot
from bot.db import transaction
from scheduler.delivery import Claim, Claimed, Deliverer, utc_now
from scheduler.messages import Message
from scheduler.monthly_report import schedule_monthly_report
from scheduler.plan_day import PlanDay
from scheduler.planner import plan_care

logger = logging.getLogger(__name__)


class _StoppableDeliverer(Deliverer):
    """A Deliverer that can be asked to stop claiming, so a shutdown loses nothing in flight."""

    stopping = False

    async def _claim(self) -> Claim:
        # An empty claim ends the drain once the rows in flight are recorded.
        if self.stopping:
            return Claim()
        return await super()._claim()


class CareJobs:
    """The planning and sending ticks of one running bot."""

    def __init__(self, application: Application, carebot: Carebot) -> None:
        self.carebot = carebot
        self.deliverer = _StoppableDeliverer(
            carebot.sessions,
            application.bot,
            carebot.render,
            store_id=carebot.store_id,
            store=carebot.store,
            tz=carebot.settings.timezone,
            default_locale=carebot.default_locale,
            on_sent=self._show_to_advisors,
        )
        self._draining = asyncio.Lock()
        self._planning = asyncio.Lock()

    def schedule(self, application: Application) -> None:
        """Register the ticks on the application's JobQueue."""
        queue = application.job_queue
        if queue is None:
            raise RuntimeError("python-telegram-bot's job-queue extra is not installed")
        schedule = self.carebot.store.care.schedule
        tz = self.carebot.settings.timezone
        queue.run_daily(self._plan, time=schedule.plan_at.replace(tzinfo=tz), name="care-plan")
        queue.run_repeating(
            self._plan,
            interval=dt.timedelta(minutes=schedule.plan_every_minutes),
            first=dt.timedelta(seconds=5),
            name="care-plan-often",
        )
        queue.run_repeating(
            self._send,
            interval=dt.timedelta(seconds=schedule.send_every_seconds),
            first=dt.timedelta(seconds=1),
            name="care-send",
        )
        schedule_monthly_report(application, self.carebot)

    async def stop(self) -> None:
        """Claim nothing more and wait for the drain in progress to record what it sent."""
        self.deliverer.stopping = True
        async with self._draining:
            pass

    async def _plan(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self._planning.locked():
            return
        async with self._planning:
            day = PlanDay(
                store_id=self.carebot.store_id,
                store=self.carebot.store,
                tz=self.carebot.settings.timezone,
                as_of=utc_now(),
            )
            async with transaction(self.carebot.sessions) as session:
                result = await plan_care(session, day)
            if result.total:
                logger.info("care planned: %s", dict(result.counts))

    async def _send(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self._draining.locked() or self.deliverer.stopping:
            return
        async with self._draining:
            report = await self.deliverer.drain()
        if report.outcomes:
            logger.info("care sent: %s", dict(report.outcomes))

    async def _show_to_advisors(self, row: Claimed, message: Message, message_id: int) -> None:
        # The advisors see what the customer was sent, in the customer's topic; the copy is
        # linked to the customer's message, so a reply quoting it points at the copy.
        relay = self.carebot.relay
        if relay is None:
            return
        html = self.carebot.render.text(
            self.carebot.default_locale,
            "care_copy",
            care_kind=row.kind,
            # Rendered by our own escaping templates a moment ago: already safe HTML.
            text=Markup(message.text),
        )
        await relay.post_later(
            row.customer_id, html, key=f"care-copy:{row.id}", customer_message_id=message_id
        )
