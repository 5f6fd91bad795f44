"""How fast event sign-ups answer: one sign-up alone, and a burst of owners for the last seats.

    .venv/bin/python bench/event_signups.py [--postgres postgresql+asyncpg://USER@HOST/DB]

Runs on a fresh SQLite file (and on the PostgreSQL database given, which must be empty or
disposable: the schema is created there) and prints medians in milliseconds:
- sign-up: one owner signs up in their own transaction (event row lock, seat count, insert);
- burst: 50 owners at once for an event with 5 seats left, until all have an answer (the
  median of 5 bursts), and the slowest single answer within a burst.
- owner list: the events list an owner opens (20 published events with 200 sign-ups each).
"""

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema
from bot.events import create_event, publish_event, sign_up, upcoming_events
from bot.models import Customer, EventSignup, SignupStatus
from bot.store_config import load_store_config
from bot.stores import sync_store

TZ = ZoneInfo("Asia/Taipei")
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TZ)
STARTS = dt.datetime(2026, 12, 12, 14, 0, tzinfo=TZ)
BURST = 50
BURSTS = 5


async def _store_and_owners(
    sessions: async_sessionmaker[AsyncSession], count: int
) -> tuple[int, list[int]]:
    async with transaction(sessions) as session:
        store = await sync_store(
            session, load_store_config(None), timezone="Asia/Taipei", advisor_chat_id=None
        )
        owners = [Customer(store_id=store.id, name=f"Owner {n}") for n in range(count)]
        session.add_all(owners)
        await session.flush()
        return store.id, [owner.id for owner in owners]


async def _event(sessions: async_sessionmaker[AsyncSession], store_id: int, seats: int) -> int:
    async with transaction(sessions) as session:
        event = await create_event(
            session, store_id, {"title": "Bench", "starts_at": STARTS, "seats": seats}
        )
        await publish_event(session, event.id, NOW)
        return event.id


async def _timed_sign_up(
    sessions: async_sessionmaker[AsyncSession], event_id: int, owner: int
) -> float:
    started = time.perf_counter()
    async with transaction(sessions) as session:
        await sign_up(session, event_id, owner, 0, NOW)
    return (time.perf_counter() - started) * 1000


async def run(url: str) -> None:
    engine = make_engine(url, pool_size=BURST)
    await upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    store_id, owners = await _store_and_owners(sessions, BURST * (BURSTS + 1) + 200)
    pool = iter(owners)

    single_event = await _event(sessions, store_id, 10_000)
    singles = [await _timed_sign_up(sessions, single_event, next(pool)) for _ in range(100)]

    bursts, slowest = [], []
    for _ in range(BURSTS):
        event_id = await _event(sessions, store_id, 5)
        racers = [next(pool) for _ in range(BURST)]
        started = time.perf_counter()
        answers = await asyncio.gather(*(_timed_sign_up(sessions, event_id, o) for o in racers))
        bursts.append((time.perf_counter() - started) * 1000)
        slowest.append(max(answers))

    async with transaction(sessions) as session:
        for _ in range(20):
            event = await create_event(
                session, store_id, {"title": "Listed", "starts_at": STARTS, "seats": 500}
            )
            await publish_event(session, event.id, NOW)
            session.add_all(
                EventSignup(event_id=event.id, customer_id=owner, status=SignupStatus.CONFIRMED)
                for owner in owners[:200]
            )
    listing = []
    for _ in range(50):
        started = time.perf_counter()
        async with sessions() as session:
            await upcoming_events(session, store_id, NOW, limit=30)
        listing.append((time.perf_counter() - started) * 1000)
    await engine.dispose()

    name = url.split(":")[0]
    print(f"{name}: sign-up median {statistics.median(singles):.2f} ms")
    print(
        f"{name}: burst of {BURST} for 5 seats, all answered in median "
        f"{statistics.median(bursts):.0f} ms; slowest answer median {statistics.median(slowest):.0f} ms"
    )
    print(f"{name}: owner's event list median {statistics.median(listing):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a disposable PostgreSQL database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"))
    if args.postgres:
        asyncio.run(run(args.postgres))


if __name__ == "__main__":
    main()
