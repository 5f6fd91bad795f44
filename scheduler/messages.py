"""An outbox row as a Telegram message: its template in the customer's language, with buttons.

A care template sees the row's payload plus customer_name, store_name, store_phone and
bot_username. For convenience the payload's dates (`<name>_on`) also come written out as
`<name>_day`, its times (`<name>_at`, shown in the store's zone) as `<name>_when` (the
format_day and format_when labels), an appointment's service_type as `service`, and the car as
`car` ("Toyota RAV4 ABC-1234"). Buttons come from the template's .buttons.yaml (bot/render.py);
a marketing message also gets the Unsubscribe button.

Callback data of care buttons (bot/callbacks.py shape `area:action:-:args`, at most 64 bytes):
    care:confirm:-:<appointment id>       the owner will come (appointment confirmation)
    care:reschedule:-:<appointment id>    the owner wants another time
    care:cancel:-:<appointment id>        the owner cancels
    care:score:-:<survey id>:<1-5>        satisfaction score
    care:comment:-:<survey id>            the owner wants to add a comment
    care:unsub:-                          no more marketing (same as /stop)
scheduler/answers.py holds what each of them does.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bot.callbacks import pack
from bot.locales import Locale
from bot.render import Button, Renderer
from bot.store_config import StoreConfig

AREA = "care"
UNSUBSCRIBE = pack(AREA, "unsub", None)


@dataclass(frozen=True)
class Message:
    text: str
    buttons: list[list[Button]]


@dataclass(frozen=True)
class Signature:
    """Who the message is from and who it is to: what every care template may use."""

    store: StoreConfig
    tz: ZoneInfo
    bot_username: str


def parse_time(value: str) -> dt.datetime:
    """A payload time: ISO text from either engine (SQLite's has no zone and is UTC)."""
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def message_context(
    payload: dict[str, Any],
    *,
    renderer: Renderer,
    locale: Locale,
    signature: Signature,
    customer_name: str | None,
) -> dict[str, Any]:
    """What a care template sees (see the module docstring)."""
    store = signature.store
    values: dict[str, Any] = dict(payload)
    for name, value in payload.items():
        if name.endswith("_on") and isinstance(value, str):
            day = dt.date.fromisoformat(value[:10])
            values[name] = day
            values[f"{name.removesuffix('_on')}_day"] = renderer.label(locale, "format_day", d=day)
        elif name.endswith("_at") and isinstance(value, str):
            moment = parse_time(value).astimezone(signature.tz)
            values[name] = moment
            values[f"{name.removesuffix('_at')}_when"] = renderer.label(
                locale, "format_when", d=moment
            )
    service = payload.get("service_type")
    if isinstance(service, str):
        known = store.service_types.get(service)
        values["service"] = known.name.get(locale) if known else service
    car = " ".join(str(payload[part]) for part in ("brand", "model", "plate") if payload.get(part))
    values.setdefault("car", car)
    values.update(
        customer_name=customer_name or "",
        store_name=store.store.name.get(locale),
        store_phone=store.store.phone or "",
        bot_username=signature.bot_username,
    )
    return values


def compose(
    renderer: Renderer,
    *,
    template: str,
    payload: dict[str, Any],
    marketing: bool,
    locale: Locale,
    signature: Signature,
    customer_name: str | None,
) -> Message:
    """The text and keyboard of one care message."""
    context = message_context(
        payload, renderer=renderer, locale=locale, signature=signature, customer_name=customer_name
    )
    buttons = renderer.buttons(locale, template, **context)
    if marketing:
        buttons.append(
            [Button(renderer.label(locale, "care_unsubscribe"), callback_data=UNSUBSCRIBE)]
        )
    return Message(renderer.text(locale, template, **context), buttons)
