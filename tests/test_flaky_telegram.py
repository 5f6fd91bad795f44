"""A flaky Telegram: 5xx answers, requests held until the client times out, answers dropped.

The sandbox's faults decide each request's fate: a 5xx or a held request is not processed, a
dropped one is processed but its answer never arrives. A care broadcast and a relay burst must
still deliver everything, retry a bounded number of times, and duplicate a message only where
Telegram took it and the answer was lost: the one case a sender cannot tell from a failure.
"""

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData

from bot.db import transaction
from bot.models import Outbox, OutboxStatus
from bot.relay_queue import pending_posts
from bot.render import Renderer
from bot.sandbox import Faults, Sandbox, SandboxRequest, User
from bot.store_config import StoreConfig
from scheduler.delivery import Deliverer
from tests.care_world import TAIPEI, add_customer, make_store, store_with
from tests.conftest import harness_settings
from tests.harness import Harness
from tests.relay_steps import relay_store, relayed, signed_up_customer

Sessions = async_sessionmaker[AsyncSession]
TOKEN = "5550003:flaky-telegram-sandbox-token-for-tests"
BROADCAST = 150
MAX_ATTEMPTS = 10
# A Wednesday morning in Taipei, inside the messaging hours.
MORNING = dt.datetime(2026, 5, 6, 10, 0, tzinfo=TAIPEI)


def flaky(seed: int, methods: set[str]) -> Faults:
    return Faults(
        server_errors=0.12,
        held=0.05,
        dropped=0.08,
        methods=frozenset(methods),
        hold_seconds=0.2,
        seed=seed,
    )


class SteppedClock:
    """Real time from a chosen start, moved forward between drains so backoffs pass at once."""

    def __init__(self, start: dt.datetime) -> None:
        self.start, self.began, self.offset = start, time.monotonic(), dt.timedelta()

    def __call__(self) -> dt.datetime:
        elapsed = dt.timedelta(seconds=time.monotonic() - self.began)
        return (self.start + self.offset + elapsed).astimezone(dt.UTC)

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


class WatchedRequest(SandboxRequest):
    """The bot's transport, noting the chat of every request whose answer was dropped."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox, read_timeout=0.5)
        self.lost_answers: Counter[int] = Counter()

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        try:
            return await super().do_request(url, method, request_data, **kwargs)
        except TimedOut:
            raise
        except NetworkError:
            values = dict(request_data.json_parameters) if request_data else {}
            self.lost_answers[int(values.get("chat_id", 0))] += 1
            raise


@pytest.fixture
async def flaky_sandbox() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(limits=None, token=TOKEN, faults=flaky(seed=8, methods={"sendmessage"}))
    yield sandbox
    await sandbox.aclose()
    assert sandbox.violations == []


async def test_a_broadcast_through_a_flaky_telegram_arrives_whole_with_only_explained_duplicates(
    sessions: Sessions, store_config: StoreConfig, flaky_sandbox: Sandbox
) -> None:
    sandbox = flaky_sandbox
    config = store_with(
        store_config,
        delivery={
            "backoff_seconds": 1,
            "per_chat_seconds": 0,
            "max_attempts": MAX_ATTEMPTS,
            "messages_per_second": 30,
        },
    )
    store_id = await make_store(sessions, config)
    users: dict[int, User] = {}
    async with transaction(sessions) as session:
        for n in range(BROADCAST):
            user = sandbox.add_user(f"Owner {n}")
            customer = await add_customer(session, store_id, name=f"Owner {n}")
            customer.telegram_user_id = user.id
            users[user.id] = user
            session.add(
                Outbox(
                    store_id=store_id,
                    customer_id=customer.id,
                    kind="new_car_thanks",
                    idempotency_key=f"broadcast:{n}",
                    marketing=False,
                    template="care_new_car_thanks",
                    payload={"vehicle_id": n, "plate": f"ABC-{n:04d}", "brand": "Toyota"},
                    due_at=MORNING,
                )
            )
    clock = SteppedClock(MORNING)
    request = WatchedRequest(sandbox)
    deliverer = Deliverer(
        sessions,
        Bot(TOKEN, request=request),
        Renderer(),
        store_id=store_id,
        store=config,
        tz=TAIPEI,
        default_locale="en",
        clock=clock,
    )
    outcomes: Counter[str] = Counter()
    for _ in range(MAX_ATTEMPTS + 2):
        outcomes.update((await deliverer.drain()).outcomes)
        clock.advance(2 ** (MAX_ATTEMPTS + 1))

    async with sessions() as session:
        rows = list(await session.scalars(select(Outbox)))
    received = Counter(
        {user_id: len(sandbox.messages(user_id, from_bot=True)) for user_id in users}
    )
    faults = sandbox.faults.counts
    duplicates = sum(count - 1 for count in received.values() if count > 1)
    lost = sum(1 for count in received.values() if count == 0)
    print(
        f"\nbroadcast: queued {BROADCAST}, delivered {BROADCAST - lost}, duplicated {duplicates}, "
        f"lost {lost}; sendMessage processed {len(sandbox.calls('sendMessage'))}, "
        f"retried {outcomes['retried']}; faults 5xx {faults['error']}, held {faults['hold']}, "
        f"dropped {faults['drop']}"
    )
    assert lost == 0
    assert all(row.status == OutboxStatus.SENT for row in rows)
    assert max(row.attempts for row in rows) <= MAX_ATTEMPTS
    assert len(sandbox.calls("sendMessage")) <= BROADCAST * MAX_ATTEMPTS
    assert faults["error"] and faults["hold"] and faults["drop"], "every kind of fault happened"
    # Each duplicate is a send whose answer was dropped, in that very chat.
    for chat_id, count in received.items():
        assert count - 1 <= request.lost_answers[chat_id], chat_id
    assert duplicates <= faults["drop"]


# --- the relay --------------------------------------------------------------------------------


class FastClock:
    """The relay pacer's clock at fifty times real time (its retry pauses shrink alike)."""

    def now(self) -> float:
        return time.monotonic() * 50

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / 50)


@asynccontextmanager
async def faulty_relay(database_url: str, store: StoreConfig) -> AsyncIterator[Harness]:
    """The bot with an advisor forum, on a sandbox whose faults each test sets."""
    sandbox = Sandbox(limits=None)
    sandbox.add_bot("5550001:carebot-sandbox-token-for-tests", username="carebot_test_bot")
    advisor = sandbox.add_user("Chen", language_code="zh-hant", username="advisor_chen")
    forum = sandbox.add_forum("Service advisors", members=[advisor])
    harness = Harness(
        sandbox=sandbox,
        settings=harness_settings(database_url, forum),
        store=store,
        advisor_chat_id=forum,
        advisor=advisor,
        pacer_clock=FastClock(),
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        await sandbox.aclose()
    assert sandbox.violations == []


@pytest.fixture
async def relay(database_url: str, store_config: StoreConfig) -> AsyncIterator[Harness]:
    async with faulty_relay(database_url, relay_store(store_config, merge_seconds=0)) as harness:
        yield harness


async def test_a_relay_burst_through_a_flaky_telegram_reaches_the_advisors_whole(
    relay: Harness,
) -> None:
    sandbox = relay.sandbox
    customers = [
        await signed_up_customer(relay, name=f"Owner{n}", plate=f"ABC-{n:04d}") for n in range(6)
    ]
    # From here on the posts into the advisor group meet the faults; the customers' chats
    # are not touched (the bot says nothing to them while relaying).
    sandbox.faults = flaky(seed=3, methods={"sendmessage", "copymessage", "createforumtopic"})
    written = [f"burst {n} from {user.first_name}" for n in range(8) for user in customers]
    for n in range(8):
        for user in customers:
            sandbox.send_text(user, f"burst {n} from {user.first_name}")
        await relay.deliver()

    async def drained() -> bool:
        async with relay.sessions() as session:
            return await pending_posts(session) == 0

    async with asyncio.timeout(60):
        while True:
            if await drained():
                break
            await asyncio.sleep(0.05)
    await relay.deliver()

    in_group = Counter(
        line
        for message in sandbox.messages(relay.advisor_chat_id)
        for line in (message.text or "").splitlines()
        if line.startswith("burst ")
    )
    faults = sandbox.faults.counts
    duplicates = sum(count - 1 for count in in_group.values() if count > 1)
    lost = [text for text in written if in_group[text] == 0]
    topics = len(sandbox.topics(relay.advisor_chat_id))
    print(
        f"\nrelay burst: written {len(written)}, delivered {len(written) - len(lost)}, "
        f"duplicated {duplicates}, lost {len(lost)}, topics {topics} for {len(customers)} "
        f"customers; faults 5xx {faults['error']}, held {faults['hold']}, "
        f"dropped {faults['drop']}"
    )
    assert lost == []
    assert faults["error"] and faults["drop"], "the faults happened"
    # A duplicate post or a spare topic each needs an answer Telegram dropped.
    assert duplicates + (topics - len(customers)) <= faults["drop"]


async def test_a_group_post_telegram_keeps_failing_is_tried_a_bounded_number_of_times_then_waits(
    database_url: str, store_config: StoreConfig
) -> None:
    store = relay_store(store_config, merge_seconds=0, network_tries=3, retry_later_seconds=5)
    async with faulty_relay(database_url, store) as harness:
        sandbox, forum = harness.sandbox, harness.advisor_chat_id
        owner = await signed_up_customer(harness, name="Owner", plate="ABC-0001")

        def group_posts() -> list[str]:
            return [
                line
                for message in sandbox.messages(forum)
                for line in (message.text or "").splitlines()
                if line.startswith("note ")
            ]

        def posted() -> int:
            return sum(1 for r in sandbox.calls("sendMessage") if int(r.params["chat_id"]) == forum)

        before = posted()
        # Telegram answers every post into the group with a 502 from here on.
        sandbox.faults = Faults(server_errors=1.0, methods=frozenset({"sendmessage"}))
        sandbox.send_text(owner, "note 1")
        sandbox.send_text(owner, "note 2")
        await harness.deliver()
        async with asyncio.timeout(10):
            while True:
                if sandbox.faults.counts["error"] >= 3:
                    break
                await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        async with harness.sessions() as session:
            rows = (
                await session.scalars(
                    select(Outbox).where(Outbox.kind == "relay").order_by(Outbox.id)
                )
            ).all()
        # Three tries, then the first note waits at the head of the queue, the second behind it.
        assert sandbox.faults.counts["error"] == 3
        assert posted() == before
        assert [row.status for row in rows[-2:]] == [OutboxStatus.PENDING] * 2
        assert (rows[-2].error or "").startswith("network")
        assert rows[-2].due_at > dt.datetime.now(dt.UTC)
        assert group_posts() == []

        sandbox.faults = Faults()
        await relayed(harness, within=15)
        assert group_posts() == ["note 1", "note 2"]
        # Each went once: the card that opens the topic, and the two notes.
        assert posted() - before == 3
