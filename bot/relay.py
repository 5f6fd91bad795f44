"""The advisors' relay, its data: each customer's place in an advisor group, and message pairs.

A customer gets one `advisor_thread` for good: the group (of the configured ones) with the
fewest customers when they first write, and there a forum topic (or, in a plain group, the group
itself). The row is inserted with ON CONFLICT (customer_id) DO NOTHING, so two first messages at
once end with one row; the topic id is set with a compare-and-set (`WHERE topic_id IS NULL`),
so one topic wins and the other is deleted.

`message_link` pairs every relayed message with its copy: customer side (the customer's own
message, or the bot's copy of an advisor's message in the private chat) and group side. Quotes,
replies and edits are mapped through it both ways. A link with customer message 0 marks a
group message about a customer that has no counterpart (a card, a notice), so that replying to
it in a plain group still reaches the customer.
"""

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    AdvisorThread,
    Customer,
    CustomerNote,
    LinkDirection,
    MessageLink,
    Outbox,
    OutboxStatus,
    SurveyResponse,
)
from bot.relay_queue import KIND as RELAY_KIND

TOPIC_NAME_LIMIT = 128
NO_COUNTERPART = 0


def topic_name(customer_id: int, name: str | None, plates: Sequence[str]) -> str:
    """ "Name · PLATE" within Telegram's 128 characters; the customer number when nameless."""
    who = " ".join((name or "").split()) or f"#{customer_id}"
    parts = [who, *plates[:2]]
    text = " · ".join(parts)
    if len(text) > TOPIC_NAME_LIMIT:
        text = text[: TOPIC_NAME_LIMIT - 1] + "…"
    return text


# --- threads -------------------------------------------------------------------------------------


async def thread_of(session: AsyncSession, customer_id: int) -> AdvisorThread | None:
    return await session.scalar(
        select(AdvisorThread)
        .where(AdvisorThread.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )


async def assign_thread(
    session: AsyncSession, customer_id: int, groups: Sequence[int]
) -> AdvisorThread:
    """The customer's thread; on first contact a group is chosen, the least busy one, for good.

    A customer whose group is no longer configured moves to a configured one (and gets a new
    topic there), so their messages are not stuck for a group nobody serves.
    """
    if not groups:
        raise ValueError("no advisor group is configured")
    thread = await thread_of(session, customer_id)
    if thread is not None and thread.chat_id in groups:
        return thread
    chosen = await _least_busy(session, groups)
    if thread is not None:
        thread.chat_id, thread.topic_id, thread.card_message_id = chosen, None, None
        thread.closed = False
        await session.flush()
        return thread
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(AdvisorThread)
        .values(customer_id=customer_id, chat_id=chosen, closed=False)
        .on_conflict_do_nothing(index_elements=[AdvisorThread.customer_id])
    )
    thread = await thread_of(session, customer_id)
    assert thread is not None  # inserted above, or by whoever won the race
    return thread


async def _least_busy(session: AsyncSession, groups: Sequence[int]) -> int:
    rows = await session.execute(
        select(AdvisorThread.chat_id, func.count())
        .where(AdvisorThread.chat_id.in_(groups))
        .group_by(AdvisorThread.chat_id)
    )
    counts = {chat_id: count for chat_id, count in rows.all()}
    return min(groups, key=lambda chat_id: (counts.get(chat_id, 0), groups.index(chat_id)))


async def thread_by_topic(
    session: AsyncSession, chat_id: int, topic_id: int
) -> AdvisorThread | None:
    return await session.scalar(
        select(AdvisorThread).where(
            AdvisorThread.chat_id == chat_id, AdvisorThread.topic_id == topic_id
        )
    )


async def set_topic(session: AsyncSession, thread_id: int, topic_id: int) -> bool:
    """Give the thread its topic unless another sender already did; True when this one won."""
    result = await session.execute(
        update(AdvisorThread)
        .where(AdvisorThread.id == thread_id, AdvisorThread.topic_id.is_(None))
        .values(topic_id=topic_id, card_message_id=None, closed=False)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def forget_topic(session: AsyncSession, thread_id: int, topic_id: int) -> None:
    """The topic was deleted in Telegram: the next post creates a new one."""
    await session.execute(
        update(AdvisorThread)
        .where(AdvisorThread.id == thread_id, AdvisorThread.topic_id == topic_id)
        .values(topic_id=None, card_message_id=None, closed=False)
        .execution_options(synchronize_session=False)
    )


async def set_card(session: AsyncSession, thread_id: int, message_id: int) -> None:
    await session.execute(
        update(AdvisorThread)
        .where(AdvisorThread.id == thread_id)
        .values(card_message_id=message_id)
        .execution_options(synchronize_session=False)
    )


async def set_closed(session: AsyncSession, thread_id: int, closed: bool) -> None:
    await session.execute(
        update(AdvisorThread)
        .where(AdvisorThread.id == thread_id)
        .values(closed=closed)
        .execution_options(synchronize_session=False)
    )


async def claim_auto_reply(
    session: AsyncSession, thread: AdvisorThread, now: dt.datetime, every: dt.timedelta
) -> bool:
    """Whether the out-of-hours answer goes now; at most once per period per customer."""
    if thread.auto_reply_at is not None and now - thread.auto_reply_at < every:
        return False
    thread.auto_reply_at = now
    await session.flush()
    return True


async def mark_care_replied(
    session: AsyncSession, customer_id: int, now: dt.datetime, within: dt.timedelta
) -> None:
    """The customer wrote to the store: their latest care message, if recent, was replied to.

    Care reach (bot/kpis.py) counts replies from this.
    """
    latest = (
        select(Outbox.id)
        .where(
            Outbox.customer_id == customer_id,
            Outbox.kind != RELAY_KIND,
            Outbox.status == OutboxStatus.SENT,
            Outbox.sent_at >= now - within,
        )
        .order_by(Outbox.sent_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        update(Outbox)
        .where(Outbox.id == latest, Outbox.replied_at.is_(None))
        .values(replied_at=now)
        .execution_options(synchronize_session=False)
    )


# --- message pairs -------------------------------------------------------------------------------


async def record_links(
    session: AsyncSession,
    *,
    customer_id: int,
    group_chat_id: int,
    pairs: Sequence[tuple[int, int]],
    direction: LinkDirection,
    outbox_id: int | None = None,
) -> None:
    """Store (customer-side message, group-side message) pairs."""
    session.add_all(
        MessageLink(
            customer_id=customer_id,
            customer_message_id=customer_message,
            group_chat_id=group_chat_id,
            group_message_id=group_message,
            direction=direction,
            outbox_id=outbox_id,
        )
        for customer_message, group_message in pairs
    )
    await session.flush()


async def group_counterpart(
    session: AsyncSession, customer_id: int, customer_message_id: int
) -> tuple[int, int] | None:
    """(group chat, message) standing for a message in the customer's chat, newest copy first."""
    row = await session.execute(
        select(MessageLink.group_chat_id, MessageLink.group_message_id)
        .where(
            MessageLink.customer_id == customer_id,
            MessageLink.customer_message_id == customer_message_id,
        )
        .order_by(MessageLink.id.desc())
        .limit(1)
    )
    found = row.first()
    return (found[0], found[1]) if found else None


async def customer_counterpart(
    session: AsyncSession, group_chat_id: int, group_message_id: int
) -> tuple[int, int] | None:
    """(customer, message in their chat) standing for a group message; message 0 when none."""
    row = await session.execute(
        select(MessageLink.customer_id, MessageLink.customer_message_id)
        .where(
            MessageLink.group_chat_id == group_chat_id,
            MessageLink.group_message_id == group_message_id,
        )
        .order_by(MessageLink.id.desc())
        .limit(1)
    )
    found = row.first()
    return (found[0], found[1]) if found else None


async def copies_for_customer(
    session: AsyncSession, group_chat_id: int, group_message_id: int
) -> list[tuple[int, int]]:
    """(customer, message) copies the bot made in customers' chats of an advisor's message."""
    rows = await session.execute(
        select(MessageLink.customer_id, MessageLink.customer_message_id)
        .where(
            MessageLink.group_chat_id == group_chat_id,
            MessageLink.group_message_id == group_message_id,
            MessageLink.direction == LinkDirection.TO_CUSTOMER,
        )
        .order_by(MessageLink.id)
    )
    return [(row[0], row[1]) for row in rows.all()]


async def copies_in_group(
    session: AsyncSession, customer_id: int, customer_message_id: int
) -> list[tuple[int, int]]:
    """(group chat, message) copies of a customer's own message, oldest first."""
    rows = await session.execute(
        select(MessageLink.group_chat_id, MessageLink.group_message_id)
        .where(
            MessageLink.customer_id == customer_id,
            MessageLink.customer_message_id == customer_message_id,
            MessageLink.direction == LinkDirection.TO_GROUP,
        )
        .order_by(MessageLink.id)
    )
    return [(row[0], row[1]) for row in rows.all()]


# --- what advisors do to a customer --------------------------------------------------------------


async def add_note(
    session: AsyncSession,
    customer_id: int,
    text: str,
    *,
    author_telegram_id: int | None,
    author_name: str | None,
) -> CustomerNote:
    note = CustomerNote(
        customer_id=customer_id,
        text=text,
        author_telegram_id=author_telegram_id,
        author_name=author_name,
    )
    session.add(note)
    await session.flush()
    return note


async def recent_notes(
    session: AsyncSession, customer_id: int, limit: int = 5
) -> list[CustomerNote]:
    """The newest notes first."""
    rows = await session.scalars(
        select(CustomerNote)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(CustomerNote.id.desc())
        .limit(limit)
    )
    return list(rows)


async def set_banned(session: AsyncSession, customer: Customer, at: dt.datetime | None) -> None:
    """Silence a customer (their messages are no longer relayed), or lift it with None."""
    customer.banned_at = at
    await session.flush()


async def set_reachable(session: AsyncSession, customer: Customer, at: dt.datetime | None) -> bool:
    """Record a block (`at`) or an unblock (None); True when that changed anything."""
    reachable = at is None
    if customer.reachable == reachable:
        return False
    customer.reachable, customer.blocked_at = reachable, at
    await session.flush()
    return True


# --- the satisfaction question after /close --------------------------------------------------------


async def ask_satisfaction(
    session: AsyncSession, store_id: int, customer_id: int, now: dt.datetime
) -> SurveyResponse:
    """A survey_response without a visit: the score of a closed conversation (CSAT counts it)."""
    survey = SurveyResponse(store_id=store_id, customer_id=customer_id, asked_at=now)
    session.add(survey)
    await session.flush()
    return survey


async def answer_satisfaction(
    session: AsyncSession, survey_id: int, customer_id: int, score: int, now: dt.datetime
) -> SurveyResponse | None:
    """Record the score once; None when the question is not this customer's or already answered."""
    if not 1 <= score <= 5:
        return None
    result = await session.execute(
        update(SurveyResponse)
        .where(
            SurveyResponse.id == survey_id,
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.visit_id.is_(None),
            SurveyResponse.score.is_(None),
        )
        .values(score=score, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(SurveyResponse, survey_id, populate_existing=True)
