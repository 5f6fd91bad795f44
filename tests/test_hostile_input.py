"""Hostile and broken input through the whole application: it is shown as text or refused.

The sandbox parses the bot's HTML strictly, so markup that leaked from customer data would come
back as a 400 (a failed handler here) or show as a visible entity; the harness also fails a test
on any request that breaks the Bot API spec.
"""

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.models import (
    Appointment,
    ClubEvent,
    Customer,
    CustomerNote,
    EventSignup,
    MessageLink,
    Outbox,
    Vehicle,
)
from bot.sandbox import Sandbox, StoredMessage, User
from bot.store_config import StoreConfig
from tests.harness import Harness
from tests.owner_steps import (
    TAIPEI,
    action_data,
    add_car,
    appointments_of,
    customer_of,
    sign_up,
    tap,
    tap_first,
)
from tests.relay_steps import (
    advisor_writes,
    relay_harness,
    relay_store,
    relayed,
    signed_up_customer,
    thread_row,
    topic_messages,
    write,
)

HOSTILE = "{{ 7*7 }} {% raw %}<script>alert(1)</script> &amp; </b> ${7*7} {#"
# What a leak would look like: an evaluated expression, or markup the bot let through.
EVALUATED = "49"

WRITES = (Appointment, ClubEvent, CustomerNote, EventSignup, MessageLink, Outbox, Vehicle)


@pytest.fixture
async def relay(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[Harness]:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as harness:
        yield harness
    await sandbox.aclose()
    assert sandbox.violations == []
    assert sandbox.internal_errors == []


async def _counts(harness: Harness) -> dict[str, int]:
    async with harness.sessions() as session:
        return {
            table.__tablename__: int(await session.scalar(select(func.count()).select_from(table)))
            for table in WRITES
        }


def _shown_as_text(message: StoredMessage) -> None:
    """The hostile string arrives literally: nothing evaluated, tags and entities as typed."""
    assert message.text is not None
    assert "{{ 7*7 }}" in message.text and "<script>alert(1)</script>" in message.text
    assert "&amp;" in message.text and "</b>" in message.text and "{% raw %}" in message.text


async def _topic(harness: Harness, user: User) -> int:
    topic = (await thread_row(harness, user)).topic_id
    assert topic is not None
    return topic


# --- names, plates, notes and titles are text ------------------------------------------------


async def test_markup_and_template_syntax_in_a_name_is_greeted_as_text(harness: Harness) -> None:
    owner = harness.sandbox.add_user(HOSTILE, language_code="en", last_name="</i><b>")
    [greeting, *_] = await harness.send(owner, "/start")
    assert EVALUATED not in greeting.text
    await harness.share_contact(owner, "+886 912 345 678")
    customer = await customer_of(harness, owner)
    assert customer.name is not None and "{{ 7*7 }}" in customer.name


async def test_a_hostile_name_and_message_reach_the_advisors_topic_as_text(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, name=f"Mei {HOSTILE}")
    copy = await write(relay, mei, HOSTILE)
    topic = await _topic(relay, mei)
    [title] = [t for t in relay.sandbox.topics(relay.advisor_chat_id) if t.thread_id == topic]
    assert "{{ 7*7 }}" in title.name
    relayed_texts = [m for m in topic_messages(relay, relay.advisor_chat_id, topic) if m.text]
    assert any(m.text == copy.text for m in relayed_texts)
    await advisor_writes(relay, topic, "/card")
    _shown_as_text(relay.sandbox.last_message(relay.advisor_chat_id))


async def test_an_advisors_note_with_markup_shows_on_the_card_as_text_and_never_reaches_the_customer(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    await write(relay, mei, "Hello")
    topic = await _topic(relay, mei)
    before = len(relay.sandbox.messages(mei.id))
    await advisor_writes(relay, topic, f"// {HOSTILE}")
    assert len(relay.sandbox.messages(mei.id)) == before
    await advisor_writes(relay, topic, "/card")
    _shown_as_text(relay.sandbox.last_message(relay.advisor_chat_id))


async def test_an_advisors_reply_with_template_syntax_reaches_the_customer_unevaluated(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    await write(relay, mei, "Hello")
    topic = await _topic(relay, mei)
    await advisor_writes(relay, topic, HOSTILE)
    reply = relay.sandbox.last_message(mei.id)
    assert reply is not None
    _shown_as_text(reply)


async def test_a_hostile_plate_is_refused_or_kept_as_text(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await harness.send(owner, "My cars")
    await tap(harness, owner, "Add a car")
    [answer] = await harness.send(owner, "<b>AB</b>-{{7*7}}")
    assert EVALUATED not in answer.text
    assert "<b>AB</b>-{{7*7}}" in answer.text or "plate" in answer.text.lower()
    async with harness.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Vehicle)) == 0


async def test_a_booking_note_with_markup_is_kept_and_shown_as_text(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Scheduled maintenance")
    await tap_first(harness, owner, "day")
    await tap_first(harness, owner, "slot")
    [summary] = await harness.send(owner, HOSTILE)
    _shown_as_text(summary)
    await tap(harness, owner, "Confirm booking")
    [appointment] = await appointments_of(harness, owner)
    assert appointment.note == HOSTILE
    card = harness.last(harness.advisor_chat_id)
    _shown_as_text(card)


async def test_an_event_title_with_markup_is_previewed_as_text(harness: Harness) -> None:
    await harness.send(harness.advisor, "/events", chat_id=harness.advisor_chat_id)
    await _advisor_presses(harness, "new")
    [preview, *_] = await harness.send(harness.advisor, HOSTILE, chat_id=harness.advisor_chat_id)
    assert EVALUATED not in preview.text
    await _advisor_presses(harness, "skip")
    await harness.send(harness.advisor, "Neihu", chat_id=harness.advisor_chat_id)
    harness.sandbox.send_location(harness.advisor, 25.08, 121.57, chat_id=harness.advisor_chat_id)
    await harness.deliver()
    day = dt.datetime.now(TAIPEI).date() + dt.timedelta(days=3)
    for answer in (f"{day:%Y-%m-%d} 14:00", "17:00", "4", f"{day:%Y-%m-%d} 10:00", "2"):
        await harness.send(harness.advisor, answer, chat_id=harness.advisor_chat_id)
    await _advisor_presses(harness, "aud", "all")
    await harness.press(
        harness.advisor,
        harness.last(harness.advisor_chat_id),
        _action(harness.last(harness.advisor_chat_id), "skip"),
    )
    _shown_as_text(harness.last(harness.advisor_chat_id))


def _action(message: StoredMessage, action: str) -> str:
    for data in message.callback_data:
        if data.split(":")[1] == action:
            return data
    raise AssertionError(f"no {action} button in {message.callback_data}")


async def _advisor_presses(harness: Harness, action: str, *args: object) -> None:
    for message in reversed(harness.sandbox.messages(harness.advisor_chat_id, from_bot=True)):
        for data in message.callback_data:
            parts = data.split(":")
            if parts[1] == action and (not args or parts[3:] == [str(a) for a in args]):
                await harness.press(harness.advisor, message, data)
                return
    raise AssertionError(f"no {action} button in the advisor chat")


# --- overlong text ------------------------------------------------------------------------------


async def test_an_overlong_booking_note_is_cut_to_its_limit_and_the_summary_still_goes(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Scheduled maintenance")
    await tap_first(harness, owner, "day")
    await tap_first(harness, owner, "slot")
    [summary] = await harness.send(owner, "<&>" * 1_400)
    assert len(summary.text) <= 4096
    await tap(harness, owner, "Confirm booking")
    [appointment] = await appointments_of(harness, owner)
    assert appointment.note is not None and 0 < len(appointment.note) < 4096


async def test_an_overlong_event_title_is_refused_with_a_reason(harness: Harness) -> None:
    await harness.send(harness.advisor, "/events", chat_id=harness.advisor_chat_id)
    await _advisor_presses(harness, "new")
    [answer, *_] = await harness.send(harness.advisor, "T" * 5_000, chat_id=harness.advisor_chat_id)
    assert "T" * 200 not in answer.text
    async with harness.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ClubEvent)) == 0


async def test_the_longest_customer_message_and_advisor_reply_cross_the_relay(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    longest = "長" * 4096
    await write(relay, mei, longest)
    topic = await _topic(relay, mei)
    posted = "".join(m.text or "" for m in topic_messages(relay, relay.advisor_chat_id, topic))
    assert posted.count("長") >= 4096
    await advisor_writes(relay, topic, "<" * 4096)
    reply = relay.sandbox.last_message(mei.id)
    assert reply is not None and reply.text is not None and reply.text.count("<") == 4096


# --- wrong kinds of input -----------------------------------------------------------------------


async def test_unknown_commands_get_no_answer_and_write_nothing(relay: Harness) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    before = await _counts(relay)
    for command in ("/foo", "/start@other_bot", "/admin drop table", "/note hi", "/close"):
        assert await relay.send(mei, command) == []
    await relayed(relay)
    assert await _counts(relay) == before


async def test_stickers_voice_and_locations_where_text_is_expected_leave_the_step_as_it_was(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await harness.send(owner, "My cars")
    asked = await tap(harness, owner, "Add a car")
    harness.sandbox.send_sticker(owner)
    harness.sandbox.send_voice(owner)
    harness.sandbox.send_location(owner, 25.0, 121.5)
    harness.sandbox.send_document(owner)
    await harness.deliver()
    # The plate question is still the current step: a plate typed now is taken.
    assert "plate" in asked.text.lower()
    await harness.send(owner, "ABC-1234")
    assert "brand" in harness.last(owner.id).text


async def test_a_sticker_before_sign_up_leads_back_to_sign_up(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await harness.send(owner, "/start")
    harness.sandbox.send_sticker(owner)
    harness.sandbox.send_location(owner, 25.0, 121.5)
    await harness.deliver()
    before = await _counts(harness)
    await harness.share_contact(owner, "+886 912 345 678")
    assert (await customer_of(harness, owner)).phone == "+886912345678"
    assert await _counts(harness) == before


@pytest.mark.parametrize(
    "forged",
    [
        "book:slot:999:209901011000",
        "book:confirm:1",
        "cars:remove:1:1",
        "appts:cancel:1:1",
        "events:join:1:1",
        "lang:set:0:xx",
        "signup:consent:0:yes",
        "adv:confirm:-:1",
        "evadv:publish:-:1",
        "relay:score:-:5",
        "book::",
        ":::::",
        "x" * 64,
        "book:slot:99999999999999999999:1",
        "本:予約:1",
    ],
)
async def test_forged_button_data_is_answered_and_changes_nothing(
    harness: Harness, forged: str
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    before = await _counts(harness)
    message = harness.last(owner.id)
    delivered = harness.sandbox.press_button(owner, message, forged, forge=True)
    await harness.deliver()
    assert await _counts(harness) == before
    answers = [a for a in harness.sandbox.callback_answers if a.query_id == delivered.query_id]
    assert answers, "the button press was left spinning"


async def test_a_button_from_another_owners_chat_books_nothing_for_anyone(
    harness: Harness,
) -> None:
    mei = harness.sandbox.add_user("Mei", language_code="en")
    bob = harness.sandbox.add_user("Bob", language_code="en")
    for owner, phone in ((mei, "+886912000001"), (bob, "+886912000002")):
        await sign_up(harness, owner, phone)
        await add_car(harness, owner, f"ABC-{phone[-4:]}", "Toyota", "RAV4")
    await harness.send(mei, "Book service")
    await tap(harness, mei, "Scheduled maintenance")
    days = harness.last(mei.id)
    await harness.press(bob, days, action_data(days, "day")[0])
    await harness.deliver()
    assert await appointments_of(harness, mei) == []
    assert await appointments_of(harness, bob) == []
    # Mei's own conversation is where she left it.
    await tap_first(harness, mei, "day")
    assert action_data(harness.last(mei.id), "slot")


async def test_an_advisors_card_button_pressed_by_a_customer_does_nothing(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Scheduled maintenance")
    await tap_first(harness, owner, "day")
    await tap_first(harness, owner, "slot")
    await tap(harness, owner, "No note, continue")
    await tap(harness, owner, "Confirm booking")
    card = harness.last(harness.advisor_chat_id)
    adv = [d for d in card.callback_data if d.startswith("adv:")]
    assert adv
    [before] = await appointments_of(harness, owner)
    for data in adv:
        harness.sandbox.press_button(owner, harness.last(owner.id), data, forge=True)
    await harness.deliver()
    [after] = await appointments_of(harness, owner)
    assert after.status == before.status


async def test_someone_elses_contact_card_is_refused(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    other = harness.sandbox.add_user("Bob", language_code="en")
    await harness.send(owner, "/start")
    [answer] = await harness.share_contact(owner, "+886912999999", contact_user_id=other.id)
    assert "+886912999999" not in answer.text or "own" in answer.text.lower()
    async with harness.sessions() as session:
        phones = list(await session.scalars(select(Customer.phone)))
    assert "+886912999999" not in phones


# --- strangers and advisor commands ---------------------------------------------------------


ADVISOR_COMMANDS = ("/card", "/note x", "/close", "/reopen", "/reply thanks", "/book", "/ban")


async def test_a_stranger_in_a_private_chat_cannot_use_advisor_commands(relay: Harness) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    await write(relay, mei, "Hello")
    stranger = relay.sandbox.add_user("Eve", language_code="en")
    before = await _counts(relay)
    for command in (*ADVISOR_COMMANDS, "/events"):
        for reply in await relay.send(stranger, command):
            assert "Mei" not in reply.text and "+8869" not in reply.text
    await relayed(relay)
    assert await _counts(relay) == before
    assert not relay.sandbox.topics(relay.advisor_chat_id)[0].closed


async def test_a_stranger_group_gets_nothing_and_the_bot_leaves_it(relay: Harness) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    await write(relay, mei, "Hello")
    stranger = relay.sandbox.add_user("Eve", language_code="en")
    elsewhere = relay.sandbox.add_forum("Not the advisors", members=[stranger])
    before = await _counts(relay)
    for command in (*ADVISOR_COMMANDS, "/events", "// note"):
        relay.sandbox.send_text(stranger, command, chat_id=elsewhere)
        await relay.deliver()
    await relayed(relay)
    assert await _counts(relay) == before
    said = [m.text or "" for m in relay.sandbox.messages(elsewhere, from_bot=True)]
    assert not any("Mei" in text for text in said)
    assert relay.sandbox.calls("leaveChat")


async def test_a_customer_cannot_post_as_an_advisor_by_replying_in_their_private_chat(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, name="Mei")
    bob = await signed_up_customer(relay, name="Bob", plate="XYZ-9999")
    await write(relay, mei, "Hello")
    await write(relay, bob, "/card")
    await relayed(relay)
    for reply in relay.sandbox.messages(bob.id, from_bot=True):
        assert "Mei" not in (reply.text or "")
