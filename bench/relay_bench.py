"""A burst of customers at the advisor groups, against a sandbox that enforces Telegram's limits.

    .venv/bin/python bench/relay_bench.py [--customers 300] [--messages 2] [--groups 4]
        [--speed 6] [--postgres postgresql+asyncpg://USER@HOST/DB]

The whole application runs (handlers, the relay queue in the database, the group senders)
against the in-process sandbox with its flood limits on: 20 posts a minute per group, about one
a second per chat after a burst of 3, 30 a second overall. Every customer (signed up, one car)
writes `--messages` short texts at once; the updates are fed to the bot in order, as polling
would. It prints:
- messages relayed and lost (every customer text must be in its customer's topic);
- 429 answers the sandbox gave;
- per-customer order violations (a customer's texts out of order in their topic);
- posts made per group (cards included; texts a customer sent within seconds share a post);
- the time from the burst to the last post, as a ratio of the physical bound: the earliest
  moment the busiest group could have received that many posts under the sandbox's limits.

Time is simulated: the sandbox and the relay's pacer read one clock that runs `--speed` times
faster than real time, so a 20-a-minute limit costs seconds, not minutes. Keep speed x groups
under 30 or PTB's own overall limit (30 requests per real second) starts to pace the posts;
`--speed 1 --groups 15` is a real-time run. The database is a fresh SQLite file, or the empty
PostgreSQL database given (its schema is created there).
"""

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from telegram import Update

from bot.app import build_application
from bot.config import load_settings
from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema
from bot.models import AdvisorThread, Customer, Vehicle
from bot.relay_queue import pending_posts
from bot.sandbox import Limits, Sandbox, SandboxRequest
from bot.sandbox.limits import COUNTED_METHODS
from bot.store_config import StoreConfig, load_store_config
from bot.stores import sync_store

TOKEN = "5550001:carebot-relay-benchmark-token"
LIMITS = Limits()


class ScaledClock:
    """Simulated seconds: `speed` of them pass in each real second."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


def earliest_last_post(posts: int, limits: Limits) -> float:
    """When the last of `posts` could go at best, the first going at 0: a bucket of
    `per_chat_burst` refilled at `per_chat_per_second`, and `group_per_minute` in any minute."""
    rate, burst, per_minute = (
        limits.per_chat_per_second,
        limits.per_chat_burst,
        limits.group_per_minute,
    )
    tokens, stamp, at = float(burst), 0.0, 0.0
    sent: list[float] = []
    for _ in range(posts):
        available = min(burst, tokens + (at - stamp) * rate)
        if available < 1:
            at += (1 - available) / rate
        if len(sent) >= per_minute:
            at = max(at, sent[-per_minute] + 60)
        tokens, stamp = min(burst, tokens + (at - stamp) * rate) - 1, at
        sent.append(at)
    return at


def _store(base: StoreConfig) -> StoreConfig:
    # Open around the clock: the figures are about the group posts, not out-of-hours answers.
    data = base.model_dump(by_alias=True)
    data["opening_hours"] = dict.fromkeys(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-23:59"
    )
    return StoreConfig.model_validate(data)


async def _customers(url: str, store: StoreConfig, users: list[int]) -> None:
    engine = make_engine(url)
    await upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        row = await sync_store(session, store, timezone="Asia/Taipei", advisor_chat_id=None)
        customers = [
            Customer(
                store_id=row.id,
                name=f"Owner {n}",
                phone=f"+8869{n:08d}",
                telegram_user_id=user_id,
                locale="zh-Hant",
                reachable=True,
                marketing_consent=False,
                privacy_accepted_at=dt.datetime.now(dt.UTC),
            )
            for n, user_id in enumerate(users)
        ]
        session.add_all(customers)
        await session.flush()
        session.add_all(
            Vehicle(store_id=row.id, customer_id=c.id, plate=f"BEN-{n:04d}")
            for n, c in enumerate(customers)
        )
    await engine.dispose()


async def run(args: argparse.Namespace) -> None:
    clock = ScaledClock(args.speed)
    sandbox = Sandbox(limits=LIMITS, clock=clock.now)
    sandbox.add_bot(TOKEN, username="carebot_bench_bot")
    advisor = sandbox.add_user("Chen")
    groups = [sandbox.add_forum(f"Advisors {n + 1}", members=[advisor]) for n in range(args.groups)]
    users = [sandbox.add_user(f"Owner{n}") for n in range(args.customers)]
    store = _store(load_store_config(None))
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite+aiosqlite:///{Path(folder) / 'relay.db'}"
        await _customers(url, store, [u.id for u in users])
        settings = load_settings(
            _env_file=None,
            telegram_bot_token=TOKEN,
            database_url=url,
            advisor_chat_id=",".join(str(g) for g in groups),
        )
        application = build_application(
            settings,
            store,
            request=SandboxRequest(sandbox),
            get_updates_request=SandboxRequest(sandbox),
            clock=clock,
        )
        await application.initialize()
        assert application.post_init is not None
        await application.post_init(application)
        await application.start()
        carebot = application.bot_data.carebot
        assert carebot is not None and carebot.relay is not None
        try:
            before = len(sandbox.requests)
            started, real_started = clock.now(), time.monotonic()
            for user in users:
                for n in range(args.messages):
                    sandbox.send_text(user, f"{user.first_name} says {n + 1}")
            for data in sandbox.take_updates():
                await application.process_update(Update.de_json(data, application.bot))
            fed = clock.now() - started
            while True:
                async with carebot.sessions() as session:
                    if await pending_posts(session) == 0:
                        break
                await asyncio.sleep(0.02)
            elapsed = clock.now() - started
            real = time.monotonic() - real_started
            async with carebot.sessions() as session:
                threads = {t.customer_id: t for t in await session.scalars(select(AdvisorThread))}
                customers = {
                    c.telegram_user_id: c.id for c in await session.scalars(select(Customer))
                }
        finally:
            await application.stop()
            await application.shutdown()
            assert application.post_shutdown is not None
            await application.post_shutdown(application)

    relayed = lost = violations = 0
    for user in users:
        expected = [f"{user.first_name} says {n + 1}" for n in range(args.messages)]
        thread = threads.get(customers[user.id])
        lines: list[str] = []
        if thread is not None and thread.topic_id is not None:
            posts = [
                m for m in sandbox.messages(thread.chat_id, thread_id=thread.topic_id) if m.from_bot
            ]
            for post in posts[1:]:  # the first is the customer card
                lines += (post.text or "").split("\n")
        found = [line for line in lines if line in expected]
        relayed += len(set(found))
        lost += len(set(expected) - set(found))
        violations += found != expected and set(found) == set(expected)
    per_group: Counter[int] = Counter()
    for record in sandbox.requests[before:]:
        if record.method.lower() in COUNTED_METHODS and record.status == 200:
            per_group[int(record.params["chat_id"])] += 1
    busiest = max(per_group.values())
    bound = earliest_last_post(busiest, LIMITS)
    unmerged = earliest_last_post(-(-args.customers // args.groups) * (1 + args.messages), LIMITS)
    total = args.customers * args.messages
    print(f"relay burst: {args.customers} customers x {args.messages} messages = {total}")
    print(
        f"groups: {args.groups}, sandbox limits: {LIMITS.group_per_minute}/min per group, "
        f"{LIMITS.per_chat_per_second}/s per chat after {LIMITS.per_chat_burst}, "
        f"{LIMITS.global_per_second}/s overall"
    )
    print(f"simulated clock: {args.speed:g}x real time ({real:.1f} s real)")
    print(f"messages relayed: {relayed}")
    print(f"lost: {lost}")
    print(f"429 answers received: {sandbox.rate_limited}")
    print(f"per-customer order violations: {violations}")
    print(f"posts per group: {sorted(per_group.values())} (cards included)")
    print(f"updates fed in: {fed:.0f} s simulated")
    print(f"time to the last post: {elapsed:.0f} s simulated")
    print(f"physical bound for {busiest} posts in one group: {bound:.0f} s")
    print(f"ratio to the bound: {elapsed / bound:.2f} (target 1.2 or less)")
    print(
        f"(a post per message, no merging, would need {unmerged:.0f} s: "
        f"ratio {elapsed / unmerged:.2f} of that bound)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--speed", type=float, default=6.0)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
