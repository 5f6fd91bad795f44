"""An owner's privacy commands: /privacy, /mydata and /forget.

/privacy says what the store keeps and why (PDPA in Taiwan, PIPL in the mainland). /mydata sends
the owner everything held about them as a JSON file, in their own private chat only. /forget asks
first: flow `privacy`, step `forget`, with Erase and Keep buttons that carry the flow's version,
so only the latest question acts. Erasing also tells the advisors, in what was the customer's
topic, without a name: after it nothing about the person is left to name.
"""

import json
import logging

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.callbacks import ButtonData
from bot.context import Carebot, CarebotContext
from bot.customers import customer_for_telegram_user
from bot.db import transaction
from bot.handlers.turns import Turn, deliver, open_turn
from bot.locales import locale_from_language_code
from bot.privacy import Forgotten, export_customer_data, forget_customer

logger = logging.getLogger(__name__)

FLOW = "privacy"
COMMANDS = ("privacy", "mydata", "forget")
EXPORT_NAME = "my-carebot-data.json"


async def on_command(update: Update, context: CarebotContext) -> None:
    """/privacy, /mydata or /forget in an owner's private chat."""
    user, message, carebot = update.effective_user, update.effective_message, context.carebot
    if user is None or message is None or not message.text:
        return
    name = message.text.split()[0].lstrip("/").split("@")[0].lower()
    async with transaction(carebot.sessions) as session:
        customer = await customer_for_telegram_user(
            session,
            store_id=carebot.store_id,
            telegram_user_id=user.id,
            locale=locale_from_language_code(user.language_code, carebot.default_locale),
            name=user.full_name,
        )
        turn = await open_turn(session, carebot, customer)
        if name == "privacy":
            say_notice(turn)
        elif name == "mydata":
            await send_export(turn)
        else:
            await ask_forget(turn)
    await deliver(turn, context.bot)


def say_notice(turn: Turn) -> None:
    store = turn.carebot.store.store
    turn.say("privacy_notice", store_name=store.name.get(turn.locale), market=store.market)


async def send_export(turn: Turn) -> None:
    """The owner's data as a file, sent to the chat the command came from (their own)."""
    data = await export_customer_data(turn.session, turn.customer.id)
    content = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    caption = turn.text("privacy_mydata")
    chat_id = turn.chat_id

    async def send(bot: Bot) -> None:
        await bot.send_document(
            chat_id,
            InputFile(content, filename=EXPORT_NAME),
            caption=caption,
            parse_mode=ParseMode.HTML,
        )

    turn.after_commit.append(send)


async def ask_forget(turn: Turn) -> None:
    await turn.begin(FLOW, "forget")
    buttons = [
        turn.button(turn.label("privacy_forget_yes"), "yes"),
        turn.button(turn.label("privacy_forget_no"), "no"),
    ]
    turn.say("privacy_forget_ask", keyboard=InlineKeyboardMarkup([buttons]))


async def on_button(turn: Turn, data: ButtonData) -> None:
    """Erase or Keep (already checked to be the current question)."""
    # Ending the flow first: forgetting deletes the conversation row, which holds the user id.
    await turn.end()
    if data.action != "yes":
        turn.say("privacy_forget_kept")
        return
    forgotten = await forget_customer(turn.session, turn.customer.id, turn.now)
    logger.info("customer %s forgotten at their request", forgotten.customer_id)
    turn.say("privacy_forgotten")
    carebot = turn.carebot

    async def tell_advisors(bot: Bot) -> None:
        await _tell_advisors(bot, carebot, forgotten)

    turn.after_commit.append(tell_advisors)


async def on_message(turn: Turn, message: Message) -> None:
    """Text while Erase and Keep are showing: ask again."""
    turn.notice("use_buttons")
    await ask_forget(turn)


async def _tell_advisors(bot: Bot, carebot: Carebot, forgotten: Forgotten) -> None:
    # The topic is no longer linked to anyone, so this goes straight to it, not through the
    # relay (which would open a new topic for the nameless customer).
    chat_id = forgotten.advisor_chat_id or carebot.settings.advisor_chat_id
    if chat_id is None:
        return
    topic_id = forgotten.advisor_topic_id if forgotten.advisor_chat_id else None
    text = carebot.render.text(
        carebot.default_locale, "privacy_forgotten_advisors", customer_id=forgotten.customer_id
    )
    try:
        await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, message_thread_id=topic_id)
    except TelegramError as error:
        logger.warning("could not tell the advisors about forgotten customer: %s", error)
