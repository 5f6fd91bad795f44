"""The advisors' side of a booking: the card's buttons, and the odometer asked at completion.

Card buttons (`adv:<action>:-:<appointment id>`) act only in an advisor chat (ADVISOR_CHAT_ID
may list several): being in one is what makes someone an advisor. Each one changes the appointment (bot/booking.py),
edits the card it is on, and tells the customer what concerns them. Completed asks for the
odometer with a ForceReply; the advisor's reply to that question records the service visit and
its odometer reading. Open questions live in the advisor chat's `conversation` row (user 0),
keyed by the question's message id, so a restart between button and answer loses nothing.
"""

import datetime as dt
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import ForceReply, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.booking import (
    ADVISOR_ACTIONS,
    BookingRefused,
    advisor_may,
    advisor_move,
    complete_appointment,
    store_appointment,
)
from bot.callbacks import unpack
from bot.context import Carebot, CarebotContext
from bot.db import transaction
from bot.flows import enter_step, load_flow
from bot.handlers import booking, booking_cards
from bot.handlers.turns import Turn, deliver, open_turn
from bot.models import Appointment, Customer, Vehicle
from bot.typed_input import parse_km
from bot.vehicles import last_reading

logger = logging.getLogger(__name__)

QUESTIONS_FLOW = "odometer"
# The advisor chat's own conversation row holds the open odometer questions.
CHAT_ROW_USER = 0
# Customer notices per advisor action (propose opens the calendar instead).
NOTICES = {"confirm": "notice_confirmed", "arrived": "notice_arrived", "no_show": "notice_no_show"}
EVENTS = {"confirm": "confirmed", "arrived": "arrived", "no_show": "no_show", "propose": "proposed"}


async def on_card_button(update: Update, context: CarebotContext) -> None:
    """Confirm, Propose another time, Arrived, No-show or Completed on a booking card."""
    query, carebot = update.callback_query, context.carebot
    if query is None or not isinstance(query.message, Message):
        return
    card, advisor = query.message, query.from_user
    if card.chat.id not in carebot.settings.advisor_chat_ids:
        await query.answer(_label(carebot, "advisor_only"), show_alert=True)
        return
    data = unpack(query.data)
    appointment_id = data.int_arg(0) if data else None
    alert, customer_turn = None, None
    async with transaction(carebot.sessions) as session:
        appointment = await store_appointment(session, carebot.store_id, appointment_id or 0)
        if appointment is None or data is None or data.action not in ADVISOR_ACTIONS:
            await query.answer(_label(carebot, "button_out_of_date"), show_alert=True)
            return
        customer = await session.get_one(Customer, appointment.customer_id)
        vehicle = (
            await session.get(Vehicle, appointment.vehicle_id) if appointment.vehicle_id else None
        )
        event = None
        if not advisor_may(appointment, data.action):
            alert = _label(carebot, "button_out_of_date")
        elif data.action == "complete" and vehicle is None:
            alert = _label(carebot, "advisor_no_vehicle")
        elif data.action != "complete":
            customer_turn = await _apply(session, carebot, data.action, appointment, customer)
            event = EVENTS[data.action]
        text = booking_cards.card_text(
            carebot,
            appointment,
            customer,
            vehicle,
            event or "current",
            advisor.full_name if event else None,
        )
        keyboard = booking_cards.card_keyboard(carebot, appointment)
    await query.answer(alert, show_alert=alert is not None)
    await _edit_card(card, text, keyboard)
    if customer_turn is not None:
        await deliver(customer_turn, context.bot)
    if data.action == "complete" and alert is None:
        await _ask_km(context, card, advisor, appointment, vehicle)


async def _apply(
    session: AsyncSession,
    carebot: Carebot,
    action: str,
    appointment: Appointment,
    customer: Customer,
) -> Turn | None:
    """Make the change and queue what the customer is told; None when they have no chat."""
    if action != "propose":
        await advisor_move(session, appointment, action)
    if customer.telegram_user_id is None:
        return None
    turn = await open_turn(session, carebot, customer)
    if action == "propose":
        await booking.start_reschedule(turn, appointment, by_store=True)
    else:
        service = carebot.store.service_types.get(appointment.service_type)
        turn.say(
            NOTICES[action],
            when=turn.when(appointment.slot_start),
            service=service.name.get(turn.locale) if service else appointment.service_type,
        )
    return turn


async def _ask_km(
    context: CarebotContext,
    card: Message,
    advisor: User,
    appointment: Appointment,
    vehicle: Vehicle | None,
) -> None:
    """Ask the advisor who pressed Completed for the odometer, as a reply to the card."""
    carebot = context.carebot
    text = carebot.render.text(
        carebot.default_locale,
        "advisor_ask_km",
        advisor_id=advisor.id,
        advisor_name=advisor.full_name,
        plate=vehicle.plate if vehicle and vehicle.plate else "",
        appointment_id=appointment.id,
    )
    placeholder = _label(carebot, "advisor_km_placeholder")
    question = await card.reply_html(
        text,
        reply_markup=ForceReply(selective=True, input_field_placeholder=placeholder),
        do_quote=True,
    )
    async with transaction(carebot.sessions) as session:
        questions = await load_flow(session, card.chat.id, CHAT_ROW_USER)
        open_questions = dict(questions.data) if questions.at(QUESTIONS_FLOW) else {}
        open_questions[str(question.message_id)] = {
            "appointment": appointment.id,
            "card": card.message_id,
            "photo": bool(card.photo),
        }
        await enter_step(session, questions, QUESTIONS_FLOW, "km", open_questions)


async def on_advisor_reply(update: Update, context: CarebotContext) -> None:
    """An advisor's answer to an odometer question; other replies are left for the relay."""
    message, carebot = update.effective_message, context.carebot
    if message is None or message.reply_to_message is None or not message.text:
        return
    asked = str(message.reply_to_message.message_id)
    async with transaction(carebot.sessions) as session:
        questions = await load_flow(session, message.chat.id, CHAT_ROW_USER)
        question = questions.data.get(asked) if questions.at(QUESTIONS_FLOW) else None
        if question is None:
            return
        km = parse_km(message.text)
        appointment = await store_appointment(session, carebot.store_id, question["appointment"])
        outcome, values, customer_turn, card = "advisor_bad_km", {}, None, None
        if km is not None and appointment is not None:
            outcome, values = await _check_km(session, carebot, appointment, question, km)
        if outcome == "advisor_km_ok":
            outcome, customer_turn, card = await _complete(session, carebot, appointment, km)
            # Every message that asked about this appointment is answered now.
            remaining = {
                key: value
                for key, value in questions.data.items()
                if value["appointment"] != question["appointment"]
            }
            await enter_step(session, questions, QUESTIONS_FLOW, "km", remaining)
    asked_again = outcome in ("advisor_bad_km", "advisor_km_lower")
    answer = await message.reply_html(
        carebot.render.text(carebot.default_locale, outcome, km=km or 0, **values),
        do_quote=True,
        reply_markup=ForceReply(selective=True) if asked_again else None,
    )
    if asked_again:
        # The advisor's client replies to the newest question: it asks the same thing.
        noted = question | ({"lower_km": km} if outcome == "advisor_km_lower" else {})
        await _keep_question(carebot, message.chat.id, [asked, str(answer.message_id)], noted)
    if card is not None:
        await _edit_card_by_id(context, message.chat.id, question, *card)
    if customer_turn is not None:
        await deliver(customer_turn, context.bot)
    raise ApplicationHandlerStop


async def _check_km(
    session: AsyncSession,
    carebot: Carebot,
    appointment: Appointment,
    question: dict[str, Any],
    km: int,
) -> tuple[str, dict[str, Any]]:
    """A reading lower than the car's last is questioned once; the same figure again stands."""
    last = await last_reading(session, appointment.vehicle_id) if appointment.vehicle_id else None
    if last is None or km >= last.km or question.get("lower_km") == km:
        return "advisor_km_ok", {}
    read_on = carebot.render.label(carebot.default_locale, "format_day", d=last.read_on)
    return "advisor_km_lower", {"last_km": last.km, "read_on": read_on}


async def _keep_question(
    carebot: Carebot, chat_id: int, message_ids: list[str], question: dict[str, Any]
) -> None:
    async with transaction(carebot.sessions) as session:
        questions = await load_flow(session, chat_id, CHAT_ROW_USER)
        open_questions = dict(questions.data) if questions.at(QUESTIONS_FLOW) else {}
        open_questions.update(dict.fromkeys(message_ids, question))
        await enter_step(session, questions, QUESTIONS_FLOW, "km", open_questions)


async def _complete(
    session: AsyncSession, carebot: Carebot, appointment: Appointment, km: int
) -> tuple[str, Turn | None, tuple[str, InlineKeyboardMarkup | None] | None]:
    """Record the visit; returns the advisor's answer, the customer's turn and the new card."""
    today = _today(carebot)
    try:
        await complete_appointment(session, appointment, km=km, on=today)
    except BookingRefused:
        return "advisor_already_closed", None, None
    customer = await session.get_one(Customer, appointment.customer_id)
    vehicle = await session.get(Vehicle, appointment.vehicle_id) if appointment.vehicle_id else None
    card = (
        booking_cards.card_text(carebot, appointment, customer, vehicle, "completed"),
        booking_cards.card_keyboard(carebot, appointment),
    )
    if customer.telegram_user_id is None:
        return "advisor_visit_recorded", None, card
    turn = await open_turn(session, carebot, customer)
    turn.say("notice_completed", car=booking.car_name(vehicle) if vehicle else "", km=km)
    return "advisor_visit_recorded", turn, card


def _today(carebot: Carebot) -> dt.date:
    return dt.datetime.now(carebot.settings.timezone).date()


def _label(carebot: Carebot, key: str) -> str:
    return carebot.render.label(carebot.default_locale, key)


async def _edit_card(card: Message, text: str, keyboard: InlineKeyboardMarkup | None) -> None:
    try:
        if card.photo:
            await card.edit_caption(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            await card.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            logger.warning("could not update booking card %s: %s", card.message_id, error.message)


async def _edit_card_by_id(
    context: CarebotContext,
    chat_id: int,
    question: dict[str, Any],
    text: str,
    keyboard: InlineKeyboardMarkup | None,
) -> None:
    try:
        if question.get("photo"):
            await context.bot.edit_message_caption(
                chat_id,
                question["card"],
                caption=text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        else:
            await context.bot.edit_message_text(
                text, chat_id, question["card"], parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
    except BadRequest as error:
        logger.warning("could not update booking card %s: %s", question["card"], error.message)
