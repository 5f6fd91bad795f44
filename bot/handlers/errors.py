"""The error handler: log with context, never let one update stop the bot."""

import logging

from telegram import Update

from bot.context import CarebotContext

logger = logging.getLogger(__name__)


async def report_error(update: object, context: CarebotContext) -> None:
    """Log an unhandled error with the update it came from."""
    where = ""
    if isinstance(update, Update):
        chat = update.effective_chat
        where = f" in chat {chat.id}" if chat else ""
    logger.error("unhandled error%s", where, exc_info=context.error)
