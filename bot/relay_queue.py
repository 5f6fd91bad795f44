"""The queue of posts into advisor groups, kept in the outbox (kind "relay") so none is lost.

A handler adds a row in the same transaction that records what happened (a customer's message,
an advisor's command), so a crash after the commit loses nothing: the sender finds the row
when it comes back. Each group is its own queue, in id order, which is every customer's order.

The sender takes one post at a time per group (`claim_post`): the oldest pending row, and with
it the customer's following rows that belong in the same message (the rest of an album; short
texts sent within a few seconds). A group has at most one post in flight, whichever process
sends it: that is what keeps a customer's messages in order when several bot processes share
the database, and what makes only one of them create a customer's topic. Claims are serialised
per group by BEGIN IMMEDIATE on SQLite and a transaction-scoped advisory lock on PostgreSQL.
A claim is a lease: a sender that dies leaves it to expire and the next claim takes the post
again (at least once; the window for a duplicate is the one post in flight).

Care messages share the table; relay rows are told apart by their kind, and their `template`
says what kind of post they are.
"""

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Outbox, OutboxStatus

KIND = "relay"
# A merged post stays well inside Telegram's 4096 characters, header included.
MERGED_CHARS_LIMIT = 3500


class PostKind(enum.StrEnum):
    TEXT = "relay_text"  # a customer's text (merged with the next short ones)
    COPY = "relay_copy"  # any other message of a customer, copied
    ALBUM = "relay_album"  # one item of a customer's album; the album goes as one post
    EDIT = "relay_edit"  # a customer edited a message that was already posted
    NOTICE = "relay_notice"  # the bot's own words about the customer, rendered already
    CARD = "relay_card"  # a fresh customer card (rendered when it goes)
    TOPIC = "relay_topic"  # the topic's name, after the customer's name or plates changed


# Rows that carry a customer's own message (they have its message_id).
_CUSTOMERS_OWN = frozenset(
    kind.value for kind in (PostKind.TEXT, PostKind.COPY, PostKind.ALBUM, PostKind.EDIT)
)


@dataclass(frozen=True)
class QueuedPost:
    """Rows that go as one message, oldest first."""

    ids: list[int]
    customer_id: int
    chat_id: int
    kind: PostKind
    payloads: list[dict[str, Any]]
    attempts: int

    @property
    def head(self) -> dict[str, Any]:
        return self.payloads[0]


@dataclass(frozen=True)
class Waiting:
    """Nothing to take now; `until` is when the oldest post is due (None: the queue is empty)."""

    until: dt.datetime | None = None
    busy: bool = False


@dataclass(frozen=True)
class Merge:
    """Which short texts become one post: each at most `max_chars`, within `seconds`."""

    seconds: float = 5.0
    max_chars: int = 500


async def enqueue(
    session: AsyncSession,
    *,
    store_id: int,
    customer_id: int,
    chat_id: int,
    kind: PostKind,
    payload: dict[str, Any],
    key: str,
    due_at: dt.datetime,
) -> int | None:
    """Add a post for a group; None when a row with this key exists (a redelivered update)."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Outbox)
        .values(
            store_id=store_id,
            customer_id=customer_id,
            kind=KIND,
            idempotency_key=key,
            marketing=False,
            template=kind.value,
            payload=payload,
            due_at=due_at,
            status=OutboxStatus.PENDING,
            attempts=0,
            chat_id=chat_id,
        )
        .on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
        .returning(Outbox.id)
    )
    return result.scalar_one_or_none()


async def row_by_key(session: AsyncSession, key: str, *, lock: bool = False) -> Outbox | None:
    """The queued post with this key; `lock` holds it against a sender claiming it meanwhile."""
    query = select(Outbox).where(Outbox.idempotency_key == key)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


async def _lock_group(session: AsyncSession, chat_id: int) -> None:
    if session.bind.dialect.name == "postgresql":
        key = func.hashtextextended(literal(f"carebot-relay:{chat_id}"), 0)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


def _mine(chat_id: int) -> list[Any]:
    return [
        Outbox.kind == KIND,
        Outbox.chat_id == chat_id,
        Outbox.status == OutboxStatus.PENDING,
    ]


async def claim_post(
    session: AsyncSession,
    *,
    chat_id: int,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    merge: Merge,
    only_id: int | None = None,
) -> QueuedPost | Waiting:
    """Lease the group's next post, or say why there is none (see the module docstring).

    With `only_id`, the post is taken only when that row is the group's next one.
    """
    await _lock_group(session, chat_id)
    in_flight = await session.scalar(
        select(Outbox.id).where(*_mine(chat_id), Outbox.lease_expires_at > now).limit(1)
    )
    if in_flight is not None:
        return Waiting(busy=True)
    oldest = await session.scalar(
        select(Outbox)
        .where(*_mine(chat_id))
        .order_by(Outbox.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if oldest is None:
        return Waiting()
    head, *following = await _in_customer_order(session, oldest)
    if only_id is not None and head.id != only_id:
        return Waiting(busy=True)
    if head.due_at > now:
        return Waiting(until=head.due_at)
    rows = [head, *_same_message(head, following, merge)]
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_([row.id for row in rows]))
        .values(lease_owner=owner, lease_expires_at=now + lease, attempts=Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    assert head.customer_id is not None
    # Read the payloads again after the lease: a customer's edit that held a row while we
    # chose it (bot/handlers/relay_customer.py) has committed by now and must be posted.
    fresh = {
        row_id: payload
        for row_id, payload in await session.execute(
            select(Outbox.id, Outbox.payload).where(Outbox.id.in_([row.id for row in rows]))
        )
    }
    return QueuedPost(
        ids=[row.id for row in rows],
        customer_id=head.customer_id,
        chat_id=chat_id,
        kind=PostKind(head.template),
        payloads=[dict(fresh[row.id]) for row in rows],
        attempts=head.attempts + 1,
    )


async def _in_customer_order(session: AsyncSession, oldest: Outbox) -> list[Outbox]:
    """The customer's pending rows, their own messages in the order they wrote them.

    Rows are queued in the order handlers commit; two bot processes handling two messages of
    one customer at once may commit the later one first. Telegram's message ids are the
    customer's order, so their messages are sorted by them (the bot's own rows keep their place).
    """
    assert oldest.chat_id is not None
    rows = list(
        await session.scalars(
            select(Outbox)
            .where(*_mine(oldest.chat_id), Outbox.customer_id == oldest.customer_id)
            .order_by(Outbox.id)
            .limit(30)
            .execution_options(populate_existing=True)
        )
    )
    places = [n for n, row in enumerate(rows) if row.template in _CUSTOMERS_OWN]
    written = sorted((rows[n] for n in places), key=lambda row: int(row.payload["message_id"]))
    for place, row in zip(places, written, strict=True):
        rows[place] = row
    return rows


def _same_message(head: Outbox, following: list[Outbox], merge: Merge) -> list[Outbox]:
    """The customer's next rows that go in the head's message: album items, short texts."""
    kind = PostKind(head.template)
    if kind not in (PostKind.ALBUM, PostKind.TEXT):
        return []
    if kind is PostKind.TEXT and not _mergeable(head, merge):
        return []
    taken: list[Outbox] = []
    chars = int(head.payload.get("chars", 0))
    for row in following:
        if kind is PostKind.ALBUM:
            same = row.template == kind.value and (
                row.payload.get("media_group_id") == head.payload.get("media_group_id")
            )
            if not same:
                break
        else:
            close_in_time = abs((row.due_at - head.due_at).total_seconds()) <= merge.seconds
            chars += int(row.payload.get("chars", 0)) + 1
            if not (_mergeable(row, merge) and close_in_time and chars <= MERGED_CHARS_LIMIT):
                break
        taken.append(row)
    return taken


def _mergeable(row: Outbox, merge: Merge) -> bool:
    payload = row.payload
    return (
        row.template == PostKind.TEXT.value
        and merge.seconds > 0
        and payload.get("reply_to") is None
        and int(payload.get("chars", 0)) <= merge.max_chars
    )


async def extend_lease(
    session: AsyncSession, ids: list[int], owner: str, until: dt.datetime
) -> None:
    """Keep a post while its sender waits out a retry_after."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids), Outbox.lease_owner == owner)
        .values(lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )


async def mark_sent(
    session: AsyncSession, ids: list[int], message_id: int | None, now: dt.datetime
) -> None:
    """The post is in the group. The owner stays recorded: it tells who sent what."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids))
        .values(
            status=OutboxStatus.SENT,
            sent_at=now,
            telegram_message_id=message_id,
            lease_expires_at=None,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )


async def release(
    session: AsyncSession, ids: list[int], due_at: dt.datetime, error: str | None = None
) -> None:
    """Give a post back to the queue, due again at `due_at`."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids))
        .values(lease_owner=None, lease_expires_at=None, due_at=due_at, error=error)
        .execution_options(synchronize_session=False)
    )


async def release_owned(session: AsyncSession, owner: str) -> None:
    """Give back every post a sender holds (it is stopping; a restart takes them at once)."""
    await session.execute(
        update(Outbox)
        .where(
            Outbox.kind == KIND,
            Outbox.lease_owner == owner,
            Outbox.status == OutboxStatus.PENDING,
        )
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def mark_failed(session: AsyncSession, ids: list[int], error: str) -> None:
    """Telegram refused the post for good (the customer deleted the message first, say)."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids))
        .values(status=OutboxStatus.FAILED, lease_expires_at=None, error=error[:500])
        .execution_options(synchronize_session=False)
    )


async def posted_parts(session: AsyncSession, chat_id: int, message_id: int) -> list[Outbox]:
    """The rows that went out as one group message (several for merged texts), oldest first."""
    rows = await session.scalars(
        select(Outbox)
        .where(
            Outbox.kind == KIND,
            Outbox.chat_id == chat_id,
            Outbox.status == OutboxStatus.SENT,
            Outbox.telegram_message_id == message_id,
        )
        .order_by(Outbox.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def pending_posts(session: AsyncSession, chat_id: int | None = None) -> int:
    """Rows still waiting (all groups, or one)."""
    query = select(func.count()).where(Outbox.kind == KIND, Outbox.status == OutboxStatus.PENDING)
    if chat_id is not None:
        query = query.where(Outbox.chat_id == chat_id)
    return int(await session.scalar(query) or 0)
