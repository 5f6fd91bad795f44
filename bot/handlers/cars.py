"""My cars: list, add, edit, remove, and report a new odometer reading.

Flow `cars`, steps: list -> car (one car's actions); adding: plate -> brand -> model ->
registration -> km; editing one field reuses the same steps with data `editing`; reading and
reading_lower (a lower figure than the last is questioned, never stored silently); remove.
A change of plates renames the owner's topic in the advisor group and posts a fresh card.
"""

import datetime as dt

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import ButtonData
from bot.handlers import booking
from bot.handlers.turns import Turn
from bot.models import ReadingSource, Vehicle
from bot.plates import normalise_plate
from bot.typed_input import parse_date, parse_km
from bot.vehicles import (
    VehicleRefused,
    add_vehicle,
    change_plate,
    check_plate_free,
    customer_vehicle,
    customer_vehicles,
    last_reading,
    last_readings,
    record_reading,
    remove_vehicle,
    set_make_and_model,
    set_registration_date,
)

FLOW = "cars"
NAME_LIMIT = 60
OLDEST_REGISTRATION = dt.date(1950, 1, 1)


def _keyboard(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([row for row in rows if row])


async def show_cars(turn: Turn) -> None:
    """The list of the customer's cars with their last odometer reading."""
    await turn.begin(FLOW, "list")
    vehicles = await customer_vehicles(turn.session, turn.customer.id)
    readings = await last_readings(turn.session, [v.id for v in vehicles])
    cars = [
        {
            "name": booking.car_name(v),
            "km": readings[v.id].km if v.id in readings else None,
            "read_on": turn.day(readings[v.id].read_on) if v.id in readings else None,
        }
        for v in vehicles
    ]
    rows = [[turn.button(v.plate or booking.car_name(v), "open", v.id)] for v in vehicles]
    add = turn.button(turn.label("button_add_car"), "add")
    turn.say("cars_list", keyboard=_keyboard(*rows, [add]), cars=cars)


async def start_adding(turn: Turn, *, then_book: bool = False) -> None:
    await turn.begin(FLOW, "plate", then_book=then_book)
    turn.say("car_ask_plate")


async def show_car(turn: Turn, vehicle: Vehicle) -> None:
    await turn.go("car", vehicle=vehicle.id, editing=None)
    reading = await last_reading(turn.session, vehicle.id)
    turn.say(
        "car_detail",
        keyboard=_keyboard(
            [turn.button(turn.label("button_new_reading"), "reading")],
            [turn.button(turn.label("menu_book"), "book")],
            [
                turn.button(turn.label("button_edit_car"), "edit"),
                turn.button(turn.label("button_remove_car"), "remove"),
            ],
            [turn.button(turn.label("button_back"), "list")],
        ),
        plate=vehicle.plate or "",
        car=" ".join(part for part in (vehicle.brand, vehicle.model) if part),
        registered=turn.day(vehicle.registration_date) if vehicle.registration_date else None,
        km=reading.km if reading else None,
        read_on=turn.day(reading.read_on) if reading else None,
    )


async def ask_plate(turn: Turn) -> None:
    await turn.go("plate")
    turn.say("car_ask_plate")


async def ask_brand(turn: Turn) -> None:
    await turn.go("brand")
    brands = list(turn.carebot.store.brands)
    buttons = [turn.button(name, "brand", index) for index, name in enumerate(brands)]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    turn.say("car_ask_brand", keyboard=_keyboard(*rows) if rows else None)


async def ask_model(turn: Turn) -> None:
    await turn.go("model")
    models = turn.carebot.store.brands.get(turn.flow.data.get("brand") or "", [])
    buttons = [turn.button(name, "model", index) for index, name in enumerate(models)]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    turn.say(
        "car_ask_model",
        keyboard=_keyboard(*rows) if rows else None,
        brand=turn.flow.data.get("brand"),
    )


async def ask_registration(turn: Turn) -> None:
    await turn.go("registration")
    skip = turn.button(turn.label("button_skip"), "skip")
    turn.say("car_ask_registration", keyboard=_keyboard([skip]))


async def ask_km(turn: Turn) -> None:
    await turn.go("km")
    turn.say("car_ask_km")


async def ask_reading(turn: Turn) -> None:
    await turn.go("reading")
    reading = await last_reading(turn.session, turn.flow.data["vehicle"])
    turn.say(
        "car_ask_reading",
        km=reading.km if reading else None,
        read_on=turn.day(reading.read_on) if reading else None,
    )


async def ask_edit(turn: Turn) -> None:
    await turn.go("edit")
    turn.say(
        "car_edit_choose",
        keyboard=_keyboard(
            [turn.button(turn.label("button_edit_plate"), "field", "plate")],
            [turn.button(turn.label("button_edit_make"), "field", "make")],
            [turn.button(turn.label("button_edit_registration"), "field", "registration")],
            [turn.button(turn.label("button_back"), "list")],
        ),
    )


STEPS = {
    "plate": ask_plate,
    "brand": ask_brand,
    "model": ask_model,
    "registration": ask_registration,
    "km": ask_km,
    "reading": ask_reading,
}


async def on_message(turn: Turn, message: Message) -> None:
    """Typed answers: plate, brand, model, registration date, odometer."""
    text = (message.text or "").strip()
    step = turn.flow.step
    if not text or step not in ("plate", "brand", "model", "registration", "km", "reading"):
        turn.notice("use_buttons")
        await _show_step(turn)
    elif step == "plate":
        await _typed_plate(turn, text)
    elif step == "brand":
        await _chosen_brand(turn, text[:NAME_LIMIT])
    elif step == "model":
        await _chosen_model(turn, text[:NAME_LIMIT])
    elif step == "registration":
        await _typed_registration(turn, text)
    else:
        await _typed_km(turn, text)


async def on_button(turn: Turn, data: ButtonData) -> None:
    """A button of the cars flow (already checked to be current)."""
    action, vehicle = data.action, await _flow_vehicle(turn, data)
    if action == "add":
        await start_adding(turn)
    elif action == "list":
        await show_cars(turn)
    elif action == "brand":
        await _chosen_brand(turn, _pick(list(turn.carebot.store.brands), data.int_arg(0)))
    elif action == "model":
        models = turn.carebot.store.brands.get(turn.flow.data.get("brand") or "", [])
        await _chosen_model(turn, _pick(models, data.int_arg(0)))
    elif action == "skip":
        await _chosen_registration(turn, None)
    elif action == "lower":
        await _answered_lower(turn, data.arg(0) == "yes")
    elif vehicle is None:
        await show_cars(turn)
    elif action == "open":
        await show_car(turn, vehicle)
    elif action == "reading":
        await ask_reading(turn)
    elif action == "book":
        await booking.start_booking(turn, vehicle.id)
    elif action == "edit":
        await ask_edit(turn)
    elif action == "field":
        await _edit_field(turn, data.arg(0))
    elif action == "remove":
        await _ask_remove(turn, vehicle)
    elif action == "removed":
        await _remove(turn, vehicle)


def _pick(names: list[str], index: int | None) -> str | None:
    """The name a list button stands for (buttons carry indexes: names may be long)."""
    return names[index] if index is not None and index < len(names) else None


async def _show_step(turn: Turn) -> None:
    step = STEPS.get(turn.flow.step)
    if step is not None:
        await step(turn)
        return
    vehicle = await _flow_vehicle(turn, None)
    if turn.flow.step in ("car", "edit", "remove", "reading_lower") and vehicle is not None:
        await show_car(turn, vehicle)
    else:
        await show_cars(turn)


async def _flow_vehicle(turn: Turn, data: ButtonData | None) -> Vehicle | None:
    """The car a button names (`open`) or the flow is about; only the customer's own."""
    vehicle_id = data.int_arg(0) if data is not None and data.action == "open" else None
    vehicle_id = vehicle_id or turn.flow.data.get("vehicle")
    if not vehicle_id:
        return None
    return await customer_vehicle(turn.session, turn.customer.id, vehicle_id)


async def _typed_plate(turn: Turn, text: str) -> None:
    try:
        plate = normalise_plate(text)
        keep = turn.flow.data.get("vehicle") if turn.flow.data.get("editing") else None
        await check_plate_free(turn.session, turn.carebot.store_id, turn.customer.id, plate, keep)
    except ValueError:
        turn.notice("car_bad_plate", typed=text)
        await ask_plate(turn)
        return
    except VehicleRefused as refused:
        turn.notice(f"car_{refused.reason}", plate=plate)
        await ask_plate(turn)
        return
    if turn.flow.data.get("editing") == "plate":
        vehicle = await _flow_vehicle(turn, None)
        if vehicle is not None:
            await change_plate(turn.session, vehicle, plate)
            await turn.refresh_advisor_topic()
            await _edited(turn, vehicle)
        return
    await turn.go("plate", plate=plate)
    await ask_brand(turn)


async def _chosen_brand(turn: Turn, brand: str | None) -> None:
    if not brand:
        await ask_brand(turn)
        return
    await turn.go("brand", brand=brand)
    await ask_model(turn)


async def _chosen_model(turn: Turn, model: str | None) -> None:
    if not model:
        await ask_model(turn)
        return
    await turn.go("model", model=model)
    if turn.flow.data.get("editing") == "make":
        vehicle = await _flow_vehicle(turn, None)
        if vehicle is not None:
            await set_make_and_model(turn.session, vehicle, turn.flow.data.get("brand"), model)
            await _edited(turn, vehicle)
        return
    await ask_registration(turn)


async def _typed_registration(turn: Turn, text: str) -> None:
    day = parse_date(text, turn.today)
    if day is None or not OLDEST_REGISTRATION <= day <= turn.today:
        turn.notice("car_bad_registration", typed=text)
        await ask_registration(turn)
        return
    await _chosen_registration(turn, day)


async def _chosen_registration(turn: Turn, day: dt.date | None) -> None:
    if turn.flow.data.get("editing") == "registration":
        vehicle = await _flow_vehicle(turn, None)
        if vehicle is not None:
            await set_registration_date(turn.session, vehicle, day)
            await _edited(turn, vehicle)
        return
    await turn.go("registration", registration=day.isoformat() if day else None)
    await ask_km(turn)


async def _typed_km(turn: Turn, text: str) -> None:
    km = parse_km(text)
    if km is None:
        turn.notice("car_bad_km", typed=text)
        await (ask_km if turn.flow.step == "km" else ask_reading)(turn)
        return
    if turn.flow.step == "km":
        await _save_new_car(turn, km)
        return
    last = await last_reading(turn.session, turn.flow.data["vehicle"])
    if last is not None and km < last.km:
        await turn.go("reading_lower", km=km)
        turn.say(
            "car_km_lower",
            keyboard=_keyboard(
                [turn.button(turn.label("button_reading_right"), "lower", "yes")],
                [turn.button(turn.label("button_reading_retype"), "lower", "no")],
            ),
            km=km,
            last_km=last.km,
            read_on=turn.day(last.read_on),
        )
        return
    await _save_reading(turn, km)


async def _answered_lower(turn: Turn, confirmed: bool) -> None:
    km = turn.flow.data.get("km")
    if confirmed and isinstance(km, int):
        await _save_reading(turn, km)
    else:
        await ask_reading(turn)


async def _save_reading(turn: Turn, km: int) -> None:
    vehicle = await _flow_vehicle(turn, None)
    if vehicle is None:
        await show_cars(turn)
        return
    await record_reading(
        turn.session, vehicle.id, km=km, on=turn.today, source=ReadingSource.CUSTOMER
    )
    await turn.end()
    turn.say("car_reading_saved", plate=vehicle.plate or "", km=km)


async def _save_new_car(turn: Turn, km: int) -> None:
    data = turn.flow.data
    registration = data.get("registration")
    try:
        vehicle = await add_vehicle(
            turn.session,
            store_id=turn.carebot.store_id,
            customer_id=turn.customer.id,
            plate=data["plate"],
            brand=data.get("brand"),
            model=data.get("model"),
            registration_date=dt.date.fromisoformat(registration) if registration else None,
            km=km,
            today=turn.today,
        )
    except VehicleRefused as refused:
        # Someone else registered the plate while this customer was typing.
        turn.notice(f"car_{refused.reason}", plate=data["plate"])
        await ask_plate(turn)
        return
    await turn.refresh_advisor_topic()
    turn.say("car_saved", car=booking.car_name(vehicle), km=km)
    if data.get("then_book"):
        await booking.start_booking(turn, vehicle.id)
    else:
        await turn.end()


async def _edit_field(turn: Turn, field: str) -> None:
    if field == "plate":
        await turn.go("plate", editing="plate")
        await ask_plate(turn)
    elif field == "make":
        await turn.go("brand", editing="make")
        await ask_brand(turn)
    elif field == "registration":
        await turn.go("registration", editing="registration")
        await ask_registration(turn)


async def _edited(turn: Turn, vehicle: Vehicle) -> None:
    turn.notice("car_updated")
    await show_car(turn, vehicle)


async def _ask_remove(turn: Turn, vehicle: Vehicle) -> None:
    await turn.go("remove")
    turn.say(
        "car_remove_confirm",
        keyboard=_keyboard(
            [turn.button(turn.label("button_remove_car_yes"), "removed")],
            [turn.button(turn.label("button_back"), "open", vehicle.id)],
        ),
        car=booking.car_name(vehicle),
    )


async def _remove(turn: Turn, vehicle: Vehicle) -> None:
    try:
        await remove_vehicle(turn.session, vehicle, turn.now)
    except VehicleRefused:
        turn.notice("car_has_appointments", car=booking.car_name(vehicle))
        await show_car(turn, vehicle)
        return
    await turn.refresh_advisor_topic()
    await turn.end()
    turn.say("car_removed", car=booking.car_name(vehicle))

