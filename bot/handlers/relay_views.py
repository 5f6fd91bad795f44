"""What the relay writes for advisors: the customer card, the plain-group header, notices.

Advisors read the store's default language (as on the booking cards); customer data is escaped
by the templates' autoescape.
"""

import datetime as dt
from typing import Any

from bot.context import Carebot
from bot.customer_card import CustomerCard
from bot.models import Customer

# The card stays well inside one Telegram message (4096 characters): notes are cut short.
NOTE_CHARS = 300


def advisor_text(carebot: Carebot, kind: str, **values: Any) -> str:
    return carebot.render.text(carebot.default_locale, kind, **values)


def advisor_label(carebot: Carebot, key: str, **values: Any) -> str:
    return carebot.render.label(carebot.default_locale, key, **values)


def header(carebot: Carebot, customer: Customer, plates: list[str]) -> str:
    """Who a message in a plain group is from (a group without topics mixes every customer)."""
    return advisor_text(
        carebot,
        "relay_header",
        customer_id=customer.id,
        name=customer.name or "",
        plates=plates,
    )


def card_text(carebot: Carebot, card: CustomerCard) -> str:
    tz = carebot.settings.timezone
    customer = card.customer

    def day(value: dt.date | None) -> str:
        return advisor_label(carebot, "format_day", d=value) if value else ""

    def service(code: str) -> str:
        found = carebot.store.service_types.get(code)
        return found.name.get(carebot.default_locale) if found else code

    return advisor_text(
        carebot,
        "relay_card",
        customer_id=customer.id,
        name=customer.name or "",
        phone=customer.phone or "",
        marketing=customer.marketing_consent,
        reachable=customer.reachable,
        banned=customer.banned_at is not None,
        cars=[
            {
                "plate": car.plate or "",
                "car": " ".join(part for part in (car.brand, car.model) if part),
                "last_visit": day(car.last_visit),
                "last_km": car.last_km,
                "read_on": day(car.last_read_on),
                "km_today": car.km_today,
                "due": day(car.maintenance_due),
                "due_by_km": car.due_by_km,
                "insurance_end": day(car.insurance_end),
                "segments": [advisor_label(carebot, f"relay_segment_{s}") for s in car.segments],
            }
            for car in card.cars
        ],
        appointments=[
            {
                "when": advisor_label(carebot, "format_when", d=a.slot_start.astimezone(tz)),
                "service": service(a.service_type),
                "status": a.status.value,
            }
            for a in card.appointments
        ],
        notes=[
            {"text": _shortened(note.text, NOTE_CHARS), "by": note.author_name or ""}
            for note in card.notes
        ],
    )


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
