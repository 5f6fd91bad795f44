"""The booking card advisors see: who, which car, what, when, and the buttons that still apply.

Cards are written in the store's default language (the advisors'). A new card is posted for
every new, moved or cancelled booking; an advisor's button edits the card it is on.
"""

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.booking import advisor_may
from bot.callbacks import pack
from bot.context import Carebot
from bot.handlers.turns import AdvisorPost
from bot.models import Appointment, Customer, Vehicle

AREA = "adv"
# The card's buttons in order: (action, label key).
BUTTONS = (
    ("confirm", "advisor_confirm"),
    ("propose", "advisor_propose"),
    ("arrived", "advisor_arrived"),
    ("no_show", "advisor_no_show"),
    ("complete", "advisor_complete"),
)


def card_text(
    carebot: Carebot,
    appointment: Appointment,
    customer: Customer,
    vehicle: Vehicle | None,
    event: str,
    by: str | None = None,
) -> str:
    """The card for an appointment after `event` (new, moved, cancelled, confirmed, ...)."""
    locale = carebot.default_locale
    render = carebot.render
    service = carebot.store.service_types.get(appointment.service_type)
    local = appointment.slot_start.astimezone(carebot.settings.timezone)
    return render.text(
        locale,
        "advisor_card",
        event=event,
        by=by,
        appointment_id=appointment.id,
        status=appointment.status.value,
        name=customer.name or "",
        phone=customer.phone or "",
        plate=vehicle.plate if vehicle else "",
        car=" ".join(part for part in (vehicle.brand, vehicle.model) if part) if vehicle else "",
        service=service.name.get(locale) if service else appointment.service_type,
        when=render.label(locale, "format_when", d=local),
        note=appointment.note,
        reason=appointment.cancel_reason,
    )


def card_keyboard(carebot: Carebot, appointment: Appointment) -> InlineKeyboardMarkup | None:
    """The advisor buttons that still apply to the appointment's status."""
    locale = carebot.default_locale
    buttons = [
        InlineKeyboardButton(
            carebot.render.label(locale, key),
            callback_data=pack(AREA, action, None, appointment.id),
        )
        for action, key in BUTTONS
        if advisor_may(appointment, action)
    ]
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]] if len(buttons) > 2 else [buttons])


def card_post(
    carebot: Carebot,
    appointment: Appointment,
    customer: Customer,
    vehicle: Vehicle | None,
    event: str,
) -> AdvisorPost:
    """A new card for the advisors; a new booking's card carries the customer's photo."""
    return AdvisorPost(
        customer=customer,
        text=card_text(carebot, appointment, customer, vehicle, event),
        keyboard=card_keyboard(carebot, appointment),
        photo=appointment.photo_file_id if event == "new" else None,
    )
