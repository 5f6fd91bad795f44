"""The advisors' numbers: /stats (a short summary and a chart) and /due [days] (who is due,
with the whole list as a CSV file when it is longer than a message).

Both answer only in the store's own advisor groups: bot/app.py registers them with the
advisor-chat filter, so anywhere else they are unknown commands and get no answer. Advisors read
the store's default language.
"""

import asyncio
import csv
import datetime as dt
import io
import logging

from telegram import InputFile, Message, Update
from telegram.constants import ParseMode

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
    text, shown = due_text(carebot, items, today, days)
    await _reply(message, text)
    if shown < len(items):
        # More than a message holds: the whole list goes as a file, for phoning round.
        await message.reply_document(
            InputFile(due_csv(carebot, items, today), filename=f"due-{today}-{days}d.csv"),
            caption=advisor_text(carebot, "stats_due_csv_caption", total=len(items)),
            parse_mode=ParseMode.HTML,
            do_quote=True,
        )


def due_days(args: list[str]) -> int | None:
    """The days /due looks ahead; None for anything but one whole number in range."""
    if not args:
        return DEFAULT_DUE_DAYS
    if len(args) != 1 or not args[0].isdecimal():
        return None
    days = int(args[0])
    return days if 1 <= days <= MAX_DUE_DAYS else None


def due_text(carebot: Carebot, items: list[DueItem], today: dt.date, days: int) -> tuple[str, int]:
    """The list cut to fit one Telegram message, with how many more there are; and how many
    it shows."""
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
            return text, shown
        shown = max(0, shown - 5)


def due_csv(carebot: Carebot, items: list[DueItem], today: dt.date) -> bytes:
    """Every item as CSV, in the advisors' language (Excel opens it thanks to the BOM)."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ("due_on", "overdue", "what", "name", "phone", "plate", "car")
    writer.writerow(advisor_label(carebot, f"due_csv_{column}") for column in columns)
    yes = advisor_label(carebot, "due_csv_yes")
    for item in items:
        writer.writerow(
            [
                item.due_on.isoformat(),
                yes if item.due_on < today else "",
                _what(carebot, item),
                item.customer_name or "",
                item.phone or "",
                item.plate or "",
                _car(item),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _what(carebot: Carebot, item: DueItem) -> str:
    key = item.what
    if item.what == "maintenance" and item.by_km:
        key = "maintenance_km"
    elif item.what == "inspection" and item.label_only:
        key = "inspection_label"
    return advisor_label(carebot, f"due_what_{key}")


def _car(item: DueItem) -> str:
    return " ".join(part for part in (item.brand, item.model) if part)


def _due_line(carebot: Carebot, item: DueItem, today: dt.date) -> dict[str, object]:
    return {
        "day": advisor_label(carebot, "format_day", d=item.due_on),
        "overdue": item.due_on < today,
        "what": _what(carebot, item),
        "name": item.customer_name or "",
        "phone": item.phone or "",
        "plate": item.plate or "",
        "car": _car(item),
    }


async def _reply(message: Message, html: str) -> None:
    """Answer in the same chat and topic as the command."""
    await message.reply_html(html, do_quote=True)
