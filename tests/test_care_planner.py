"""The planner: idempotent, safe to run in parallel, and honest in a dry run."""

import asyncio
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.models import Outbox, SurveyResponse, VisitKind
from bot.store_config import StoreConfig
from tests.care_world import add_customer, add_vehicle, add_visit, keys, make_store, plan

Sessions = async_sessionmaker[AsyncSession]
DAY = dt.date(2026, 3, 10)


async def a_busy_base(sessions: Sessions, store_id: int, owners: int = 30) -> None:
    """Owners whose cars are due for maintenance today, with a visit three days ago and a
    birthday today: three kinds of message each."""
    async with transaction(sessions) as session:
        for n in range(owners):
            owner = await add_customer(session, store_id, birthday=dt.date(1980 + n % 20, 3, 10))
            car = await add_vehicle(session, owner)
            await add_visit(session, car, dt.date(2025, 3, 10), 20_000 + n)
            await add_visit(session, car, dt.date(2026, 3, 7), 30_000 + n, kind=VisitKind.REPAIR)


async def count(sessions: Sessions, table: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_planning_the_same_day_twice_inserts_nothing_the_second_time(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    await a_busy_base(sessions, store_id)
    first = await plan(sessions, store_id, store_config, DAY)
    second = await plan(sessions, store_id, store_config, DAY)
    assert first.counts["survey"] == 30
    assert first.counts["birthday"] == 30
    assert first.total == 60  # the repair on 03-07 ends the maintenance series
    assert second.total == 0
    assert await count(sessions, Outbox) == 60
    assert await count(sessions, SurveyResponse) == 30


async def test_four_planners_at_once_insert_every_row_exactly_once(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    await a_busy_base(sessions, store_id, owners=40)
    results = await asyncio.gather(*(plan(sessions, store_id, store_config, DAY) for _ in range(4)))
    assert sorted(result.total for result in results) == [0, 0, 0, 80]
    all_keys = await keys(sessions)
    assert len(all_keys) == len(set(all_keys)) == 80


async def test_a_dry_run_reports_what_would_be_inserted_and_writes_nothing(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    await a_busy_base(sessions, store_id, owners=5)
    dry = await plan(sessions, store_id, store_config, DAY, dry_run=True)
    assert dry.dry_run
    assert await count(sessions, Outbox) == 0
    assert await count(sessions, SurveyResponse) == 0
    real = await plan(sessions, store_id, store_config, DAY)
    assert dry.counts == real.counts
    assert real.total == 10


async def test_only_customers_a_message_can_reach_are_planned(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Every owner has a birthday today; only the first has consent, Telegram and no block.
    store_id = await make_store(sessions, store_config)
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with transaction(sessions) as session:
        birthday = dt.date(1990, 3, 10)
        fine = await add_customer(session, store_id, birthday=birthday)
        await add_customer(session, store_id, birthday=birthday, on_telegram=False)
        blocked = await add_customer(session, store_id, birthday=birthday)
        blocked.reachable, blocked.blocked_at = False, moment
        forgotten = await add_customer(session, store_id, birthday=birthday)
        forgotten.forgotten_at = moment
        banned = await add_customer(session, store_id, birthday=birthday)
        banned.banned_at = moment
        await add_customer(session, store_id, birthday=birthday, consent=False)
    await plan(sessions, store_id, store_config, DAY)
    assert await keys(sessions) == [f"birthday:{fine.id}:2026"]
