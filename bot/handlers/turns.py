"""One update's work for one customer: their record, their flow, and what to send back.

Every customer-facing handler runs the same way:

    async with transaction(carebot.sessions) as session:
        turn = await open_turn(session, carebot, customer_chat_id, user)
        await some_step(turn, ...)          # changes the database, queues screens
    await deliver(turn, context.bot)        # after the commit

A step function reads the turn's customer and flow, calls the domain, moves the flow on
(`turn.go` / `turn.begin` / `turn.end`) and queues what the customer sees (`turn.say`). Sending
only after the commit keeps the write lock short (SQLite holds it for the whole transaction)
and never tells a customer about a change that was rolled back.

Inline buttons made with `turn.button` carry the flow's name and its version at the moment
(bot/callbacks.py), so the router can tell a current button from one on an older message.
"""

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MaybeInaccessibleMessage,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.callbacks import pack
from bot.context import Carebot
from bot.flows import Flow, end_flow, enter_step, load_flow
from bot.handlers.to_advisors import post_to_advisors
from bot.locales import Locale
from bot.models import Customer

logger = logging.getLogger(__name__)

Keyboard = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


@dataclass
class Screen:
    """One message for the customer."""

    text: str
    keyboard: Keyboard | None = None
    # A picture sent just above the text (an event's photo); the text then comes as a new
    # message rather than replacing the pressed one, so the two stay together.
    photo: str | None = None


@dataclass
class AdvisorPost:
    """A message for the advisors about one customer (a booking card)."""

    customer: Customer
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    photo: str | None = None


@dataclass
class Turn:
    session: AsyncSession
    carebot: Carebot
    chat_id: int
    customer: Customer
    flow: Flow
    now: dt.datetime
    screens: list[Screen] = field(default_factory=list)
    advisor_posts: list[AdvisorPost] = field(default_factory=list)
    # A short text for the pressed button's answer (shown as an alert).
    alert: str | None = None
    # A sentence put in front of the next message (why the step is asked again, say).
    pending_notice: str | None = None
    # Sends to other people that the step caused (an event place freed up for someone on the
    # waitlist), run by deliver() once the transaction has committed.
    after_commit: list[Callable[[Bot], Awaitable[None]]] = field(default_factory=list)

    @property
    def locale(self) -> Locale:
        return self.carebot.locale_of(self.customer.locale)

    @property
    def tz(self) -> ZoneInfo:
        return self.carebot.settings.timezone

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    # --- words ---------------------------------------------------------------------------------

    def text(self, kind: str, **values: Any) -> str:
        return self.carebot.render.text(self.locale, kind, **values)

    def label(self, key: str, **values: Any) -> str:
        return self.carebot.render.label(self.locale, key, **values)

    def day(self, day: dt.date) -> str:
        """A date as the customer's language writes it."""
        return self.label("format_day", d=day)

    def when(self, moment: dt.datetime) -> str:
        """A date and time of day in the store's time zone, as the customer's language writes it."""
        return self.label("format_when", d=moment.astimezone(self.tz))

    def say(
        self,
        kind: str,
        keyboard: Keyboard | None = None,
        *,
        photo_above: str | None = None,
        **values: Any,
    ) -> None:
        """Queue a message rendered from templates/<locale>/<kind>.html, a photo above it."""
        text = self.text(kind, **values)
        if self.pending_notice:
            text, self.pending_notice = f"{self.pending_notice}\n\n{text}", None
        self.screens.append(Screen(text, keyboard, photo_above))

    def notice(self, kind: str, **values: Any) -> None:
        """Put templates/<locale>/<kind>.html in front of the next message."""
        self.pending_notice = self.text(kind, **values)

    def button(self, text: str, action: str, *args: object) -> InlineKeyboardButton:
        """An inline button for the current step of the current flow."""
        return InlineKeyboardButton(
            text, callback_data=pack(self.flow.name, action, self.flow.version, *args)
        )

    # --- the advisors' side ---------------------------------------------------------------------

    async def refresh_advisor_topic(self) -> None:
        """The owner's name, plates or sign-up changed: their topic gets its new name and a
        fresh card (when they have a topic)."""
        relay = self.carebot.relay
        if relay is None:
            return
        if await relay.queue_topic_name(self.session, self.customer.id) is None:
            return
        customer_id = self.customer.id

        async def fresh_card(bot: Bot) -> None:
            await relay.queue_card(customer_id)

        self.after_commit.append(fresh_card)

    # --- flow ----------------------------------------------------------------------------------

    async def begin(self, name: str, step: str, **data: Any) -> None:
        """Start a flow (leaving any other) at a step."""
        await enter_step(self.session, self.flow, name, step, data)

    async def go(self, step: str, **changes: Any) -> None:
        """Move to another step of the current flow, adding to its answers."""
        await enter_step(self.session, self.flow, self.flow.name, step, self.flow.data | changes)

    async def end(self) -> None:
        await end_flow(self.session, self.flow)


async def open_turn(
    session: AsyncSession, carebot: Carebot, customer: Customer, now: dt.datetime | None = None
) -> Turn:
    """A turn for a customer in their private chat (whose id is their Telegram user id)."""
    assert customer.telegram_user_id is not None
    chat_id = customer.telegram_user_id
    flow = await load_flow(session, chat_id, chat_id)
    return Turn(session, carebot, chat_id, customer, flow, now or dt.datetime.now(dt.UTC))


async def deliver(
    turn: Turn, bot: Bot, pressed: MaybeInaccessibleMessage | None = None
) -> list[Message]:
    """Send the turn's screens, then its advisor posts.

    The first screen replaces the message whose button was pressed, when it can.
    """
    sent: list[Message] = []
    for index, screen in enumerate(turn.screens):
        replace = index == 0 and isinstance(pressed, Message) and screen.photo is None
        if replace and isinstance(screen.keyboard, InlineKeyboardMarkup | None):
            assert isinstance(pressed, Message)
            edited = await _replace(pressed, screen)
            if edited is not None:
                sent.append(edited)
                continue
        if screen.photo is not None:
            await _send_photo(bot, turn.chat_id, screen.photo)
        message = await _send(bot, turn.chat_id, screen)
        if message is not None:
            sent.append(message)
    for post in turn.advisor_posts:
        await post_to_advisors(
            bot, turn.carebot, post.customer, post.text, post.keyboard, post.photo
        )
    for send in turn.after_commit:
        await send(bot)
    return sent


async def _replace(pressed: Message, screen: Screen) -> Message | None:
    try:
        result = await pressed.edit_text(
            screen.text, parse_mode=ParseMode.HTML, reply_markup=screen.keyboard
        )
    except BadRequest as error:
        if "not modified" in error.message.lower():
            return pressed
        # Too old to edit, or gone: the screen is sent as a new message instead.
        logger.info("could not edit message %s: %s", pressed.message_id, error.message)
        return None
    return result if isinstance(result, Message) else pressed


async def _send_photo(bot: Bot, chat_id: int, photo: str) -> None:
    try:
        await bot.send_photo(chat_id, photo)
    except Forbidden:
        logger.info("chat %s blocked the bot; photo not sent", chat_id)
    except BadRequest as error:
        # A file id Telegram does not know (an import's typo, say): the text goes alone.
        logger.warning("could not send photo %r: %s", photo, error.message)


async def _send(bot: Bot, chat_id: int, screen: Screen) -> Message | None:
    try:
        return await bot.send_message(
            chat_id, screen.text, parse_mode=ParseMode.HTML, reply_markup=screen.keyboard
        )
    except Forbidden:
        logger.info("chat %s blocked the bot; message not sent", chat_id)
        return None
