"""An owner's answers to care messages: reminder buttons, the survey, /stop and /subscribe.

Care buttons (`care:<action>:-:<args>`, listed in scheduler/messages.py) belong to no flow: each
press re-reads the appointment or survey it names, so a second press, a stale reminder or a
forged button gets a short answer and changes nothing. A final answer (confirmed, cancelled,
scored) replaces the care message, which takes its buttons away.

After a score the owner may add a comment: flow `survey`, one step `comment`, registered in
the private router's AREAS so the next text they send is the comment. A score of 3 or less,
and a comment on it, go to the customer's advisor topic.
"""

from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType

from bot.booking import OPEN, BookingRefused, changeable, customer_appointment
from bot.callbacks import ButtonData
from bot.context import Carebot, CarebotContext
from bot.customers import customer_by_telegram_user, customer_for_telegram_user
from bot.db import transaction
from bot.handlers import booking, booking_cards
from bot.handlers.turns import AdvisorPost, Turn, deliver, open_turn
from bot.locales import locale_from_language_code
from bot.models import Appointment, Confirmation, Customer, SurveyResponse, Vehicle
from scheduler.answers import (
    LOW_SCORE,
    CareButton,
    cancel_from_reminder,
    confirm_from_reminder,
    parse_care_button,
    record_survey_comment,
    record_survey_score,
    reschedule_from_reminder,
    subscribe,
    unsubscribe,
)

FLOW = "survey"
COMMANDS = ("stop", "subscribe")
COMMENT_LIMIT = 2000

# An answer returns True when its first screen should replace the care message that was pressed.
Answer = Callable[[Turn, CareButton], Awaitable[bool]]


async def on_care_button(update: Update, context: CarebotContext) -> None:
    """A button under a care message, pressed in the owner's private chat."""
    query, user, carebot = update.callback_query, update.effective_user, context.carebot
    if query is None or user is None:
        return
    chat = query.message.chat if query.message else None
    if chat is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        locale = locale_from_language_code(user.language_code, carebot.default_locale)
        await query.answer(carebot.render.label(locale, "care_not_yours"), show_alert=True)
        return
    button = parse_care_button(query.data)
    replace = False
    async with transaction(carebot.sessions) as session:
        customer = await customer_by_telegram_user(session, user.id)
        if customer is None or customer.store_id != carebot.store_id:
            turn = None
        else:
            turn = await open_turn(session, carebot, customer)
            if button is None:
                turn.alert = turn.label("care_gone")
            else:
                replace = await ANSWERS[button.action](turn, button)
    if turn is None:
        locale = locale_from_language_code(user.language_code, carebot.default_locale)
        await query.answer(carebot.render.label(locale, "care_gone"), show_alert=True)
        return
    await query.answer(turn.alert, show_alert=turn.alert is not None)
    await deliver(turn, context.bot, pressed=query.message if replace else None)


async def on_consent_command(update: Update, context: CarebotContext) -> None:
    """/stop: no more offers and news; /subscribe: they come again."""
    user, message, carebot = update.effective_user, update.effective_message, context.carebot
    if user is None or message is None or not message.text:
        return
    name = message.text.split()[0].lstrip("/").split("@")[0].lower()
    async with transaction(carebot.sessions) as session:
        customer = await customer_for_telegram_user(
            session,
            store_id=carebot.store_id,
            telegram_user_id=user.id,
            locale=locale_from_language_code(user.language_code, carebot.default_locale),
            name=user.full_name,
        )
        turn = await open_turn(session, carebot, customer)
        if name == "stop":
            await unsubscribe(session, customer, turn.now)
            turn.say("care_unsubscribed")
        else:
            await subscribe(session, customer, turn.now)
            turn.say("care_subscribed")
    await deliver(turn, context.bot)


# --- appointment reminders ----------------------------------------------------------------------


async def _confirm(turn: Turn, button: CareButton) -> bool:
    appointment = await _open_appointment(turn, button)
    if appointment is None:
        return False
    if appointment.confirmation == Confirmation.CONFIRMED:
        turn.alert = turn.label("care_already_answered")
        return False
    confirmed = await confirm_from_reminder(
        turn.session, customer_id=turn.customer.id, appointment_id=appointment.id
    )
    assert confirmed is not None  # open a moment ago, in the same transaction
    turn.say("care_confirmed", **await _describe(turn, confirmed))
    turn.advisor_posts.append(await _card(turn, confirmed, "confirmed"))
    return True


async def _reschedule(turn: Turn, button: CareButton) -> bool:
    appointment = await _open_appointment(turn, button)
    if appointment is None:
        return False
    if not changeable(appointment, turn.carebot.store, turn.now):
        turn.say("appt_cutoff", hours=turn.carebot.store.booking.change_cutoff_hours)
        return False
    await reschedule_from_reminder(
        turn.session, customer_id=turn.customer.id, appointment_id=appointment.id
    )
    # The reminder stays as it was: the calendar comes as a new message.
    await booking.start_reschedule(turn, appointment)
    return False


async def _cancel(turn: Turn, button: CareButton) -> bool:
    appointment = await _open_appointment(turn, button)
    if appointment is None:
        return False
    try:
        cancelled = await cancel_from_reminder(
            turn.session,
            customer_id=turn.customer.id,
            appointment_id=appointment.id,
            store=turn.carebot.store,
            now=turn.now,
        )
    except BookingRefused as refused:
        if refused.reason != "inside_cutoff":
            turn.alert = turn.label("care_gone")
            return False
        turn.say("appt_cutoff", hours=turn.carebot.store.booking.change_cutoff_hours)
        return False
    assert cancelled is not None
    turn.say("appt_cancelled", **await _describe(turn, cancelled))
    turn.advisor_posts.append(await _card(turn, cancelled, "cancelled"))
    return True


async def _open_appointment(turn: Turn, button: CareButton) -> Appointment | None:
    """The owner's own appointment the button names, while it is still open; else an alert."""
    appointment = await customer_appointment(turn.session, turn.customer.id, button.target or 0)
    if appointment is None or appointment.status not in OPEN:
        turn.alert = turn.label("care_gone")
        return None
    return appointment


async def _describe(turn: Turn, appointment: Appointment) -> dict[str, str]:
    vehicle = await _vehicle(turn, appointment)
    service = turn.carebot.store.service_types.get(appointment.service_type)
    return {
        "when": turn.when(appointment.slot_start),
        "service": service.name.get(turn.locale) if service else appointment.service_type,
        "car": booking.car_name(vehicle) if vehicle else "",
    }


async def _card(turn: Turn, appointment: Appointment, event: str) -> AdvisorPost:
    vehicle = await _vehicle(turn, appointment)
    return booking_cards.card_post(turn.carebot, appointment, turn.customer, vehicle, event)


async def _vehicle(turn: Turn, appointment: Appointment) -> Vehicle | None:
    if appointment.vehicle_id is None:
        return None
    return await turn.session.get(Vehicle, appointment.vehicle_id)


# --- the satisfaction survey --------------------------------------------------------------------


async def _score(turn: Turn, button: CareButton) -> bool:
    assert button.target is not None and button.score is not None
    scored = await record_survey_score(
        turn.session,
        customer_id=turn.customer.id,
        survey_id=button.target,
        score=button.score,
        now=turn.now,
    )
    if scored is None:
        turn.alert = turn.label("care_already_answered")
        return False
    if scored.low:
        turn.advisor_posts.append(
            _advisor_post(turn.carebot, turn.customer, "care_survey_low", score=button.score)
        )
    await ask_comment(turn, button.target, score=button.score)
    return True


async def _comment(turn: Turn, button: CareButton) -> bool:
    survey = await turn.session.get(SurveyResponse, button.target or 0)
    if survey is None or survey.customer_id != turn.customer.id:
        turn.alert = turn.label("care_gone")
        return False
    await ask_comment(turn, survey.id, score=None)
    return False


async def ask_comment(turn: Turn, survey_id: int, *, score: int | None) -> None:
    """Thanks for the score (when there is one), and room for an optional comment."""
    await turn.begin(FLOW, "comment", survey=survey_id)
    skip = turn.button(turn.label("care_survey_skip"), "skip")
    turn.say("care_survey_ask_comment", keyboard=InlineKeyboardMarkup([[skip]]), score=score)


async def on_message(turn: Turn, message: Message) -> None:
    """The comment, typed; anything else asks again."""
    text = (message.text or "").strip()
    survey_id = turn.flow.data.get("survey")
    if not survey_id:
        await turn.end()
        return
    if not text:
        turn.notice("use_buttons")
        await ask_comment(turn, survey_id, score=None)
        return
    survey = await record_survey_comment(
        turn.session,
        customer_id=turn.customer.id,
        survey_id=survey_id,
        comment=text[:COMMENT_LIMIT],
    )
    await turn.end()
    turn.say("care_survey_thanks", commented=survey is not None)
    if survey is not None and survey.score is not None and survey.score <= LOW_SCORE:
        turn.advisor_posts.append(
            _advisor_post(
                turn.carebot,
                turn.customer,
                "care_survey_comment",
                score=survey.score,
                comment=survey.comment or "",
            )
        )


async def on_button(turn: Turn, data: ButtonData) -> None:
    """Skip: no comment (already checked to be current)."""
    if data.action == "skip":
        await turn.end()
        turn.say("care_survey_thanks", commented=False)


def _advisor_post(carebot: Carebot, customer: Customer, kind: str, **values: object) -> AdvisorPost:
    """Words for the advisors, in the store's language, in the customer's topic."""
    text = carebot.render.text(carebot.default_locale, kind, name=customer.name or "", **values)
    return AdvisorPost(customer=customer, text=text)


# --- marketing consent --------------------------------------------------------------------------


async def _unsubscribe(turn: Turn, button: CareButton) -> bool:
    if not turn.customer.marketing_consent:
        turn.alert = turn.label("care_already_unsubscribed")
        return False
    await unsubscribe(turn.session, turn.customer, turn.now)
    turn.say("care_unsubscribed")
    return False


ANSWERS: dict[str, Answer] = {
    "confirm": _confirm,
    "reschedule": _reschedule,
    "cancel": _cancel,
    "score": _score,
    "comment": _comment,
    "unsub": _unsubscribe,
}
