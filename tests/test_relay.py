"""The relay through the sandbox: every kind of message both ways, albums, edits, quotes, notes."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.db import transaction
from bot.models import Customer, CustomerNote, LinkDirection, MessageLink, Vehicle
from bot.sandbox import Sandbox
from bot.store_config import StoreConfig
from tests.harness import Harness
from tests.owner_steps import add_car, sign_up, tap
from tests.relay_steps import (
    advisor_writes,
    customer_row,
    relay_harness,
    relay_store,
    relayed,
    signed_up_customer,
    thread_row,
    topic_messages,
    wait_until,
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


async def test_first_message_opens_a_topic_named_after_the_customer_with_their_card(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay, "Mei <Lin>", plate="ABC-1234")
    await write(relay, mei, "Hello, my brakes squeak")

    [topic] = relay.sandbox.topics(relay.advisor_chat_id)
    assert topic.name == "Mei <Lin> · ABC-1234"
    card, copy = topic_messages(relay, relay.advisor_chat_id, topic.thread_id)
    # The card is in the advisors' language (the store's default, zh-Hant) and escapes names.
    assert "Mei <Lin>" in card.text and "&lt;Lin&gt;" in (card.html or "")
    assert "ABC-1234" in card.text and "45,210 km" in card.text
    assert "下次保養" in card.text and "行銷訊息：不同意" in card.text
    assert copy.text == "Hello, my brakes squeak"
    assert (await thread_row(relay, mei)).topic_id == topic.thread_id
    # Nothing was said to the customer: the store is open.
    assert relay.sandbox.messages(mei.id, from_bot=True) == []


async def test_every_kind_of_customer_message_is_copied_into_the_topic_in_order(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay)
    sandbox = relay.sandbox
    sandbox.send_text(mei, "text first")
    sandbox.send_photo(mei, caption="the dent")
    sandbox.send_document(mei, file_name="invoice.pdf")
    sandbox.send_voice(mei)
    sandbox.send_video(mei)
    sandbox.send_sticker(mei)
    sandbox.send_location(mei, 25.08, 121.56)
    sandbox.send_contact(mei, phone_number="+886912000111", first_name="Wife")
    await relay.deliver()
    await relayed(relay)

    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    kinds = [m.kind for m in topic_messages(relay, relay.advisor_chat_id, topic)]
    assert kinds == [
        "text",  # the card
        "text",
        "photo",
        "document",
        "voice",
        "video",
        "sticker",
        "location",
        "contact",
    ]
    photo = topic_messages(relay, relay.advisor_chat_id, topic)[2]
    assert photo.caption == "the dent"


async def test_an_album_arrives_in_the_topic_as_one_album(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    relay.sandbox.send_album(mei, [b"\xff\xd8one", b"\xff\xd8two", ("video", b"three")])
    await relay.deliver()
    await relayed(relay)

    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    album = topic_messages(relay, relay.advisor_chat_id, topic)[1:]
    assert [m.kind for m in album] == ["photo", "photo", "video"]
    assert len({m.media_group_id for m in album}) == 1 and album[0].media_group_id
    assert len(relay.sandbox.calls("copyMessages")) == 1


async def test_whatever_an_advisor_writes_in_the_topic_reaches_the_customer_signed(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Is my car ready?")
    topic = (await thread_row(relay, mei)).topic_id
    sandbox, group, chen = relay.sandbox, relay.advisor_chat_id, relay.advisor

    await advisor_writes(relay, topic, "Yes, <b>ready</b> at 5 pm")
    sandbox.send_photo(chen, caption="here it is", chat_id=group, thread_id=topic)
    sandbox.send_document(chen, chat_id=group, thread_id=topic)
    sandbox.send_voice(chen, chat_id=group, thread_id=topic)
    sandbox.send_video(chen, chat_id=group, thread_id=topic)
    sandbox.send_sticker(chen, chat_id=group, thread_id=topic)
    sandbox.send_location(chen, 25.0, 121.5, chat_id=group, thread_id=topic)
    await relay.deliver()

    received = sandbox.messages(mei.id, from_bot=True)
    assert [m.kind for m in received] == [
        "text",
        "photo",
        "document",
        "voice",
        "video",
        "sticker",
        "location",
    ]
    # The advisor's text is the customer's text, markup shown as typed, signed in English.
    assert received[0].text == "Yes, <b>ready</b> at 5 pm\n\n— Chen, service advisor"
    assert received[1].caption == "here it is\n\n— Chen, service advisor"
    async with relay.sessions() as session:
        links = (await session.scalars(select(MessageLink))).all()
    assert sum(link.direction == LinkDirection.TO_CUSTOMER for link in links) == 7


async def test_an_advisors_album_reaches_the_customer_as_one_album(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Photos of the repair please")
    topic = (await thread_row(relay, mei)).topic_id
    relay.sandbox.send_album(
        relay.advisor, [b"\xff\xd8a", b"\xff\xd8b"], chat_id=relay.advisor_chat_id, thread_id=topic
    )
    await relay.deliver()

    # The items arrive one by one; the bot waits a moment and copies them as one album.
    await wait_until(relay, lambda: len(relay.sandbox.messages(mei.id, from_bot=True)) == 2)
    received = relay.sandbox.messages(mei.id, from_bot=True)
    assert received[0].media_group_id and received[0].media_group_id == received[1].media_group_id


async def test_edits_follow_both_ways(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    original = await write(relay, mei, "Pick up at 4")
    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    copy = topic_messages(relay, relay.advisor_chat_id, topic)[-1]

    relay.sandbox.edit_text(mei, original, "Pick up at 5")
    await relay.deliver()
    await relayed(relay)
    assert relay.sandbox.message(relay.advisor_chat_id, copy.message_id).text == "Pick up at 5"

    answer = await advisor_writes(relay, topic, "See you at 5")
    relay.sandbox.edit_text(relay.advisor, answer, "See you at 5:30")
    await relay.deliver()
    customer_copy = relay.sandbox.last_message(mei.id)
    assert customer_copy is not None
    assert customer_copy.text == "See you at 5:30\n\n— Chen, service advisor"
    assert customer_copy.edit_date is not None


async def test_an_edit_before_the_post_went_out_changes_what_is_posted(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    delivered = relay.sandbox.send_text(mei, "tomorow")
    relay.sandbox.edit_text(mei, delivered.message, "tomorrow")
    await relay.deliver()
    await relayed(relay)
    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    texts = [m.text for m in topic_messages(relay, relay.advisor_chat_id, topic)[1:]]
    assert texts == ["tomorrow"]


async def test_quotes_point_at_the_right_message_on_the_other_side(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    asked = await write(relay, mei, "Can you check the tyres and the wipers?")
    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    asked_copy = topic_messages(relay, relay.advisor_chat_id, topic)[-1]

    # The advisor quotes part of the customer's message (replying to its copy in the topic).
    await advisor_writes(relay, topic, "Wipers done", reply_to=asked_copy, quote="the wipers")
    answer = relay.sandbox.last_message(mei.id)
    assert answer is not None
    assert answer.reply_to_message_id == asked.message_id
    assert answer.quote is not None and answer.quote["text"] == "the wipers"

    # The customer quotes the advisor's answer (the bot's copy in their chat).
    await write(relay, mei, "Thanks!", reply_to=answer, quote="Wipers")
    thanks = topic_messages(relay, relay.advisor_chat_id, topic)[-1]
    advisor_answer = next(
        m for m in topic_messages(relay, relay.advisor_chat_id, topic) if m.text == "Wipers done"
    )
    assert thanks.text == "Thanks!"
    assert thanks.reply_to_message_id == advisor_answer.message_id
    assert thanks.quote is not None and thanks.quote["text"] == "Wipers"


async def test_notes_stay_in_the_group_and_show_on_the_card(relay: Harness) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Hi")
    topic = (await thread_row(relay, mei)).topic_id
    await advisor_writes(relay, topic, "// prefers calls after 6 pm")
    await advisor_writes(relay, topic, "/note VIP, <owns three cars>")
    await advisor_writes(relay, topic, "/card")

    assert relay.sandbox.messages(mei.id, from_bot=True) == []
    async with relay.sessions() as session:
        notes = [
            n.text for n in await session.scalars(select(CustomerNote).order_by(CustomerNote.id))
        ]
    assert notes == ["prefers calls after 6 pm", "VIP, <owns three cars>"]
    assert topic is not None
    card = topic_messages(relay, relay.advisor_chat_id, topic)[-1]
    assert "prefers calls after 6 pm" in card.text and "VIP, <owns three cars>" in card.text
    assert (await thread_row(relay, mei)).card_message_id == card.message_id


async def test_a_customer_who_blocks_the_bot_is_marked_and_the_topic_says_so(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "Hi")
    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None

    relay.sandbox.block_bot(mei)
    await relay.deliver()
    await relayed(relay)
    customer = await customer_row(relay, mei)
    assert customer.reachable is False and customer.blocked_at is not None
    # The advisors read the store's default language, zh-Hant.
    assert "客戶已封鎖機器人" in topic_messages(relay, relay.advisor_chat_id, topic)[-1].text

    # An advisor who writes anyway is told at once; nothing is lost silently.
    await advisor_writes(relay, topic, "Are you there?")
    assert "客戶已封鎖機器人" in topic_messages(relay, relay.advisor_chat_id, topic)[-1].text

    relay.sandbox.unblock_bot(mei)
    await relay.deliver()
    await relayed(relay)
    assert (await customer_row(relay, mei)).reachable is True
    assert "重新開啟了機器人" in topic_messages(relay, relay.advisor_chat_id, topic)[-1].text


async def test_someone_not_signed_up_can_ask_a_person_and_is_told_once_where_it_went(
    relay: Harness,
) -> None:
    visitor = relay.sandbox.add_user("Hao", language_code="en")
    await relay.send(visitor, "/start")
    [told] = await relay.send(visitor, "How much is the 40,000 km service?")
    assert "with our service advisors" in told.text
    assert relay.sandbox.keyboard(visitor.id)["keyboard"][0][0]["request_contact"] is True
    assert await relay.send(visitor, "For a 2021 RAV4") == []
    await relayed(relay)

    [topic] = relay.sandbox.topics(relay.advisor_chat_id)
    card, *copies = topic_messages(relay, relay.advisor_chat_id, topic.thread_id)
    assert "尚未註冊" in card.text
    relayed_lines = [line for m in copies for line in (m.text or "").splitlines()]
    assert relayed_lines == ["How much is the 40,000 km service?", "For a 2021 RAV4"]
    # The advisor's answer reaches them; a typed number is still about signing up.
    await advisor_writes(relay, topic.thread_id, "About NT$4,800, an hour and a half")
    assert "NT$4,800" in relay.sandbox.last_message(visitor.id).text
    [refused] = await relay.send(visitor, "0912 345 678")
    assert "Typed numbers are not accepted" in refused.text
    await relayed(relay)
    in_topic = topic_messages(relay, relay.advisor_chat_id, topic.thread_id)
    assert not any("0912" in (m.text or "") for m in in_topic)
    # Signed up, they keep their topic.
    await relay.share_contact(visitor, "+886 912 345 678")
    await write(relay, visitor, "Booked, thanks")
    assert [t.thread_id for t in relay.sandbox.topics(relay.advisor_chat_id)] == [topic.thread_id]


async def test_a_nul_character_in_a_customers_text_is_dropped_and_the_rest_relayed(
    relay: Harness,
) -> None:
    mei = await signed_up_customer(relay)
    await write(relay, mei, "brakes\x00 squeak")
    topic = (await thread_row(relay, mei)).topic_id
    assert topic is not None
    assert topic_messages(relay, relay.advisor_chat_id, topic)[-1].text == "brakes squeak"


async def test_signing_up_as_a_known_customer_keeps_the_topic_and_names_it_after_them(
    relay: Harness,
) -> None:
    carebot = relay.app.bot_data.carebot
    async with transaction(relay.sessions) as session:
        imported = Customer(
            store_id=carebot.store_id, name="王小明", phone="+886912345678", locale="zh-Hant"
        )
        session.add(imported)
        await session.flush()
        session.add(Vehicle(store_id=carebot.store_id, customer_id=imported.id, plate="ABC-1234"))
    visitor = relay.sandbox.add_user("Hao", language_code="en")
    await relay.send(visitor, "/start")
    await write(relay, visitor, "Is my car ready?")
    [topic] = relay.sandbox.topics(relay.advisor_chat_id)
    assert topic.name == "Hao"

    await relay.share_contact(visitor, "+886 912 345 678")
    await tap(relay, visitor, "No, only my bookings")
    await relayed(relay)

    [topic] = relay.sandbox.topics(relay.advisor_chat_id)
    assert topic.name == "王小明 · ABC-1234"
    card = topic_messages(relay, relay.advisor_chat_id, topic.thread_id)[-1]
    assert "王小明" in card.text and "ABC-1234" in card.text and "尚未註冊" not in card.text
    await write(relay, visitor, "Thanks")
    assert topic_messages(relay, relay.advisor_chat_id, topic.thread_id)[-1].text == "Thanks"
    await advisor_writes(relay, topic.thread_id, "Ready at five")
    assert "Ready at five" in relay.sandbox.last_message(visitor.id).text
    async with relay.sessions() as session:
        assert (await thread_row(relay, visitor)).customer_id == imported.id
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1


async def test_a_new_plate_renames_the_owners_topic(relay: Harness) -> None:
    mei = relay.sandbox.add_user("Mei", language_code="en")
    await sign_up(relay, mei)
    await add_car(relay, mei, "ABC-1234", "Toyota", "RAV4")
    await write(relay, mei, "Hello")
    [topic] = relay.sandbox.topics(relay.advisor_chat_id)
    assert topic.name == "Mei · ABC-1234"

    await add_car(relay, mei, "XYZ-5678", "Toyota", "RAV4")
    await relayed(relay)

    [topic] = relay.sandbox.topics(relay.advisor_chat_id)
    assert topic.name == "Mei · ABC-1234 · XYZ-5678"
    assert "XYZ-5678" in topic_messages(relay, relay.advisor_chat_id, topic.thread_id)[-1].text
