"""The customer's side of the relay: what they write goes to their topic, in order.

Private messages reach this handler only when the owners' router did not use them (no flow,
not a menu button: bot/handlers/private.py). Each is queued for the customer's advisor group
in the same transaction that assigns the group, so a crash after the commit loses nothing;
the group's sender posts it (bot/handlers/relay_sender.py). Outside opening hours the customer
is told when the store opens, at most once per period. A banned customer is not relayed.

Also here: the customer blocking or unblocking the bot, and the customer's relay buttons (the
satisfaction score after /close, a slot an advisor proposed with /book).
"""

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden

from bot.booking import OPEN, BookingRefused, book_appointment
from bot.callbacks import unpack
from bot.context import Carebot, CarebotContext
from bot.customers import customer_by_telegram_user
from bot.db import transaction
from bot.handlers import booking_cards
from bot.handlers.relay_sender import message_key, utc_now
from bot.handlers.relay_views import advisor_text
from bot.handlers.to_advisors import post_to_advisors
from bot.locales import Locale
from bot.models import Appointment, Customer, OutboxStatus, Vehicle
from bot.opening_hours import is_open, next_opening
from bot.relay import (
    answer_satisfaction,
    assign_thread,
    claim_auto_reply,
    mark_care_replied,
    set_reachable,
    thread_of,
)
from bot.relay_queue import PostKind, enqueue, row_by_key

logger = logging.getLogger(__name__)

AREA = "relay"
# Album items arrive as separate updates; the album waits this long to go as one post.
ALBUM_WAIT = dt.timedelta(seconds=1.5)
CAPTIONABLE = ("photo", "video", "document", "audio", "animation", "voice")
# A message within this long after a care message counts as replying to it (care reach).
CARE_REPLY_WINDOW = dt.timedelta(days=7)


def describe(message: Message) -> tuple[PostKind, dict[str, Any]]:
    """What the queue needs to know about a customer's message (plain values only)."""
    payload: dict[str, Any] = {"message_id": message.message_id, "from_chat": message.chat.id}
    replied = message.reply_to_message
    if replied is not None and replied.chat.id == message.chat.id:
        payload["reply_to"] = replied.message_id
        if message.quote is not None:
            payload["quote"] = message.quote.text
    if message.media_group_id:
        return PostKind.ALBUM, payload | {"media_group_id": message.media_group_id}
    if message.text is not None:
        return PostKind.TEXT, payload | {
            "html": message.text_html,
            "text": message.text,
            "chars": telegram_length(message.text),
        }
    captionable = any(getattr(message, kind) for kind in CAPTIONABLE)
    return PostKind.COPY, payload | {
        "captionable": captionable,
        "caption_html": message.caption_html if message.caption else None,
        "caption_chars": telegram_length(message.caption or ""),
    }


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji may count two)."""
    return len(text.encode("utf-16-le")) // 2


async def on_customer_message(update: Update, context: CarebotContext) -> None:
    """A private message nobody else used: queue it for the customer's advisor topic."""
    message, user, carebot = update.effective_message, update.effective_user, context.carebot
    sender = carebot.relay
    if message is None or user is None or sender is None:
        return
    if update.edited_message is not None:
        await _on_edit(carebot, message, user.id)
        return
    kind, payload = describe(message)
    now = utc_now()
    relay = carebot.store.relay
    hold = dt.timedelta(seconds=relay.order_hold_seconds)
    due = now + max(hold, ALBUM_WAIT) if kind is PostKind.ALBUM else now + hold
    async with transaction(carebot.sessions) as session:
        customer = await customer_by_telegram_user(session, user.id)
        if customer is None or customer.banned_at is not None:
            return
        thread = await assign_thread(session, customer.id, sender.groups)
        await enqueue(
            session,
            store_id=carebot.store_id,
            customer_id=customer.id,
            chat_id=thread.chat_id,
            kind=kind,
            payload=payload,
            key=message_key(message.chat.id, message.message_id),
            due_at=due,
        )
        await mark_care_replied(session, customer.id, now, CARE_REPLY_WINDOW)
        answer_now = (
            relay.auto_reply
            and not is_open(carebot.store, now, carebot.settings.timezone)
            and await claim_auto_reply(
                session, thread, now, dt.timedelta(hours=relay.auto_reply_every_hours)
            )
        )
    sender.wake(thread.chat_id)
    if answer_now:
        await _answer_out_of_hours(context, customer, now)


async def _answer_out_of_hours(
    context: CarebotContext, customer: Customer, now: dt.datetime
) -> None:
    carebot = context.carebot
    tz = carebot.settings.timezone
    locale = carebot.locale_of(customer.locale)
    opens = next_opening(carebot.store, now, tz)
    text = carebot.render.text(
        locale,
        "relay_auto_reply",
        opens=carebot.render.label(locale, "format_when", d=opens) if opens else None,
        store_name=carebot.store.store.name.get(locale),
    )
    assert customer.telegram_user_id is not None
    try:
        await context.bot.send_message(customer.telegram_user_id, text, parse_mode=ParseMode.HTML)
    except Forbidden:
        logger.info("customer %s blocked the bot before the auto-answer", customer.id)


async def _on_edit(carebot: Carebot, message: Message, user_id: int) -> None:
    """The customer edited a message: the queued copy changes, or the posted one is edited."""
    sender = carebot.relay
    assert sender is not None
    key = message_key(message.chat.id, message.message_id)
    if message.text is not None:
        change: dict[str, Any] = {
            "html": message.text_html,
            "text": message.text,
            "chars": telegram_length(message.text),
        }
    else:
        change = {
            "caption_html": message.caption_html if message.caption else "",
            "text": message.caption or "",
            "caption_chars": telegram_length(message.caption or ""),
        }
    stamp = int((message.edit_date or utc_now()).timestamp())
    async with transaction(carebot.sessions) as session:
        customer = await customer_by_telegram_user(session, user_id)
        # Locked: a sender claiming the post at this moment either sees the edited payload or
        # has leased it already, and then the edit follows as a post of its own.
        row = await row_by_key(session, key, lock=True)
        if customer is None or customer.banned_at is not None or row is None:
            return
        if row.status == OutboxStatus.PENDING and row.lease_expires_at is None:
            row.payload = {**row.payload, **change}
            return
        await enqueue(
            session,
            store_id=carebot.store_id,
            customer_id=customer.id,
            chat_id=row.chat_id or 0,
            kind=PostKind.EDIT,
            payload={"message_id": message.message_id, "from_chat": message.chat.id, **change},
            key=f"{key}:edit:{stamp}",
            due_at=utc_now(),
        )
    sender.wake(row.chat_id or 0)


async def on_private_membership(update: Update, context: CarebotContext) -> bool:
    """The customer blocked or unblocked the bot: mark it and tell their topic at once.

    Returns False when the update is not about a private chat.
    """
    change, carebot = update.my_chat_member, context.carebot
    if change is None or change.chat.type != ChatType.PRIVATE:
        return False
    blocked = change.new_chat_member.status == ChatMemberStatus.BANNED
    if not blocked and change.old_chat_member.status != ChatMemberStatus.BANNED:
        return True
    now = utc_now()
    async with transaction(carebot.sessions) as session:
        customer = await customer_by_telegram_user(session, change.chat.id)
        if customer is None:
            return True
        changed = await set_reachable(session, customer, now if blocked else None)
        thread = await thread_of(session, customer.id)
    if changed and thread is not None and carebot.relay is not None:
        kind = "relay_blocked" if blocked else "relay_unblocked"
        await carebot.relay.queue_notice(customer.id, advisor_text(carebot, kind))
    return True


# --- the customer's relay buttons -----------------------------------------------------------------


async def on_relay_button(update: Update, context: CarebotContext) -> None:
    """`relay:score:-:<survey>:<1-5>` after /close, `relay:book:-:<car>:<service>:<slot>`."""
    query, carebot = update.callback_query, context.carebot
    if query is None:
        return
    data = unpack(query.data)
    message = query.message if isinstance(query.message, Message) else None
    chat_ok = message is not None and message.chat.id == query.from_user.id
    if data is None or message is None or not chat_ok:
        await query.answer()
        return
    async with transaction(carebot.sessions) as session:
        customer = await customer_by_telegram_user(session, query.from_user.id)
    if customer is None:
        await query.answer()
        return
    locale = carebot.locale_of(customer.locale)
    if data.action == "score":
        await _score(context, message, customer, locale, data.int_arg(0), data.int_arg(1))
    elif data.action == "book":
        await _book(context, message, customer, locale, data.args)
    await query.answer()


async def _score(
    context: CarebotContext,
    message: Message,
    customer: Customer,
    locale: Locale,
    survey_id: int | None,
    score: int | None,
) -> None:
    carebot = context.carebot
    async with transaction(carebot.sessions) as session:
        answered = await answer_satisfaction(
            session, survey_id or 0, customer.id, score or 0, utc_now()
        )
    if answered is None:
        await _edit(message, carebot.render.text(locale, "relay_survey_done"))
        return
    await _edit(message, carebot.render.text(locale, "relay_survey_thanks", score=score))
    if carebot.relay is not None:
        await carebot.relay.queue_notice(
            customer.id, advisor_text(carebot, "relay_survey_score", score=score)
        )


async def _book(
    context: CarebotContext,
    message: Message,
    customer: Customer,
    locale: Locale,
    args: tuple[str, ...],
) -> None:
    """The customer takes the slot an advisor proposed, with one tap."""
    carebot = context.carebot
    tz = carebot.settings.timezone
    codes = list(carebot.store.service_types)
    try:
        vehicle_id, service_index = int(args[0]), int(args[1])
        start = dt.datetime.strptime(args[2], "%Y%m%d%H%M").replace(tzinfo=tz).astimezone(dt.UTC)
        service = codes[service_index]
    except (IndexError, ValueError):
        return
    outcome, card = "relay_book_gone", None
    async with transaction(carebot.sessions) as session:
        vehicle = await session.get(Vehicle, vehicle_id)
        if vehicle is None or vehicle.customer_id != customer.id or vehicle.removed_at:
            return
        taken = await session.scalar(
            select(Appointment).where(
                Appointment.customer_id == customer.id,
                Appointment.vehicle_id == vehicle.id,
                Appointment.slot_start == start,
                Appointment.status.in_(OPEN),
            )
        )
        if taken is not None:
            outcome = "relay_book_done"
        else:
            try:
                appointment = await book_appointment(
                    session,
                    store_id=carebot.store_id,
                    store=carebot.store,
                    tz=tz,
                    now=utc_now(),
                    customer_id=customer.id,
                    vehicle_id=vehicle.id,
                    service_type=service,
                    slot_start=start,
                )
            except BookingRefused:
                pass
            else:
                outcome = "relay_book_done"
                card = booking_cards.card_post(carebot, appointment, customer, vehicle, "new")
    await _edit(
        message,
        carebot.render.text(
            locale,
            outcome,
            when=carebot.render.label(locale, "format_when", d=start.astimezone(tz)),
            service=carebot.store.service_types[service].name.get(locale),
            plate=vehicle.plate or "",
        ),
    )
    if card is not None:
        await post_to_advisors(context.bot, carebot, customer, card.text, card.keyboard)


async def _edit(message: Message, text: str) -> None:
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            logger.info("could not edit message %s: %s", message.message_id, error.message)
