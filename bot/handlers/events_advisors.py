"""Club events in the advisor chat: /events, a guided creation, edits, publish, cancel,
attendance and the participant list as CSV.

Being in an advisor chat (ADVISOR_CHAT_ID, one or several) is what makes someone an advisor. An advisor's conversation (flow
`evadv`, one per advisor in that chat, kept in the `conversation` table) asks one field at a
time in the topic where it started; its buttons carry the flow's version. Buttons on event
cards (`evadv:<action>:-:<event id>...`) belong to no conversation: any advisor may press them,
and each re-reads the event before acting.
"""

import csv
import datetime as dt
import io
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.callbacks import ButtonData, pack, unpack
from bot.context import Carebot, CarebotContext
from bot.db import transaction
from bot.event_input import (
    parse_count,
    parse_deadline,
    parse_end,
    parse_moment,
    parse_names,
    parse_point,
)
from bot.event_notices import REMINDERS, drop_planned, invite_audience, queue_notices
from bot.events import (
    MAX_COMPANIONS,
    MAX_SEATS,
    PLACE_LIMIT,
    TITLE_LIMIT,
    EventCounts,
    EventRefused,
    active_signups,
    cancel_event,
    change_event,
    counts_of,
    create_event,
    event_counts,
    participants,
    publish_event,
    set_attended,
    store_event,
)
from bot.flows import Flow, end_flow, enter_step, load_flow
from bot.handlers.event_sends import send_notices_now
from bot.locales import Locale
from bot.models import Conversation, EventStatus, FleetTag, SignupStatus
from scheduler import kinds
from scheduler.audience import SEGMENTS, Audience

logger = logging.getLogger(__name__)

AREA = "evadv"
# The order the guided creation asks in.
FIELDS = (
    "title",
    "description",
    "place",
    "location",
    "starts_at",
    "ends_at",
    "seats",
    "signup_deadline",
    "companions_allowed",
    "audience",
    "photo",
)
OPTIONAL = frozenset({"description", "place", "location", "ends_at", "signup_deadline", "photo"})
# Model fields behind each asked field (the map point is two).
COLUMNS = {"location": ("latitude", "longitude"), "photo": ("photo_file_id",)}
TIMES = ("starts_at", "ends_at", "signup_deadline")
ATTENDANCE_PAGE = 20
LIST_LIMIT = 20
# Events are listed from this long ago, so yesterday's can still get their attendance.
LIST_SINCE = dt.timedelta(days=7)


# --- talking in the advisor chat ---------------------------------------------------------------


class Desk:
    """One update's work in the advisor chat: who, where, and how to answer."""

    def __init__(self, context: CarebotContext, chat_id: int, thread: int | None) -> None:
        self.carebot: Carebot = context.carebot
        self.bot: Bot = context.bot
        self.chat_id = chat_id
        self.thread = thread
        # Sent after the transaction commits, in order: messages, then event notices.
        self.messages: list[tuple[str, InlineKeyboardMarkup | None]] = []
        self.notices: list[int] = []

    @property
    def locale(self) -> Locale:
        return self.carebot.default_locale

    @property
    def tz(self) -> dt.tzinfo:
        return self.carebot.settings.timezone

    def text(self, kind: str, **values: Any) -> str:
        return self.carebot.render.text(self.locale, kind, **values)

    def label(self, key: str, **values: Any) -> str:
        return self.carebot.render.label(self.locale, key, **values)

    def when(self, moment: dt.datetime | None) -> str | None:
        if moment is None:
            return None
        return self.label("format_when", d=moment.astimezone(self.tz))

    def card_button(self, key: str, action: str, *args: object) -> InlineKeyboardButton:
        """A button on an event card: any advisor may press it."""
        return self.card_button_text(self.label(key), action, *args)

    def card_button_text(self, text: str, action: str, *args: object) -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=pack(AREA, action, None, *args))

    def say(self, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """Queue a message for the advisor chat's thread."""
        self.messages.append((text, keyboard))

    async def show(
        self, pressed: Message | None, text: str, keyboard: InlineKeyboardMarkup | None
    ) -> None:
        """Replace the pressed message's text, or queue a new message when that fails."""
        if pressed is not None and pressed.text is not None:
            try:
                await pressed.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
                return
            except BadRequest as error:
                if "not modified" in error.message.lower():
                    return
                logger.info("could not edit event message: %s", error.message)
        self.say(text, keyboard)

    async def flush(self) -> None:
        """Send what was queued, after the transaction that decided it has committed."""
        messages, self.messages = self.messages, []
        for text, keyboard in messages:
            await self.bot.send_message(
                self.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
                message_thread_id=self.thread,
            )
        notices, self.notices = self.notices, []
        await send_notices_now(self.bot, self.carebot, notices)


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- /events and the cards ---------------------------------------------------------------------


async def on_events_command(update: Update, context: CarebotContext) -> None:
    """/events: events from last week on, with confirmed, waitlisted and attended counts."""
    message = update.effective_message
    if message is None:
        return
    desk = Desk(context, message.chat.id, _thread(message))
    desk.say(*await _list(desk))
    await desk.flush()


async def _list(desk: Desk) -> tuple[str, InlineKeyboardMarkup]:
    async with desk.carebot.sessions() as session:
        found = await event_counts(
            session, desk.carebot.store_id, since=_now() - LIST_SINCE, limit=LIST_LIMIT
        )
    rows = [
        [
            desk.card_button_text(
                desk.label(
                    "event_adv_list_button",
                    title=counts.event.title,
                    day=desk.label("format_day", d=counts.event.starts_at.astimezone(desk.tz)),
                ),
                "card",
                counts.event.id,
            )
        ]
        for counts in found
    ]
    rows.append([desk.card_button("event_adv_button_new", "new")])
    text = desk.text("event_adv_list", events=[_summary(desk, counts) for counts in found])
    return text, InlineKeyboardMarkup(rows)


def _summary(desk: Desk, counts: EventCounts) -> dict[str, Any]:
    event = counts.event
    return {
        "id": event.id,
        "title": event.title,
        "when": desk.when(event.starts_at),
        "ends": desk.when(event.ends_at),
        "place": event.place,
        "status": event.status.value,
        "seats": event.seats,
        "seats_left": counts.seats_left,
        "confirmed_people": counts.confirmed_people,
        "confirmed_parties": counts.confirmed_parties,
        "waitlisted": counts.waitlisted_parties,
        "attended": counts.attended_people,
    }


async def _card(
    desk: Desk, event_id: int, session: AsyncSession | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """An event's card with its counts, read in `session` or in a session of its own."""
    if session is None:
        async with desk.carebot.sessions() as own:
            return await _card(desk, event_id, own)
    counts = await counts_of(session, event_id)
    if counts is None or counts.event.store_id != desk.carebot.store_id:
        return desk.text("event_adv_gone"), None
    event = counts.event
    audience = Audience.from_json(event.audience)
    text = desk.text(
        "event_adv_card",
        **_summary(desk, counts),
        description=event.description,
        deadline=desk.when(event.signup_deadline),
        companions_allowed=event.companions_allowed,
        latitude=event.latitude,
        longitude=event.longitude,
        has_photo=event.photo_file_id is not None,
        audience=_audience_text(desk, audience),
        code=event.checkin_code,
    )
    rows = []
    if event.status == EventStatus.DRAFT:
        rows.append([desk.card_button("event_adv_button_publish", "pub", event.id)])
    if event.status != EventStatus.CANCELLED:
        rows.append([desk.card_button("event_adv_button_edit", "edit", event.id)])
    if event.status == EventStatus.PUBLISHED:
        rows.append(
            [
                desk.card_button("event_adv_button_attendance", "att", event.id, 0),
                desk.card_button("event_adv_button_csv", "csv", event.id),
            ]
        )
    if event.status != EventStatus.CANCELLED:
        rows.append([desk.card_button("event_adv_button_cancel", "askcancel", event.id)])
    rows.append([desk.card_button("event_adv_button_list", "list")])
    return text, InlineKeyboardMarkup(rows)


def _audience_text(desk: Desk, audience: Audience) -> str:
    parts = []
    if audience.segment != "all" or not (audience.brands or audience.models or audience.fleet_tags):
        parts.append(desk.label(f"event_segment_{audience.segment}"))
    parts += audience.brands + audience.models
    parts += [desk.label(f"report_fleet_{tag.value}") for tag in audience.fleet_tags]
    return ", ".join(parts)


# --- card buttons ------------------------------------------------------------------------------


async def on_button(update: Update, context: CarebotContext) -> None:
    """Every `evadv:` button; only in the advisor chat."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return
    pressed, advisor = query.message, query.from_user
    carebot = context.carebot
    if pressed.chat.id not in carebot.settings.advisor_chat_ids:
        await query.answer(
            carebot.render.label(carebot.default_locale, "event_adv_only"), show_alert=True
        )
        return
    data = unpack(query.data)
    desk = Desk(context, pressed.chat.id, _thread(pressed))
    if data is None:
        await query.answer()
        return
    if data.version is not None:
        alert = await _conversation_button(desk, advisor, pressed, data)
    else:
        alert = await _card_action(desk, advisor, pressed, data)
    await query.answer(alert, show_alert=alert is not None)
    await desk.flush()


async def _card_action(desk: Desk, advisor: User, pressed: Message, data: ButtonData) -> str | None:
    event_id = data.int_arg(0) or 0
    action = data.action
    if action == "list":
        await desk.show(pressed, *await _list(desk))
    elif action == "new":
        await _start(desk, advisor, "new", None)
    elif action == "card":
        await desk.show(pressed, *await _card(desk, event_id))
    elif action == "pub":
        return await _publish(desk, pressed, event_id)
    elif action == "edit":
        await desk.show(pressed, *_field_chooser(desk, event_id))
    elif action == "field" and data.arg(1) in FIELDS:
        await _start(desk, advisor, "edit", event_id, data.arg(1))
    elif action == "askcancel":
        keyboard = InlineKeyboardMarkup(
            [
                [desk.card_button("event_adv_button_cancel_yes", "cancel", event_id)],
                [desk.card_button("event_adv_button_keep", "card", event_id)],
            ]
        )
        await desk.show(pressed, desk.text("event_adv_ask_cancel"), keyboard)
    elif action == "cancel":
        return await _cancel(desk, pressed, event_id)
    elif action == "att":
        await desk.show(pressed, *await _attendance(desk, event_id, data.int_arg(1) or 0))
    elif action == "mark":
        return await _mark(desk, pressed, event_id, data.int_arg(1) or 0, data.int_arg(2) or 0)
    elif action == "csv":
        await _export(desk, event_id)
    return None


async def _publish(desk: Desk, pressed: Message, event_id: int) -> str | None:
    carebot, now = desk.carebot, _now()
    try:
        async with transaction(carebot.sessions) as session:
            event = await publish_event(session, event_id, now)
            invited = await invite_audience(
                session, event, carebot.store, carebot.settings.timezone, now
            )
    except EventRefused as refused:
        return desk.label(f"event_reason_{refused.reason}")
    await desk.show(pressed, *await _card(desk, event_id))
    desk.say(desk.text("event_adv_published", title=event.title, invited=invited))
    return None


async def _cancel(desk: Desk, pressed: Message, event_id: int) -> str | None:
    now = _now()
    try:
        async with transaction(desk.carebot.sessions) as session:
            event, told = await cancel_event(session, event_id)
            await drop_planned(session, event.id)
            desk.notices += await queue_notices(session, event, kinds.EVENT_CANCELLED, told, now)
    except EventRefused as refused:
        return desk.label(f"event_reason_{refused.reason}")
    await desk.show(pressed, *await _card(desk, event_id))
    desk.say(desk.text("event_adv_cancelled", title=event.title, told=len(told)))
    return None


async def _attendance(
    desk: Desk, event_id: int, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    async with desk.carebot.sessions() as session:
        event = await store_event(session, desk.carebot.store_id, event_id)
        everyone = await participants(session, event_id)
    if event is None:
        return desk.text("event_adv_gone"), None
    present = [
        p for p in everyone if p.signup.status in (SignupStatus.CONFIRMED, SignupStatus.ATTENDED)
    ]
    pages = max((len(present) + ATTENDANCE_PAGE - 1) // ATTENDANCE_PAGE, 1)
    page = min(max(page, 0), pages - 1)
    shown = present[page * ATTENDANCE_PAGE : (page + 1) * ATTENDANCE_PAGE]
    rows = [
        [
            InlineKeyboardButton(
                desk.label(
                    "event_adv_attendee",
                    attended=p.signup.status == SignupStatus.ATTENDED,
                    name=p.customer.name or p.customer.phone or "?",
                    party_size=p.signup.party_size,
                ),
                callback_data=pack(AREA, "mark", None, event_id, p.signup.id, page),
            )
        ]
        for p in shown
    ]
    turns = []
    if page > 0:
        turns.append(desk.card_button("event_adv_button_previous", "att", event_id, page - 1))
    if page < pages - 1:
        turns.append(desk.card_button("event_adv_button_next", "att", event_id, page + 1))
    if turns:
        rows.append(turns)
    rows.append([desk.card_button("event_adv_button_back", "card", event_id)])
    attended = sum(p.signup.party_size for p in present if p.signup.status == SignupStatus.ATTENDED)
    text = desk.text(
        "event_adv_attendance",
        title=event.title,
        parties=len(present),
        people=sum(p.signup.party_size for p in present),
        attended=attended,
        page=page + 1,
        pages=pages,
    )
    return text, InlineKeyboardMarkup(rows)


async def _mark(
    desk: Desk, pressed: Message, event_id: int, signup_id: int, page: int
) -> str | None:
    try:
        async with transaction(desk.carebot.sessions) as session:
            everyone = {p.signup.id: p.signup.status for p in await participants(session, event_id)}
            attended = everyone.get(signup_id) != SignupStatus.ATTENDED
            await set_attended(session, event_id, signup_id, attended)
    except EventRefused as refused:
        return desk.label(f"event_reason_{refused.reason}")
    await desk.show(pressed, *await _attendance(desk, event_id, page))
    return None


async def _export(desk: Desk, event_id: int) -> None:
    """The participant list as a CSV file in the chat (Excel opens it thanks to the BOM)."""
    async with desk.carebot.sessions() as session:
        event = await store_event(session, desk.carebot.store_id, event_id)
        everyone = await participants(session, event_id)
    if event is None:
        return
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        desk.label(f"event_csv_{column}")
        for column in ("name", "phone", "party_size", "status", "position", "signed_up_at")
    )
    for p in everyone:
        writer.writerow(
            [
                p.customer.name or "",
                p.customer.phone or "",
                p.signup.party_size,
                desk.label(f"event_status_{p.signup.status.value}"),
                p.position or "",
                p.signup.created_at.astimezone(desk.tz).strftime("%Y-%m-%d %H:%M"),
            ]
        )
    content = ("\ufeff" + out.getvalue()).encode("utf-8")
    await desk.bot.send_document(
        desk.chat_id,
        InputFile(content, filename=f"event-{event.id}-participants.csv"),
        caption=desk.text("event_adv_csv_caption", title=event.title, count=len(everyone)),
        parse_mode=ParseMode.HTML,
        message_thread_id=desk.thread,
    )


def _field_chooser(desk: Desk, event_id: int) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [
        InlineKeyboardButton(
            desk.label(f"event_field_{name}"),
            callback_data=pack(AREA, "field", None, event_id, name),
        )
        for name in FIELDS
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([desk.card_button("event_adv_button_back", "card", event_id)])
    return desk.text("event_adv_choose_field"), InlineKeyboardMarkup(rows)


# --- the conversation: one field at a time -----------------------------------------------------


async def _start(
    desk: Desk, advisor: User, mode: str, event_id: int | None, field: str = FIELDS[0]
) -> None:
    """Begin creating an event, or changing one field of one."""
    async with transaction(desk.carebot.sessions) as session:
        values: dict[str, Any] = {}
        if event_id is not None:
            event = await store_event(session, desk.carebot.store_id, event_id)
            if event is None:
                desk.say(desk.text("event_adv_gone"))
                return
            # An end typed as a time alone, or a deadline, is read against the current start.
            values = {"starts_at": event.starts_at.isoformat()}
        flow = await load_flow(session, desk.chat_id, advisor.id)
        await enter_step(
            session,
            flow,
            AREA,
            field,
            {"mode": mode, "event": event_id, "thread": desk.thread, "values": values},
        )
        await _ask(desk, flow)


async def _ask(desk: Desk, flow: Flow, problem: str | None = None) -> None:
    field = flow.step
    rows: list[list[InlineKeyboardButton]] = []
    if field == "audience":
        rows += [
            [_flow_button(desk, flow, f"event_audience_{kind}", "aud", kind)]
            for kind in ("all", "brands", "models", "segment", "fleet")
        ]
    elif field == "audience_segment":
        rows += [
            [_flow_button(desk, flow, f"event_segment_{segment}", "seg", segment)]
            for segment in SEGMENTS
            if segment != "all"
        ]
    elif field == "audience_fleet":
        rows += [
            [_flow_button(desk, flow, f"report_fleet_{tag.value}", "fleet", tag.value)]
            for tag in FleetTag
        ]
    if field in OPTIONAL:
        rows.append([_flow_button(desk, flow, "event_adv_button_skip", "skip")])
    rows.append([_flow_button(desk, flow, "event_adv_button_stop", "stop")])
    text = desk.text(
        "event_adv_ask",
        field=field,
        problem=desk.label(f"event_reason_{problem}") if problem else None,
        editing=flow.data.get("mode") == "edit",
        most_seats=MAX_SEATS,
        most_companions=MAX_COMPANIONS,
    )
    desk.say(text, InlineKeyboardMarkup(rows))


def _flow_button(
    desk: Desk, flow: Flow, key: str, action: str, *args: object
) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        desk.label(key), callback_data=pack(AREA, action, flow.version, *args)
    )


async def _conversation_button(
    desk: Desk, advisor: User, pressed: Message, data: ButtonData
) -> str | None:
    async with transaction(desk.carebot.sessions) as session:
        flow = await load_flow(session, desk.chat_id, advisor.id)
        if not flow.at(AREA) or flow.version != data.version:
            return desk.label("event_adv_not_yours")
        desk.thread = flow.data.get("thread")
        if data.action == "stop":
            await end_flow(session, flow)
            desk.say(desk.text("event_adv_stopped"))
        elif data.action == "skip" and flow.step in OPTIONAL:
            await _answered(desk, session, flow, {})
        elif data.action == "aud":
            await _audience_kind(desk, session, flow, data.arg(0))
        elif data.action == "seg" and data.arg(0) in SEGMENTS:
            await _answered(desk, session, flow, {"audience": {"segment": data.arg(0)}})
        elif data.action == "fleet" and data.arg(0) in {tag.value for tag in FleetTag}:
            await _answered(desk, session, flow, {"audience": {"fleet_tags": [data.arg(0)]}})
        elif data.action in ("save", "publish"):
            await _save_new(desk, session, flow, publish=data.action == "publish")
        else:
            await _ask(desk, flow)
    # The question is answered: its buttons would only be out of date from now on.
    await _remove_buttons(pressed)
    return None


async def _remove_buttons(pressed: Message) -> None:
    try:
        await pressed.edit_reply_markup(None)
    except BadRequest as error:
        logger.info("could not take the buttons off a question: %s", error.message)


async def _audience_kind(desk: Desk, session: AsyncSession, flow: Flow, kind: str) -> None:
    if kind == "all":
        await _answered(desk, session, flow, {"audience": {}})
        return
    step = {"brands": "audience_brands", "models": "audience_models"}.get(kind)
    step = step or {"segment": "audience_segment", "fleet": "audience_fleet"}.get(kind)
    if step is None:
        await _ask(desk, flow)
        return
    await enter_step(session, flow, AREA, step, flow.data)
    await _ask(desk, flow)


async def on_message(update: Update, context: CarebotContext) -> None:
    """An advisor's answer to the conversation's question; other messages pass on untouched."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    carebot = context.carebot
    # A read before the write lock: most messages in the advisor chat are not answers.
    async with carebot.sessions() as session:
        row = await session.get(Conversation, (message.chat.id, user.id))
        if row is None or row.flow != AREA or row.data.get("thread") != _thread(message):
            return
    desk = Desk(context, message.chat.id, _thread(message))
    async with transaction(carebot.sessions) as session:
        flow = await load_flow(session, message.chat.id, user.id)
        if not flow.at(AREA):
            return
        answer, problem = _read_answer(desk, flow, message)
        if problem is not None:
            await _ask(desk, flow, problem)
        else:
            await _answered(desk, session, flow, answer)
    await desk.flush()
    raise ApplicationHandlerStop


def _read_answer(desk: Desk, flow: Flow, message: Message) -> tuple[dict[str, Any], str | None]:
    """The model fields an answer gives, or the problem with it."""
    field, text = flow.step, (message.text or "").strip()
    today = _now().astimezone(desk.tz).date()
    values = _values(flow)
    if field == "photo":
        if not message.photo:
            return {}, "photo_expected"
        return {"photo_file_id": message.photo[-1].file_id}, None
    if field == "location":
        point = (
            (message.location.latitude, message.location.longitude)
            if message.location
            else parse_point(text)
        )
        if point is None:
            return {}, "location_expected"
        return {"latitude": point[0], "longitude": point[1]}, None
    if not text:
        return {}, "text_expected"
    if field in ("title", "description", "place"):
        limit = {"title": TITLE_LIMIT, "place": PLACE_LIMIT}.get(field)
        if limit is not None and len(text) > limit:
            return {}, "too_long"
        return {field: text}, None
    if field == "starts_at":
        moment = parse_moment(text, today, desk.tz)
        if moment is None:
            return {}, "moment_expected"
        if moment <= _now():
            return {}, "in_the_past"
        return {field: moment}, None
    if field == "ends_at":
        starts = values.get("starts_at")
        moment = (
            parse_end(text, starts, today, desk.tz)
            if starts
            else parse_moment(text, today, desk.tz)
        )
        if moment is None:
            return {}, "moment_expected"
        if starts is not None and moment <= starts:
            return {}, "end_before_start"
        return {field: moment}, None
    if field == "signup_deadline":
        moment = parse_deadline(text, today, desk.tz)
        if moment is None:
            return {}, "moment_expected"
        if values.get("starts_at") is not None and moment > values["starts_at"]:
            return {}, "deadline_after_start"
        return {field: moment}, None
    if field in ("seats", "companions_allowed"):
        most = MAX_SEATS if field == "seats" else MAX_COMPANIONS
        number = parse_count(text, most)
        return ({field: number}, None) if number is not None else ({}, "number_expected")
    if field in ("audience_brands", "audience_models"):
        names = parse_names(text)
        if not names:
            return {}, "names_expected"
        return {"audience": {field.removeprefix("audience_"): names}}, None
    return {}, "use_buttons"


def _values(flow: Flow) -> dict[str, Any]:
    """The answers so far, with times read back from their JSON form."""
    values = dict(flow.data.get("values", {}))
    for name in TIMES:
        if values.get(name):
            values[name] = dt.datetime.fromisoformat(values[name])
    return values


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, dt.datetime) else value
        for name, value in values.items()
    }


async def _answered(desk: Desk, session: AsyncSession, flow: Flow, answer: dict[str, Any]) -> None:
    """Take one answer: in an edit, apply it; in a creation, ask the next field."""
    if flow.data.get("mode") == "edit":
        await _apply_edit(desk, session, flow, answer)
        return
    values = _values(flow) | answer
    field = "audience" if flow.step.startswith("audience") else flow.step
    following = FIELDS[FIELDS.index(field) + 1 :]
    data = flow.data | {"values": _stored(values)}
    if following and not flow.data.get("fixing"):
        await enter_step(session, flow, AREA, following[0], data)
        await _ask(desk, flow)
        return
    await enter_step(session, flow, AREA, "preview", data)
    keyboard = InlineKeyboardMarkup(
        [
            [_flow_button(desk, flow, "event_adv_button_save", "save")],
            [_flow_button(desk, flow, "event_adv_button_publish", "publish")],
            [_flow_button(desk, flow, "event_adv_button_stop", "stop")],
        ]
    )
    desk.say(_preview(desk, values), keyboard)


def _preview(desk: Desk, values: dict[str, Any]) -> str:
    return desk.text(
        "event_adv_preview",
        title=values.get("title", ""),
        description=values.get("description"),
        place=values.get("place"),
        latitude=values.get("latitude"),
        longitude=values.get("longitude"),
        when=desk.when(values.get("starts_at")),
        ends=desk.when(values.get("ends_at")),
        seats=values.get("seats"),
        deadline=desk.when(values.get("signup_deadline")),
        companions_allowed=values.get("companions_allowed") or 0,
        audience=_audience_text(desk, Audience.from_json(values.get("audience"))),
        has_photo=bool(values.get("photo_file_id")),
    )


async def _save_new(desk: Desk, session: AsyncSession, flow: Flow, *, publish: bool) -> None:
    if flow.step != "preview":
        await _ask(desk, flow)
        return
    carebot, now = desk.carebot, _now()
    try:
        async with session.begin_nested():
            event = await create_event(session, carebot.store_id, _values(flow))
            invited = None
            if publish:
                await publish_event(session, event.id, now)
                invited = await invite_audience(
                    session, event, carebot.store, carebot.settings.timezone, now
                )
    except EventRefused as refused:
        desk.say(
            desk.text("event_adv_refused", reason=desk.label(f"event_reason_{refused.reason}"))
        )
        await _ask_again_from(desk, session, flow, refused.reason)
        return
    await end_flow(session, flow)
    desk.say(desk.text("event_adv_saved", title=event.title, invited=invited))
    desk.say(*await _card(desk, event.id, session))


# Which question to ask again when the whole event is refused at the end.
_FIELD_OF_REASON = {
    "title_missing": "title",
    "title_too_long": "title",
    "place_too_long": "place",
    "start_missing": "starts_at",
    "end_before_start": "ends_at",
    "deadline_after_start": "signup_deadline",
    "seats_missing": "seats",
    "seats_out_of_range": "seats",
    "companions_out_of_range": "companions_allowed",
    "map_point_incomplete": "location",
    "map_point_out_of_range": "location",
    "audience_not_understood": "audience",
}


async def _ask_again_from(desk: Desk, session: AsyncSession, flow: Flow, reason: str) -> None:
    field = _FIELD_OF_REASON.get(reason, "title")
    await enter_step(session, flow, AREA, field, flow.data | {"fixing": True})
    await _ask(desk, flow)


async def _apply_edit(
    desk: Desk, session: AsyncSession, flow: Flow, answer: dict[str, Any]
) -> None:
    """Change one field; the people signed up hear of a new time or place at once."""
    event_id = int(flow.data["event"])
    field = "audience" if flow.step.startswith("audience") else flow.step
    changes = answer or {column: None for column in COLUMNS.get(field, (field,))}
    now = _now()
    try:
        async with session.begin_nested():
            event, changed = await change_event(session, event_id, changes)
    except EventRefused as refused:
        await _ask(desk, flow, refused.reason)
        return
    await end_flow(session, flow)
    if event.status == EventStatus.PUBLISHED:
        if "starts_at" in changed.fields:
            # Reminders were planned for the old time; the planner plans the new ones.
            await drop_planned(session, event.id, REMINDERS)
        if changed.worth_a_notice:
            told = [
                s
                for s in await active_signups(session, event.id)
                if s.status != SignupStatus.ATTENDED
            ]
            desk.notices += await queue_notices(
                session, event, kinds.EVENT_CHANGED, told, now, changed=changed.noticed
            )
        desk.notices += await queue_notices(
            session, event, kinds.EVENT_PROMOTED, changed.promoted, now
        )
    desk.say(
        desk.text("event_adv_changed", title=event.title, field=field, changed=bool(changed.fields))
    )
    desk.say(*await _card(desk, event.id, session))
