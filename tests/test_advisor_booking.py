"""The advisors' side of a booking through the sandbox: card buttons, completion, customer news."""

from sqlalchemy import select

from bot.models import (
    AppointmentStatus,
    Confirmation,
    OdometerReading,
    ReadingSource,
    ServiceVisit,
    VisitKind,
)
from bot.sandbox import StoredMessage, User
from tests.harness import Harness, button_data
from tests.owner_steps import (
    action_data,
    add_car,
    appointments_of,
    book_first_free,
    sign_up,
    slot_of,
    tap,
    tap_first,
)


async def _booked_owner(harness: Harness) -> User:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4", km="45210")
    await book_first_free(harness, owner, "Scheduled maintenance")
    return owner


async def _advisor_taps(harness: Harness, label: str) -> None:
    card = harness.last(harness.advisor_chat_id)
    for message in reversed(harness.sandbox.messages(harness.advisor_chat_id, from_bot=True)):
        if any(label in button.get("text", "") for button in message.buttons):
            card = message
            break
    await harness.press(harness.advisor, card, button_data(card, label))


async def test_advisor_confirms_checks_in_and_completes_with_the_odometer(
    harness: Harness,
) -> None:
    owner = await _booked_owner(harness)
    card_id = harness.last(harness.advisor_chat_id).message_id

    await _advisor_taps(harness, "確認")
    card = harness.sandbox.message(harness.advisor_chat_id, card_id)
    assert "已確認" in card.text and "Chen" in card.text
    assert card.buttons[0]["text"] == "📅 請客戶改時間"
    assert "Your appointment is confirmed" in harness.last(owner.id).text
    [appointment] = await appointments_of(harness, owner)
    assert (appointment.status, appointment.confirmation) == (
        AppointmentStatus.CONFIRMED,
        Confirmation.CONFIRMED,
    )

    await _advisor_taps(harness, "已到店")
    assert "checked in your car" in harness.last(owner.id).text
    assert [
        b["text"] for b in harness.sandbox.message(harness.advisor_chat_id, card_id).buttons
    ] == ["🏁 完工"]

    await _advisor_taps(harness, "完工")
    question = harness.last(harness.advisor_chat_id)
    assert "里程" in question.text and question.reply_markup["force_reply"] is True
    assert question.reply_to_message_id == card_id
    # A reply that is not a number is asked again; nothing is recorded yet.
    await harness.send(harness.advisor, "soon", chat_id=harness.advisor_chat_id, reply_to=question)
    again = harness.last(harness.advisor_chat_id)
    assert "不是公里數" in again.text
    async with harness.sessions() as session:
        assert await session.scalar(select(ServiceVisit)) is None

    await harness.send(
        harness.advisor, "48,350", chat_id=harness.advisor_chat_id, reply_to=question
    )
    assert "48,350" in harness.last(harness.advisor_chat_id).text
    async with harness.sessions() as session:
        visit = await session.scalar(select(ServiceVisit))
        readings = list(await session.scalars(select(OdometerReading).order_by(OdometerReading.id)))
    assert visit is not None
    assert (visit.km, visit.kind, visit.from_appointment, visit.appointment_id) == (
        48_350,
        VisitKind.MAINTENANCE,
        True,
        appointment.id,
    )
    assert [(r.km, r.source) for r in readings] == [
        (45_210, ReadingSource.CUSTOMER),
        (48_350, ReadingSource.VISIT),
    ]
    [appointment] = await appointments_of(harness, owner)
    assert appointment.status == AppointmentStatus.COMPLETED
    card = harness.sandbox.message(harness.advisor_chat_id, card_id)
    assert "已完工" in card.text and card.buttons == []
    assert "is ready" in harness.last(owner.id).text and "48,350 km" in harness.last(owner.id).text

    # The same question answered twice records nothing more.
    await harness.send(
        harness.advisor, "48,351", chat_id=harness.advisor_chat_id, reply_to=question
    )
    async with harness.sessions() as session:
        assert len(list(await session.scalars(select(ServiceVisit)))) == 1


async def test_an_odometer_lower_than_the_last_is_questioned_and_the_newest_question_works(
    harness: Harness,
) -> None:
    await _booked_owner(harness)  # the owner gave 45,210 km when adding the car
    await _advisor_taps(harness, "確認")
    await _advisor_taps(harness, "已到店")
    await _advisor_taps(harness, "完工")
    question = harness.last(harness.advisor_chat_id)

    async def answer(text: str, to: StoredMessage) -> StoredMessage:
        await harness.send(harness.advisor, text, chat_id=harness.advisor_chat_id, reply_to=to)
        return harness.last(harness.advisor_chat_id)

    # Each answer is a reply to the bot's newest question, as the ForceReply makes it.
    again = await answer("soon", question)
    lower = await answer("4,521", again)
    assert "比上次的里程 45,210 公里" in lower.text and lower.reply_markup["force_reply"]
    async with harness.sessions() as session:
        assert await session.scalar(select(ServiceVisit)) is None
    # A different figure is checked afresh; the same low figure twice is taken as meant.
    lower = await answer("4,520", lower)
    assert "比上次的里程" in lower.text
    recorded = await answer("4,520", lower)
    assert "4,520" in recorded.text and "比上次" not in recorded.text
    async with harness.sessions() as session:
        visit = await session.scalar(select(ServiceVisit))
    assert visit is not None and visit.km == 4_520
    # The earlier questions are answered too: a late reply to one records nothing more.
    await answer("50,000", question)
    async with harness.sessions() as session:
        assert len(list(await session.scalars(select(ServiceVisit)))) == 1


async def test_a_no_show_is_recorded_and_the_owner_told(harness: Harness) -> None:
    owner = await _booked_owner(harness)
    await _advisor_taps(harness, "爽約")
    [appointment] = await appointments_of(harness, owner)
    assert appointment.status == AppointmentStatus.NO_SHOW
    assert "We missed you" in harness.last(owner.id).text
    assert harness.last(harness.advisor_chat_id).buttons == []


async def test_a_card_button_that_no_longer_applies_is_out_of_date(harness: Harness) -> None:
    owner = await _booked_owner(harness)
    card = harness.last(harness.advisor_chat_id)
    confirm = button_data(card, "確認")
    await harness.send(owner, "My appointments")
    await tap(harness, owner, "Scheduled maintenance")
    await tap(harness, owner, "Cancel appointment")
    await tap(harness, owner, "Cancel without a reason")

    await harness.press(harness.advisor, card, confirm)
    answer = harness.sandbox.callback_answers[-1]
    assert answer.show_alert and "過期" in (answer.text or "")
    [appointment] = await appointments_of(harness, owner)
    assert appointment.status == AppointmentStatus.CANCELLED
    # The stale card now shows the booking as it is, without buttons.
    assert "已取消" in harness.sandbox.message(harness.advisor_chat_id, card.message_id).text
    assert harness.sandbox.message(harness.advisor_chat_id, card.message_id).buttons == []


async def test_advisor_proposes_another_time_and_the_owner_picks_it(harness: Harness) -> None:
    owner = await _booked_owner(harness)
    [booked] = await appointments_of(harness, owner)
    await _advisor_taps(harness, "請客戶改時間")
    calendar = harness.last(owner.id)
    assert "asks you to choose another time" in calendar.text
    times = await tap_first(harness, owner, "day")
    later = action_data(times, "slot")[-1]
    await harness.press(owner, times, later)
    moved = await tap(harness, owner, "Confirm booking")
    assert "Moved." in moved.text
    [appointment] = await appointments_of(harness, owner)
    assert appointment.id == booked.id and appointment.slot_start == slot_of(later)
    assert "預約改期" in harness.last(harness.advisor_chat_id).text
