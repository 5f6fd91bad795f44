"""Customers as Telegram users: find or create the record behind a chat."""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.locales import Locale
from bot.models import Customer


async def customer_for_telegram_user(
    session: AsyncSession, *, store_id: int, telegram_user_id: int, locale: Locale, name: str
) -> Customer:
    """The customer behind a Telegram user, created on first contact.

    Two first messages can arrive at once; the unique telegram_user_id makes the second insert a
    no-op instead of a duplicate customer.
    """
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(Customer)
        .values(
            store_id=store_id,
            telegram_user_id=telegram_user_id,
            locale=locale,
            name=name,
            marketing_consent=False,
            reachable=True,
        )
        .on_conflict_do_nothing(index_elements=[Customer.telegram_user_id])
    )
    customer = await session.scalar(
        select(Customer).where(Customer.telegram_user_id == telegram_user_id)
    )
    assert customer is not None  # inserted or already there, in this transaction
    return customer
