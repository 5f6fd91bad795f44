"""The private-chat router: an owner's commands, inline buttons and messages.

A message (text, photo or contact) is decided in this order:
1. someone not signed up yet is in sign-up: a contact, a typed number or a menu label is taken
   as signing up, anything else goes on to the advisors (they may ask a person before they share
   a number), with a word the first time;
2. a main-menu label opens its section, leaving any flow (the menu is always on screen, and
   pressing it means "take me there", even in the middle of a step that expects text);
3. an active flow's current step gets it (AREAS maps flow names to their modules);
4. otherwise it is not ours: the router returns without stopping the update, and the next
   handler group, `relay_to_advisors`, passes it on to the advisors.
When the router has used an update it raises ApplicationHandlerStop so later groups skip it.

An inline button acts only when its flow and version match the owner's current step (see
bot/flows.py); any other gets a short "out of date" answer and changes nothing.
"""

from types import ModuleType

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update, User
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.callbacks import unpack
from bot.context import CarebotContext
from bot.customers import customer_for_telegram_user, signed_up
from bot.db import transaction
from bot.handlers import (
    appointments,
    booking,
    care,
    cars,
    events,
    menu,
    onboarding,
    privacy,
    relay_customer,
)
from bot.handlers.turns import Turn, deliver, open_turn
from bot.locales import locale_from_language_code

# Flow name -> the module with its on_message(turn, message) and on_button(turn, data).
AREAS: dict[str, ModuleType] = {
    onboarding.FLOW: onboarding,
    "lang": menu,
    cars.FLOW: cars,
    booking.FLOW: booking,
    appointments.FLOW: appointments,
    events.FLOW: events,
    care.FLOW: care,
    privacy.FLOW: privacy,
}
# Flows someone may be in before signing up (whoever wrote to the bot may ask to be forgotten).
BEFORE_SIGN_UP = (onboarding.FLOW, "lang", privacy.FLOW)
BUTTON_PATTERN = rf"^({'|'.join(AREAS)}):"


async def _turn(session: AsyncSession, context: CarebotContext, user: User) -> Turn:
    carebot = context.carebot
    customer = await customer_for_telegram_user(
        session,
        store_id=carebot.store_id,
        telegram_user_id=user.id,
        locale=locale_from_language_code(user.language_code, carebot.default_locale),
        name=user.full_name,
    )
    return await open_turn(session, carebot, customer)


async def on_start(update: Update, context: CarebotContext) -> None:
    """/start, with an optional deep-link payload (/start book_12)."""
    user = update.effective_user
    if user is None:
        return
    payload = context.args[0] if context.args else None
    async with transaction(context.carebot.sessions) as session:
        turn = await _turn(session, context, user)
        await onboarding.start(turn, user.first_name, payload)
    await deliver(turn, context.bot)


async def on_command(update: Update, context: CarebotContext) -> None:
    """/book, /appointments, /cars, /language, /help and /cancel."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    name = message.text.split()[0].lstrip("/").split("@")[0].lower()
    async with transaction(context.carebot.sessions) as session:
        turn = await _turn(session, context, user)
        if name == "cancel":
            await menu.cancel(turn)
        elif name == "help":
            await menu.show_help(turn)
        elif name == "language":
            await menu.ask_language(turn)
        elif not signed_up(turn.customer):
            await onboarding.start(turn, user.first_name, None)
        else:
            await menu.open_section(turn, menu.COMMAND_SECTIONS[name])
    await deliver(turn, context.bot)


async def on_message(update: Update, context: CarebotContext) -> None:
    """A text, photo or contact from an owner; see the module docstring for the order."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    async with transaction(context.carebot.sessions) as session:
        turn = await _turn(session, context, user)
        used = True
        if onboarding.for_advisors(turn, message):
            # Not signed up yet, they may still ask a person: the relay below takes it.
            await onboarding.pass_to_advisors(turn)
            used = False
        elif not signed_up(turn.customer) and turn.flow.name not in BEFORE_SIGN_UP:
            await onboarding.start(turn, user.first_name, None)
        elif signed_up(turn.customer) and (
            section := menu.menu_section(turn.carebot.render, message.text)
        ):
            await menu.open_section(turn, section)
        elif turn.flow.name in AREAS:
            await AREAS[turn.flow.name].on_message(turn, message)
        else:
            used = False
    await deliver(turn, context.bot)
    if used:
        raise ApplicationHandlerStop


async def on_button(update: Update, context: CarebotContext) -> None:
    """An inline button in a private chat: it acts only for the current step of its flow."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    chat = query.message.chat if query.message else None
    # A private chat's buttons belong to its one user; anything else is not an owner's button.
    if chat is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        await query.answer()
        return
    data = unpack(query.data)
    async with transaction(context.carebot.sessions) as session:
        turn = await _turn(session, context, user)
        current = data is not None and (data.area, data.version) == (
            turn.flow.name,
            turn.flow.version,
        )
        if data is None or not current:
            turn.alert = turn.label("button_out_of_date")
        elif signed_up(turn.customer) or data.area in BEFORE_SIGN_UP:
            await AREAS[data.area].on_button(turn, data)
    await query.answer(turn.alert, show_alert=turn.alert is not None)
    await deliver(turn, context.bot, pressed=query.message)


async def on_unclaimed_button(update: Update, context: CarebotContext) -> None:
    """A button whose data belongs to no area: stop the client's spinner, change nothing."""
    if update.callback_query is not None:
        await update.callback_query.answer()


async def relay_to_advisors(update: Update, context: CarebotContext) -> None:
    """The hook for the advisor relay: private messages the router did not use arrive here.

    Registered in its own handler group after the router (bot/app.py).
    """
    await relay_customer.on_customer_message(update, context)
