"""Advisor commands in a topic, the out-of-hours answer, and posts about a customer."""

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from bot.handlers.to_advisors import post_to_advisors
from bot.models import AdvisorThread, Appointment, AppointmentStatus, SurveyResponse
from bot.opening_hours import next_opening
from bot.sandbox import Sandbox
from bot.store_config import StoreConfig
from tests.harness import Harness, button_data
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


@pytest.fixture
async def relay(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[Harness]:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as harness:
        yield harness
    await sandbox.aclose()
    assert sandbox.violations == []


async def _topic(relay: Harness, user: object) -> int:
    topic = (await thread_row(relay, user)).topic_id  # type: ignore[arg-type]
    assert topic is not None
    return topic


async def test_close_asks_the_customer_for_a_score_once_and_the_topic_hears_it(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Thanks for today")
    topic = await _topic(relay, mei)

    await advisor_writes(relay, topic, "/close")
    assert relay.sandbox.topics(relay.advisor_chat_id)[0].closed
    question = relay.sandbox.last_message(mei.id)
    assert question is not None and "How did we do?" in question.text
    assert [b["text"] for b in question.buttons] == [f"{n} ⭐" for n in range(1, 6)]

    await relay.press(mei, question, button_data(question, "4 ⭐"))
    await relayed(relay)
    assert (
        "Thank you for your rating (4 / 5)"
        in relay.sandbox.message(mei.id, question.message_id).text
    )
    async with relay.sessions() as session:
        [survey] = (await session.scalars(select(SurveyResponse))).all()
    assert (survey.score, survey.visit_id) == (4, None) and survey.answered_at is not None
    assert "4</b> / 5" in (topic_messages(relay, relay.advisor_chat_id, topic)[-1].html or "")

    # The same question cannot be answered twice (a second tap, a forged button).
    await relay.press(mei, question, f"relay:score:-:{survey.id}:1", forge=True)
    async with relay.sessions() as session:
        assert (await session.get_one(SurveyResponse, survey.id)).score == 4

    # The customer writes again: the topic opens again by itself.
    await write(relay, mei, "One more question")
    assert not relay.sandbox.topics(relay.advisor_chat_id)[0].closed
    assert topic_messages(relay, relay.advisor_chat_id, topic)[-1].text == "One more question"


async def test_reopen_opens_a_closed_topic(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Hi")
    topic = await _topic(relay, mei)
    await advisor_writes(relay, topic, "/close")
    # Only those who manage topics may write in a closed one (Telegram's rule).
    relay.sandbox.add_member(relay.advisor_chat_id, relay.advisor, status="administrator")
    await advisor_writes(relay, topic, "/reopen")
    assert not relay.sandbox.topics(relay.advisor_chat_id)[0].closed
    assert (await thread_row(relay, mei)).closed is False


async def test_a_canned_reply_is_sent_in_each_customers_language(relay: Harness) -> None:
    mei = await signed_up_customer(relay, "Mei Lin", language_code="en")
    wang = await signed_up_customer(relay, "王小明", language_code="zh-hans", plate="京A12345")
    await write(relay, mei, "Hello")
    await write(relay, wang, "你好")

    await advisor_writes(relay, await _topic(relay, mei), "/reply thanks")
    await advisor_writes(relay, await _topic(relay, wang), "/reply thanks")
    english = relay.sandbox.last_message(mei.id)
    chinese = relay.sandbox.last_message(wang.id)
    assert english is not None and english.text.startswith("Hello Mei Lin, thank you")
    assert chinese is not None and chinese.text.startswith("王小明 您好，谢谢您的来信")
    assert chinese.text.endswith("— 服务顾问 Chen")

    await advisor_writes(relay, await _topic(relay, mei), "/reply nosuchthing")
    hint = topic_messages(relay, relay.advisor_chat_id, await _topic(relay, mei))[-1]
    assert "nosuchthing" in hint.text and "thanks" in hint.text
    assert relay.sandbox.last_message(mei.id) == english


async def test_book_proposes_free_slots_and_one_tap_books_one(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Can I come in for maintenance?")
    topic = await _topic(relay, mei)

    await advisor_writes(relay, topic, "/book maintenance")
    offer = relay.sandbox.last_message(mei.id)
    assert offer is not None and "Scheduled maintenance" in offer.text
    assert len(offer.buttons) == 3
    assert "已向客戶提出" in topic_messages(relay, relay.advisor_chat_id, topic)[-1].text

    await relay.press(mei, offer, offer.callback_data[0])
    await relayed(relay)
    assert relay.sandbox.message(mei.id, offer.message_id).text.startswith("Booked!")
    async with relay.sessions() as session:
        [appointment] = (await session.scalars(select(Appointment))).all()
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.service_type == "maintenance"
    # The booking card lands in the customer's topic, like every post about them.
    card = topic_messages(relay, relay.advisor_chat_id, topic)[-1]
    assert f"#{appointment.id}" in card.text and card.buttons


async def test_ban_stops_relaying_a_customer_and_unban_starts_again(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Hi")
    topic = await _topic(relay, mei)
    await advisor_writes(relay, topic, "/ban")
    assert (await customer_row(relay, mei)).banned_at is not None
    await write(relay, mei, "spam spam spam")
    assert all(
        m.text != "spam spam spam" for m in topic_messages(relay, relay.advisor_chat_id, topic)
    )

    await advisor_writes(relay, topic, "/unban")
    await write(relay, mei, "sorry")
    assert topic_messages(relay, relay.advisor_chat_id, topic)[-1].text == "sorry"


async def test_a_command_outside_a_customers_topic_says_where_to_use_it(relay: Harness) -> None:
    await advisor_writes(relay, None, "/card")
    answer = relay.sandbox.last_message(relay.advisor_chat_id)
    assert answer is not None and "主題" in answer.text


async def test_posts_about_a_customer_go_into_their_topic(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    carebot = relay.app.bot_data.carebot
    assert carebot is not None
    customer = await customer_row(relay, mei)
    posted = await post_to_advisors(relay.app.bot, carebot, customer, "🆕 <b>New booking</b>")
    assert posted is not None
    topic = await _topic(relay, mei)
    assert posted.message_thread_id == topic
    card, booking = topic_messages(relay, relay.advisor_chat_id, topic)
    assert "ABC-1234" in card.text and booking.text == "🆕 New booking"


async def test_out_of_hours_the_customer_hears_when_the_store_opens_once_per_period(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    now = dt.datetime.now(dt.UTC)
    tz = dt.timezone(dt.timedelta(hours=8))
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (now.astimezone(tz).weekday() + 2) % 7
    ]
    hours = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "closed")
    hours[weekday] = "09:00-10:00"
    store = relay_store(store_config, opening_hours=hours, auto_reply_every_hours=12)
    async with relay_harness(database_url, sandbox, store) as relay:
        mei = await signed_up_customer(relay)
        await write(relay, mei, "Are you open?")
        await write(relay, mei, "Hello?")
        answers = sandbox.messages(mei.id, from_bot=True)
        assert len(answers) == 1
        opens = next_opening(store, now, relay.settings.timezone)
        assert opens is not None
        assert opens.strftime("%H:%M") == "09:00"
        carebot = relay.app.bot_data.carebot
        assert carebot is not None
        when = carebot.render.label("en", "format_when", d=opens)
        assert f"We open at {when}" in answers[0].text
        # The messages still went to the advisors.
        texts = [
            m.text for m in topic_messages(relay, relay.advisor_chat_id, await _topic(relay, mei))
        ]
        assert texts[1:] in (["Are you open?", "Hello?"], ["Are you open?\nHello?"])

        # After the period, the next message is answered again.
        async with relay.sessions() as session, session.begin():
            await session.execute(
                update(AdvisorThread).values(auto_reply_at=now - dt.timedelta(hours=13))
            )
        await write(relay, mei, "Anyone?")
        assert len(sandbox.messages(mei.id, from_bot=True)) == 2
    await sandbox.aclose()
