"""/start: greet the owner in their language and make sure we know them."""

from telegram import Update

from bot.context import CarebotContext
from bot.customers import customer_for_telegram_user
from bot.db import transaction
from bot.locales import locale_from_language_code


async def start(update: Update, context: CarebotContext) -> None:
    """Greet by store name and remember the customer."""
    carebot = context.carebot
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None:
        return
    locale = locale_from_language_code(user.language_code, carebot.default_locale)
    async with transaction(carebot.sessions) as session:
        customer = await customer_for_telegram_user(
            session,
            store_id=carebot.store_id,
            telegram_user_id=user.id,
            locale=locale,
            name=user.full_name,
        )
        locale = carebot.locale_of(customer.locale)
    await message.reply_html(
        carebot.render.text(
            locale,
            "greeting",
            store_name=carebot.store.store.name.get(locale),
            first_name=user.first_name,
        )
    )
