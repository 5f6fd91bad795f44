"""Advisor commands in a customer's topic (in a plain group: as a reply to their message).

/card posts a fresh customer card; /note <text> keeps an internal note; /close closes the topic
and asks the customer for a one-tap score; /reopen opens it again; /reply <name> sends the
canned reply templates/<locale>/reply_<name>.html in the customer's language; /book [service]
[date] [HH:MM] [plate] proposes free slots the customer takes with one tap; /ban and /unban
stop and restart relaying the customer's messages. What the bot says back goes through the
relay queue, so a busy group never holds up the handler.
"""

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable

from jinja2 import TemplateNotFound
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.callbacks import pack
from bot.context import Carebot, CarebotContext
from bot.db import transaction
from bot.handlers.relay_advisors import (
    customer_blocked,
    customer_for,
    from_advisor,
    notice,
    save_note,
    signature,
)
from bot.handlers.relay_customer import AREA
from bot.handlers.relay_sender import utc_now
from bot.handlers.relay_views import advisor_label, advisor_text
from bot.locales import Locale
from bot.models import Customer, LinkDirection, Vehicle
from bot.relay import ask_satisfaction, record_links, set_banned, set_closed, thread_of
from bot.slots import bookable_days, free_starts
from bot.typed_input import parse_date
from bot.vehicles import customer_vehicles

logger = logging.getLogger(__name__)

COMMANDS = ("card", "note", "close", "reopen", "reply", "book", "ban", "unban")
# Canned replies are the templates named reply_<name>; advisors pick them by name at run time.
CANNED_PREFIX = "reply_"
_REPLY_NAME = re.compile(r"^[a-z0-9_]{1,40}$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
PROPOSALS = 3

Command = Callable[[CarebotContext, Message, Customer, str], Awaitable[None]]


async def on_advisor_command(update: Update, context: CarebotContext) -> None:
    """One of COMMANDS in an advisor group."""
    message, carebot = update.effective_message, context.carebot
    if message is None or not message.text or carebot.relay is None or not from_advisor(message):
        return
    word, _, rest = message.text.partition(" ")
    name = word.lstrip("/").split("@")[0].lower()
    async with carebot.sessions() as session:
        customer = await customer_for(session, message)
    if customer is None:
        await message.reply_html(advisor_text(carebot, "relay_no_customer"), do_quote=True)
        return
    await HANDLERS[name](context, message, customer, rest.strip())


async def _card(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    assert context.carebot.relay is not None
    await context.carebot.relay.queue_card(customer.id)


async def _note(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    await save_note(context.carebot, customer, message.from_user, rest)


async def _close(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    carebot = context.carebot
    async with transaction(carebot.sessions) as session:
        thread = await thread_of(session, customer.id)
        if thread is None:
            return
        await set_closed(session, thread.id, True)
        survey = None
        if customer.telegram_user_id is not None:
            survey = await ask_satisfaction(session, carebot.store_id, customer.id, utc_now())
    if thread.topic_id is not None:
        try:
            await context.bot.close_forum_topic(thread.chat_id, thread.topic_id)
        except BadRequest as error:
            logger.info("could not close topic %s: %s", thread.topic_id, error.message)
    asked = survey is not None and await _ask_score(context, customer, survey.id)
    await notice(carebot, customer, "relay_closed", asked=asked)


async def _ask_score(context: CarebotContext, customer: Customer, survey_id: int) -> bool:
    """The one-tap satisfaction question, 1 to 5."""
    carebot = context.carebot
    locale = carebot.locale_of(customer.locale)
    buttons = [
        InlineKeyboardButton(
            carebot.render.label(locale, "relay_score", n=score),
            callback_data=pack(AREA, "score", None, survey_id, score),
        )
        for score in range(1, 6)
    ]
    assert customer.telegram_user_id is not None
    try:
        await context.bot.send_message(
            customer.telegram_user_id,
            carebot.render.text(locale, "relay_survey"),
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup([buttons]),
        )
    except Forbidden:
        await customer_blocked(carebot, customer)
        return False
    return True


async def _reopen(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    carebot = context.carebot
    async with transaction(carebot.sessions) as session:
        thread = await thread_of(session, customer.id)
        if thread is None:
            return
        await set_closed(session, thread.id, False)
    if thread.topic_id is not None:
        try:
            await context.bot.reopen_forum_topic(thread.chat_id, thread.topic_id)
        except BadRequest as error:
            logger.info("could not reopen topic %s: %s", thread.topic_id, error.message)
    await notice(carebot, customer, "relay_reopened")


def canned_replies(carebot: Carebot, locale: Locale) -> list[str]:
    """The names of the canned replies (templates reply_<name>.html), shipped and the dealer's."""
    names = set()
    for folder in carebot.render.search_path:
        for path in (folder / locale).glob(f"{CANNED_PREFIX}*.html"):
            names.add(path.stem.removeprefix(CANNED_PREFIX))
    return sorted(names)


async def _reply(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    """/reply <name>: the canned reply, in the customer's language, as if the advisor wrote it."""
    carebot = context.carebot
    locale = carebot.locale_of(customer.locale)
    name = rest.split()[0].lower() if rest else ""
    store = carebot.store.store
    try:
        if not _REPLY_NAME.match(name):
            raise TemplateNotFound(name)
        html = carebot.render.text(
            locale,
            f"{CANNED_PREFIX}{name}",
            name=customer.name or "",
            store_name=store.name.get(locale),
            store_phone=store.phone or "",
            store_address=store.address.get(locale) if store.address else "",
        )
    except TemplateNotFound:
        names = canned_replies(carebot, carebot.default_locale)
        await notice(carebot, customer, "relay_reply_unknown", name=name, names=names)
        return
    sign = signature(carebot, customer, message)
    if sign:
        html = f"{html}\n\n{sign}"
    await _send_own_words(context, message, customer, html)


async def _send_own_words(
    context: CarebotContext,
    message: Message,
    customer: Customer,
    html: str,
    keyboard: InlineKeyboardMarkup | None = None,
) -> bool:
    """Send the bot's words for an advisor to the customer, linked to the advisor's command."""
    carebot = context.carebot
    if customer.telegram_user_id is None:
        await notice(carebot, customer, "relay_no_chat")
        return False
    try:
        sent = await context.bot.send_message(
            customer.telegram_user_id, html, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    except Forbidden:
        await customer_blocked(carebot, customer)
        return False
    async with transaction(carebot.sessions) as session:
        await record_links(
            session,
            customer_id=customer.id,
            group_chat_id=message.chat.id,
            pairs=[(sent.message_id, message.message_id)],
            direction=LinkDirection.TO_CUSTOMER,
        )
    return True


async def _book(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    """/book [service] [date] [HH:MM] [plate]: offer free slots; one tap books."""
    carebot = context.carebot
    store, tz = carebot.store, carebot.settings.timezone
    now = utc_now()
    today = now.astimezone(tz).date()
    service, day, at, plate = _book_words(carebot, rest, today)
    async with transaction(carebot.sessions) as session:
        vehicles = await customer_vehicles(session, customer.id)
        vehicle = next((v for v in vehicles if plate and v.plate == plate), None)
        vehicle = vehicle or (vehicles[0] if vehicles else None)
        starts: list[dt.datetime] = []
        if vehicle is not None:
            days = [d for d in bookable_days(store, tz, now) if day is None or d >= day]
            if day is not None and at is not None:
                days = [day] if day in days else []
            free = await free_starts(
                session,
                store_id=carebot.store_id,
                store=store,
                service_type=service,
                tz=tz,
                now=now,
                days=days[:14],
            )
            starts = [start for found in free.values() for start in found]
            if at is not None and day is not None:
                wanted = dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)
                starts = [start for start in starts if start == wanted]
            starts = sorted(starts)[:PROPOSALS]
    if vehicle is None:
        await notice(carebot, customer, "relay_book_no_car")
        return
    if not starts:
        await notice(
            carebot,
            customer,
            "relay_book_none",
            service=_service_name(carebot, service, carebot.default_locale),
        )
        return
    offered = await _offer(context, message, customer, vehicle, service, starts)
    if offered:
        await notice(
            carebot,
            customer,
            "relay_book_proposed",
            service=_service_name(carebot, service, carebot.default_locale),
            plate=vehicle.plate or "",
            times=[advisor_label(carebot, "format_when", d=s.astimezone(tz)) for s in starts],
        )


def _book_words(
    carebot: Carebot, rest: str, today: dt.date
) -> tuple[str, dt.date | None, dt.time | None, str | None]:
    """(service type, day, time of day, plate) from /book's words, in any order."""
    codes = list(carebot.store.service_types)
    service, day, at, plate = codes[0], None, None, None
    for word in rest.split():
        time_match = _TIME.match(word)
        if word.lower() in codes:
            service = word.lower()
        elif time_match:
            at = dt.time(int(time_match.group(1)), int(time_match.group(2)))
        elif (parsed := parse_date(word, today)) is not None:
            day = parsed
        else:
            plate = word.upper()
    return service, day, at, plate


async def _offer(
    context: CarebotContext,
    message: Message,
    customer: Customer,
    vehicle: Vehicle,
    service: str,
    starts: list[dt.datetime],
) -> bool:
    carebot = context.carebot
    tz = carebot.settings.timezone
    locale = carebot.locale_of(customer.locale)
    index = list(carebot.store.service_types).index(service)
    rows = [
        [
            InlineKeyboardButton(
                carebot.render.label(locale, "format_when", d=start.astimezone(tz)),
                callback_data=pack(
                    AREA, "book", None, vehicle.id, index, f"{start.astimezone(tz):%Y%m%d%H%M}"
                ),
            )
        ]
        for start in starts
    ]
    html = carebot.render.text(
        locale,
        "relay_book_offer",
        service=_service_name(carebot, service, locale),
        plate=vehicle.plate or "",
    )
    return await _send_own_words(context, message, customer, html, InlineKeyboardMarkup(rows))


def _service_name(carebot: Carebot, code: str, locale: Locale) -> str:
    return carebot.store.service_types[code].name.get(locale)


async def _ban(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    await _set_ban(context.carebot, customer, utc_now())


async def _unban(context: CarebotContext, message: Message, customer: Customer, rest: str) -> None:
    await _set_ban(context.carebot, customer, None)


async def _set_ban(carebot: Carebot, customer: Customer, at: dt.datetime | None) -> None:
    async with transaction(carebot.sessions) as session:
        fresh = await session.get_one(Customer, customer.id, populate_existing=True)
        await set_banned(session, fresh, at)
    await notice(carebot, customer, "relay_banned" if at else "relay_unbanned")


HANDLERS: dict[str, Command] = {
    "card": _card,
    "note": _note,
    "close": _close,
    "reopen": _reopen,
    "reply": _reply,
    "book": _book,
    "ban": _ban,
    "unban": _unban,
}
