"""A restart between any two steps resumes a booking, an event sign-up and a relay conversation.

Each restart is a new application on the same database (`Harness.restart`): nothing survives
but what was stored.
"""

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.db import transaction
from bot.events import create_event, publish_event
from bot.models import EventSignup, LinkDirection, MessageLink
from bot.sandbox import Sandbox
from bot.store_config import StoreConfig
from tests.harness import Harness
from tests.owner_steps import (
    TAIPEI,
    add_car,
    appointments_of,
    customer_of,
    sign_up,
    slot_of,
    tap,
    tap_first,
)
from tests.relay_steps import (
    advisor_writes,
    relay_harness,
    relay_store,
    signed_up_customer,
    thread_row,
    write,
)


async def test_a_booking_restarted_after_every_step_is_booked_as_chosen(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await harness.restart()
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    await harness.restart()
    await harness.send(owner, "Book service")
    await harness.restart()
    await tap(harness, owner, "Scheduled maintenance")
    await harness.restart()
    times = await tap_first(harness, owner, "day")
    chosen = next(d for d in times.callback_data if d.split(":")[1] == "slot")
    await harness.restart()
    await harness.press(owner, times, chosen)
    await harness.restart()
    await harness.send(owner, "rattle at the back")
    await harness.restart()
    done = await tap(harness, owner, "Confirm booking")
    assert "Confirm booking" not in str(done.buttons)
    [appointment] = await appointments_of(harness, owner)
    assert appointment.slot_start == slot_of(chosen)
    assert appointment.note == "rattle at the back"


async def test_an_event_sign_up_restarted_at_each_question_keeps_its_place(
    harness: Harness,
) -> None:
    starts = dt.datetime.now(TAIPEI).replace(microsecond=0) + dt.timedelta(days=5)
    async with transaction(harness.sessions) as session:
        event = await create_event(
            session,
            harness.app.bot_data.carebot.store_id,
            {
                "title": "Coffee & detailing",
                "place": "Neihu showroom",
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=3),
                "seats": 6,
                "companions_allowed": 2,
                "signup_deadline": starts - dt.timedelta(days=1),
            },
        )
        await publish_event(session, event.id, dt.datetime.now(dt.UTC))
    owner = harness.sandbox.add_user("Ann", language_code="en")
    await sign_up(harness, owner, consent=True)
    await harness.send(owner, "Club events")
    await harness.restart()
    await tap(harness, owner, "Coffee &")
    await harness.restart()
    await tap(harness, owner, "Sign up")
    await harness.restart()
    done = await tap(harness, owner, "2 people")
    assert "You are signed up, 2 people" in done.text
    customer = await customer_of(harness, owner)
    async with harness.sessions() as session:
        signup = await session.get(EventSignup, 1)
    assert signup is not None
    assert (signup.customer_id, signup.party_size) == (customer.id, 2)


@pytest.fixture
async def relay(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[Harness]:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as harness:
        yield harness
    await sandbox.aclose()
    assert sandbox.violations == []


async def test_a_relay_conversation_goes_on_across_restarts_with_replies_mapped_both_ways(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    asked = await write(relay, mei, "Is my car ready?")
    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    await relay.restart()
    # The advisor answers the copy of Mei's question: she sees it as a reply to her own message.
    [copy] = [
        m
        for m in relay.sandbox.messages(relay.advisor_chat_id, thread_id=topic)
        if m.text == "Is my car ready?"
    ]
    await advisor_writes(relay, topic, "Yes, come at five", reply_to=copy)
    answer = relay.sandbox.last_message(mei.id)
    assert answer is not None and "Yes, come at five" in answer.text
    assert answer.reply_to_message_id == asked.message_id
    await relay.restart()
    # Mei replies to the advisor's answer: it lands in the same topic, as a reply to it.
    thanks = await write(relay, mei, "Thanks, see you", reply_to=answer)
    await relay.restart()
    [posted] = [
        m
        for m in relay.sandbox.messages(relay.advisor_chat_id, thread_id=topic)
        if m.text == "Thanks, see you"
    ]
    answered = [
        m
        for m in relay.sandbox.messages(relay.advisor_chat_id, thread_id=topic)
        if m.message_id == posted.reply_to_message_id
    ]
    assert answered and "Yes, come at five" in (answered[0].text or "")
    async with relay.sessions() as session:
        directions = set(
            await session.scalars(
                select(MessageLink.direction).where(
                    MessageLink.customer_message_id.in_([asked.message_id, thanks.message_id])
                )
            )
        )
    assert directions == {LinkDirection.TO_GROUP}
