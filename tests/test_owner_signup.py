"""Sign-up as an owner through the sandbox: own contact only, linking to the store's records."""

import datetime as dt

from sqlalchemy import func, select

from bot.handlers.menu import COMMANDS
from bot.models import Customer, Vehicle
from tests.harness import Harness
from tests.owner_steps import customer_of, sign_up, tap

MENU = [["Book service", "My appointments"], ["My cars", "Club events"], ["Talk to an advisor"]]


def _menu_labels(harness: Harness, chat_id: int) -> list[list[str]]:
    keyboard = harness.sandbox.keyboard(chat_id) or {}
    return [[button["text"] for button in row] for row in keyboard.get("keyboard", [])]


async def test_owner_signs_up_with_their_own_contact_and_gets_the_menu(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    replies = await harness.send(owner, "/start")
    assert "Welcome to Kaicheng Motors" in replies[0].text
    assert "Privacy" in replies[1].text
    contact_button = harness.sandbox.keyboard(owner.id)["keyboard"][0][0]
    assert contact_button["request_contact"] is True

    replies = await harness.share_contact(owner, "0912-345-678")
    assert "You are registered" in replies[0].text
    assert _menu_labels(harness, owner.id) == MENU
    assert harness.sandbox.keyboard(owner.id)["is_persistent"] is True
    assert "offers" in replies[1].text
    last = await tap(harness, owner, "Yes, send me")
    assert "we will send you offers" in last.text

    customer = await customer_of(harness, owner)
    assert customer.phone == "+886912345678"
    assert customer.privacy_accepted_at is not None
    assert customer.marketing_consent is True
    assert customer.marketing_consent_at is not None


async def test_declining_marketing_is_recorded_as_a_no(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner, consent=False)
    customer = await customer_of(harness, owner)
    assert customer.marketing_consent is False
    assert customer.marketing_consent_at is not None


async def test_a_foreign_typed_or_anonymous_contact_is_refused_and_changes_nothing(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    friend = harness.sandbox.add_user("Lin", language_code="en")
    await harness.send(owner, "/start")

    replies = await harness.share_contact(owner, "+886 922 222 222", contact_user_id=friend.id)
    assert "not your own number" in replies[0].text
    replies = await harness.send(owner, "0922 222 222")
    assert "use the" in replies[0].text and "Typed numbers are not accepted" in replies[0].text
    # A contact card without a Telegram account behind it (typed into the address book).
    harness.sandbox._post_as_user(
        owner,
        None,
        None,
        None,
        None,
        kind="contact",
        media={"contact": {"phone_number": "+886922222222", "first_name": "Lin"}},
    )
    await harness.deliver()
    assert "not your own number" in harness.last(owner.id).text

    customer = await customer_of(harness, owner)
    assert customer.phone is None
    assert customer.privacy_accepted_at is None
    # Still signing up: the contact button is still there, the menu is not.
    assert harness.sandbox.keyboard(owner.id)["keyboard"][0][0]["request_contact"] is True
    replies = await harness.send(owner, "My cars")
    assert "Share my phone number" in replies[0].text


async def test_sharing_a_phone_the_store_knows_links_the_imported_customer(
    harness: Harness,
) -> None:
    async with harness.sessions() as session, session.begin():
        imported = Customer(
            store_id=harness.app.bot_data.carebot.store_id,
            name="王小明",
            phone="+886912345678",
            created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        )
        session.add(imported)
        await session.flush()
        session.add(
            Vehicle(
                store_id=imported.store_id,
                customer_id=imported.id,
                plate="ABC-1234",
                brand="Toyota",
            )
        )
    owner = harness.sandbox.add_user("Xiaoming", language_code="en")
    await harness.send(owner, "/start")
    replies = await harness.share_contact(owner, "886912345678")
    assert "We found your record" in replies[0].text
    assert "王小明" in replies[0].text
    await tap(harness, owner, "No, only my bookings")

    async with harness.sessions() as session:
        customers = list(await session.scalars(select(Customer)))
    assert [(c.id, c.telegram_user_id, c.phone) for c in customers] == [
        (imported.id, owner.id, "+886912345678")
    ]
    replies = await harness.send(owner, "My cars")
    assert "ABC-1234 Toyota" in replies[0].text


async def test_an_unsigned_owner_is_led_back_to_sign_up_and_cancel_stops_it(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    replies = await harness.send(owner, "hello?")
    assert "Welcome" in replies[0].text and "Share my phone number" in replies[1].text
    replies = await harness.send(owner, "/book")
    assert any("Share my phone number" in reply.text for reply in replies)
    replies = await harness.send(owner, "/cancel")
    assert "Sign-up stopped" in replies[0].text
    async with harness.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Customer).where(Customer.phone.is_not(None))
            )
            == 0
        )


async def test_language_switch_changes_replies_and_menu(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await harness.send(owner, "/language")
    last = await tap(harness, owner, "简体中文")
    assert "简体中文" in last.text
    assert _menu_labels(harness, owner.id)[0] == ["预约保养维修", "我的预约"]
    assert (await customer_of(harness, owner)).locale == "zh-Hans"
    # A label from the keyboard shown before the switch still works, answered in the new language.
    replies = await harness.send(owner, "My cars")
    assert "您还没有添加车辆" in replies[0].text


async def test_commands_are_published_for_each_language(harness: Harness) -> None:
    calls = harness.sandbox.calls("setMyCommands")
    languages = {call.params.get("language_code") for call in calls}
    assert languages == {None, "en", "zh"}
    english = next(call for call in calls if call.params.get("language_code") == "en")
    names = [command["command"] for command in english.params["commands"]]
    assert names == list(COMMANDS)
    assert {"start", "book", "appointments", "cars", "language", "cancel", "help", "stop"} <= set(
        names
    )


async def test_talk_to_an_advisor_tells_the_owner_to_write(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    replies = await harness.send(owner, "Talk to an advisor")
    assert "Write your message here" in replies[0].text
