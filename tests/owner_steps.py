"""What an owner does in the chat, step by step, for the conversation tests (English labels)."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.models import Appointment, Customer
from bot.sandbox import StoredMessage, User
from tests.harness import Harness, button_data

TAIPEI = ZoneInfo("Asia/Taipei")


def newest_with_button(harness: Harness, chat_id: int, label: str) -> StoredMessage:
    """The bot's newest message in a chat that has a button whose text contains `label`."""
    for message in reversed(harness.sandbox.messages(chat_id, from_bot=True)):
        if any(label in button.get("text", "") for button in message.buttons):
            return message
    raise AssertionError(f"no message in chat {chat_id} has a button {label!r}")


async def tap(
    harness: Harness, user: User, label: str, chat_id: int | None = None
) -> StoredMessage:
    """Press the button labelled `label` on the newest message showing it; the bot's last word."""
    chat = chat_id or user.id
    message = newest_with_button(harness, chat, label)
    await harness.press(user, message, button_data(message, label))
    return harness.last(chat)


def action_data(message: StoredMessage, action: str) -> list[str]:
    """callback_data of the message's buttons for one action (e.g. every `day`)."""
    return [data for data in message.callback_data if data.split(":")[1] == action]


async def tap_first(harness: Harness, user: User, action: str) -> StoredMessage:
    """Press the first button of an action (the first free day, the first time)."""
    message = harness.last(user.id)
    choices = action_data(message, action)
    assert choices, f"no {action!r} button in {message.text!r}"
    await harness.press(user, message, choices[0])
    return harness.last(user.id)


def slot_of(data: str) -> dt.datetime:
    """The slot a time button stands for (`book:slot:<v>:<YYYYMMDDHHMM>` in store time)."""
    local = dt.datetime.strptime(data.split(":")[3], "%Y%m%d%H%M").replace(tzinfo=TAIPEI)
    return local.astimezone(dt.UTC)


async def sign_up(
    harness: Harness, user: User, phone: str = "+886 912 345 678", consent: bool = False
) -> None:
    await harness.send(user, "/start")
    await harness.share_contact(user, phone)
    await tap(harness, user, "Yes, send me" if consent else "No, only my bookings")


async def add_car(
    harness: Harness,
    user: User,
    plate: str,
    brand: str,
    model: str,
    registered: str = "2021-03-15",
    km: str = "45210",
) -> StoredMessage:
    """My cars -> Add a car, answering every question; returns the bot's last message."""
    await harness.send(user, "My cars")
    await tap(harness, user, "Add a car")
    await harness.send(user, plate)
    await tap(harness, user, brand)
    await tap(harness, user, model)
    await harness.send(user, registered)
    await harness.send(user, km)
    return harness.last(user.id)


async def book_first_free(harness: Harness, user: User, service: str) -> StoredMessage:
    """Book service for the only car: the service, the first free day and time, no note."""
    await harness.send(user, "Book service")
    await tap(harness, user, service)
    await tap_first(harness, user, "day")
    await tap_first(harness, user, "slot")
    await tap(harness, user, "No note, continue")
    return await tap(harness, user, "Confirm booking")


async def customer_of(harness: Harness, user: User) -> Customer:
    async with harness.sessions() as session:
        customer = await session.scalar(
            select(Customer).where(Customer.telegram_user_id == user.id)
        )
    assert customer is not None
    return customer


async def appointments_of(harness: Harness, user: User) -> list[Appointment]:
    customer = await customer_of(harness, user)
    async with harness.sessions() as session:
        rows = await session.scalars(
            select(Appointment)
            .where(Appointment.customer_id == customer.id)
            .order_by(Appointment.id)
        )
        return list(rows)
