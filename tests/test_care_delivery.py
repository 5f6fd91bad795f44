"""Delivery against the Bot API sandbox: limits, courtesy rules, failures and crashed senders."""

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot.db import transaction
from bot.models import Appointment, AppointmentStatus, Customer, Outbox, OutboxStatus
from bot.render import Renderer
from bot.sandbox import Faults, Limits, Sandbox, SandboxRequest, User
from bot.store_config import Messaging, StoreConfig
from scheduler.claims import claim_outbox_batch, in_messaging_hours
from scheduler.delivery import Deliverer
from tests.care_world import TAIPEI, add_customer, make_store, outbox, store_with

Sessions = async_sessionmaker[AsyncSession]
TOKEN = "5550002:care-delivery-sandbox-token-for-tests"
# A Wednesday, 10:00 in Taipei: inside the default messaging hours (09:00-20:00).
MORNING = dt.datetime(2026, 5, 6, 10, 0, tzinfo=TAIPEI)


class ShiftedClock:
    """Real time running from a chosen start, which a test can move forward."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.began = time.monotonic()
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        elapsed = dt.timedelta(seconds=time.monotonic() - self.began)
        return (self.start + self.offset + elapsed).astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(limits=Limits(), token=TOKEN)
    yield box
    await box.aclose()


def quick(config: StoreConfig, **delivery: Any) -> StoreConfig:
    """Delivery settings for tests: short backoff, a short per-chat gap."""
    return store_with(config, delivery={"backoff_seconds": 60, "per_chat_seconds": 0.2, **delivery})


def deliverer(
    sessions: Sessions,
    sandbox: Sandbox,
    config: StoreConfig,
    store_id: int,
    clock: ShiftedClock,
    *,
    owner: str | None = None,
    renderer: Renderer | None = None,
    read_timeout: float = 5.0,
) -> Deliverer:
    bot = Bot(TOKEN, request=SandboxRequest(sandbox, read_timeout=read_timeout))
    return Deliverer(
        sessions,
        bot,
        renderer or Renderer(),
        store_id=store_id,
        store=config,
        tz=TAIPEI,
        default_locale="zh-Hant",
        clock=clock,
        owner=owner,
    )


async def owner(
    session: AsyncSession, store_id: int, sandbox: Sandbox, name: str = "Lin", **fields: Any
) -> tuple[Customer, User]:
    user = sandbox.add_user(name)
    customer = await add_customer(session, store_id, name=name, **fields)
    customer.telegram_user_id = user.id
    await session.flush()
    return customer, user


def queue(
    session: AsyncSession,
    customer: Customer,
    key: str,
    *,
    due: dt.datetime = MORNING,
    marketing: bool = False,
    template: str = "care_new_car_thanks",
    payload: dict[str, Any] | None = None,
) -> Outbox:
    row = Outbox(
        store_id=customer.store_id,
        customer_id=customer.id,
        kind=template.removeprefix("care_"),
        idempotency_key=key,
        marketing=marketing,
        template=template,
        payload=payload or {"vehicle_id": 1, "plate": "ABC-1234", "brand": "Toyota"},
        due_at=due,
    )
    session.add(row)
    return row


async def rows(sessions: Sessions) -> dict[str, Outbox]:
    return {row.idempotency_key: row for row in await outbox(sessions)}


def texts(sandbox: Sandbox, user: User) -> list[str]:
    return [m.text or "" for m in sandbox.messages(user.id, from_bot=True)]


# --- the plain path -----------------------------------------------------------------------------


async def test_due_messages_go_once_in_the_owners_language_with_ids_recorded(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        zh, zh_user = await owner(session, store_id, sandbox, "王<小明>", locale="zh-Hant")
        en, en_user = await owner(session, store_id, sandbox, "Ann & Bo", locale="en")
        queue(
            session,
            zh,
            "a",
            marketing=True,
            template="care_maintenance",
            payload={
                "vehicle_id": 7,
                "plate": "ABC-1234",
                "brand": "Toyota",
                "model": None,
                "due_on": "2026-05-20",
                "offset_days": -14,
                "by_km": False,
                "interval_km": 10000,
                "interval_months": 12,
                "last_service_on": "2025-05-20",
            },
        )
        queue(session, en, "b")
        queue(session, en, "later", due=MORNING + dt.timedelta(days=1))
    clock = ShiftedClock(MORNING)
    sender = deliverer(sessions, sandbox, store_config, store_id, clock)
    report = await sender.drain()
    assert report.outcomes["sent"] == 2
    assert (await sender.drain()).outcomes["sent"] == 0

    (zh_message,) = sandbox.messages(zh_user.id, from_bot=True)
    assert "王<小明>" in (zh_message.text or "") and "2026年5月20日" in (zh_message.text or "")
    keyboard = zh_message.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert keyboard[0][0]["url"] == "https://t.me/" + (sender.bot.username or "") + "?start=book_7"
    assert keyboard[-1][0]["callback_data"] == "care:unsub:-"
    assert texts(sandbox, en_user)[0].startswith("Thank you for choosing")
    found = await rows(sessions)
    assert found["a"].status == OutboxStatus.SENT
    assert found["a"].chat_id == zh_user.id
    assert found["a"].telegram_message_id == zh_message.message_id
    assert found["a"].sent_at is not None and found["a"].lease_owner is None
    assert found["later"].status == OutboxStatus.PENDING


async def test_one_customer_gets_at_most_one_message_per_chat_interval(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    config = quick(store_config, per_chat_seconds=1.0)
    store_id = await make_store(sessions, config)
    async with transaction(sessions) as session:
        customer, _ = await owner(session, store_id, sandbox)
        for n in range(3):
            queue(session, customer, f"r{n}")
    await deliverer(sessions, sandbox, config, store_id, ShiftedClock(MORNING)).drain()
    sent = sorted(row.sent_at for row in (await rows(sessions)).values() if row.sent_at)
    assert len(sent) == 3
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.95
    assert sandbox.rate_limited == 0


# --- consent and courtesy -----------------------------------------------------------------------


async def _offer_and_service(
    sessions: Sessions, store_id: int, sandbox: Sandbox, due: dt.datetime
) -> User:
    """An owner with a marketing message ("offer") and a service one ("service") due."""
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, sandbox)
        queue(
            session,
            customer,
            "offer",
            marketing=True,
            template="care_birthday",
            payload={"customer_id": customer.id},
            due=due,
        )
        queue(session, customer, "service", due=due)
    return user


async def test_marketing_waits_for_the_messaging_hours_service_messages_do_not(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    store_id = await make_store(sessions, store_config)
    evening = dt.datetime(2026, 5, 6, 21, 30, tzinfo=TAIPEI)
    user = await _offer_and_service(sessions, store_id, sandbox, evening)
    clock = ShiftedClock(evening)
    await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    found = await rows(sessions)
    assert found["service"].status == OutboxStatus.SENT
    assert found["offer"].status == OutboxStatus.PENDING
    clock.advance(hours=11)  # 08:30 the next day: still outside 09:00-20:00
    await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    assert (await rows(sessions))["offer"].status == OutboxStatus.PENDING
    clock.advance(minutes=31)
    await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    assert (await rows(sessions))["offer"].status == OutboxStatus.SENT
    assert len(texts(sandbox, user)) == 2


async def test_marketing_waits_for_a_day_the_store_is_open_service_messages_do_not(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    # The example store is closed on Sundays.
    store_id = await make_store(sessions, store_config)
    sunday = dt.datetime(2026, 5, 10, 10, 0, tzinfo=TAIPEI)
    user = await _offer_and_service(sessions, store_id, sandbox, sunday)
    clock = ShiftedClock(sunday)
    await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    found = await rows(sessions)
    assert (found["service"].status, found["offer"].status) == (
        OutboxStatus.SENT,
        OutboxStatus.PENDING,
    )
    clock.advance(days=1)  # Monday 10:00
    await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    assert (await rows(sessions))["offer"].status == OutboxStatus.SENT
    assert len(texts(sandbox, user)) == 2
    # A store that wants it sends on closed days too.
    open_all_week = store_config.model_copy(update={"messaging": Messaging(on_closed_days=True)})
    assert in_messaging_hours(open_all_week, TAIPEI, sunday)
    assert not in_messaging_hours(store_config, TAIPEI, sunday)


async def test_weekly_marketing_cap_moves_the_extra_message_to_when_the_oldest_leaves_the_week(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    config = quick(store_config).model_copy(update={"messaging": Messaging(marketing_per_week=2)})
    store_id = await make_store(sessions, config)
    four_days_ago = MORNING - dt.timedelta(days=4)
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, sandbox)
        old = queue(
            session,
            customer,
            "old",
            marketing=True,
            template="care_birthday",
            payload={"customer_id": customer.id},
        )
        old.status, old.sent_at = OutboxStatus.SENT, four_days_ago
        for key in ("m1", "m2"):
            queue(
                session,
                customer,
                key,
                marketing=True,
                template="care_birthday",
                payload={"customer_id": customer.id},
            )
        queue(session, customer, "service")
    await deliverer(sessions, sandbox, config, store_id, ShiftedClock(MORNING)).drain()
    found = await rows(sessions)
    assert found["service"].status == OutboxStatus.SENT
    sent_marketing = [k for k in ("m1", "m2") if found[k].status == OutboxStatus.SENT]
    waiting = [k for k in ("m1", "m2") if found[k].status == OutboxStatus.PENDING]
    assert len(sent_marketing) == 1 and len(waiting) == 1
    assert found[waiting[0]].due_at == four_days_ago.astimezone(dt.UTC) + dt.timedelta(days=7)
    assert len(texts(sandbox, user)) == 2


async def test_opted_out_customers_get_their_booking_messages_but_no_marketing(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, sandbox)
        queue(session, customer, "offer", marketing=True)
        queue(session, customer, "service")
        customer.marketing_consent = False  # /stop after the rows were planned
        forgotten, forgotten_user = await owner(session, store_id, sandbox)
        queue(session, forgotten, "forgotten")
        forgotten.forgotten_at = MORNING
    await deliverer(sessions, sandbox, store_config, store_id, ShiftedClock(MORNING)).drain()
    found = await rows(sessions)
    assert (found["offer"].status, found["offer"].error) == (
        OutboxStatus.CANCELLED,
        "no marketing consent",
    )
    assert found["service"].status == OutboxStatus.SENT
    assert found["forgotten"].status == OutboxStatus.CANCELLED
    assert len(texts(sandbox, user)) == 1 and texts(sandbox, forgotten_user) == []


async def test_a_cancelled_appointment_loses_its_reminder_before_it_goes(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    store_id = await make_store(sessions, store_config)
    slot = MORNING + dt.timedelta(hours=5)
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, sandbox)
        booking = Appointment(
            store_id=store_id,
            customer_id=customer.id,
            service_type="maintenance",
            slot_start=slot,
            status=AppointmentStatus.CANCELLED,
        )
        session.add(booking)
        await session.flush()
        queue(
            session,
            customer,
            "soon",
            template="care_appointment_soon",
            payload={
                "appointment_id": booking.id,
                "service_type": "maintenance",
                "slot_at": slot.astimezone(dt.UTC).isoformat(),
                "plate": None,
            },
        )
    await deliverer(sessions, sandbox, store_config, store_id, ShiftedClock(MORNING)).drain()
    assert (await rows(sessions))["soon"].error == "the appointment is no longer open"
    assert texts(sandbox, user) == []


# --- Telegram's answers -------------------------------------------------------------------------


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable_and_not_tried_again(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, sandbox)
        queue(session, customer, "first")
        queue(session, customer, "second")
        queue(session, customer, "tomorrow", due=MORNING + dt.timedelta(days=1))
    sandbox.block_bot(user)
    clock = ShiftedClock(MORNING)
    report = await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    clock.advance(days=2)
    await deliverer(sessions, sandbox, store_config, store_id, clock).drain()
    assert report.outcomes["blocked"] == 1
    assert {row.status for row in (await rows(sessions)).values()} == {OutboxStatus.BLOCKED}
    assert len(sandbox.calls("sendMessage")) == 1
    async with sessions() as session:
        stored = await session.get_one(Customer, customer.id)
    assert stored.reachable is False and stored.blocked_at is not None


async def test_429_puts_the_row_back_for_retry_after_and_it_goes_later_exactly_once(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # The sandbox allows 2 messages a second in all; the sender is set for 29.
    tight = Sandbox(limits=Limits(global_per_second=2), token=TOKEN)
    store_id = await make_store(sessions, store_config)
    users = []
    async with transaction(sessions) as session:
        for n in range(5):
            customer, user = await owner(session, store_id, tight, f"u{n}")
            queue(session, customer, f"r{n}")
            users.append(user)
    clock = ShiftedClock(MORNING)
    report = await deliverer(sessions, tight, store_config, store_id, clock).drain()
    assert report.outcomes["rate_limited"] == 3
    waiting = [row for row in (await rows(sessions)).values() if row.status == "pending"]
    assert len(waiting) == 3
    for row in waiting:
        assert row.attempts == 0 and (row.error or "").startswith("429")
        assert row.due_at > clock() and row.due_at <= clock() + dt.timedelta(seconds=2)
    while any(row.status == "pending" for row in (await rows(sessions)).values()):
        await asyncio.sleep(1.0)  # the sandbox's window is real time
        clock.advance(seconds=1)
        await deliverer(sessions, tight, store_config, store_id, clock).drain()
    assert [len(texts(tight, user)) for user in users] == [1] * 5
    await tight.aclose()


async def test_server_errors_are_retried_with_backoff_then_failed_after_max_attempts(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    broken = Sandbox(
        limits=Limits(),
        token=TOKEN,
        faults=Faults(server_errors=1.0, methods=frozenset({"sendmessage"})),
    )
    config = quick(store_config, max_attempts=3, backoff_seconds=60)
    store_id = await make_store(sessions, config)
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, broken)
        queue(session, customer, "r")
    clock = ShiftedClock(MORNING)
    dues = []
    for _ in range(3):
        await deliverer(sessions, broken, config, store_id, clock).drain()
        row = (await rows(sessions))["r"]
        dues.append(((row.due_at - clock()).total_seconds(), row.attempts, row.status))
        clock.advance(hours=1)
    # Backoff 60 s, then 120 s; the third failure is final.
    assert [(round(wait / 60), attempts, status) for wait, attempts, status in dues[:2]] == [
        (1, 1, "pending"),
        (2, 2, "pending"),
    ]
    assert dues[2][1:] == (3, "failed")
    assert (await rows(sessions))["r"].error == "network: Bad Gateway"
    assert texts(broken, user) == []
    await broken.aclose()


async def test_a_timeout_is_retried_and_the_message_goes_when_telegram_recovers(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    slow = Sandbox(
        limits=Limits(),
        token=TOKEN,
        faults=Faults(held=1.0, hold_seconds=5, methods=frozenset({"sendmessage"})),
    )
    config = quick(store_config)
    store_id = await make_store(sessions, config)
    async with transaction(sessions) as session:
        customer, user = await owner(session, store_id, slow)
        queue(session, customer, "r")
    clock = ShiftedClock(MORNING)
    report = await deliverer(sessions, slow, config, store_id, clock, read_timeout=0.2).drain()
    assert report.outcomes["retried"] == 1
    slow.faults.held = 0.0
    clock.advance(minutes=2)
    await deliverer(sessions, slow, config, store_id, clock).drain()
    row = (await rows(sessions))["r"]
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    assert len(texts(slow, user)) == 1
    await slow.aclose()


async def test_a_400_fails_the_row_with_telegrams_reason(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox, tmp_path: Path
) -> None:
    # A dealer's override with broken HTML: the file of the same name replaces the default.
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "care_new_car_thanks.html").write_text("<b>Thanks {{ car }}", "utf-8")
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        customer, _ = await owner(session, store_id, sandbox, locale="en")
        queue(session, customer, "r")
    await deliverer(
        sessions,
        sandbox,
        store_config,
        store_id,
        ShiftedClock(MORNING),
        renderer=Renderer(tmp_path),
    ).drain()
    row = (await rows(sessions))["r"]
    assert row.status == OutboxStatus.FAILED
    assert (row.error or "").startswith("400: Can't parse entities")


# --- several senders ----------------------------------------------------------------------------


async def test_rows_of_a_sender_killed_after_claiming_go_out_once_its_lease_expires(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    config = quick(store_config, lease_seconds=60)
    store_id = await make_store(sessions, config)
    users = []
    async with transaction(sessions) as session:
        for n in range(6):
            customer, user = await owner(session, store_id, sandbox, f"u{n}")
            queue(session, customer, f"r{n}")
            users.append(user)
    clock = ShiftedClock(MORNING)
    async with transaction(sessions) as session:  # a sender that claims and dies
        dead = await claim_outbox_batch(
            session,
            store_id=store_id,
            store=config,
            tz=TAIPEI,
            owner="dead",
            now=clock(),
            limit=4,
            default_locale="en",
        )
    assert len(dead.rows) == 4
    survivor = deliverer(sessions, sandbox, config, store_id, clock, owner="alive")
    assert (await survivor.drain()).outcomes["sent"] == 2
    clock.advance(seconds=61)
    assert (await survivor.drain()).outcomes["sent"] == 4
    assert [len(texts(sandbox, user)) for user in users] == [1] * 6
    assert {row.attempts for row in (await rows(sessions)).values()} == {1, 2}


async def test_a_sender_cancelled_mid_batch_loses_nothing_and_repeats_at_most_its_in_flight(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    config = quick(store_config, lease_seconds=30, messages_per_second=10, batch_size=10)
    store_id = await make_store(sessions, config)
    users = []
    async with transaction(sessions) as session:
        for n in range(20):
            customer, user = await owner(session, store_id, sandbox, f"u{n}")
            queue(session, customer, f"r{n}")
            users.append(user)
    clock = ShiftedClock(MORNING)
    first = asyncio.create_task(deliverer(sessions, sandbox, config, store_id, clock).drain())
    await sandbox.wait_for(lambda: len(sandbox.calls("sendMessage")) >= 5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    clock.advance(seconds=31)
    await deliverer(sessions, sandbox, config, store_id, clock).drain()
    counts = [len(texts(sandbox, user)) for user in users]
    assert min(counts) == 1  # nothing lost
    assert sum(counts) - len(users) <= 1  # a duplicate only for the message in flight


async def test_two_senders_draining_together_send_every_row_once_within_the_limits(
    sessions: Sessions, store_config: StoreConfig, sandbox: Sandbox
) -> None:
    config = quick(store_config, batch_size=5)
    store_id = await make_store(sessions, config)
    users = []
    async with transaction(sessions) as session:
        for n in range(40):
            customer, user = await owner(session, store_id, sandbox, f"u{n}")
            queue(session, customer, f"r{n}")
            users.append(user)
    clock = ShiftedClock(MORNING)
    reports = await asyncio.gather(
        deliverer(sessions, sandbox, config, store_id, clock, owner="one").drain(),
        deliverer(sessions, sandbox, config, store_id, clock, owner="two").drain(),
    )
    assert sum(report.outcomes["sent"] for report in reports) == 40
    assert [len(texts(sandbox, user)) for user in users] == [1] * 40
    assert sandbox.rate_limited == 0
    async with sessions() as session:
        assert not list(await session.scalars(select(Outbox).where(Outbox.status != "sent")))
