"""Delivery of 3,000 messages through the Bot API sandbox over real HTTP, within Telegram's limits.

    .venv/bin/python bench/delivery_bench.py [--messages 3000] [--postgres URL] [--no-sqlite]

The sandbox (this process) enforces Telegram's limits: 30 messages a second overall, about one
a second per chat (bursts of 3). 1,500 owners get 2 messages each. Senders run as separate
processes (`carebot care send` does the same work): one sender on SQLite, one on PostgreSQL, and
two at once sharing PostgreSQL. Printed per scenario: the achieved rate measured where the
messages arrive, as a share of the 30/s limit (target 0.95 or more), the 429 answers (target 0),
and messages sent twice or never (target 0 each).
"""

import argparse
import asyncio
import datetime as dt
import gc
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema  # noqa: E402
from bot.models import Customer, Outbox  # noqa: E402
from bot.render import Renderer  # noqa: E402
from bot.sandbox import Limits, Sandbox, serve_http  # noqa: E402
from bot.sandbox.calls import Answer  # noqa: E402
from bot.store_config import load_store_config  # noqa: E402
from bot.stores import sync_store  # noqa: E402
from scheduler.delivery import Deliverer  # noqa: E402

TOKEN = "5550003:care-delivery-bench-token-0123456789"
TZ = ZoneInfo("Asia/Taipei")
LIMIT = Limits()
OUT = ROOT / "bench" / "out"
PER_OWNER = 2


# --- the sender process -------------------------------------------------------------------------


async def send_all(url: str, base_url: str) -> dict[str, Any]:
    store = load_store_config(None)
    engine = make_engine(url)
    request = HTTPXRequest(connection_pool_size=64, read_timeout=20, pool_timeout=20)
    bot = Bot(TOKEN, base_url=base_url, request=request)
    deliverer = Deliverer(
        make_sessionmaker(engine),
        bot,
        Renderer(),
        store_id=1,
        store=store,
        tz=TZ,
        default_locale="zh-Hant",
    )
    started = time.perf_counter()
    report = await deliverer.drain()
    seconds = time.perf_counter() - started
    await bot.shutdown()
    await engine.dispose()
    return {"seconds": seconds, "outcomes": dict(report.outcomes)}


# --- one scenario -------------------------------------------------------------------------------


async def fill(url: str, owners: list[int]) -> None:
    engine = make_engine(url)
    await upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    async with transaction(sessions) as session:
        await sync_store(session, load_store_config(None), timezone=str(TZ), advisor_chat_id=None)
        await session.execute(
            insert(Customer),
            [
                {
                    "store_id": 1,
                    "name": f"Owner {n}",
                    "telegram_user_id": user,
                    "locale": "en",
                    "marketing_consent": True,
                    "reachable": True,
                }
                for n, user in enumerate(owners)
            ],
        )
        ids = list(await session.scalars(select(Customer.id).order_by(Customer.id)))
        rows = [
            {
                "store_id": 1,
                "customer_id": customer,
                "kind": "new_car_thanks",
                "idempotency_key": f"bench:{customer}:{n}",
                "marketing": False,
                "template": "care_new_car_thanks",
                "status": "pending",
                "attempts": 0,
                "payload": {
                    "vehicle_id": customer,
                    "plate": f"BEN-{customer:04d}",
                    "brand": "Toyota",
                    "model": "RAV4",
                },
                "due_at": now,
            }
            for customer in ids
            for n in range(PER_OWNER)
        ]
        random.Random(5).shuffle(rows)
        await session.execute(insert(Outbox), rows)
    await engine.dispose()


async def count_statuses(url: str) -> dict[str, int]:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        found = await session.execute(select(Outbox.status, func.count()).group_by(Outbox.status))
        statuses = {str(status): int(count) for status, count in found}
    await engine.dispose()
    return statuses


async def scenario(label: str, url: str, senders: int, messages: int) -> dict[str, Any]:
    sandbox = Sandbox(limits=LIMIT, token=TOKEN)
    arrivals: list[float] = []
    original = sandbox.call

    async def timed(
        token: str, method: str, values: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Answer:
        answer = await original(token, method, values, *args, **kwargs)
        if method.lower() == "sendmessage" and answer.status == 200:
            arrivals.append(time.monotonic())
        return answer

    sandbox.call = timed  # type: ignore[method-assign]
    server = await serve_http(sandbox)
    owners = [sandbox.add_user(f"Owner {n}").id for n in range(messages // PER_OWNER)]
    await fill(url, owners)
    # The sandbox keeps every message in memory; a full garbage collection of that heap pauses
    # it for a tenth of a second and then serves the queued requests at once, a bunching that
    # counts against the limit although the senders kept their pace. Freezing the objects made
    # so far keeps those pauses out of the measurement.
    gc.collect()
    gc.freeze()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--sender",
            url,
            server.base_url,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(senders)
    ]
    reports = []
    for process in processes:
        out, _ = await process.communicate()
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    await server.stop()
    await sandbox.aclose()
    received = Counter({owner: len(sandbox.messages(owner, from_bot=True)) for owner in owners})
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    rate = (len(arrivals) - 1) / span if span else 0.0
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    busiest, start = 0, 0
    for end, moment in enumerate(arrivals):
        while moment - arrivals[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return {
        "longest_gap": max(gaps, default=0.0),
        "busiest_second": busiest,
        "label": label,
        "sent": len(arrivals),
        "seconds": span,
        "rate": rate,
        "ratio": rate / LIMIT.global_per_second,
        "429": sandbox.rate_limited,
        "duplicates": sum(max(0, n - PER_OWNER) for n in received.values()),
        "lost": sum(max(0, PER_OWNER - n) for n in received.values()),
        "statuses": await count_statuses(url),
        "senders": [report["outcomes"] for report in reports],
    }


def fresh_sqlite_file() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "delivery_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def postgres_database(admin_url: str, name: str, create: bool) -> str:
    engine = create_async_engine(
        make_url(admin_url).set(drivername="postgresql+asyncpg"), isolation_level="AUTOCOMMIT"
    )
    async with engine.connect() as connection:
        if create:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def run(args: argparse.Namespace) -> None:
    print(
        f"{args.messages:,} messages to {args.messages // PER_OWNER:,} owners; sandbox limit "
        f"{LIMIT.global_per_second}/s overall, {LIMIT.per_chat_per_second:g}/s per chat "
        f"(burst {LIMIT.per_chat_burst}); senders set to "
        f"{load_store_config(None).care.delivery.messages_per_second:g}/s in all",
        flush=True,
    )
    plans: list[tuple[str, str, int]] = []
    if not args.no_sqlite:
        plans.append(("1 sender, SQLite", f"sqlite+aiosqlite:///{fresh_sqlite_file()}", 1))
    names = []
    if args.postgres:
        for senders in (1, 2):
            name = f"carebot_delivery_bench_{uuid.uuid4().hex[:8]}"
            names.append(name)
            url = await postgres_database(args.postgres, name, create=True)
            plans.append(
                (f"{senders} sender{'s' if senders > 1 else ''}, PostgreSQL", url, senders)
            )
    try:
        for label, url, senders in plans:
            found = await scenario(label, url, senders, args.messages)
            print(
                f"{found['label']:<24} {found['sent']:>6,} sent in {found['seconds']:6.1f} s  "
                f"{found['rate']:5.2f}/s = {found['ratio']:.3f} of the limit  "
                f"429s {found['429']}  duplicates {found['duplicates']}  "
                f"lost {found['lost']}",
                flush=True,
            )
            print(
                f"{'':<24} busiest second {found['busiest_second']} messages; longest pause "
                f"{found['longest_gap'] * 1000:.0f} ms; outbox {found['statuses']}; "
                f"per sender {found['senders']}",
                flush=True,
            )
    finally:
        for name in names:
            await postgres_database(args.postgres, name, create=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--postgres", default=os.environ.get("CAREBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--sender", nargs=2, metavar=("URL", "BASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        print(json.dumps(asyncio.run(send_all(*args.sender))))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
