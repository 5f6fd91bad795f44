"""Customers as Telegram users: find or create the record behind a chat, link it by phone."""

import datetime as dt
import logging

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.locales import Locale
from bot.models import AdvisorThread, Customer, CustomerNote, MessageLink, Outbox

logger = logging.getLogger(__name__)


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


async def customer_by_telegram_user(
    session: AsyncSession, telegram_user_id: int
) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.telegram_user_id == telegram_user_id)
    )


def signed_up(customer: Customer) -> bool:
    """A customer is signed up once we hold their own phone number."""
    return customer.phone is not None


async def link_phone(
    session: AsyncSession, customer: Customer, *, phone: str, now: dt.datetime
) -> Customer:
    """Give the Telegram user behind `customer` their verified phone (E.164).

    When the store already knows that phone (an imported customer), the Telegram user is linked
    to that record, which keeps its cars and history, and the empty record made at /start goes.
    Telegram verified the number as the sender's own, so a link an older account held moves.
    """
    known = await session.scalar(
        select(Customer).where(Customer.store_id == customer.store_id, Customer.phone == phone)
    )
    customer.privacy_accepted_at = customer.privacy_accepted_at or now
    if known is None or known.id == customer.id:
        customer.phone = phone
        await session.flush()
        return customer
    telegram_user_id = customer.telegram_user_id
    if known.telegram_user_id is not None and known.telegram_user_id != telegram_user_id:
        logger.info("customer %s: phone now verified by another Telegram account", known.id)
    # The unique telegram_user_id moves in two flushes: off the empty record, then onto the known.
    customer.telegram_user_id = None
    await session.flush()
    known.telegram_user_id = telegram_user_id
    known.locale = customer.locale
    known.name = known.name or customer.name
    known.privacy_accepted_at = customer.privacy_accepted_at
    known.reachable, known.blocked_at = True, None
    await session.flush()
    await _move_conversation(session, customer.id, known.id)
    # A Core delete: the ORM one would lazy-load the (empty) vehicles list, which async forbids.
    await session.execute(delete(Customer).where(Customer.id == customer.id))
    session.expunge(customer)
    return known


async def set_marketing_consent(
    session: AsyncSession, customer: Customer, *, consent: bool, now: dt.datetime
) -> None:
    """Record the customer's own yes or no to marketing messages, with when they said it."""
    customer.marketing_consent = consent
    customer.marketing_consent_at = now
    await session.flush()


async def set_locale(session: AsyncSession, customer: Customer, locale: Locale) -> None:
    customer.locale = locale
    await session.flush()


async def _move_conversation(session: AsyncSession, from_id: int, to_id: int) -> None:
    """What someone said to the advisors before signing up stays theirs once linked.

    Their topic becomes the known customer's, unless that customer has one already (then the
    earlier topic keeps the history and the known one carries on); queued posts, message links
    and notes move along.
    """
    has_thread = await session.scalar(
        select(AdvisorThread.id).where(AdvisorThread.customer_id == to_id)
    )
    if has_thread is None:
        await session.execute(
            update(AdvisorThread)
            .where(AdvisorThread.customer_id == from_id)
            .values(customer_id=to_id)
        )
    else:
        await session.execute(delete(AdvisorThread).where(AdvisorThread.customer_id == from_id))
    for table in (Outbox, MessageLink, CustomerNote):
        await session.execute(
            update(table).where(table.customer_id == from_id).values(customer_id=to_id)
        )
