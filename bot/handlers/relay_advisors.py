"""The advisors' side of the relay: what a member writes in a customer's topic reaches them.

Only configured advisor groups get here (the handlers' chat filter in bot/app.py), and Telegram
delivers a group's messages only from its members: being in the group is being an advisor. In
a forum the topic names the customer; in a plain group the message must reply to one that is
linked to a customer (their message, the card, a notice). Text starting with `//` is a note
and stays in the group; bot commands other than the relay's never reach customers.

Messages go to the customer at once (a private chat has its own, generous, limit), signed with
the advisor's name when the store wants it, quoting the customer's message when the advisor
replied to its copy. Each pair of ids is stored, so the advisor's later edit changes the
customer's copy. An album is kept until its last item is in and copied as one
(bot/advisor_albums.py).

The bot leaves any group it is added to that is not configured.
"""

import asyncio
import datetime as dt
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Message, ReplyParameters, Update, User
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot.advisor_albums import GATHER, albums_due, claim_album, queue_item
from bot.context import Carebot, CarebotContext
from bot.db import transaction
from bot.handlers.relay_customer import CAPTIONABLE, on_private_membership
from bot.handlers.relay_sender import utc_now, without_bad_quote
from bot.handlers.relay_views import advisor_text
from bot.models import Customer, LinkDirection
from bot.relay import (
    add_note,
    copies_for_customer,
    customer_counterpart,
    record_links,
    set_reachable,
    thread_by_topic,
)
from bot.relay_queue import mark_failed, mark_sent, release

logger = logging.getLogger(__name__)

NOTE_PREFIX = "//"
# An album that met a network failure is tried again after this.
ALBUM_RETRY = dt.timedelta(seconds=30)
_TEXT_LIMIT = 4096
_CAPTION_LIMIT = 1024


def from_advisor(message: Message) -> bool:
    """A person in the group (or the group itself, for an anonymous admin); never a bot."""
    if message.sender_chat is not None:
        return message.sender_chat.id == message.chat.id
    return message.from_user is not None and not message.from_user.is_bot


async def customer_for(session: AsyncSession, message: Message) -> Customer | None:
    """The customer a group message is about: its topic's, or the one its reply points at."""
    chat_id = message.chat.id
    if message.is_topic_message and message.message_thread_id:
        thread = await thread_by_topic(session, chat_id, message.message_thread_id)
        return await session.get(Customer, thread.customer_id) if thread else None
    replied = message.reply_to_message
    if replied is None:
        return None
    found = await customer_counterpart(session, chat_id, replied.message_id)
    return await session.get(Customer, found[0]) if found else None


async def on_group_message(update: Update, context: CarebotContext) -> None:
    """An advisor wrote (or edited) in a customer's topic: to the customer, or a note."""
    message, carebot = update.effective_message, context.carebot
    if message is None or carebot.relay is None or not from_advisor(message):
        return
    async with carebot.sessions() as session:
        customer = await customer_for(session, message)
    if customer is None:
        return
    if update.edited_message is not None:
        await _edit_copies(context, message, customer)
        return
    text = message.text or ""
    if text.startswith(NOTE_PREFIX):
        await save_note(carebot, customer, message.from_user, text[len(NOTE_PREFIX) :])
        return
    if message.media_group_id:
        await _queue_album_item(context, customer, message)
        return
    await send_to_customer(context, customer, message)


async def save_note(carebot: Carebot, customer: Customer, author: User | None, text: str) -> None:
    """An internal note on the customer; it shows on their card and never reaches them."""
    if not text.strip():
        return
    async with transaction(carebot.sessions) as session:
        await add_note(
            session,
            customer.id,
            text.strip(),
            author_telegram_id=author.id if author else None,
            author_name=author.full_name if author else None,
        )


def signature(carebot: Carebot, customer: Customer, message: Message) -> str | None:
    """ "— Name" under an advisor's message, when the store signs them."""
    author = message.from_user
    if not carebot.store.relay.sign_with_advisor_name or message.sender_chat is not None:
        return None
    if author is None or author.is_bot:
        return None
    locale = carebot.locale_of(customer.locale)
    return carebot.render.text(locale, "relay_signature", name=author.full_name)


def _with_signature(
    html: str | None, plain: str | None, sign: str | None, limit: int
) -> str | None:
    if sign is None or len(plain or "") + len(sign) + 2 > limit:
        return html
    return f"{html}\n\n{sign}" if html else sign


async def _reply_for_customer(
    carebot: Carebot, customer: Customer, message: Message
) -> ReplyParameters | None:
    replied = message.reply_to_message
    if replied is None:
        return None
    async with carebot.sessions() as session:
        found = await customer_counterpart(session, message.chat.id, replied.message_id)
    if found is None or found[0] != customer.id or found[1] == 0:
        return None
    quote = message.quote.text if message.quote else None
    return ReplyParameters(found[1], quote=quote, allow_sending_without_reply=True)


async def send_to_customer(context: CarebotContext, customer: Customer, message: Message) -> None:
    """Copy an advisor's message to the customer and keep the pair of ids."""
    carebot, bot = context.carebot, context.bot
    chat_id = customer.telegram_user_id
    if chat_id is None:
        await notice(carebot, customer, "relay_no_chat")
        return
    reply = await _reply_for_customer(carebot, customer, message)
    sign = signature(carebot, customer, message)
    try:
        if message.text is not None:
            html = _with_signature(message.text_html, message.text, sign, _TEXT_LIMIT) or ""
            sent = await without_bad_quote(
                reply,
                lambda parameters: bot.send_message(
                    chat_id, html, parse_mode=ParseMode.HTML, reply_parameters=parameters
                ),
            )
            copy_id = sent.message_id
        else:
            extra: dict[str, Any] = {}
            if any(getattr(message, kind) for kind in CAPTIONABLE) and sign:
                caption = message.caption_html if message.caption else None
                extra = {
                    "caption": _with_signature(caption, message.caption, sign, _CAPTION_LIMIT),
                    "parse_mode": ParseMode.HTML,
                }
            copied = await without_bad_quote(
                reply,
                lambda parameters: bot.copy_message(
                    chat_id,
                    message.chat.id,
                    message.message_id,
                    reply_parameters=parameters,
                    **extra,
                ),
            )
            copy_id = copied.message_id
    except Forbidden:
        await customer_blocked(carebot, customer)
        return
    except BadRequest as error:
        logger.warning("could not relay to customer %s: %s", customer.id, error.message)
        await notice(carebot, customer, "relay_not_delivered", reason=error.message)
        return
    async with transaction(carebot.sessions) as session:
        await record_links(
            session,
            customer_id=customer.id,
            group_chat_id=message.chat.id,
            pairs=[(copy_id, message.message_id)],
            direction=LinkDirection.TO_CUSTOMER,
        )


async def customer_blocked(carebot: Carebot, customer: Customer) -> None:
    """A 403 from the customer's chat: mark them unreachable and tell the topic."""
    async with transaction(carebot.sessions) as session:
        fresh = await session.get_one(Customer, customer.id, populate_existing=True)
        await set_reachable(session, fresh, utc_now())
    await notice(carebot, customer, "relay_blocked")


async def notice(carebot: Carebot, customer: Customer, kind: str, **values: Any) -> None:
    """Queue words for the advisors in the customer's topic."""
    if carebot.relay is not None:
        await carebot.relay.queue_notice(customer.id, advisor_text(carebot, kind, **values))


async def _edit_copies(context: CarebotContext, message: Message, customer: Customer) -> None:
    """The advisor edited a relayed message: the customer's copy follows."""
    carebot = context.carebot
    async with carebot.sessions() as session:
        copies = await copies_for_customer(session, message.chat.id, message.message_id)
    sign = signature(carebot, customer, message)
    for customer_id, copy_id in copies:
        if customer_id != customer.id or customer.telegram_user_id is None:
            continue
        try:
            if message.text is not None:
                await context.bot.edit_message_text(
                    _with_signature(message.text_html, message.text, sign, _TEXT_LIMIT) or "",
                    customer.telegram_user_id,
                    copy_id,
                    parse_mode=ParseMode.HTML,
                )
            else:
                caption = message.caption_html if message.caption else None
                await context.bot.edit_message_caption(
                    customer.telegram_user_id,
                    copy_id,
                    caption=_with_signature(caption, message.caption, sign, _CAPTION_LIMIT),
                    parse_mode=ParseMode.HTML,
                )
        except Forbidden:
            await customer_blocked(carebot, customer)
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                logger.info("could not edit the customer's copy %s: %s", copy_id, error.message)


async def _queue_album_item(context: CarebotContext, customer: Customer, message: Message) -> None:
    """Album items arrive one by one: each is kept, and the album goes once the last is in."""
    carebot = context.carebot
    assert message.media_group_id is not None
    async with transaction(carebot.sessions) as session:
        await queue_item(
            session,
            store_id=carebot.store_id,
            customer_id=customer.id,
            group_chat_id=message.chat.id,
            media_group_id=message.media_group_id,
            message_id=message.message_id,
            now=utc_now(),
        )
    context.application.create_task(
        _send_album_soon(context.bot, carebot, message.chat.id, message.media_group_id)
    )


async def _send_album_soon(bot: Bot, carebot: Carebot, group_chat_id: int, album: str) -> None:
    await asyncio.sleep(GATHER.total_seconds() + 0.05)
    await send_album(bot, carebot, group_chat_id, album)


async def send_waiting_albums(context: CarebotContext) -> None:
    """Job: albums a stopped process left, or whose sending failed, go now."""
    carebot = context.carebot
    async with carebot.sessions() as session:
        due = await albums_due(session, utc_now())
    for group_chat_id, album in due:
        await send_album(context.bot, carebot, group_chat_id, album)


async def send_album(bot: Bot, carebot: Carebot, group_chat_id: int, media_group_id: str) -> None:
    """Copy an album's waiting items to the customer as one album, once they are all in."""
    sender = carebot.relay
    if sender is None:
        return
    async with transaction(carebot.sessions) as session:
        album = await claim_album(
            session,
            group_chat_id=group_chat_id,
            media_group_id=media_group_id,
            owner=sender.owner,
            now=utc_now(),
            lease=sender.lease,
        )
    if album is None:
        return
    async with carebot.sessions() as session:
        customer = await session.get(Customer, album.customer_id)
    if customer is None or customer.telegram_user_id is None:
        async with transaction(carebot.sessions) as session:
            await mark_failed(session, album.ids, "the customer is gone")
        return
    try:
        copies = await bot.copy_messages(
            customer.telegram_user_id, group_chat_id, album.message_ids
        )
    except Forbidden:
        async with transaction(carebot.sessions) as session:
            await mark_failed(session, album.ids, "the customer blocked the bot")
        await customer_blocked(carebot, customer)
        return
    except BadRequest as error:
        logger.warning("could not relay an album to customer %s: %s", customer.id, error.message)
        async with transaction(carebot.sessions) as session:
            await mark_failed(session, album.ids, error.message)
        return
    except NetworkError as error:
        # Telegram did not answer: the album waits and the job tries it again.
        logger.warning("could not relay an album to customer %s: %s", customer.id, error)
        async with transaction(carebot.sessions) as session:
            await release(session, album.ids, utc_now() + ALBUM_RETRY, f"network: {error}")
        return
    async with transaction(carebot.sessions) as session:
        await mark_sent(session, album.ids, copies[0].message_id, utc_now())
        await record_links(
            session,
            customer_id=customer.id,
            group_chat_id=group_chat_id,
            pairs=[
                (copy.message_id, source)
                for copy, source in zip(copies, album.message_ids, strict=True)
            ],
            direction=LinkDirection.TO_CUSTOMER,
        )


# --- groups the bot was not configured for ----------------------------------------------------


async def leave(bot: Bot, chat_id: int) -> None:
    try:
        await bot.leave_chat(chat_id)
    except TelegramError as error:
        logger.info("could not leave chat %s: %s", chat_id, error)
    else:
        logger.warning("left group %s: it is not a configured advisor group", chat_id)


async def on_stranger_group(update: Update, context: CarebotContext) -> None:
    """A message from a group that is not an advisor group: nothing is read, the bot leaves."""
    chat = update.effective_chat
    if chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
        await leave(context.bot, chat.id)


async def on_my_membership(update: Update, context: CarebotContext) -> None:
    """The bot's own membership changed: a customer (un)blocked it, or a group added it."""
    if await on_private_membership(update, context):
        return
    change = update.my_chat_member
    if change is None or change.chat.id in context.carebot.settings.advisor_chat_ids:
        return
    joined = change.new_chat_member.status in (
        ChatMemberStatus.MEMBER,
        ChatMemberStatus.ADMINISTRATOR,
    )
    if joined and change.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP, ChatType.CHANNEL):
        await leave(context.bot, change.chat.id)
