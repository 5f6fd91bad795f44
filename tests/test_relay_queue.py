"""The relay's parts on their own: the queue and threads on both engines, pacing, hours, settings."""

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import RetryAfter

from bot.config import load_settings
from bot.db import transaction
from bot.errors import SetupError
from bot.group_pacing import GroupPacer
from bot.models import AdvisorThread, Customer, Outbox, OutboxStatus
from bot.opening_hours import is_open, next_opening
from bot.rate_limits import PACED, PacedRateLimiter
from bot.relay import assign_thread, mark_care_replied, set_topic, topic_name
from bot.relay_queue import Merge, PostKind, QueuedPost, Waiting, claim_post, enqueue, mark_sent
from bot.store_config import StoreConfig
from bot.stores import sync_store
from scheduler.delivery import claim_outbox_batch

GROUP, OTHER_GROUP = -1001, -1002
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)
TAIPEI = ZoneInfo("Asia/Taipei")


async def _customers(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig, count: int
) -> tuple[int, list[int]]:
    async with transaction(sessions) as session:
        store = await sync_store(
            session, store_config, timezone="Asia/Taipei", advisor_chat_id=None
        )
        customers = [Customer(store_id=store.id, name=f"C{n}") for n in range(count)]
        session.add_all(customers)
        await session.flush()
        return store.id, [c.id for c in customers]


async def _queue(
    sessions: async_sessionmaker[AsyncSession],
    store_id: int,
    customer_id: int,
    kind: PostKind,
    payload: dict[str, Any],
    *,
    key: str,
    chat_id: int = GROUP,
    due_at: dt.datetime = NOW,
) -> int | None:
    async with transaction(sessions) as session:
        return await enqueue(
            session,
            store_id=store_id,
            customer_id=customer_id,
            chat_id=chat_id,
            kind=kind,
            payload=payload,
            key=key,
            due_at=due_at,
        )


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    owner: str = "a",
    chat_id: int = GROUP,
    now: dt.datetime = NOW,
    merge: Merge | None = None,
) -> QueuedPost | Waiting:
    async with transaction(sessions) as session:
        return await claim_post(
            session, chat_id=chat_id, owner=owner, now=now, lease=LEASE, merge=merge or Merge()
        )


def _text(n: int, chars: int = 5, **extra: Any) -> dict[str, Any]:
    return {"message_id": n, "from_chat": 1, "html": "x" * chars, "chars": chars, **extra}


async def test_a_group_has_one_post_in_flight_and_the_next_waits_for_it(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (first, second) = await _customers(sessions, store_config, 2)
    await _queue(sessions, store_id, first, PostKind.COPY, {"message_id": 1}, key="k1")
    await _queue(sessions, store_id, second, PostKind.COPY, {"message_id": 2}, key="k2")
    await _queue(
        sessions, store_id, second, PostKind.COPY, {"message_id": 3}, key="k3", chat_id=OTHER_GROUP
    )

    post = await _claim(sessions, "a")
    assert isinstance(post, QueuedPost) and post.payloads == [{"message_id": 1}]
    # Another sender (another process) gets nothing while that post is in flight...
    assert await _claim(sessions, "b") == Waiting(busy=True)
    # ...but another group is its own queue.
    other = await _claim(sessions, "b", chat_id=OTHER_GROUP)
    assert isinstance(other, QueuedPost) and other.payloads == [{"message_id": 3}]

    async with transaction(sessions) as session:
        await mark_sent(session, post.ids, 500, NOW)
    following = await _claim(sessions, "b")
    assert isinstance(following, QueuedPost) and following.payloads == [{"message_id": 2}]


async def test_a_customers_messages_go_in_the_order_they_wrote_them_not_as_committed(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (mei,) = await _customers(sessions, store_config, 1)
    # Two bot processes handled messages 11 and 10 at once; 11's transaction committed first.
    await _queue(sessions, store_id, mei, PostKind.COPY, {"message_id": 11}, key="k11")
    await _queue(sessions, store_id, mei, PostKind.NOTICE, {"html": "booked"}, key="n")
    await _queue(sessions, store_id, mei, PostKind.COPY, {"message_id": 10}, key="k10")
    order = []
    for _ in range(3):
        post = await _claim(sessions)
        assert isinstance(post, QueuedPost)
        order.append(post.head.get("message_id", post.head.get("html")))
        async with transaction(sessions) as session:
            await mark_sent(session, post.ids, None, NOW)
    # The customer's own messages go in their order; the bot's notice is never ahead of both.
    assert order == [10, 11, "booked"]


async def test_a_dead_senders_post_is_taken_again_when_its_lease_ends(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (customer,) = await _customers(sessions, store_config, 1)
    await _queue(sessions, store_id, customer, PostKind.COPY, {"message_id": 1}, key="k1")
    taken = await _claim(sessions, "dead")
    assert isinstance(taken, QueuedPost)
    assert await _claim(sessions, "alive", now=NOW + LEASE - dt.timedelta(seconds=1)) == Waiting(
        busy=True
    )
    again = await _claim(sessions, "alive", now=NOW + LEASE + dt.timedelta(seconds=1))
    assert isinstance(again, QueuedPost) and again.ids == taken.ids and again.attempts == 2


async def test_the_same_update_twice_is_queued_once(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (customer,) = await _customers(sessions, store_config, 1)
    assert await _queue(sessions, store_id, customer, PostKind.TEXT, _text(1), key="relay:1:1")
    assert (
        await _queue(sessions, store_id, customer, PostKind.TEXT, _text(1), key="relay:1:1") is None
    )
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Outbox)) == 1


async def test_short_texts_close_in_time_merge_and_stop_at_anything_else(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (mei, kai) = await _customers(sessions, store_config, 2)
    second = dt.timedelta(seconds=1)
    rows = [
        (mei, _text(1), NOW),
        (kai, _text(2), NOW),  # another customer's text in between does not split Mei's
        (mei, _text(3), NOW + second),
        (mei, _text(4, chars=900), NOW + 2 * second),  # long: not "short"
        (mei, _text(5), NOW + 3 * second),
    ]
    for n, (customer, payload, due) in enumerate(rows):
        await _queue(sessions, store_id, customer, PostKind.TEXT, payload, key=f"k{n}", due_at=due)
    later = NOW + 10 * second
    post = await _claim(sessions, now=later)
    assert isinstance(post, QueuedPost)
    assert [p["message_id"] for p in post.payloads] == [1, 3]

    # A reply is never merged into another text, and texts too far apart in time stay apart.
    store_id, (lee,) = await _customers(sessions, store_config, 1)
    await _queue(sessions, store_id, lee, PostKind.TEXT, _text(6), key="r1", chat_id=OTHER_GROUP)
    await _queue(
        sessions, store_id, lee, PostKind.TEXT, _text(7, reply_to=6), key="r2", chat_id=OTHER_GROUP
    )
    alone = await _claim(sessions, chat_id=OTHER_GROUP, now=later)
    assert isinstance(alone, QueuedPost) and len(alone.ids) == 1


async def test_an_album_is_claimed_whole_once_its_items_are_in(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (mei,) = await _customers(sessions, store_config, 1)
    hold = NOW + dt.timedelta(seconds=1.5)
    for n in range(3):
        await _queue(
            sessions,
            store_id,
            mei,
            PostKind.ALBUM,
            {"message_id": n, "from_chat": 1, "media_group_id": "g1"},
            key=f"a{n}",
            due_at=hold,
        )
    await _queue(sessions, store_id, mei, PostKind.TEXT, _text(9), key="t")
    assert await _claim(sessions, now=NOW) == Waiting(until=hold)
    album = await _claim(sessions, now=hold)
    assert isinstance(album, QueuedPost) and album.kind is PostKind.ALBUM and len(album.ids) == 3


async def test_racing_first_contacts_get_one_thread_and_one_topic(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    _, (mei,) = await _customers(sessions, store_config, 1)

    async def assign() -> int:
        async with transaction(sessions) as session:
            return (await assign_thread(session, mei, [GROUP, OTHER_GROUP])).id

    ids = await asyncio.gather(*(assign() for _ in range(5)))
    assert len(set(ids)) == 1
    async with transaction(sessions) as session:
        won = await set_topic(session, ids[0], 77)
    async with transaction(sessions) as session:
        lost = await set_topic(session, ids[0], 78)
    assert (won, lost) == (True, False)
    async with sessions() as session:
        assert (await session.get_one(AdvisorThread, ids[0])).topic_id == 77


async def test_new_customers_go_to_the_least_busy_group(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    _, customers = await _customers(sessions, store_config, 5)
    groups = []
    for customer in customers:
        async with transaction(sessions) as session:
            groups.append((await assign_thread(session, customer, [GROUP, OTHER_GROUP])).chat_id)
    assert groups == [GROUP, OTHER_GROUP, GROUP, OTHER_GROUP, GROUP]
    # A group taken out of the configuration gives its customers to the remaining one.
    async with transaction(sessions) as session:
        moved = await assign_thread(session, customers[1], [GROUP])
    assert moved.chat_id == GROUP and moved.topic_id is None


async def test_the_care_sender_leaves_relay_posts_to_the_relay(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (mei,) = await _customers(sessions, store_config, 1)
    await _queue(sessions, store_id, mei, PostKind.TEXT, _text(1), key="relay:1:1")
    async with transaction(sessions) as session:
        claim = await claim_outbox_batch(
            session,
            store_id=store_id,
            store=store_config,
            tz=TAIPEI,
            owner="care",
            now=NOW,
            limit=10,
            default_locale="zh-Hant",
        )
    assert claim.rows == [] and not any(claim.settled.values())
    assert isinstance(await _claim(sessions), QueuedPost)


async def test_writing_to_the_store_after_a_care_message_counts_as_replying_to_it(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, (mei,) = await _customers(sessions, store_config, 1)
    async with transaction(sessions) as session:
        for kind, days_ago in (("maintenance", 20), ("insurance", 2)):
            session.add(
                Outbox(
                    store_id=store_id,
                    customer_id=mei,
                    kind=kind,
                    idempotency_key=f"{kind}:{mei}",
                    template=f"care_{kind}",
                    payload={},
                    due_at=NOW - dt.timedelta(days=days_ago),
                    sent_at=NOW - dt.timedelta(days=days_ago),
                    status=OutboxStatus.SENT,
                )
            )
    async with transaction(sessions) as session:
        await mark_care_replied(session, mei, NOW, dt.timedelta(days=7))
    async with sessions() as session:
        replied = dict((await session.execute(select(Outbox.kind, Outbox.replied_at))).all())
    assert replied == {"maintenance": None, "insurance": NOW}


def test_topic_names_fit_telegrams_limit() -> None:
    assert topic_name(7, "Mei Lin", ["ABC-1234"]) == "Mei Lin · ABC-1234"
    assert topic_name(7, None, []) == "#7"
    assert len(topic_name(7, "名" * 300, ["ABC-1234"])) == 128


# --- pacing --------------------------------------------------------------------------------------


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


async def test_the_pacer_keeps_twenty_posts_a_minute_after_a_short_burst() -> None:
    clock = StepClock()
    pacer = GroupPacer(per_minute=20, gap=1.0, burst=3, clock=clock)
    times = []
    for _ in range(45):
        await pacer.take(GROUP)
        times.append(clock.t)
    assert times[:4] == [0.0, 0.0, 0.0, 1.0]  # three at once, then one a second
    assert times[19] == 17.0
    assert 60.0 <= times[20] < 60.1  # the 21st waits for the first to leave the minute
    for n in range(20, 45):
        assert times[n] - times[n - 20] >= 60.0
    # Other groups have their own budget.
    assert pacer.delay(OTHER_GROUP) == 0


async def test_an_album_uses_several_posts_and_retry_after_holds_the_group() -> None:
    clock = StepClock()
    pacer = GroupPacer(per_minute=20, gap=1.0, burst=3, clock=clock)
    await pacer.take(GROUP, 5)
    assert pacer.delay(GROUP) == pytest.approx(3.0)  # the bucket is 2 in debt
    pacer.hold(OTHER_GROUP, 30)
    assert pacer.delay(OTHER_GROUP) == 30
    assert not pacer.try_take(OTHER_GROUP)


async def test_other_group_posts_wait_their_turn_and_queue_posts_handle_their_own_429() -> None:
    clock = StepClock()
    pacer = GroupPacer(per_minute=2, gap=0, burst=3, clock=clock)
    limiter = PacedRateLimiter(pacer, max_retries=3)
    calls: list[str] = []

    async def send(name: str) -> dict[str, Any]:
        calls.append(name)
        return {"ok": True}

    data = {"chat_id": GROUP, "text": "hi"}
    for name in ("a", "b", "c"):
        await limiter.process_request(send, (name,), {}, "sendMessage", data, None)
    assert calls == ["a", "b", "c"] and clock.t >= 60  # the third waited for the minute

    async def refused() -> dict[str, Any]:
        raise RetryAfter(7)

    with pytest.raises(RetryAfter):
        await limiter.process_request(refused, (), {}, "sendMessage", data, PACED)


# --- opening hours and settings ---------------------------------------------------------------


def test_next_opening_skips_lunch_evenings_sundays_and_closed_dates(
    store_config: StoreConfig,
) -> None:
    def at(*parts: int) -> dt.datetime:
        return dt.datetime(*parts, tzinfo=TAIPEI)

    assert is_open(store_config, at(2026, 12, 1, 9, 0), TAIPEI)  # Tuesday morning
    assert not is_open(store_config, at(2026, 12, 1, 12, 30), TAIPEI)  # lunch
    assert next_opening(store_config, at(2026, 12, 1, 12, 30), TAIPEI) == at(2026, 12, 1, 13, 0)
    assert next_opening(store_config, at(2026, 12, 5, 12, 30), TAIPEI) == at(2026, 12, 7, 8, 30)
    # 2027-01-01 is a closed Friday; Saturday opens at 09:00.
    assert next_opening(store_config, at(2026, 12, 31, 18, 0), TAIPEI) == at(2027, 1, 2, 9, 0)


def test_advisor_chat_id_takes_one_group_or_a_comma_separated_list() -> None:
    one = load_settings(_env_file=None, advisor_chat_id="-100111")
    assert (one.advisor_chat_id, one.advisor_chat_ids) == (-100111, (-100111,))
    several = load_settings(_env_file=None, advisor_chat_id="-100111, -100222")
    assert (several.advisor_chat_id, several.advisor_chat_ids) == (-100111, (-100111, -100222))
    none = load_settings(_env_file=None, advisor_chat_id="")
    assert (none.advisor_chat_id, none.advisor_chat_ids) == (None, ())
    with pytest.raises(SetupError, match="ADVISOR_CHAT_ID"):
        load_settings(_env_file=None, advisor_chat_id="-100111,advisors")
