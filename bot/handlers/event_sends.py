"""Event notices sent the moment they happen, from the outbox rows that record them.

A freed place must reach the next owner at once, not at the delivery's next round; a change or
a cancellation is urgent too. They read like every care message (scheduler/messages.py). The
rows are claimed with the outbox's own lease, so a delivery running meanwhile leaves them
alone, then sent and marked sent or blocked. A send that fails for another reason leaves its
row pending: the lease runs out and the delivery tries again.
"""

import datetime as dt
import logging
from typing import Any

from sqlalchemy import or_, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError

from bot.context import Carebot
from bot.db import transaction
from bot.models import Customer, Outbox, OutboxStatus
from scheduler.messages import Message, Signature, compose

logger = logging.getLogger(__name__)

LEASE_OWNER = "event-notice"
LEASE = dt.timedelta(seconds=60)


async def send_notices_now(bot: Bot, carebot: Carebot, outbox_ids: list[int]) -> None:
    """Send these pending event notices now."""
    if not outbox_ids:
        return
    now = dt.datetime.now(dt.UTC)
    async with transaction(carebot.sessions) as session:
        claimed = (
            await session.execute(
                select(Outbox, Customer.telegram_user_id, Customer.locale, Customer.name)
                .join(Customer, Customer.id == Outbox.customer_id)
                .where(
                    Outbox.id.in_(outbox_ids),
                    Outbox.status == OutboxStatus.PENDING,
                    or_(Outbox.lease_expires_at.is_(None), Outbox.lease_expires_at < now),
                )
                .order_by(Outbox.id)
                .with_for_update(of=Outbox, skip_locked=True)
            )
        ).all()
        for row, *_ in claimed:
            row.lease_owner, row.lease_expires_at = LEASE_OWNER, now + LEASE
            row.attempts += 1
    signature = Signature(carebot.store, carebot.settings.timezone, bot.username)
    outcomes: dict[int, dict[str, Any]] = {}
    for row, chat_id, locale, name in claimed:
        message = compose(
            carebot.render,
            template=row.template,
            payload=row.payload,
            marketing=row.marketing,
            locale=carebot.locale_of(locale),
            signature=signature,
            customer_name=name,
        )
        try:
            sent = await bot.send_message(
                chat_id, message.text, parse_mode=ParseMode.HTML, reply_markup=_keyboard(message)
            )
        except Forbidden:
            outcomes[row.id] = {"status": OutboxStatus.BLOCKED, "error": "blocked by the owner"}
        except TelegramError as error:
            logger.warning("event notice %s not sent now, left to the delivery: %s", row.id, error)
        else:
            outcomes[row.id] = {
                "status": OutboxStatus.SENT,
                "sent_at": dt.datetime.now(dt.UTC),
                "chat_id": chat_id,
                "telegram_message_id": sent.message_id,
            }
    async with transaction(carebot.sessions) as session:
        for row_id, outcome in outcomes.items():
            row = await session.get_one(Outbox, row_id)
            for name, value in outcome.items():
                setattr(row, name, value)
            row.lease_owner, row.lease_expires_at = None, None


def _keyboard(message: Message) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(button.text, url=button.url, callback_data=button.callback_data)
            for button in row
        ]
        for row in message.buttons
    ]
    return InlineKeyboardMarkup(rows) if rows else None
