"""The main menu, the bot's commands, /help, /cancel and /language.

The main menu is a persistent reply keyboard (the LINE/WeChat rich menu people know). Its
labels live in templates/<locale>/labels.yaml; a label from any locale counts, so a keyboard
sent before a language switch still works.
"""

import logging
from functools import cache

from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from telegram.ext import Application

from bot.callbacks import ButtonData
from bot.customers import set_locale, signed_up
from bot.handlers import appointments, booking, cars, events
from bot.handlers.turns import Turn
from bot.locales import LOCALES, Locale, parse_locale
from bot.render import Renderer

logger = logging.getLogger(__name__)

# Rows of the main menu: (label key, section).
MENU_ROWS = (
    (("menu_book", "book"), ("menu_appointments", "appointments")),
    (("menu_cars", "cars"), ("menu_events", "events")),
    (("menu_advisor", "advisor"),),
)
COMMANDS = (
    "start",
    "book",
    "appointments",
    "cars",
    "language",
    "cancel",
    "help",
    "stop",
    "subscribe",
    "privacy",
    "mydata",
    "forget",
)
# Sections a command opens directly.
COMMAND_SECTIONS = {"book": "book", "appointments": "appointments", "cars": "cars"}
LANGUAGE_NAMES = {"zh-Hant": "繁體中文", "zh-Hans": "简体中文", "en": "English"}


def main_menu(turn: Turn) -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(turn.label(key)) for key, _ in row] for row in MENU_ROWS]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, is_persistent=True)


def menu_section(render: Renderer, text: str | None) -> str | None:
    """The section a main-menu label opens, in any locale; None for other text."""
    if not text:
        return None
    return _sections_by_label(render).get(text.strip())


@cache
def _sections_by_label(render: Renderer) -> dict[str, str]:
    # Every private message is checked against these; render the labels once per renderer.
    return {
        render.label(locale, key): section
        for locale in LOCALES
        for row in MENU_ROWS
        for key, section in row
    }


async def open_section(turn: Turn, section: str) -> None:
    """What a menu button or command opens; it leaves any flow the customer was in."""
    if section == "book":
        await booking.start_booking(turn)
    elif section == "appointments":
        await appointments.show_appointments(turn)
    elif section == "cars":
        await cars.show_cars(turn)
    elif section == "events":
        await events.show_events(turn)
    elif section == "advisor":
        # The relay forwards whatever the customer writes next.
        await turn.end()
        turn.say("advisor_write")


async def open_deep_link(turn: Turn, payload: str) -> bool:
    """Act on a /start payload (`book`, `book_<vehicle id>`, `cars`, `appointments`, `event_<id>`)."""
    name, _, argument = payload.partition("_")
    if name == "book":
        await booking.start_booking(turn, int(argument) if argument.isdigit() else None)
    elif name == "event" and argument.isdigit():
        # The link in event invitations and notices.
        await events.show_card(turn, int(argument))
    elif name in ("cars", "appointments"):
        await open_section(turn, name)
    else:
        logger.info("unknown /start payload %r", payload)
        return False
    return True


async def show_help(turn: Turn) -> None:
    keyboard = main_menu(turn) if signed_up(turn.customer) else None
    turn.say("help", keyboard=keyboard)


async def cancel(turn: Turn) -> None:
    """/cancel: leave whatever flow the customer is in."""
    was_active = turn.flow.active
    await turn.end()
    if not signed_up(turn.customer):
        turn.say("signup_cancelled")
        return
    turn.say("cancelled" if was_active else "nothing_to_cancel", keyboard=main_menu(turn))


async def ask_language(turn: Turn) -> None:
    await turn.begin("lang", "choose")
    buttons = [turn.button(LANGUAGE_NAMES[locale], "set", locale) for locale in LOCALES]
    turn.say("language_choose", keyboard=InlineKeyboardMarkup([[b] for b in buttons]))


async def on_button(turn: Turn, data: ButtonData) -> None:
    """The language buttons."""
    try:
        locale: Locale = parse_locale(data.arg(0))
    except ValueError:
        return
    await set_locale(turn.session, turn.customer, locale)
    await turn.end()
    keyboard = main_menu(turn) if signed_up(turn.customer) else None
    turn.say("language_set", keyboard=keyboard)


async def on_message(turn: Turn, message: Message) -> None:
    """Text while the language buttons are showing."""
    turn.notice("use_buttons")
    await ask_language(turn)


async def publish_commands(application: Application, render: Renderer, default: Locale) -> None:
    """setMyCommands per language; Telegram's language codes cannot tell zh-Hant from zh-Hans."""
    scope = BotCommandScopeAllPrivateChats()
    chinese: Locale = default if default != "en" else "zh-Hans"
    for language_code, locale in ((None, default), ("en", "en"), ("zh", chinese)):
        commands = [BotCommand(name, render.label(locale, f"command_{name}")) for name in COMMANDS]
        await application.bot.set_my_commands(commands, scope=scope, language_code=language_code)
