"""The care scheduler inside the running bot: its send tick, the copy in the topic, its stop."""

import datetime as dt

from sqlalchemy import select

from bot.db import transaction
from bot.models import Outbox, OutboxStatus
from scheduler.jobs import CareJobs
from tests.harness import Harness
from tests.owner_steps import customer_of, sign_up
from tests.relay_steps import relayed


async def _queue_thanks(harness: Harness, customer_id: int, store_id: int, key: str) -> None:
    async with transaction(harness.sessions) as session:
        session.add(
            Outbox(
                store_id=store_id,
                customer_id=customer_id,
                kind="new_car_thanks",
                idempotency_key=key,
                marketing=False,
                template="care_new_car_thanks",
                payload={"vehicle_id": 1, "plate": "ABC-1234", "brand": "Toyota"},
                due_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
            )
        )


async def test_the_send_tick_delivers_and_shows_the_message_in_the_customers_topic(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    customer = await customer_of(harness, owner)
    carebot = harness.app.bot_data.carebot
    assert carebot is not None
    await _queue_thanks(harness, customer.id, carebot.store_id, "thanks:1")
    jobs = CareJobs(harness.app, carebot)

    await jobs._send(None)  # type: ignore[arg-type]
    await relayed(harness)

    sent = harness.last(owner.id)
    assert "ABC-1234" in sent.text
    async with harness.sessions() as session:
        row = await session.scalar(select(Outbox).where(Outbox.idempotency_key == "thanks:1"))
    assert row is not None and row.status == OutboxStatus.SENT
    assert row.telegram_message_id == sent.message_id
    topic_texts = [m.text or "" for m in harness.sandbox.messages(harness.advisor_chat_id)]
    # The advisors read the store's default language, zh-Hant.
    copies = [text for text in topic_texts if "已發送關懷訊息" in text]
    assert len(copies) == 1 and "ABC-1234" in copies[0]


async def test_a_stopped_sender_claims_nothing_and_leaves_rows_pending(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    customer = await customer_of(harness, owner)
    carebot = harness.app.bot_data.carebot
    assert carebot is not None
    jobs = CareJobs(harness.app, carebot)
    await jobs.stop()
    await _queue_thanks(harness, customer.id, carebot.store_id, "thanks:2")

    await jobs._send(None)  # type: ignore[arg-type]

    async with harness.sessions() as session:
        row = await session.scalar(select(Outbox).where(Outbox.idempotency_key == "thanks:2"))
    assert row is not None and row.status == OutboxStatus.PENDING
    assert row.attempts == 0


async def test_a_reply_to_a_care_message_reaches_the_topic_quoting_its_copy(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    customer = await customer_of(harness, owner)
    carebot = harness.app.bot_data.carebot
    assert carebot is not None
    await _queue_thanks(harness, customer.id, carebot.store_id, "thanks:3")
    await CareJobs(harness.app, carebot)._send(None)  # type: ignore[arg-type]
    await relayed(harness)
    sent = harness.last(owner.id)
    copy = next(
        m
        for m in harness.sandbox.messages(harness.advisor_chat_id)
        if "ABC-1234" in (m.text or "") and "已發送關懷訊息" in (m.text or "")
    )

    await harness.send(owner, "Can I come on Saturday instead?", reply_to=sent)
    await relayed(harness)

    answer = next(
        m for m in harness.sandbox.messages(harness.advisor_chat_id) if "Saturday" in (m.text or "")
    )
    assert answer.reply_to_message_id == copy.message_id
    async with harness.sessions() as session:
        row = await session.scalar(select(Outbox).where(Outbox.idempotency_key == "thanks:3"))
    assert row is not None and row.replied_at is not None
