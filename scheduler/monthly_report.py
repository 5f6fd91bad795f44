"""The monthly report: on the first day of a month, last month's summary and workbook go to the
store's first advisor group, and nowhere else.

An hourly tick calls `post_monthly_report`, which does nothing but on the 1st; so a bot that
was down, or that Telegram refused, on the 1st's first tick posts at a later one that day. Posting once is kept by a row in the outbox with the key
`report-monthly:<store>:<YYYY-MM>`, inserted as already sent before posting; the relay's kind
keeps it out of care reach and of every sender's claims. Claiming first makes it at most once:
if Telegram refuses, the claim is dropped and the next tick tries again; a crash between the
claim and the post loses that month's post (`carebot report` still makes it).
"""

import datetime as dt
import logging

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.context import Carebot
from bot.db import transaction
from bot.handlers.stats import summary_text
from bot.models import Outbox, OutboxStatus
from bot.relay_queue import KIND as RELAY_KIND
from bot.reports import StatsSummary, build_report, report_bytes

logger = logging.getLogger(__name__)

TEMPLATE = "report_monthly"
TICK = dt.timedelta(hours=1)


def report_key(store_id: int, month: str) -> str:
    return f"report-monthly:{store_id}:{month}"


async def claim_report_post(
    session: AsyncSession, *, store_id: int, chat_id: int, key: str, now: dt.datetime
) -> bool:
    """Take the right to post under `key`; False when it was taken before."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Outbox)
        .values(
            store_id=store_id,
            customer_id=None,
            kind=RELAY_KIND,
            idempotency_key=key,
            marketing=False,
            template=TEMPLATE,
            payload={},
            due_at=now,
            status=OutboxStatus.SENT,
            attempts=1,
            sent_at=now,
            chat_id=chat_id,
        )
        .on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
        .returning(Outbox.id)
    )
    return result.scalar_one_or_none() is not None


async def drop_report_claim(session: AsyncSession, key: str) -> None:
    await session.execute(delete(Outbox).where(Outbox.idempotency_key == key))


async def post_monthly_report(bot: Bot, carebot: Carebot, today: dt.date) -> bool:
    """Post last month's report when `today` is the 1st and it was not posted; True if posted."""
    chat_id = carebot.settings.advisor_chat_id
    if today.day != 1 or chat_id is None:
        return False
    as_of = today - dt.timedelta(days=1)
    key = report_key(carebot.store_id, f"{as_of:%Y-%m}")
    async with transaction(carebot.sessions) as session:
        claimed = await claim_report_post(
            session,
            store_id=carebot.store_id,
            chat_id=chat_id,
            key=key,
            now=dt.datetime.now(dt.UTC),
        )
    if not claimed:
        return False
    try:
        await _post(bot, carebot, chat_id, as_of)
    except Exception:
        async with transaction(carebot.sessions) as session:
            await drop_report_claim(session, key)
        raise
    logger.info("monthly report for %s posted", f"{as_of:%Y-%m}")
    return True


async def _post(bot: Bot, carebot: Carebot, chat_id: int, as_of: dt.date) -> None:
    store, tz = carebot.store, carebot.settings.timezone
    async with carebot.sessions() as session:
        report = await build_report(session, carebot.store_id, store.store.code, as_of, store, tz)
    render, locale = carebot.render, carebot.default_locale
    summary = StatsSummary(
        as_of=as_of,
        month=report.kpis.month,
        segments=report.segments.total.as_dict(),
        kpis=report.kpis.as_dict(),
        series=[],
    )
    workbook = report_bytes(report, "xlsx", lambda key: render.label(locale, f"report_{key}"))
    await bot.send_message(
        chat_id, summary_text(carebot, summary, monthly=True), parse_mode=ParseMode.HTML
    )
    await bot.send_document(
        chat_id,
        InputFile(workbook, filename=f"{store.store.code}-report-{as_of:%Y-%m}.xlsx"),
        caption=render.text(locale, "stats_monthly_caption", month=report.kpis.month),
        parse_mode=ParseMode.HTML,
    )


def schedule_monthly_report(application: Application, carebot: Carebot) -> None:
    """Every hour, the first shortly after start."""
    queue = application.job_queue
    if queue is None:
        raise RuntimeError("python-telegram-bot's job-queue extra is not installed")
    tz = carebot.settings.timezone

    async def tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await post_monthly_report(context.bot, carebot, dt.datetime.now(tz).date())
        except TelegramError as error:
            logger.warning("monthly report not posted, tried again at the next tick: %s", error)

    queue.run_repeating(tick, interval=TICK, first=dt.timedelta(seconds=30), name="monthly-report")
