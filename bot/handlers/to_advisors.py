"""The one place that posts into the advisors' chat about a customer.

Booking cards (and anything else about a customer) go through `post_to_advisors`, into the
customer's own topic (created, with the customer card, on first contact) or, in a plain group,
under a header naming the customer. The post is queued with the relay's other posts for the
group, so it is never lost and never jumps ahead of the customer's own messages; it goes at
once when it is the group's next post and the group's pace allows (bot/handlers/relay_sender.py).
"""

import logging

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from bot.context import Carebot
from bot.models import Customer

logger = logging.getLogger(__name__)


async def post_to_advisors(
    bot: Bot,
    carebot: Carebot,
    customer: Customer,
    text: str,
    keyboard: InlineKeyboardMarkup | None = None,
    photo: str | None = None,
) -> Message | None:
    """Post a message about a customer to the advisors; None when it was queued for later."""
    sender = carebot.relay
    if sender is None:
        logger.warning("ADVISOR_CHAT_ID is not set: nothing posted about customer %s", customer.id)
        return None
    try:
        return await sender.post_now(customer, text, keyboard, photo)
    except TelegramError as error:
        # Queued already: the group's sender posts it when Telegram takes it again.
        logger.warning("posting to advisors about customer %s waits: %s", customer.id, error)
        return None
