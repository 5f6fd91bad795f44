"""Helpers for the relay tests: a harness for advisor groups, customers, waiting for the queue."""

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from bot.config import Settings
from bot.customers import customer_for_telegram_user, link_phone
from bot.db import transaction
from bot.models import AdvisorThread, Customer, OdometerReading, ReadingSource, Vehicle
from bot.relay_queue import pending_posts
from bot.sandbox import Sandbox, StoredMessage, User
from bot.store_config import Relay, StoreConfig
from tests.conftest import harness_settings
from tests.harness import Harness

ALWAYS_OPEN = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-23:59")
NEVER_OPEN = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "closed")


def relay_store(
    base: StoreConfig, opening_hours: dict[str, str] | None = None, **relay: Any
) -> StoreConfig:
    """The example store, open around the clock unless told, with relay settings changed.

    Posts are not spaced out (the sandbox in these tests has no flood limits); the pacing has
    tests of its own.
    """
    data = base.model_dump(by_alias=True)
    data["opening_hours"] = opening_hours or ALWAYS_OPEN
    data["relay"] = Relay(
        **({"group_post_gap_seconds": 0, "order_hold_seconds": 0} | relay)
    ).model_dump()
    return StoreConfig.model_validate(data)


@asynccontextmanager
async def relay_harness(
    database_url: str,
    sandbox: Sandbox,
    store: StoreConfig,
    groups: list[int] | None = None,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    """The application with an advisor forum (or the given groups), started and stopped."""
    advisor = sandbox.add_user("Chen", language_code="zh-hant", username="advisor_chen")
    chat_ids = groups or [sandbox.add_forum("Service advisors", members=[advisor])]
    for chat_id in chat_ids:
        sandbox.add_member(chat_id, advisor)
    settings: Settings = harness_settings(
        database_url, ",".join(str(c) for c in chat_ids), **overrides
    )
    harness = Harness(
        sandbox=sandbox,
        settings=settings,
        store=store,
        advisor_chat_id=chat_ids[0],
        advisor=advisor,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def signed_up_customer(
    harness: Harness,
    name: str = "Mei Lin",
    language_code: str = "en",
    plate: str | None = "ABC-1234",
    phone: str | None = None,
) -> User:
    """A Telegram user who is a signed-up customer with one car (km reading included)."""
    user = harness.sandbox.add_user(name.split()[0], language_code=language_code)
    locale = {"en": "en", "zh-hans": "zh-Hans"}.get(language_code, "zh-Hant")
    number = phone or f"+88691{user.id % 10_000_000:07d}"
    async with transaction(harness.sessions) as session:
        customer = await customer_for_telegram_user(
            session,
            store_id=harness.app.bot_data.carebot.store_id,
            telegram_user_id=user.id,
            locale=locale,  # type: ignore[arg-type]
            name=name,
        )
        customer = await link_phone(session, customer, phone=number, now=dt.datetime.now(dt.UTC))
        if plate:
            vehicle = Vehicle(
                store_id=customer.store_id,
                customer_id=customer.id,
                plate=plate,
                brand="Toyota",
                model="RAV4",
                registration_date=dt.date(2022, 3, 1),
            )
            session.add(vehicle)
            await session.flush()
            session.add(
                OdometerReading(
                    vehicle_id=vehicle.id,
                    read_on=dt.date.today() - dt.timedelta(days=30),
                    km=45210,
                    source=ReadingSource.CUSTOMER,
                )
            )
    return user


async def customer_row(harness: Harness, user: User) -> Customer:
    async with harness.sessions() as session:
        found = await session.scalar(select(Customer).where(Customer.telegram_user_id == user.id))
    assert found is not None
    return found


async def thread_row(harness: Harness, user: User) -> AdvisorThread:
    customer = await customer_row(harness, user)
    async with harness.sessions() as session:
        found = await session.scalar(
            select(AdvisorThread).where(AdvisorThread.customer_id == customer.id)
        )
    assert found is not None
    return found


async def relayed(harness: Harness, within: float = 8.0) -> None:
    """Wait until the relay queue is empty: every queued post is in its group."""

    async def empty() -> bool:
        async with harness.sessions() as session:
            return await pending_posts(session) == 0

    waited = 0.0
    while not await empty():
        await harness.sandbox.changed(0.05)
        waited += 0.05
        if waited > within:
            raise AssertionError("the relay queue did not empty")
    await harness.deliver()


async def wait_until(harness: Harness, predicate: Callable[[], Any]) -> Any:
    return await harness.sandbox.wait_for(predicate, timeout=5.0)


def topic_messages(harness: Harness, chat_id: int, topic_id: int) -> list[StoredMessage]:
    """The bot's and advisors' messages in a topic, service messages left out."""
    return [m for m in harness.sandbox.messages(chat_id, thread_id=topic_id) if not m.service]


async def write(harness: Harness, user: User, text: str, **options: Any) -> StoredMessage:
    """The customer writes; returns their message once it is relayed."""
    delivered = harness.sandbox.send_text(user, text, **options)
    await harness.deliver()
    await relayed(harness)
    return delivered.message


async def advisor_writes(
    harness: Harness, topic_id: int | None, text: str, chat_id: int | None = None, **options: Any
) -> StoredMessage:
    delivered = harness.sandbox.send_text(
        harness.advisor,
        text,
        chat_id=chat_id or harness.advisor_chat_id,
        thread_id=topic_id,
        **options,
    )
    await harness.deliver()
    await relayed(harness)
    return delivered.message
