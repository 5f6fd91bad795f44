"""The booking conversation: car, service type, day, time, a note or photo, then confirm.

Flow `book`, steps: vehicle -> service -> day -> time -> note -> confirm. Rescheduling runs the
same flow for an existing appointment (data `appointment`), from the day step and without the
note. Every step has an `ask_<step>` that enters it and shows it, so text where a button is
expected, or a stale choice, simply asks the same step again.
"""

import datetime as dt

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.booking import (
    BookingRefused,
    book_appointment,
    customer_appointment,
    reschedule_appointment,
)
from bot.callbacks import ButtonData
from bot.handlers import booking_cards, cars
from bot.handlers.day_picker import first_of_month, month_rows
from bot.handlers.turns import Turn
from bot.models import Appointment, Vehicle
from bot.slots import bookable_days, free_starts, local_today, nearest_free_starts
from bot.typed_input import parse_date
from bot.vehicles import customer_vehicle, customer_vehicles

FLOW = "book"
NOTE_LIMIT = 1000


def car_name(vehicle: Vehicle) -> str:
    return " ".join(part for part in (vehicle.plate, vehicle.brand, vehicle.model) if part)


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _stop_row(turn: Turn) -> list[InlineKeyboardButton]:
    return [turn.button(turn.label("button_stop"), "stop")]


async def start_booking(turn: Turn, vehicle_id: int | None = None) -> None:
    """Book service: pick the car (skipped when there is one, or the link named it)."""
    vehicles = await customer_vehicles(turn.session, turn.customer.id)
    if not vehicles:
        turn.notice("book_needs_car")
        await cars.start_adding(turn, then_book=True)
        return
    chosen = next((v.id for v in vehicles if v.id == vehicle_id), None)
    if chosen is None and len(vehicles) == 1:
        chosen = vehicles[0].id
    await turn.begin(FLOW, "vehicle", vehicle=chosen)
    if chosen is None:
        await ask_vehicle(turn)
    else:
        await ask_service(turn)


async def start_reschedule(turn: Turn, appointment: Appointment, *, by_store: bool = False) -> None:
    """Move an appointment: the same flow from the day step, for the same appointment."""
    await turn.begin(
        FLOW,
        "day",
        appointment=appointment.id,
        vehicle=appointment.vehicle_id,
        service=appointment.service_type,
        by_store=by_store,
    )
    if by_store:
        turn.notice("book_store_proposes", when=turn.when(appointment.slot_start))
    await ask_day(turn)


async def ask_vehicle(turn: Turn) -> None:
    await turn.go("vehicle")
    vehicles = await customer_vehicles(turn.session, turn.customer.id)
    buttons = [turn.button(car_name(v), "car", v.id) for v in vehicles]
    turn.say(
        "book_choose_car", keyboard=InlineKeyboardMarkup([*_rows(buttons, 1), _stop_row(turn)])
    )


async def ask_service(turn: Turn) -> None:
    await turn.go("service")
    store = turn.carebot.store
    buttons = [
        turn.button(service.name.get(turn.locale), "svc", code)
        for code, service in store.service_types.items()
    ]
    vehicle = await _vehicle(turn)
    turn.say(
        "book_choose_service",
        keyboard=InlineKeyboardMarkup([*_rows(buttons, 2), _stop_row(turn)]),
        car=car_name(vehicle) if vehicle else "",
    )


async def ask_day(turn: Turn, month: dt.date | None = None) -> None:
    """The calendar: only days with a free place for the chosen service are live."""
    carebot = turn.carebot
    days = bookable_days(carebot.store, turn.tz, turn.now)
    free = await _free(turn, days)
    if not free:
        await turn.end()
        turn.say("book_no_days", service=_service_name(turn))
        return
    month = month or (
        dt.date.fromisoformat(turn.flow.data["month"])
        if turn.flow.data.get("month")
        else first_of_month(min(free))
    )
    await turn.go("day", month=month.isoformat())
    rows = month_rows(turn, month, set(free), days[-1])
    turn.say(
        "book_choose_day",
        keyboard=InlineKeyboardMarkup([*rows, _stop_row(turn)]),
        service=_service_name(turn),
    )


async def ask_time(turn: Turn) -> None:
    day = dt.date.fromisoformat(turn.flow.data["day"])
    starts = (await _free(turn, [day])).get(day, [])
    if not starts:
        turn.notice("book_day_full", day=turn.day(day))
        await ask_day(turn)
        return
    await turn.go("time")
    buttons = [
        turn.button(f"{start.astimezone(turn.tz):%H:%M}", "slot", _slot_arg(turn, start))
        for start in starts
    ]
    back = turn.button(turn.label("button_other_day"), "back")
    keyboard = InlineKeyboardMarkup([*_rows(buttons, 4), [back, *_stop_row(turn)]])
    turn.say("book_choose_time", keyboard=keyboard, day=turn.day(day), service=_service_name(turn))


async def ask_note(turn: Turn) -> None:
    await turn.go("note")
    skip = turn.button(turn.label("button_skip_note"), "skip")
    turn.say("book_ask_note", keyboard=InlineKeyboardMarkup([[skip], _stop_row(turn)]))


async def ask_confirm(turn: Turn) -> None:
    await turn.go("confirm")
    data = turn.flow.data
    vehicle = await _vehicle(turn)
    moving = await _appointment(turn)
    ok = turn.button(turn.label("button_confirm_booking"), "ok")
    turn.say(
        "book_summary",
        keyboard=InlineKeyboardMarkup([[ok], _stop_row(turn)]),
        car=car_name(vehicle) if vehicle else "",
        service=_service_name(turn),
        when=turn.when(_slot(data["slot"])),
        was=turn.when(moving.slot_start) if moving else None,
        note=data.get("note"),
        photo=bool(data.get("photo")),
    )


STEPS = {
    "vehicle": ask_vehicle,
    "service": ask_service,
    "day": ask_day,
    "time": ask_time,
    "note": ask_note,
    "confirm": ask_confirm,
}


async def on_button(turn: Turn, data: ButtonData) -> None:
    """A button of the booking flow (already checked to be current)."""
    action, step, argument = data.action, turn.flow.step, data.arg(0)
    if action == "stop":
        await turn.end()
        turn.say("book_stopped")
    elif action == "car" and step == "vehicle":
        await _choose_vehicle(turn, data.int_arg(0))
    elif action == "svc" and step == "service" and argument in turn.carebot.store.service_types:
        await turn.go("service", service=argument, month=None)
        await ask_day(turn)
    elif action == "month" and step == "day" and (month := _stamp(argument, "%Y%m")):
        await ask_day(turn, month.date())
    elif action == "day" and step == "day" and (day := _stamp(argument, "%Y%m%d")):
        await _choose_day(turn, day.date())
    elif action == "back" and step == "time":
        await ask_day(turn)
    elif action == "slot" and step == "time" and (local := _stamp(argument, "%Y%m%d%H%M")):
        await _choose_slot(turn, local.replace(tzinfo=turn.tz))
    elif action == "skip" and step == "note":
        await turn.go("note", note=None, photo=None)
        await ask_confirm(turn)
    elif action == "ok" and step == "confirm":
        await _confirm(turn)


async def on_message(turn: Turn, message: Message) -> None:
    """Text or a photo during booking: a note, a typed date, or else the step again."""
    step = turn.flow.step
    if step == "note" and (message.text or message.photo):
        note = (message.text or message.caption or "").strip()[:NOTE_LIMIT] or None
        photo = message.photo[-1].file_id if message.photo else None
        await turn.go("note", note=note, photo=photo)
        await ask_confirm(turn)
        return
    if step == "day" and message.text:
        day = parse_date(message.text, turn.today)
        if day is not None:
            await _choose_day(turn, day)
            return
    turn.notice("use_buttons")
    await STEPS.get(step, ask_service)(turn)


async def _choose_vehicle(turn: Turn, vehicle_id: int | None) -> None:
    vehicle = await customer_vehicle(turn.session, turn.customer.id, vehicle_id or 0)
    if vehicle is None:
        await ask_vehicle(turn)
        return
    await turn.go("vehicle", vehicle=vehicle.id)
    await ask_service(turn)


async def _choose_day(turn: Turn, day: dt.date) -> None:
    if day < local_today(turn.now, turn.tz):
        turn.notice("book_day_past", day=turn.day(day))
    elif day not in await _free(turn, [day]):
        turn.notice("book_day_unavailable", day=turn.day(day))
    else:
        await turn.go("day", day=day.isoformat(), month=first_of_month(day).isoformat())
        await ask_time(turn)
        return
    await ask_day(turn)


async def _choose_slot(turn: Turn, start: dt.datetime) -> None:
    day = start.date()
    await turn.go("time", day=day.isoformat())
    if start.astimezone(dt.UTC) not in (await _free(turn, [day])).get(day, []):
        # Filled, or too close now, since the times were shown.
        turn.notice("book_slot_gone", when=turn.when(start))
        await ask_time(turn)
        return
    await turn.go("time", slot=start.astimezone(dt.UTC).isoformat())
    if turn.flow.data.get("appointment"):
        await ask_confirm(turn)
    else:
        await ask_note(turn)


async def _confirm(turn: Turn) -> None:
    """Take the place; the loser of a race is offered the nearest free times."""
    data = turn.flow.data
    start = _slot(data["slot"])
    try:
        appointment = await _book_or_move(turn, start)
    except BookingRefused as refused:
        if refused.reason == "slot_full":
            await _offer_nearest(turn, start)
        elif refused.reason == "not_bookable":
            turn.notice("book_slot_gone", when=turn.when(start))
            await ask_day(turn)
        elif refused.reason == "inside_cutoff":
            await turn.end()
            turn.say("appt_cutoff", hours=turn.carebot.store.booking.change_cutoff_hours)
        else:
            await turn.end()
            turn.say("appt_not_open")
        return
    moved = bool(data.get("appointment"))
    await turn.end()
    vehicle = (
        await turn.session.get(Vehicle, appointment.vehicle_id) if appointment.vehicle_id else None
    )
    turn.say(
        "book_moved" if moved else "book_done",
        when=turn.when(appointment.slot_start),
        service=_service_name(turn, appointment.service_type),
        car=car_name(vehicle) if vehicle else "",
    )
    turn.advisor_posts.append(
        booking_cards.card_post(
            turn.carebot, appointment, turn.customer, vehicle, "moved" if moved else "new"
        )
    )


async def _book_or_move(turn: Turn, start: dt.datetime) -> Appointment:
    data, carebot = turn.flow.data, turn.carebot
    moving = await _appointment(turn)
    if data.get("appointment"):
        if moving is None:
            raise BookingRefused("not_open")
        return await reschedule_appointment(
            turn.session,
            moving,
            store=carebot.store,
            tz=turn.tz,
            now=turn.now,
            slot_start=start,
            by_store=bool(data.get("by_store")),
        )
    return await book_appointment(
        turn.session,
        store_id=carebot.store_id,
        store=carebot.store,
        tz=turn.tz,
        now=turn.now,
        customer_id=turn.customer.id,
        vehicle_id=data["vehicle"],
        service_type=data["service"],
        slot_start=start,
        note=data.get("note"),
        photo_file_id=data.get("photo"),
    )


async def _offer_nearest(turn: Turn, wanted: dt.datetime) -> None:
    carebot = turn.carebot
    nearest = await nearest_free_starts(
        turn.session,
        store_id=carebot.store_id,
        store=carebot.store,
        service_type=turn.flow.data["service"],
        tz=turn.tz,
        now=turn.now,
        wanted=wanted,
    )
    await turn.go("time", slot=None)
    buttons = [turn.button(turn.when(start), "slot", _slot_arg(turn, start)) for start in nearest]
    back = turn.button(turn.label("button_other_day"), "back")
    turn.say(
        "book_slot_taken",
        keyboard=InlineKeyboardMarkup([*_rows(buttons, 1), [back, *_stop_row(turn)]]),
        when=turn.when(wanted),
        offered=bool(nearest),
    )


async def _free(turn: Turn, days: list[dt.date]) -> dict[dt.date, list[dt.datetime]]:
    carebot = turn.carebot
    return await free_starts(
        turn.session,
        store_id=carebot.store_id,
        store=carebot.store,
        service_type=turn.flow.data["service"],
        tz=turn.tz,
        now=turn.now,
        days=days,
    )


async def _vehicle(turn: Turn) -> Vehicle | None:
    vehicle_id = turn.flow.data.get("vehicle")
    return await turn.session.get(Vehicle, vehicle_id) if vehicle_id else None


async def _appointment(turn: Turn) -> Appointment | None:
    appointment_id = turn.flow.data.get("appointment")
    if not appointment_id:
        return None
    return await customer_appointment(turn.session, turn.customer.id, appointment_id)


def _service_name(turn: Turn, code: str | None = None) -> str:
    service = turn.carebot.store.service_types.get(code or turn.flow.data.get("service") or "")
    return service.name.get(turn.locale) if service else ""


def _stamp(value: str, layout: str) -> dt.datetime | None:
    """A date or time a button carries; None for anything else."""
    try:
        return dt.datetime.strptime(value, layout)
    except ValueError:
        return None


def _slot(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _slot_arg(turn: Turn, start: dt.datetime) -> str:
    return f"{start.astimezone(turn.tz):%Y%m%d%H%M}"
