"""My appointments: the upcoming list, one appointment, reschedule, cancel with a reason.

Flow `appts`, steps: list -> detail -> reason (cancel). Rescheduling hands over to the booking
flow for the same appointment. Inside the store's change cut-off the customer is told to talk
to an advisor instead, and nothing changes.
"""

from telegram import InlineKeyboardMarkup, Message

from bot.booking import (
    BookingRefused,
    cancel_appointment,
    changeable,
    customer_appointment,
    upcoming_appointments,
)
from bot.callbacks import ButtonData
from bot.handlers import booking, booking_cards
from bot.handlers.turns import Turn
from bot.models import Appointment, Vehicle

FLOW = "appts"
REASON_LIMIT = 500


async def show_appointments(turn: Turn) -> None:
    await turn.begin(FLOW, "list")
    upcoming = await upcoming_appointments(turn.session, turn.customer.id, turn.now)
    if not upcoming:
        book = turn.button(turn.label("menu_book"), "book")
        turn.say("appts_empty", keyboard=InlineKeyboardMarkup([[book]]))
        return
    items = [await _describe(turn, appointment) for appointment in upcoming]
    rows = [
        [turn.button(f"{item['when']} {item['service']}", "open", appointment.id)]
        for item, appointment in zip(items, upcoming, strict=True)
    ]
    turn.say("appts_list", keyboard=InlineKeyboardMarkup(rows), items=items)


async def show_detail(turn: Turn, appointment: Appointment) -> None:
    await turn.go("detail", appointment=appointment.id)
    open_to_change = changeable(appointment, turn.carebot.store, turn.now)
    rows = []
    if open_to_change:
        rows.append([turn.button(turn.label("button_reschedule"), "move")])
        rows.append([turn.button(turn.label("button_cancel_appointment"), "cancel")])
    rows.append([turn.button(turn.label("button_back"), "list")])
    turn.say(
        "appt_detail",
        keyboard=InlineKeyboardMarkup(rows),
        changeable=open_to_change,
        **await _describe(turn, appointment),
    )


async def ask_reason(turn: Turn) -> None:
    await turn.go("reason")
    turn.say(
        "appt_ask_reason",
        keyboard=InlineKeyboardMarkup(
            [
                [turn.button(turn.label("button_cancel_without_reason"), "noreason")],
                [turn.button(turn.label("button_keep_appointment"), "list")],
            ]
        ),
    )


async def on_button(turn: Turn, data: ButtonData) -> None:
    """A button of My appointments (already checked to be current)."""
    if data.action == "list":
        await show_appointments(turn)
        return
    if data.action == "book":
        await booking.start_booking(turn)
        return
    appointment = await _appointment(turn, data)
    if appointment is None:
        await show_appointments(turn)
    elif data.action == "open":
        await show_detail(turn, appointment)
    elif not changeable(appointment, turn.carebot.store, turn.now):
        await _too_late(turn)
    elif data.action == "move":
        await booking.start_reschedule(turn, appointment)
    elif data.action == "cancel":
        await ask_reason(turn)
    elif data.action == "noreason":
        await _cancel(turn, appointment, None)


async def on_message(turn: Turn, message: Message) -> None:
    """The cancellation reason, typed; other text shows the step again."""
    text = (message.text or "").strip()
    appointment = await _appointment(turn, None)
    if turn.flow.step == "reason" and text and appointment is not None:
        await _cancel(turn, appointment, text[:REASON_LIMIT])
        return
    turn.notice("use_buttons")
    if turn.flow.step in ("detail", "reason") and appointment is not None:
        await show_detail(turn, appointment)
    else:
        await show_appointments(turn)


async def _cancel(turn: Turn, appointment: Appointment, reason: str | None) -> None:
    try:
        await cancel_appointment(
            turn.session, appointment, store=turn.carebot.store, now=turn.now, reason=reason
        )
    except BookingRefused:
        await _too_late(turn)
        return
    await turn.end()
    described = await _describe(turn, appointment)
    turn.say("appt_cancelled", **described)
    vehicle = await _vehicle(turn, appointment)
    turn.advisor_posts.append(
        booking_cards.card_post(turn.carebot, appointment, turn.customer, vehicle, "cancelled")
    )


async def _too_late(turn: Turn) -> None:
    await turn.end()
    turn.say("appt_cutoff", hours=turn.carebot.store.booking.change_cutoff_hours)


async def _appointment(turn: Turn, data: ButtonData | None) -> Appointment | None:
    """The appointment a button names or the flow is about; only the customer's own."""
    appointment_id = data.int_arg(0) if data is not None and data.action == "open" else None
    appointment_id = appointment_id or turn.flow.data.get("appointment")
    if not appointment_id:
        return None
    return await customer_appointment(turn.session, turn.customer.id, appointment_id)


async def _vehicle(turn: Turn, appointment: Appointment) -> Vehicle | None:
    if appointment.vehicle_id is None:
        return None
    return await turn.session.get(Vehicle, appointment.vehicle_id)


async def _describe(turn: Turn, appointment: Appointment) -> dict[str, object]:
    vehicle = await _vehicle(turn, appointment)
    service = turn.carebot.store.service_types.get(appointment.service_type)
    return {
        "when": turn.when(appointment.slot_start),
        "service": service.name.get(turn.locale) if service else appointment.service_type,
        "car": booking.car_name(vehicle) if vehicle else "",
        "status": appointment.status.value,
        "note": appointment.note,
    }
