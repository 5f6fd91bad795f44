"""How fast booking answers: the calendar's free-slot query, one booking, and a race for a place.

    .venv/bin/python bench/booking.py [--postgres postgresql+asyncpg://USER@HOST/DB]

Runs on a fresh SQLite file (and on the PostgreSQL database given, which must be empty or
disposable: the schema is created there) and prints medians in milliseconds:
- calendar: free slots of one service type over the whole booking horizon, with 1,000
  appointments already in it (what every calendar screen costs);
- book: one booking in its own transaction (slot row upsert, guarded update, appointment);
- race: 20 customers at once for the last place of a slot, until all have an answer.
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

from bot.booking import BookingRefused, book_appointment
from bot.db import make_engine, make_sessionmaker, transaction, upgrade_schema
from bot.models import Customer, Vehicle
from bot.slots import bookable_days, bookable_starts, free_starts
from bot.store_config import StoreConfig, load_store_config
from bot.stores import sync_store

TZ = ZoneInfo("Asia/Taipei")
# A Tuesday morning, so the horizon holds a full month of open days.
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TZ)
RACERS = 20


async def _owners(
    sessions: async_sessionmaker[AsyncSession], store: StoreConfig, count: int
) -> tuple[int, list[tuple[int, int]]]:
    async with transaction(sessions) as session:
        row = await sync_store(session, store, timezone="Asia/Taipei", advisor_chat_id=None)
        customers = [
            Customer(store_id=row.id, name=f"Owner {n}", phone=f"+8869{n:08d}")
            for n in range(count)
        ]
        session.add_all(customers)
        await session.flush()
        vehicles = [
            Vehicle(store_id=row.id, customer_id=c.id, plate=f"BEN-{n:04d}")
            for n, c in enumerate(customers)
        ]
        session.add_all(vehicles)
        await session.flush()
        return row.id, [(c.id, v.id) for c, v in zip(customers, vehicles, strict=True)]


async def _book(
    sessions: async_sessionmaker[AsyncSession],
    store: StoreConfig,
    store_id: int,
    owner: tuple[int, int],
    service_type: str,
    start: dt.datetime,
) -> bool:
    try:
        async with transaction(sessions) as session:
            await book_appointment(
                session,
                store_id=store_id,
                store=store,
                tz=TZ,
                now=NOW,
                customer_id=owner[0],
                vehicle_id=owner[1],
                service_type=service_type,
                slot_start=start,
            )
    except BookingRefused:
        return False
    return True


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


async def run(url: str, label: str) -> None:
    store = load_store_config(None)
    engine = make_engine(url, pool_size=RACERS // 2)
    await upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    store_id, owners = await _owners(sessions, store, 1_000 + RACERS * 20)
    starts = [
        s for day in bookable_days(store, TZ, NOW) for s in bookable_starts(store, day, TZ, NOW)
    ]

    booking_times = []
    for n, owner in enumerate(owners[:1_000]):
        began = time.perf_counter()
        await _book(sessions, store, store_id, owner, "maintenance", starts[n % len(starts)])
        booking_times.append(time.perf_counter() - began)

    calendar_times = []
    for _ in range(50):
        began = time.perf_counter()
        async with sessions() as session:
            await free_starts(
                session,
                store_id=store_id,
                store=store,
                service_type="maintenance",
                tz=TZ,
                now=NOW,
                days=bookable_days(store, TZ, NOW),
            )
        calendar_times.append(time.perf_counter() - began)

    race_times, winners = [], []
    racers = owners[1_000:]
    for round_ in range(20):
        start = starts[-1 - round_]  # bodywork: one place per slot
        group = racers[round_ * RACERS : (round_ + 1) * RACERS]
        began = time.perf_counter()
        results = await asyncio.gather(
            *(_book(sessions, store, store_id, owner, "bodywork", start) for owner in group)
        )
        race_times.append(time.perf_counter() - began)
        winners.append(sum(results))
    await engine.dispose()

    print(f"{label}: calendar {_ms(calendar_times)} (horizon {len(starts)} slots)")
    print(f"{label}: book {_ms(booking_times)} (1,000 bookings)")
    print(
        f"{label}: race of {RACERS} for one place {_ms(race_times)}; winners per race {set(winners)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (asyncpg)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "sqlite"))
    if args.postgres:
        asyncio.run(run(args.postgres, "postgresql"))


if __name__ == "__main__":
    main()
