"""The advisors' numbers: /stats (a short summary and a chart) and /due [days] (who is due).

Both answer only in the store's own advisor groups: bot/app.py registers them with the
advisor-chat filter, so anywhere else they are unknown commands and get no answer. Advisors read
the store's default language.
"""

import asyncio
import datetime as dt
import logging

from telegram import Message, Update

from bot.context import Carebot, CarebotContext
from bot.due import DueItem, due_list
from bot.handlers.relay_advisors import from_advisor
from bot.handlers.relay_views import advisor_label, advisor_text
from bot.kpis import KPI_KEYS
from bot.report_chart import stats_chart_png
from bot.reports import RATE_KEYS, StatsSummary, stats_summary
from bot.segments import SEGMENT_KEYS

logger = logging.getLogger(__name__)

DEFAULT_DUE_DAYS = 14
MAX_DUE_DAYS = 366
# Lines of /due before "and N more"; fewer when long names would pass Telegram's limit.
DUE_LINES = 40
TEXT_LIMIT = 4096


async def on_stats(update: Update, context: CarebotContext) -> None:
    """/stats: today's segments and this month's KPIs, then the chart."""
    message, carebot = update.effective_message, context.carebot
    if message is None or not from_advisor(message):
        return
    today = dt.datetime.now(carebot.settings.timezone).date()
    async with carebot.sessions() as session:
        summary = await stats_summary(
            session, carebot.store_id, today, carebot.store, carebot.settings.timezone
        )
    await message.reply_html(summary_text(carebot, summary, monthly=False), do_quote=True)
    # Drawing takes a moment of CPU: off the event loop.
    png = await asyncio.to_thread(chart_png, carebot, summary)
    await message.reply_photo(png, do_quote=True)


def summary_text(carebot: Carebot, summary: StatsSummary, *, monthly: bool) -> str:
    """The short summary shared by /stats and the monthly report."""
    return advisor_text(
        carebot,
        "stats_summary",
        monthly=monthly,
        month=summary.month,
        as_of=advisor_label(carebot, "format_day", d=summary.as_of),
        segments=[
            {
                "name": advisor_label(carebot, f"report_segment_{key}"),
                "count": summary.segments[key],
            }
            for key in SEGMENT_KEYS
        ],
        kpis=[
            {
                "name": advisor_label(carebot, f"report_kpi_{key}"),
                "value": summary.kpis[key],
                "rate": key in RATE_KEYS,
            }
            for key in KPI_KEYS
        ],
    )


def chart_png(carebot: Carebot, summary: StatsSummary) -> bytes:
    render, locale = carebot.render, carebot.default_locale
    return stats_chart_png(
        summary,
        lambda key: render.label(locale, f"report_{key}"),
        lambda key: render.label("en", f"report_{key}"),
    )


async def on_due(update: Update, context: CarebotContext) -> None:
    """/due [days]: maintenance, insurance and inspections due in the next days (default 14),
    overdue first."""
    message, carebot = update.effective_message, context.carebot
    if message is None or not from_advisor(message):
        return
    days = due_days(context.args or [])
    if days is None:
        await _reply(message, advisor_text(carebot, "stats_due_usage", default=DEFAULT_DUE_DAYS))
        return
    tz = carebot.settings.timezone
    today = dt.datetime.now(tz).date()
    async with carebot.sessions() as session:
        items = await due_list(session, carebot.store_id, today, days, carebot.store)
    await _reply(message, due_text(carebot, items, today, days))


def due_days(args: list[str]) -> int | None:
    """The days /due looks ahead; None for anything but one whole number in range."""
    if not args:
        return DEFAULT_DUE_DAYS
    if len(args) != 1 or not args[0].isdecimal():
        return None
    days = int(args[0])
    return days if 1 <= days <= MAX_DUE_DAYS else None


def due_text(carebot: Carebot, items: list[DueItem], today: dt.date, days: int) -> str:
    """The list, cut so that it fits one Telegram message, with how many more there are."""
    shown = min(len(items), DUE_LINES)
    while True:
        text = advisor_text(
            carebot,
            "stats_due",
            days=days,
            total=len(items),
            more=len(items) - shown,
            items=[_due_line(carebot, item, today) for item in items[:shown]],
        )
        if len(text) <= TEXT_LIMIT or shown == 0:
            return text
        shown = max(0, shown - 5)


def _due_line(carebot: Carebot, item: DueItem, today: dt.date) -> dict[str, object]:
    return {
        "day": advisor_label(carebot, "format_day", d=item.due_on),
        "overdue": item.due_on < today,
        "what": item.what,
        "by_km": item.by_km,
        "label_only": item.label_only,
        "name": item.customer_name or "",
        "phone": item.phone or "",
        "plate": item.plate or "",
        "car": " ".join(part for part in (item.brand, item.model) if part),
    }


async def _reply(message: Message, html: str) -> None:
    """Answer in the same chat and topic as the command."""
    await message.reply_html(html, do_quote=True)
