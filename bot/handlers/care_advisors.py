"""Care in the advisor group: /preview <kind> and /campaign <template> <audience>.

/preview renders one care template with the sample data of templates/samples.yaml, in the
store's language, its buttons listed under it. /campaign counts who would get a campaign
template, shows it as the first of them would read it, and keeps it as a draft campaign until
an advisor presses Confirm (`cadv:go:-:<campaign id>`) or Cancel (`cadv:drop:-:<campaign id>`);
confirming queues it in the outbox once, however often it is pressed.

Only messages and buttons in a configured advisor group count (bot/app.py filters the
commands; the buttons check their chat here).
"""

import datetime as dt
import logging
import shlex

from jinja2 import TemplateError
from markupsafe import Markup
from pydantic import ValidationError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.callbacks import pack, unpack
from bot.context import Carebot, CarebotContext
from bot.db import transaction
from bot.handlers.relay_advisors import from_advisor
from bot.handlers.relay_views import advisor_label, advisor_text
from bot.models import Campaign, FleetTag
from bot.render import Button
from bot.store_config import StoreConfig
from bot.template_check import read_samples
from scheduler import kinds
from scheduler.audience import SEGMENTS, Audience
from scheduler.campaigns import (
    campaign_templates,
    confirm_campaign,
    draft_campaign,
    drop_campaign_draft,
    plan_campaign,
)
from scheduler.messages import Signature

logger = logging.getLogger(__name__)

AREA = "cadv"
COMMANDS = ("preview", "campaign")
# Audience words: key=value (repeatable for brand, model and fleet), or a bare segment name.
_AUDIENCE_KEYS = {"segment": "segment", "brand": "brands", "model": "models", "fleet": "fleet_tags"}


# --- /preview -----------------------------------------------------------------------------------


async def on_preview(update: Update, context: CarebotContext) -> None:
    """/preview <kind>: one care template with sample data; without a known kind, the list."""
    message, carebot = update.effective_message, context.carebot
    if message is None or not from_advisor(message):
        return
    wanted = context.args[0].lower() if context.args else ""
    templates = previewable(carebot)
    template = templates.get(wanted) or templates.get(wanted.removeprefix("care_"))
    if template is None:
        await _reply(message, advisor_text(carebot, "care_preview_kinds", kinds=list(templates)))
        return
    await _reply(message, preview_text(carebot, template))


def previewable(carebot: Carebot) -> dict[str, str]:
    """What /preview accepts: every care kind, and the campaign templates, to their template."""
    found = {kind: kinds.template_of(kind) for kind in kinds.KINDS if kind != kinds.CAMPAIGN}
    found |= {name: name for name in campaign_templates(carebot.render)}
    return found


def preview_text(carebot: Carebot, template: str) -> str:
    """The template rendered with its samples, under a header, its buttons listed as text."""
    render, locale = carebot.render, carebot.default_locale
    samples = read_samples(render)
    values = {**samples.get("_common", {}), **samples.get(template, {})}
    try:
        body = render.text(locale, template, **values)
        buttons = [button for row in render.buttons(locale, template, **values) for button in row]
    except (TemplateError, ValueError, TypeError, KeyError) as error:
        return advisor_text(carebot, "care_preview_broken", template=template, error=str(error))
    if marketing_template(carebot.store, template):
        buttons.append(Button(render.label(locale, "care_unsubscribe")))
    return advisor_text(
        carebot,
        "care_preview",
        template=template,
        body=Markup(body),  # already Telegram HTML, escaped when it was rendered
        buttons=[_button_line(button) for button in buttons],
    )


def marketing_template(store: StoreConfig, template: str) -> bool:
    """Whether the message goes out as marketing (and so carries the Unsubscribe button)."""
    care = store.care
    configured = {
        kinds.MAINTENANCE: care.maintenance.marketing,
        kinds.FIRST_SERVICE: care.first_service.marketing,
        kinds.INSURANCE: care.insurance.marketing,
        kinds.INSPECTION: care.inspection.marketing,
        kinds.NEW_CAR_THANKS: care.new_car.marketing,
        kinds.NEW_CAR_CHECKIN: care.new_car.marketing,
        kinds.NEW_CAR_FIRST_SERVICE: care.new_car.marketing,
        kinds.BIRTHDAY: True,
        kinds.WIN_BACK: True,
        kinds.EVENT_INVITATION: True,
    }
    if template.startswith(kinds.CAMPAIGN_TEMPLATE_PREFIX):
        return True
    return configured.get(template.removeprefix("care_"), False)


def _button_line(button: Button) -> str:
    return f"{button.text} → {button.url}" if button.url else button.text


# --- /campaign ----------------------------------------------------------------------------------


async def on_campaign(update: Update, context: CarebotContext) -> None:
    """/campaign <template> <audience>: the count and a preview, with Confirm and Cancel."""
    message, carebot = update.effective_message, context.carebot
    if message is None or not message.text or not from_advisor(message):
        return
    templates = campaign_templates(carebot.render)
    try:
        template, audience = parse_campaign_words(message.text.partition(" ")[2], templates)
    except ValueError as error:
        await _reply(message, _usage(carebot, templates, str(error)))
        return
    store, tz = carebot.store, carebot.settings.timezone
    now = dt.datetime.now(dt.UTC)
    async with transaction(carebot.sessions) as session:
        plan = await plan_campaign(
            session,
            store_id=carebot.store_id,
            store=store,
            renderer=carebot.render,
            signature=Signature(store, tz, context.bot.username),
            audience=audience,
            template=template,
            locale=carebot.default_locale,
            as_of=now.astimezone(tz).date(),
        )
        draft = None
        if plan.recipients:
            draft = await draft_campaign(
                session,
                store_id=carebot.store_id,
                name=f"{template} {now.astimezone(tz):%Y-%m-%d}",
                audience=audience,
                template=template,
                created_by=message.from_user.id if message.from_user else None,
            )
    offer = advisor_text(
        carebot,
        "care_campaign_offer",
        template=template,
        audience=audience.describe(),
        recipients=plan.recipients,
    )
    if draft is None or plan.preview is None:
        await _reply(message, offer)
        return
    buttons = [button for row in plan.preview.buttons for button in row]
    await _reply(
        message,
        advisor_text(
            carebot,
            "care_preview",
            template=template,
            body=Markup(plan.preview.text),  # rendered (and escaped) by compose
            buttons=[_button_line(button) for button in buttons],
        ),
    )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    advisor_label(carebot, "care_campaign_confirm", n=plan.recipients),
                    callback_data=pack(AREA, "go", None, draft.id),
                ),
                InlineKeyboardButton(
                    advisor_label(carebot, "care_campaign_cancel"),
                    callback_data=pack(AREA, "drop", None, draft.id),
                ),
            ]
        ]
    )
    await _reply(message, offer, keyboard)


def parse_campaign_words(text: str, templates: list[str]) -> tuple[str, Audience]:
    """(template, audience) from `<template> [segment=lost] [brand=Toyota] ... | all`.

    The template may be named with or without its `campaign_` prefix; values with spaces are
    quoted (brand="Land Rover"). Raises ValueError with what is wrong.
    """
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise ValueError(str(error)) from None
    if not words:
        raise ValueError("")
    name = words[0].lower()
    template = name if name in templates else f"{kinds.CAMPAIGN_TEMPLATE_PREFIX}{name}"
    if template not in templates:
        raise ValueError(f"no campaign template {words[0]!r}")
    spec: dict[str, object] = {}
    for word in words[1:]:
        key, equals, value = word.partition("=")
        key = key.lower()
        if not equals and key in SEGMENTS:
            key, value = "segment", key
        elif key == "fleet_tag":
            key = "fleet"
        if key not in _AUDIENCE_KEYS or not value.strip():
            raise ValueError(f"not an audience: {word!r}")
        field = _AUDIENCE_KEYS[key]
        if field == "segment":
            spec[field] = value.lower()
        else:
            spec.setdefault(field, []).append(value.strip())  # type: ignore[union-attr]
    try:
        return template, Audience.model_validate(spec)
    except ValidationError as error:
        raise ValueError(str(error.errors()[0]["msg"])) from None


def _usage(carebot: Carebot, templates: list[str], problem: str) -> str:
    return advisor_text(
        carebot,
        "care_campaign_usage",
        problem=problem,
        templates=[name.removeprefix(kinds.CAMPAIGN_TEMPLATE_PREFIX) for name in templates],
        segments=list(SEGMENTS),
        fleet_tags=[tag.value for tag in FleetTag],
    )


async def on_campaign_button(update: Update, context: CarebotContext) -> None:
    """Confirm or Cancel under a campaign offer, pressed in an advisor group."""
    query, carebot = update.callback_query, context.carebot
    if query is None:
        return
    message = query.message if isinstance(query.message, Message) else None
    data = unpack(query.data)
    campaign_id = data.int_arg(0) if data is not None else None
    if message is None or message.chat.id not in carebot.settings.advisor_chat_ids:
        await query.answer(advisor_label(carebot, "advisor_only"), show_alert=True)
        return
    if data is None or campaign_id is None or data.action not in ("go", "drop"):
        await query.answer()
        return
    store, tz = carebot.store, carebot.settings.timezone
    async with transaction(carebot.sessions) as session:
        if data.action == "go":
            started = await confirm_campaign(
                session,
                campaign_id=campaign_id,
                store_id=carebot.store_id,
                store=store,
                tz=tz,
                now=dt.datetime.now(dt.UTC),
            )
            done = started is not None
        else:
            done = await drop_campaign_draft(
                session, campaign_id=campaign_id, store_id=carebot.store_id
            )
        row = await session.get(Campaign, campaign_id)
    if not done:
        key = "care_campaign_was_started" if row is not None else "care_campaign_was_dropped"
        await query.answer(advisor_label(carebot, key), show_alert=True)
        return
    await query.answer()
    by = query.from_user.full_name
    if row is not None:
        text = advisor_text(
            carebot,
            "care_campaign_started",
            template=row.template,
            recipients=row.recipients,
            by=by,
        )
        logger.info(
            "campaign %s started by %s: %s messages", row.id, query.from_user.id, row.recipients
        )
    else:
        text = advisor_text(carebot, "care_campaign_dropped", by=by)
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=None)
    except BadRequest as error:
        logger.info("could not edit campaign offer %s: %s", message.message_id, error.message)


async def _reply(message: Message, html: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    """Answer in the same chat and topic as the command."""
    await message.reply_html(html, reply_markup=keyboard, do_quote=True)
