"""Booking as an owner through the sandbox: the whole conversation and what can go wrong in it."""

import datetime as dt

from sqlalchemy import select

from bot.booking import book_appointment
from bot.models import AppointmentStatus, Customer, SlotUsage, Vehicle
from bot.sandbox import User
from tests.harness import Harness, button_data
from tests.owner_steps import (
    TAIPEI,
    action_data,
    add_car,
    appointments_of,
    book_first_free,
    customer_of,
    sign_up,
    slot_of,
    tap,
    tap_first,
)


async def _owner_with_car(
    harness: Harness, name: str = "Mei", phone: str = "+886912345678"
) -> User:
    owner = harness.sandbox.add_user(name, language_code="en")
    await sign_up(harness, owner, phone=phone)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    return owner


async def _someone_takes(harness: Harness, service_type: str, start: dt.datetime) -> None:
    """Another customer books a slot directly, as a concurrent chat would."""
    carebot = harness.app.bot_data.carebot
    async with harness.sessions() as session, session.begin():
        other = Customer(store_id=carebot.store_id, name="Other", phone=f"+88693{start:%d%H%M}00")
        session.add(other)
        await session.flush()
        car = Vehicle(store_id=carebot.store_id, customer_id=other.id, plate=f"OTH-{start:%H%M}")
        session.add(car)
        await session.flush()
        await book_appointment(
            session,
            store_id=carebot.store_id,
            store=carebot.store,
            tz=TAIPEI,
            now=dt.datetime.now(dt.UTC),
            customer_id=other.id,
            vehicle_id=car.id,
            service_type=service_type,
            slot_start=start,
        )


async def test_owner_books_a_slot_with_a_note_and_the_advisors_get_a_card(
    harness: Harness,
) -> None:
    owner = await _owner_with_car(harness)
    replies = await harness.send(owner, "Book service")
    assert "ABC-1234 Toyota RAV4" in replies[0].text  # one car: chosen without asking
    calendar = await tap(harness, owner, "Scheduled maintenance")
    assert "choose a day" in calendar.text
    day_buttons = action_data(calendar, "day")
    assert day_buttons, "the calendar offers no day"
    times = await tap_first(harness, owner, "day")
    assert "choose a time" in times.text
    slot = slot_of(action_data(times, "slot")[0])
    note_question = await tap_first(harness, owner, "slot")
    assert "Anything we should know?" in note_question.text
    replies = await harness.send(owner, "Squeaking <brakes> & a rattle")
    assert "Please check your booking" in replies[0].text
    assert "Squeaking <brakes> & a rattle" in replies[0].text
    done = await tap(harness, owner, "Confirm booking")
    assert "Booked!" in done.text

    [appointment] = await appointments_of(harness, owner)
    assert appointment.slot_start == slot
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.service_type == "maintenance"
    assert appointment.note == "Squeaking <brakes> & a rattle"
    async with harness.sessions() as session:
        usage = await session.scalar(select(SlotUsage))
    assert usage is not None and (usage.slot_start, usage.taken) == (slot, 1)

    card = harness.last(harness.advisor_chat_id)
    # Advisors read the store's default language (zh-Hant here).
    assert "新預約" in card.text and "ABC-1234" in card.text and "+886912345678" in card.text
    labels = [button["text"] for button in card.buttons]
    assert labels == ["✅ 確認", "📅 請客戶改時間", "🚗 已到店", "⚠️ 爽約", "🏁 完工"]


async def test_a_photo_of_the_problem_travels_with_the_booking(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Repair")
    await tap_first(harness, owner, "day")
    await tap_first(harness, owner, "slot")
    harness.sandbox.send_photo(owner, caption="dent on the door")
    await harness.deliver()
    assert "Photo attached" in harness.last(owner.id).text
    await tap(harness, owner, "Confirm booking")
    [appointment] = await appointments_of(harness, owner)
    assert appointment.photo_file_id and appointment.note == "dent on the door"
    card = harness.last(harness.advisor_chat_id)
    assert card.kind == "photo" and "dent on the door" in (card.caption or "")


async def test_owner_with_two_cars_chooses_one_and_a_deep_link_names_it(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    await add_car(harness, owner, "XYZ-9876", "Audi", "Q5")
    replies = await harness.send(owner, "Book service")
    assert "Which car" in replies[0].text
    last = await tap(harness, owner, "XYZ-9876")
    assert "XYZ-9876 Audi Q5" in last.text and "What do you need?" in last.text

    customer = await customer_of(harness, owner)
    async with harness.sessions() as session:
        audi = await session.scalar(select(Vehicle).where(Vehicle.plate == "XYZ-9876"))
    assert audi is not None and audi.customer_id == customer.id
    replies = await harness.send(owner, f"/start book_{audi.id}")
    assert "Welcome" in replies[0].text
    assert "XYZ-9876 Audi Q5" in replies[1].text and "What do you need?" in replies[1].text


async def test_a_deep_link_from_before_sign_up_opens_after_it(harness: Harness) -> None:
    carebot_store_id = harness.app.bot_data.carebot.store_id
    async with harness.sessions() as session, session.begin():
        imported = Customer(store_id=carebot_store_id, name="王小明", phone="+886912345678")
        session.add(imported)
        await session.flush()
        car = Vehicle(store_id=carebot_store_id, customer_id=imported.id, plate="ABC-1234")
        other = Vehicle(store_id=carebot_store_id, customer_id=imported.id, plate="ABD-1234")
        session.add_all([car, other])
        await session.flush()
    owner = harness.sandbox.add_user("Xiaoming", language_code="en")
    await harness.send(owner, f"/start book_{other.id}")
    await harness.share_contact(owner, "+886912345678")
    last = await tap(harness, owner, "No, only my bookings")
    assert "ABD-1234" in last.text and "What do you need?" in last.text


async def test_owner_reschedules_then_cancels_with_a_reason(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    await book_first_free(harness, owner, "Scheduled maintenance")
    [booked] = await appointments_of(harness, owner)

    replies = await harness.send(owner, "My appointments")
    assert "Scheduled maintenance" in replies[0].text
    await tap(harness, owner, "Scheduled maintenance")
    calendar = await tap(harness, owner, "Move to another time")
    assert "choose a day" in calendar.text
    times = await tap_first(harness, owner, "day")
    later = action_data(times, "slot")[-1]
    await harness.press(owner, times, later)
    summary = harness.last(owner.id)
    assert "From:" in summary.text and "To:" in summary.text
    moved = await tap(harness, owner, "Confirm booking")
    assert "Moved." in moved.text

    [appointment] = await appointments_of(harness, owner)
    assert appointment.id == booked.id
    assert appointment.slot_start == slot_of(later) != booked.slot_start
    async with harness.sessions() as session:
        usage = dict((await session.execute(select(SlotUsage.slot_start, SlotUsage.taken))).all())
    assert usage == {booked.slot_start: 0, appointment.slot_start: 1}
    assert "預約改期" in harness.last(harness.advisor_chat_id).text

    await harness.send(owner, "My appointments")
    await tap(harness, owner, "Scheduled maintenance")
    await tap(harness, owner, "Cancel appointment")
    replies = await harness.send(owner, "I sold the car")
    assert "Cancelled" in replies[0].text
    [appointment] = await appointments_of(harness, owner)
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancel_reason == "I sold the car"
    card = harness.last(harness.advisor_chat_id)
    assert "預約取消" in card.text and "I sold the car" in card.text
    assert card.buttons == []
    replies = await harness.send(owner, "My appointments")
    assert "no upcoming appointments" in replies[0].text


async def test_a_restart_in_the_middle_of_a_booking_resumes_at_the_same_step(
    harness: Harness,
) -> None:
    owner = await _owner_with_car(harness)
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Scheduled maintenance")
    times = await tap_first(harness, owner, "day")
    first_time = action_data(times, "slot")[0]

    await harness.restart()

    await harness.press(owner, times, first_time)
    assert "Anything we should know?" in harness.last(owner.id).text
    await harness.restart()
    replies = await harness.send(owner, "please check the tyres")
    assert "Please check your booking" in replies[0].text
    await tap(harness, owner, "Confirm booking")
    [appointment] = await appointments_of(harness, owner)
    assert appointment.slot_start == slot_of(first_time)
    assert appointment.note == "please check the tyres"


async def test_a_button_from_an_older_message_is_out_of_date_and_the_flow_goes_on(
    harness: Harness,
) -> None:
    owner = await _owner_with_car(harness)
    [old] = await harness.send(owner, "Book service")
    [new] = await harness.send(owner, "Book service")
    await harness.press(owner, old, button_data(old, "Repair"))
    answer = harness.sandbox.callback_answers[-1]
    assert answer.show_alert and "out of date" in (answer.text or "")
    assert "What do you need?" in harness.sandbox.message(owner.id, old.message_id).text

    await harness.press(owner, new, button_data(new, "Repair"))
    assert "choose a day" in harness.last(owner.id).text
    assert harness.sandbox.callback_answers[-1].text is None


async def test_text_where_a_button_is_expected_asks_the_same_step_again(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    await harness.send(owner, "Book service")
    replies = await harness.send(owner, "an oil change please")
    assert "Please choose with the buttons below" in replies[0].text
    assert "What do you need?" in replies[0].text
    last = await tap(harness, owner, "Scheduled maintenance")
    assert "choose a day" in last.text


async def test_a_past_date_gets_a_clear_answer_and_the_calendar_again(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Scheduled maintenance")
    yesterday = dt.datetime.now(TAIPEI).date() - dt.timedelta(days=1)
    replies = await harness.send(owner, yesterday.isoformat())
    assert "has already passed" in replies[0].text
    assert action_data(replies[0], "day"), "the calendar is shown again"
    times = await tap_first(harness, owner, "day")
    assert "choose a time" in times.text


async def test_a_slot_filled_meanwhile_is_answered_and_other_times_are_offered(
    harness: Harness,
) -> None:
    owner = await _owner_with_car(harness)
    await harness.send(owner, "Book service")
    await tap(harness, owner, "Bodywork and paint")
    times = await tap_first(harness, owner, "day")
    first, second = action_data(times, "slot")[:2]

    # Filled while the owner looked at the times.
    await _someone_takes(harness, "bodywork", slot_of(first))
    await harness.press(owner, times, first)
    again = harness.last(owner.id)
    assert "is no longer free" in again.text
    assert first.split(":")[3] not in "".join(again.callback_data)

    # Filled between the summary and the confirmation: the nearest free times are offered.
    await harness.press(
        owner, again, next(d for d in again.callback_data if d.endswith(second.split(":")[3]))
    )
    await tap(harness, owner, "No note, continue")
    await _someone_takes(harness, "bodywork", slot_of(second))
    offer = await tap(harness, owner, "Confirm booking")
    assert "someone has just taken" in offer.text
    nearest = action_data(offer, "slot")
    assert nearest and all(slot_of(d) not in (slot_of(first), slot_of(second)) for d in nearest)
    await harness.press(owner, offer, nearest[0])
    await tap(harness, owner, "No note, continue")
    done = await tap(harness, owner, "Confirm booking")
    assert "Booked!" in done.text
    [appointment] = await appointments_of(harness, owner)
    assert appointment.slot_start == slot_of(nearest[0])


async def test_cancel_leaves_the_flow_and_its_buttons(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    [services] = await harness.send(owner, "Book service")
    replies = await harness.send(owner, "/cancel")
    assert "Stopped" in replies[0].text
    await harness.press(owner, services, button_data(services, "Repair"))
    assert "out of date" in (harness.sandbox.callback_answers[-1].text or "")
    replies = await harness.send(owner, "/cancel")
    assert "nothing to stop" in replies[0].text
    assert await appointments_of(harness, owner) == []


async def test_booking_without_a_car_adds_one_first_then_books_it(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    replies = await harness.send(owner, "/book")
    assert "first add your car" in replies[0].text
    await harness.send(owner, "ABC-1234")
    await tap(harness, owner, "Toyota")
    await tap(harness, owner, "RAV4")
    await tap(harness, owner, "Skip")
    replies = await harness.send(owner, "20000")
    assert "Saved" in replies[0].text
    assert "What do you need?" in replies[1].text


async def test_a_button_pressed_by_someone_else_does_nothing(harness: Harness) -> None:
    owner = await _owner_with_car(harness)
    stranger = harness.sandbox.add_user("Stranger", language_code="en")
    [services] = await harness.send(owner, "Book service")
    await harness.press(stranger, services, button_data(services, "Repair"))
    assert "What do you need?" in harness.sandbox.message(owner.id, services.message_id).text
    async with harness.sessions() as session:
        known = await session.scalar(
            select(Customer).where(Customer.telegram_user_id == stranger.id)
        )
    assert known is None
    # The owner's own press still works: the stranger changed nothing.
    await harness.press(owner, services, button_data(services, "Repair"))
    assert "choose a day" in harness.last(owner.id).text
