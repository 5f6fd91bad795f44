"""Care messages in the chat: owners press their buttons, advisors preview and start campaigns.

Every care message here is a real outbox row delivered by the Deliverer through the running
bot; its buttons are then pressed as the owner (or a stranger) would, on both engines.
"""

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db import transaction
from bot.handlers.care_advisors import parse_campaign_words
from bot.models import (
    Appointment,
    AppointmentStatus,
    Campaign,
    Confirmation,
    Customer,
    FleetTag,
    Outbox,
    OutboxStatus,
    SlotUsage,
    SurveyResponse,
)
from bot.relay import thread_of
from bot.sandbox import Sandbox, StoredMessage, User
from bot.store_config import Booking, StoreConfig
from scheduler.audience import Audience
from scheduler.delivery import Deliverer
from scheduler.messages import UNSUBSCRIBE
from tests.care_world import TAIPEI
from tests.harness import Harness, button_data
from tests.owner_steps import (
    action_data,
    appointments_of,
    book_first_free,
    tap,
)
from tests.relay_steps import (
    advisor_writes,
    customer_row,
    relay_harness,
    relay_store,
    relayed,
    signed_up_customer,
    thread_row,
    topic_messages,
    write,
)

# Care rows are due a month ahead (10:00 Taipei, inside the messaging hours) and delivered
# with a clock set to then, so the bot's own send ticks (real time) never take them first.
LATER = dt.datetime.combine(dt.date.today() + dt.timedelta(days=30), dt.time(10), TAIPEI)
_keys = iter(range(1, 1_000_000))


@pytest.fixture
async def chat(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[Harness]:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as harness:
        yield harness
    await sandbox.aclose()
    assert sandbox.violations == []


def with_cutoff(config: StoreConfig, hours: float) -> StoreConfig:
    booking = Booking(**(config.booking.model_dump() | {"change_cutoff_hours": hours}))
    return config.model_copy(update={"booking": booking})


async def deliver_care(
    harness: Harness,
    user: User,
    template: str,
    payload: dict[str, Any],
    *,
    marketing: bool = False,
    due: dt.datetime = LATER,
) -> StoredMessage:
    """Queue one care message for the user and drain the outbox as the sender does."""
    customer = await customer_row(harness, user)
    async with transaction(harness.sessions) as session:
        session.add(
            Outbox(
                store_id=customer.store_id,
                customer_id=customer.id,
                kind=template.removeprefix("care_"),
                idempotency_key=f"test:{next(_keys)}",
                marketing=marketing,
                template=template,
                payload=payload,
                due_at=due,
            )
        )
    carebot = harness.app.bot_data.carebot
    assert carebot is not None
    deliverer = Deliverer(
        harness.sessions,
        harness.app.bot,
        carebot.render,
        store_id=carebot.store_id,
        store=harness.store,
        tz=TAIPEI,
        default_locale=carebot.default_locale,
        clock=lambda: LATER.astimezone(dt.UTC),
    )
    report = await deliverer.drain()
    assert report.outcomes.get("sent", 0) >= 1, report.outcomes
    return harness.last(user.id)


async def booked_owner(harness: Harness) -> tuple[User, Appointment]:
    """A signed-up owner with one car who booked the first free maintenance slot."""
    user = await signed_up_customer(harness)
    await book_first_free(harness, user, "Scheduled maintenance")
    [appointment] = await appointments_of(harness, user)
    return user, appointment


async def remind(harness: Harness, user: User, appointment: Appointment) -> StoredMessage:
    return await deliver_care(
        harness,
        user,
        "care_appointment_day_before",
        {
            "appointment_id": appointment.id,
            "service_type": appointment.service_type,
            "slot_at": appointment.slot_start.isoformat(),
            "vehicle_id": appointment.vehicle_id,
            "plate": "ABC-1234",
        },
    )


async def fresh(harness: Harness, appointment: Appointment) -> Appointment:
    async with harness.sessions() as session:
        return await session.get_one(Appointment, appointment.id)


async def topic_texts(harness: Harness, user: User) -> list[str]:
    await relayed(harness)
    topic = (await thread_row(harness, user)).topic_id
    assert topic is not None
    return [m.text or "" for m in topic_messages(harness, harness.advisor_chat_id, topic)]


def last_answer(harness: Harness) -> str | None:
    return harness.sandbox.callback_answers[-1].text


# --- appointment reminders ----------------------------------------------------------------------


async def test_confirm_on_a_reminder_confirms_the_appointment_once_and_tells_the_advisors(
    chat: Harness,
) -> None:
    user, appointment = await booked_owner(chat)
    reminder = await remind(chat, user, appointment)
    assert "tomorrow" in reminder.text

    await chat.press(user, reminder, button_data(reminder, "I'll be there"))
    answered = chat.sandbox.message(user.id, reminder.message_id)
    assert answered.text.startswith("✅ Thank you! We expect you on")
    assert answered.buttons == []
    confirmed = await fresh(chat, appointment)
    assert (confirmed.status, confirmed.confirmation) == (
        AppointmentStatus.CONFIRMED,
        Confirmation.CONFIRMED,
    )
    # The advisors read the store's language (zh-Hant).
    assert any(text.startswith("✅ 已確認") for text in await topic_texts(chat, user))

    # The same button again (a double tap that raced the edit): a short answer, nothing else.
    before = len(chat.sandbox.messages(user.id, from_bot=True))
    await chat.press(user, reminder, f"care:confirm:-:{appointment.id}", forge=True)
    assert last_answer(chat) == "Already answered, thank you."
    assert len(chat.sandbox.messages(user.id, from_bot=True)) == before


async def test_reschedule_on_a_reminder_opens_the_booking_flow_and_moves_the_slot(
    chat: Harness,
) -> None:
    user, appointment = await booked_owner(chat)
    reminder = await remind(chat, user, appointment)

    replies = await chat.press(user, reminder, button_data(reminder, "Another time"))
    assert replies and "day" in replies[-1].text.lower()
    assert (await fresh(chat, appointment)).confirmation == Confirmation.RESCHEDULED
    # The reminder itself is left as it was; the calendar came as a new message.
    assert chat.sandbox.message(user.id, reminder.message_id).text == reminder.text

    # Another day than the booked one, which late in the evening may have no other time left.
    calendar = chat.last(user.id)
    booked_day = f"{appointment.slot_start.astimezone(TAIPEI):%Y%m%d}"
    days = [d for d in action_data(calendar, "day") if not d.endswith(booked_day)]
    if not days:
        calendar = (await chat.press(user, calendar, action_data(calendar, "month")[-1]))[-1]
        days = action_data(calendar, "day")
    await chat.press(user, calendar, days[0])
    times = chat.last(user.id)
    other = action_data(times, "slot")[0]
    await chat.press(user, times, other)
    done = await tap(chat, user, "Confirm booking")
    assert done.text.startswith("Moved. Scheduled maintenance for")
    moved = await fresh(chat, appointment)
    assert moved.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
    assert moved.slot_start != appointment.slot_start


async def test_cancel_on_a_reminder_cancels_and_frees_the_place(chat: Harness) -> None:
    user, appointment = await booked_owner(chat)
    reminder = await remind(chat, user, appointment)

    await chat.press(user, reminder, button_data(reminder, "Cancel"))
    assert chat.sandbox.message(user.id, reminder.message_id).text.startswith("Cancelled:")
    assert (await fresh(chat, appointment)).status == AppointmentStatus.CANCELLED
    async with chat.sessions() as session:
        taken = await session.scalar(
            select(SlotUsage.taken).where(SlotUsage.slot_start == appointment.slot_start)
        )
    assert taken == 0
    assert any(text.startswith("❌ 預約取消") for text in await topic_texts(chat, user))

    # Pressed again: the appointment is no longer open; nothing changes.
    await chat.press(user, reminder, f"care:cancel:-:{appointment.id}", forge=True)
    assert last_answer(chat) == "This is no longer open; nothing was changed."


async def test_cancel_and_reschedule_inside_the_cutoff_are_refused_with_advice(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    store = with_cutoff(relay_store(store_config), 24 * 40)
    async with relay_harness(database_url, sandbox, store) as harness:
        user, appointment = await booked_owner(harness)
        reminder = await remind(harness, user, appointment)

        replies = await harness.press(user, reminder, button_data(reminder, "Cancel"))
        assert "Changes are not possible within" in replies[-1].text
        replies = await harness.press(user, reminder, button_data(reminder, "Another time"))
        assert "Changes are not possible within" in replies[-1].text
        unchanged = await fresh(harness, appointment)
        assert unchanged.status == AppointmentStatus.BOOKED
        assert unchanged.confirmation != Confirmation.RESCHEDULED
        # The reminder keeps its buttons: Confirm still works.
        assert harness.sandbox.message(user.id, reminder.message_id).buttons
    await sandbox.aclose()


# --- the satisfaction survey --------------------------------------------------------------------


async def survey_for(harness: Harness, user: User) -> tuple[int, StoredMessage]:
    customer = await customer_row(harness, user)
    async with transaction(harness.sessions) as session:
        survey = SurveyResponse(store_id=customer.store_id, customer_id=customer.id)
        session.add(survey)
        await session.flush()
        survey_id = survey.id
    message = await deliver_care(
        harness,
        user,
        "care_survey",
        {"survey_id": survey_id, "visited_on": "2026-05-01", "plate": "ABC-1234"},
    )
    return survey_id, message


async def survey_row(harness: Harness, survey_id: int) -> SurveyResponse:
    async with harness.sessions() as session:
        return await session.get_one(SurveyResponse, survey_id)


async def test_a_score_of_5_is_recorded_once_and_the_comment_can_be_skipped(
    chat: Harness,
) -> None:
    user = await signed_up_customer(chat)
    survey_id, question = await survey_for(chat, user)

    await chat.press(user, question, button_data(question, "5"))
    thanks = chat.sandbox.message(user.id, question.message_id)
    assert "Thank you for your score (5 / 5)" in thanks.text
    assert (await survey_row(chat, survey_id)).score == 5

    await chat.press(user, thanks, button_data(thanks, "Skip"))
    assert chat.last(user.id).text == "Thank you for your feedback!"
    await chat.press(user, question, f"care:score:-:{survey_id}:1", forge=True)
    assert last_answer(chat) == "Already answered, thank you."
    assert (await survey_row(chat, survey_id)).score == 5
    texts = await topic_texts(chat, user) if await _has_thread(chat, user) else []
    assert not any("滿意度偏低" in text for text in texts)


async def _has_thread(harness: Harness, user: User) -> bool:
    customer = await customer_row(harness, user)
    async with harness.sessions() as session:
        return await thread_of(session, customer.id) is not None


async def test_a_score_of_2_alerts_the_advisor_topic_and_the_comment_follows_it(
    chat: Harness,
) -> None:
    user = await signed_up_customer(chat)
    survey_id, question = await survey_for(chat, user)

    await chat.press(user, question, button_data(question, "2"))
    assert "⚠️ 滿意度偏低：2 / 5" in "\n".join(await topic_texts(chat, user))

    await write(chat, user, "The car was not washed <and> late")
    assert chat.last(user.id).text == "Thank you, we have received your comment."
    survey = await survey_row(chat, survey_id)
    assert (survey.score, survey.comment) == (2, "The car was not washed <and> late")
    texts = await topic_texts(chat, user)
    assert "The car was not washed <and> late" in texts[-1]
    assert texts[-1].startswith("💬 問卷意見（評分 2 / 5）")


# --- marketing consent --------------------------------------------------------------------------


async def queue_marketing(harness: Harness, user: User, key: str, marketing: bool) -> None:
    customer = await customer_row(harness, user)
    async with transaction(harness.sessions) as session:
        session.add(
            Outbox(
                store_id=customer.store_id,
                customer_id=customer.id,
                kind="birthday",
                idempotency_key=key,
                marketing=marketing,
                template="care_birthday",
                payload={},
                due_at=LATER + dt.timedelta(days=3),
            )
        )


async def statuses(harness: Harness) -> dict[str, OutboxStatus]:
    async with harness.sessions() as session:
        rows = await session.scalars(select(Outbox))
        return {row.idempotency_key: row.status for row in rows}


async def consent(harness: Harness, user: User) -> bool:
    async with harness.sessions() as session:
        customer = await session.scalar(
            select(Customer).where(Customer.telegram_user_id == user.id)
        )
    assert customer is not None
    return customer.marketing_consent


async def test_unsubscribe_button_and_stop_end_marketing_and_subscribe_restores_it(
    chat: Harness,
) -> None:
    user = await signed_up_customer(chat)
    customer = await customer_row(chat, user)
    async with transaction(chat.sessions) as session:
        row = await session.get_one(Customer, customer.id)
        row.marketing_consent = True
    offer = await deliver_care(chat, user, "care_birthday", {}, marketing=True)
    await queue_marketing(chat, user, "later-offer", marketing=True)
    await queue_marketing(chat, user, "later-booking-news", marketing=False)

    replies = await chat.press(user, offer, UNSUBSCRIBE)
    assert replies[-1].text.startswith("🔕 Done: you will get no more offers")
    assert not await consent(chat, user)
    found = await statuses(chat)
    assert found["later-offer"] == OutboxStatus.CANCELLED
    assert found["later-booking-news"] == OutboxStatus.PENDING

    await chat.press(user, offer, UNSUBSCRIBE)
    assert last_answer(chat).startswith("You already get no offers")

    replies = await chat.send(user, "/subscribe")
    assert replies[-1].text.startswith("🔔 Welcome back")
    assert await consent(chat, user)
    await queue_marketing(chat, user, "offer-after-subscribe", marketing=True)

    replies = await chat.send(user, "/stop")
    assert replies[-1].text.startswith("🔕 Done")
    assert not await consent(chat, user)
    assert (await statuses(chat))["offer-after-subscribe"] == OutboxStatus.CANCELLED


# --- buttons that are not the presser's ---------------------------------------------------------


async def test_forged_or_foreign_care_buttons_change_nothing(chat: Harness) -> None:
    user, appointment = await booked_owner(chat)
    reminder = await remind(chat, user, appointment)
    stranger = await signed_up_customer(chat, name="Wang Wu", plate=None)
    await chat.send(stranger, "/help")
    own = chat.last(stranger.id)

    # Another user pressing a button in the owner's chat.
    await chat.press(stranger, reminder, f"care:confirm:-:{appointment.id}", forge=True)
    assert last_answer(chat) == "This button is not for you."
    # The owner's appointment and survey numbers, forged in the stranger's own chat.
    for data in (
        f"care:confirm:-:{appointment.id}",
        f"care:cancel:-:{appointment.id}",
        f"care:reschedule:-:{appointment.id}",
        "care:explode:-:1",
        "care:score:-:1:9",
    ):
        await chat.press(stranger, own, data, forge=True)
        assert last_answer(chat) == "This is no longer open; nothing was changed.", data
    still = await fresh(chat, appointment)
    assert (still.status, still.confirmation) == (appointment.status, appointment.confirmation)
    assert chat.sandbox.message(user.id, reminder.message_id).buttons


# --- the advisors' /preview and /campaign -------------------------------------------------------


def bot_texts(harness: Harness, chat_id: int) -> list[str]:
    return [m.text or "" for m in harness.sandbox.messages(chat_id, from_bot=True)]


async def test_preview_shows_a_care_template_with_samples_or_lists_the_kinds(
    chat: Harness,
) -> None:
    await advisor_writes(chat, None, "/preview appointment_day_before")
    shown = chat.last(chat.advisor_chat_id)
    # The advisors' language is the store's (zh-Hant); buttons are listed, not pressable.
    assert shown.text.startswith("👁 預覽：care_appointment_day_before（範例資料）")
    assert "Wed 6 May, 09:00" in shown.text
    assert "[ ✅ 確認到店 ]\n[ 📅 改約時間 ]\n[ ✖️ 取消預約 ]" in shown.text
    assert shown.buttons == []

    await advisor_writes(chat, None, "/preview nothing_like_this")
    listed = chat.last(chat.advisor_chat_id).text
    assert "maintenance" in listed and "campaign_seasonal_check" in listed


async def test_campaign_from_the_advisor_group_counts_previews_and_starts_once(
    chat: Harness,
) -> None:
    owners = [await signed_up_customer(chat, name=f"Owner {n}", plate=None) for n in range(3)]
    for user in owners[:2]:
        customer = await customer_row(chat, user)
        async with transaction(chat.sessions) as session:
            (await session.get_one(Customer, customer.id)).marketing_consent = True

    await advisor_writes(chat, None, "/campaign seasonal_check all")
    offer = chat.last(chat.advisor_chat_id)
    assert "收件人（使用 Telegram 且接收優惠）：2" in offer.text
    preview = chat.sandbox.messages(chat.advisor_chat_id, from_bot=True)[-2]
    assert preview.text.startswith("👁 預覽：campaign_seasonal_check")
    assert [b["text"] for b in offer.buttons] == ["🚀 發送給 2 位", "✖️ 取消"]
    async with chat.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Outbox)) == 0

    await chat.press(chat.advisor, offer, offer.callback_data[0])
    started = chat.sandbox.message(chat.advisor_chat_id, offer.message_id)
    assert started.text.startswith("🚀") and started.buttons == []
    async with chat.sessions() as session:
        [campaign] = (await session.scalars(select(Campaign))).all()
        queued = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.kind == "campaign")
        )
    assert campaign.confirmed_at is not None and campaign.recipients == 2 and queued == 2

    await chat.press(chat.advisor, offer, f"cadv:go:-:{campaign.id}", forge=True)
    assert last_answer(chat) == "這次活動訊息已經啟動了。"
    async with chat.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Outbox)) == 2

    await advisor_writes(chat, None, "/campaign seasonal_check segment=nobody")
    assert "⚠️" in chat.last(chat.advisor_chat_id).text


async def test_preview_and_campaign_are_refused_outside_the_advisor_group(
    chat: Harness,
) -> None:
    stranger = await signed_up_customer(chat, name="Zhang San", plate=None)
    before = bot_texts(chat, stranger.id)
    await chat.send(stranger, "/preview maintenance")
    await chat.send(stranger, "/campaign seasonal_check all")
    assert bot_texts(chat, stranger.id) == before
    async with chat.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_a_cancelled_campaign_offer_queues_nothing_even_if_confirmed_later(
    chat: Harness,
) -> None:
    user = await signed_up_customer(chat, plate=None)
    customer = await customer_row(chat, user)
    async with transaction(chat.sessions) as session:
        (await session.get_one(Customer, customer.id)).marketing_consent = True
    await advisor_writes(chat, None, "/campaign campaign_seasonal_check segment=all")
    offer = chat.last(chat.advisor_chat_id)
    go, drop = offer.callback_data

    await chat.press(chat.advisor, offer, drop)
    assert chat.sandbox.message(chat.advisor_chat_id, offer.message_id).text.endswith(
        "已取消這次活動訊息，未寄出任何訊息。"
    )
    await chat.press(chat.advisor, offer, go, forge=True)
    assert last_answer(chat) == "這次活動訊息已取消。"
    async with chat.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Outbox)) == 0


def test_campaign_words_read_template_and_audience_like_the_cli() -> None:
    templates = ["campaign_seasonal_check"]
    template, audience = parse_campaign_words(
        'seasonal_check lost brand=Toyota model="Corolla Cross" fleet=taxi', templates
    )
    assert template == "campaign_seasonal_check"
    assert audience == Audience(
        segment="lost", brands=["Toyota"], models=["Corolla Cross"], fleet_tags=[FleetTag.TAXI]
    )
    assert parse_campaign_words("campaign_seasonal_check all", templates)[1] == Audience()
    for wrong in ("", "summer_sale all", "seasonal_check colour=red", "seasonal_check fleet=boat"):
        with pytest.raises(ValueError):
            parse_campaign_words(wrong, templates)
