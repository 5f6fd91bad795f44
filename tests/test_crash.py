"""`carebot run` killed with SIGKILL mid-delivery and started again: nothing is lost.

The bot runs as a real process against the sandbox over HTTP. Care messages wait in the outbox
(inserted directly, as the planner would); the bot's send tick drains them. Killed in the middle,
the rows it had claimed keep their lease until it runs out and are then sent by the next process:
a message arrives twice only if it was in flight at the kill. Customers who write while the bot
is down are heard by the next process, whose relay queue also picks up what the first one left.
"""

import asyncio
import datetime as dt
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bot.advisor_albums import TEMPLATE as ADVISOR_ALBUM
from bot.db import make_engine, make_sessionmaker, transaction
from bot.models import Customer, Outbox, OutboxStatus
from bot.relay_queue import KIND as RELAY
from bot.sandbox import Sandbox, SandboxServer, User, serve_http
from bot.store_config import load_store_config
from bot.stores import sync_store
from tests.conftest import ROOT
from tests.test_run_process import RunningBot, carebot_run, free_port

pytestmark = pytest.mark.slow

QUEUED = 1_000
KILL_AFTER = 300
LEASE_SECONDS = 10


def _store_file(tmp_path: Path) -> Path:
    """The example store with short leases and ticks, open around the clock, fast group posts."""
    data = yaml.safe_load((ROOT / "store.example.yaml").read_text(encoding="utf-8"))
    data["care"].setdefault("delivery", {}).update(
        {"lease_seconds": LEASE_SECONDS, "messages_per_second": 30, "per_chat_seconds": 0}
    )
    data["care"].setdefault("schedule", {}).update({"send_every_seconds": 1})
    data["opening_hours"] = dict.fromkeys(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-23:59"
    )
    data.setdefault("relay", {}).update(
        {
            "group_posts_per_minute": 60,
            "group_burst": 20,
            "group_post_gap_seconds": 0,
            "merge_seconds": 0,
            "order_hold_seconds": 0,
            "lease_seconds": LEASE_SECONDS,
        }
    )
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
async def http_sandbox(api_spec: Path | None) -> AsyncIterator[tuple[Sandbox, SandboxServer]]:
    # No flood limits: the bot paces itself, and the figures are about the crash.
    sandbox = Sandbox(spec_path=api_spec, limits=None)
    server = await serve_http(sandbox)
    try:
        yield sandbox, server
    finally:
        await server.stop()
        await sandbox.aclose()
    assert sandbox.violations == []


async def _prepare(database_url: str, store_file: Path, users: list[User], signed_up: bool) -> int:
    """The store, a customer per user, and (for care) one due message each; the store id."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    config = load_store_config(store_file)
    try:
        async with transaction(sessions) as session:
            store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=None)
            now = dt.datetime.now(dt.UTC)
            customers = [
                Customer(
                    store_id=store.id,
                    name=user.first_name,
                    telegram_user_id=user.id,
                    phone=f"+88691{n:07d}" if signed_up else None,
                    locale="en",
                    reachable=True,
                )
                for n, user in enumerate(users)
            ]
            session.add_all(customers)
            await session.flush()
            if not signed_up:
                session.add_all(
                    Outbox(
                        store_id=store.id,
                        customer_id=customer.id,
                        kind="new_car_thanks",
                        idempotency_key=f"crash:{customer.id}",
                        marketing=False,
                        template="care_new_car_thanks",
                        payload={"vehicle_id": n, "plate": f"ABC-{n:04d}", "brand": "Toyota"},
                        due_at=now - dt.timedelta(minutes=1),
                    )
                    for n, customer in enumerate(customers)
                )
            return store.id
    finally:
        await engine.dispose()


async def _advisors_and_customers(
    tmp_path: Path, database_url: str, sandbox: Sandbox, customers: int
) -> tuple[User, int, list[User], dict[str, str]]:
    """An advisor in a forum, signed-up customers, and the bot's environment for them."""
    store_file = _store_file(tmp_path)
    advisor = sandbox.add_user("Chen", language_code="zh-hant")
    forum = sandbox.add_forum("Service advisors", members=[advisor])
    users = [sandbox.add_user(f"Owner{n}", language_code="en") for n in range(customers)]
    await _prepare(database_url, store_file, users, signed_up=True)
    env = {
        "DATABASE_URL": database_url,
        "CAREBOT_STORE_FILE": str(store_file),
        "ADVISOR_CHAT_ID": str(forum),
    }
    return advisor, forum, users, env


async def _outbox_counts(database_url: str, kind: str | None = None) -> Counter[str]:
    """Outbox rows by state; "in flight" are pending rows under a live lease."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            query = select(Outbox.status, Outbox.lease_expires_at, func.count()).group_by(
                Outbox.status, Outbox.lease_expires_at
            )
            if kind is not None:
                query = query.where(Outbox.kind == kind)
            counts: Counter[str] = Counter()
            now = dt.datetime.now(dt.UTC)
            for status, lease, count in await session.execute(query):
                leased = status == OutboxStatus.PENDING and lease is not None and lease > now
                counts["in flight" if leased else status.value] += count
            return counts
    finally:
        await engine.dispose()


async def _kill(bot: RunningBot) -> None:
    bot.process.kill()
    await bot.stop(signal.SIGKILL)


async def test_a_bot_killed_mid_broadcast_delivers_every_message_after_a_restart(
    tmp_path: Path, database_url: str, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    store_file = _store_file(tmp_path)
    users = [sandbox.add_user(f"Owner{n}", language_code="en") for n in range(QUEUED)]
    await _prepare(database_url, store_file, users, signed_up=False)
    env = {"DATABASE_URL": database_url, "CAREBOT_STORE_FILE": str(store_file)}

    def sent() -> int:
        return sum(1 for r in sandbox.calls("sendMessage") if r.status == 200)

    async with carebot_run(tmp_path, server, **env) as bot:
        await sandbox.wait_for(lambda: sent() >= KILL_AFTER, timeout=90)
        await _kill(bot)
    at_kill = await _outbox_counts(database_url)
    sent_at_kill = sent()

    async with carebot_run(tmp_path, server, **env) as bot:
        async with asyncio.timeout(120):
            while True:
                if (await _outbox_counts(database_url))["sent"] >= QUEUED:
                    break
                await asyncio.sleep(0.5)
        assert await bot.stop() == 0, bot.text
    assert "Traceback" not in bot.text

    received = Counter({u.id: len(sandbox.messages(u.id, from_bot=True)) for u in users})
    duplicates = sum(count - 1 for count in received.values() if count > 1)
    lost = sum(1 for count in received.values() if count == 0)
    in_flight = at_kill["in flight"]
    print(
        f"\ncare crash: queued {QUEUED}, sent before the kill {sent_at_kill}, in flight at the "
        f"kill {in_flight}, delivered {QUEUED - lost}, duplicated {duplicates}, lost {lost}"
    )
    assert lost == 0
    assert duplicates <= in_flight
    assert 0 < at_kill["sent"] < QUEUED, "the kill came mid-delivery"


async def test_customers_writing_while_the_bot_is_killed_all_reach_the_advisors(
    tmp_path: Path, database_url: str, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    _, forum, customers, env = await _advisors_and_customers(tmp_path, database_url, sandbox, 4)
    written: list[str] = []

    def write(rounds: range) -> None:
        for n in rounds:
            for user in customers:
                text = f"message {n} from {user.first_name}"
                sandbox.send_text(user, text)
                written.append(text)

    def in_group() -> Counter[str]:
        return Counter(
            line
            for message in sandbox.messages(forum)
            for line in (message.text or "").splitlines()
            if line.startswith("message ")
        )

    async with carebot_run(tmp_path, server, **env) as bot:
        await bot.wait_for_output("polling")
        write(range(3))
        try:
            await sandbox.wait_for(lambda: sum(in_group().values()) >= 4, timeout=120)
        except TimeoutError:
            raise AssertionError(f"nothing relayed before the kill:\n{bot.text}") from None
        await _kill(bot)
    at_kill = await _outbox_counts(database_url, RELAY)
    # While the bot is down the customers keep writing: their updates wait at Telegram.
    write(range(3, 6))
    waiting = len(sandbox.pending_updates())

    async with carebot_run(tmp_path, server, **env) as bot:
        # The post in flight at the kill holds its group until its lease runs out.
        try:
            await sandbox.wait_for(lambda: all(in_group()[text] for text in written), timeout=120)
        except TimeoutError:
            missing = [text for text in written if not in_group()[text]]
            raise AssertionError(f"not relayed after the restart: {missing}\n{bot.text}") from None
        assert await bot.stop() == 0, bot.text
    assert "Traceback" not in bot.text

    seen = in_group()
    duplicates = sum(count - 1 for count in seen.values() if count > 1)
    lost = [text for text in written if not seen[text]]
    in_flight = at_kill["in flight"]
    print(
        f"\nrelay crash: written {len(written)}, updates waiting at the restart {waiting}, "
        f"posts in flight at the kill {in_flight}, delivered {len(written) - len(lost)}, "
        f"duplicated {duplicates}, lost {len(lost)}"
    )
    assert lost == []
    assert duplicates <= in_flight


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_updates_received_but_not_yet_handled_at_a_kill_are_handled_after_the_restart(
    tmp_path: Path, database_url: str, http_sandbox: tuple[Sandbox, SandboxServer], mode: str
) -> None:
    sandbox, server = http_sandbox
    store_file = _store_file(tmp_path)
    owners = [sandbox.add_user(f"Owner{n}", language_code="en") for n in range(40)]
    env = {"DATABASE_URL": database_url, "CAREBOT_STORE_FILE": str(store_file)}
    ready = "polling"
    if mode == "webhook":
        port = free_port()
        env |= {
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/carebot/hook",
            "WEBHOOK_SECRET": "crash-test-secret",
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
        }
        ready = "serving webhook"

    def answered() -> set[int]:
        return {o.id for o in owners if sandbox.messages(o.id, from_bot=True)}

    async with carebot_run(tmp_path, server, **env) as bot:
        await bot.wait_for_output(ready)
        for owner in owners:
            sandbox.send_text(owner, "/start")
        # Forty updates reach the bot at once and it answers them one by one: kill it between.
        await sandbox.wait_for(lambda: len(answered()) >= 3, timeout=60)
        await _kill(bot)
    waiting = {update["message"]["from"]["id"] for update in sandbox.pending_updates()}
    at_kill = answered()
    # Telegram let go only of what the bot had handled.
    dropped_unanswered = [o.first_name for o in owners if o.id not in at_kill | waiting]
    print(
        f"\n{mode}, updates at the kill: answered {len(at_kill)}, still at Telegram "
        f"{len(waiting)}, dropped unanswered {len(dropped_unanswered)}"
    )
    assert dropped_unanswered == []
    assert len(at_kill) < len(owners), "the kill came before every owner was answered"

    async with carebot_run(tmp_path, server, **env) as bot:
        await sandbox.wait_for(lambda: len(answered()) == len(owners), timeout=120)
        assert await bot.stop() == 0, bot.text
    assert "Traceback" not in bot.text


async def test_an_advisors_album_caught_by_a_kill_reaches_the_customer_once_after_the_restart(
    tmp_path: Path, database_url: str, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    advisor, forum, [owner], env = await _advisors_and_customers(tmp_path, database_url, sandbox, 1)

    async def album_rows() -> int:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                query = select(func.count()).where(Outbox.template == ADVISOR_ALBUM)
                return int(await session.scalar(query) or 0)
        finally:
            await engine.dispose()

    async with carebot_run(tmp_path, server, **env) as bot:
        await bot.wait_for_output("polling")
        sandbox.send_text(owner, "photos of the brakes, please")
        await sandbox.wait_for(lambda: sandbox.topics(forum), timeout=60)
        topic = sandbox.topics(forum)[0].thread_id
        sandbox.send_album(advisor, [b"\xff\xd8a", b"\xff\xd8b"], chat_id=forum, thread_id=topic)
        # Killed while the album waits for its last item, before it has gone.
        async with asyncio.timeout(30):
            while True:
                if await album_rows() == 2:
                    break
                await asyncio.sleep(0.02)
        await _kill(bot)
    assert sandbox.messages(owner.id, from_bot=True) == []

    async with carebot_run(tmp_path, server, **env) as bot:
        await sandbox.wait_for(lambda: sandbox.messages(owner.id, from_bot=True), timeout=60)
        await asyncio.sleep(2)
        assert await bot.stop() == 0, bot.text
    received = sandbox.messages(owner.id, from_bot=True)
    assert len(received) == 2
    assert received[0].media_group_id and received[0].media_group_id == received[1].media_group_id
