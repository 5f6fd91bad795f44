"""Albums an advisor sends a customer, kept in the outbox until they have gone as one.

Telegram delivers an album's items as separate updates. Each item is queued in the transaction
of its update, due a moment later; once the album's newest item is due, the items are taken
together and copied to the customer as one album. A process that dies in between leaves the
rows to the next one, which sends them when it finds them (at least once: the window for a
duplicate is the copy call itself).

The rows are relay rows (kind "relay"), so everything that leaves the relay out of care
figures leaves them out too. They have no chat, which keeps them out of the advisor groups' own
queues (bot/relay_queue.py); the group they came from is in their payload.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Outbox, OutboxStatus
from bot.relay_queue import KIND

TEMPLATE = "advisor_album"
# Items of one album arrive within a second of each other.
GATHER = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Album:
    """An album's items, leased for sending."""

    ids: list[int]
    customer_id: int
    group_chat_id: int
    message_ids: list[int]


def _key(group_chat_id: int, media_group_id: str) -> str:
    return f"album:{group_chat_id}:{media_group_id}:"


async def queue_item(
    session: AsyncSession,
    *,
    store_id: int,
    customer_id: int,
    group_chat_id: int,
    media_group_id: str,
    message_id: int,
    now: dt.datetime,
) -> None:
    """Keep one item; an update delivered twice keeps it once."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(Outbox)
        .values(
            store_id=store_id,
            customer_id=customer_id,
            kind=KIND,
            idempotency_key=f"{_key(group_chat_id, media_group_id)}{message_id}",
            marketing=False,
            template=TEMPLATE,
            payload={
                "group_chat_id": group_chat_id,
                "media_group_id": media_group_id,
                "message_id": message_id,
            },
            due_at=now + GATHER,
            status=OutboxStatus.PENDING,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
    )


def _waiting(now: dt.datetime) -> list[object]:
    return [
        Outbox.kind == KIND,
        Outbox.template == TEMPLATE,
        Outbox.status == OutboxStatus.PENDING,
        or_(Outbox.lease_expires_at.is_(None), Outbox.lease_expires_at <= now),
    ]


async def albums_due(session: AsyncSession, now: dt.datetime) -> list[tuple[int, str]]:
    """(group, album) of every album with an item waiting that nobody is sending."""
    payloads = await session.scalars(
        select(Outbox.payload).where(*_waiting(now), Outbox.due_at <= now)
    )
    return sorted({(int(p["group_chat_id"]), str(p["media_group_id"])) for p in payloads})


async def claim_album(
    session: AsyncSession,
    *,
    group_chat_id: int,
    media_group_id: str,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
) -> Album | None:
    """Lease the album's waiting items once the newest is due; None while it is still coming."""
    query = (
        select(Outbox)
        .where(
            *_waiting(now), Outbox.idempotency_key.startswith(_key(group_chat_id, media_group_id))
        )
        .order_by(Outbox.id)
        .execution_options(populate_existing=True)
    )
    if session.bind.dialect.name == "postgresql":
        # Another process taking the same album waits here, then finds the items leased.
        query = query.with_for_update()
    rows = list(await session.scalars(query))
    if not rows or max(row.due_at for row in rows) > now:
        return None
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_([row.id for row in rows]))
        .values(lease_owner=owner, lease_expires_at=now + lease, attempts=Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    customer_id = rows[0].customer_id
    assert customer_id is not None
    return Album(
        ids=[row.id for row in rows],
        customer_id=customer_id,
        group_chat_id=group_chat_id,
        message_ids=sorted(int(row.payload["message_id"]) for row in rows),
    )
