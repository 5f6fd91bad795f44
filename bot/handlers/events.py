"""Club events for owners: the list, an event's card, sign-up with companions, cancel, check-in.

Flow `events`, steps: list -> card (data `event`) -> party (how many come) or leave (confirm
giving up the place) or code (the check-in code shown at the venue). Buttons carry the event id;
every action re-reads the event, so a button on an old card acts on the event as it is now.
"""

import datetime as dt

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import ButtonData
from bot.event_notices import REMINDERS, drop_planned, queue_notices
from bot.events import (
    EventRefused,
    cancel_signup,
    check_in,
    counts_of,
    customer_signup,
    event_day,
    in_audience,
    sign_up,
    signup_open,
    upcoming_events,
    waitlist_position,
)
from bot.handlers.event_sends import send_notices_now
from bot.handlers.turns import Turn
from bot.models import ClubEvent, EventSignup, EventStatus, SignupStatus
from scheduler import kinds

FLOW = "events"
LIST_LIMIT = 10


async def show_events(turn: Turn) -> None:
    """Upcoming events the owner is invited to, or has a place at, soonest first."""
    await turn.begin(FLOW, "list")
    shown = []
    start_of_today = dt.datetime.combine(turn.today, dt.time(0), turn.tz)
    for counts in await upcoming_events(
        turn.session, turn.carebot.store_id, start_of_today, LIST_LIMIT * 3
    ):
        mine = await customer_signup(turn.session, counts.event.id, turn.customer.id)
        if mine is not None or await in_audience(
            turn.session, counts.event, turn.customer.id, turn.carebot.store, turn.today
        ):
            shown.append((counts, mine))
    shown = shown[:LIST_LIMIT]
    if not shown:
        turn.say("event_list_empty")
        return
    buttons = [
        [
            turn.button(
                f"{counts.event.title} · {_short_day(turn, counts.event)}", "open", counts.event.id
            )
        ]
        for counts, _ in shown
    ]
    turn.say(
        "event_list",
        keyboard=InlineKeyboardMarkup(buttons),
        events=[
            {
                "title": counts.event.title,
                "when": turn.when(counts.event.starts_at),
                "place": counts.event.place,
                "seats_left": counts.seats_left,
                "status": mine.status.value if mine else None,
            }
            for counts, mine in shown
        ],
    )


def _short_day(turn: Turn, event: ClubEvent) -> str:
    return turn.day(event.starts_at.astimezone(turn.tz).date())


async def show_card(turn: Turn, event_id: int) -> None:
    """One event: what, when, where, places left, and what the owner can do now."""
    counts = await counts_of(turn.session, event_id)
    if counts is None or counts.event.store_id != turn.carebot.store_id:
        await show_events(turn)
        return
    event = counts.event
    mine = await customer_signup(turn.session, event.id, turn.customer.id)
    holding = mine is not None and mine.status in (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)
    position = (
        await waitlist_position(turn.session, mine)
        if mine is not None and mine.status == SignupStatus.WAITLISTED
        else None
    )
    closed = signup_open(event, turn.now)
    if event.status == EventStatus.DRAFT:
        await show_events(turn)
        return
    await turn.begin(FLOW, "card", event=event.id)
    rows: list[list[InlineKeyboardButton]] = []
    if not holding and mine_is_open(mine) and closed is None:
        action = "event_button_join" if counts.seats_left > 0 else "event_button_wait"
        rows.append([turn.button(turn.label(action), "join", event.id)])
    if holding and event.starts_at > turn.now and event.status == EventStatus.PUBLISHED:
        rows.append([turn.button(turn.label("event_button_leave"), "leave", event.id)])
    if (
        mine is not None
        and mine.status == SignupStatus.CONFIRMED
        and event.status == EventStatus.PUBLISHED
        and event_day(event, turn.now, turn.tz)
    ):
        rows.append([turn.button(turn.label("event_button_checkin"), "checkin", event.id)])
    rows.append([turn.button(turn.label("event_button_all"), "list")])
    turn.say(
        "event_card",
        keyboard=InlineKeyboardMarkup(rows),
        photo_above=event.photo_file_id,
        title=event.title,
        description=event.description,
        when=turn.when(event.starts_at),
        ends=turn.when(event.ends_at) if event.ends_at else None,
        place=event.place,
        latitude=event.latitude,
        longitude=event.longitude,
        seats_left=counts.seats_left,
        companions_allowed=event.companions_allowed,
        deadline=turn.when(event.signup_deadline) if event.signup_deadline else None,
        cancelled=event.status == EventStatus.CANCELLED,
        closed=closed,
        status=mine.status.value if mine else None,
        party_size=mine.party_size if mine else 0,
        position=position,
    )


def mine_is_open(mine: EventSignup | None) -> bool:
    """No sign-up yet, or one the owner gave up (they may come back)."""
    return mine is None or mine.status == SignupStatus.CANCELLED


async def ask_party(turn: Turn, event_id: int) -> None:
    event = await turn.session.get(ClubEvent, event_id)
    if event is None:
        await show_events(turn)
        return
    closed = signup_open(event, turn.now)
    if closed is not None:
        turn.notice("event_refused", reason=turn.label(f"event_reason_{closed}"))
        await show_card(turn, event_id)
        return
    if event.companions_allowed == 0:
        await join(turn, event_id, 0)
        return
    await turn.go("party", event=event_id)
    buttons = [
        turn.button(turn.label("event_party_size", n=n), "party", event_id, n - 1)
        for n in range(1, event.companions_allowed + 2)
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append([turn.button(turn.label("event_button_back"), "open", event_id)])
    turn.say(
        "event_ask_party",
        keyboard=InlineKeyboardMarkup(rows),
        title=event.title,
        companions_allowed=event.companions_allowed,
    )


async def join(turn: Turn, event_id: int, companions: int) -> None:
    try:
        result = await sign_up(turn.session, event_id, turn.customer.id, companions, turn.now)
    except EventRefused as refused:
        turn.notice("event_refused", reason=turn.label(f"event_reason_{refused.reason}"))
        await show_card(turn, event_id)
        return
    if result.position is None:
        turn.notice("event_signed_up", party_size=result.signup.party_size)
    else:
        turn.notice(
            "event_waitlisted", party_size=result.signup.party_size, position=result.position
        )
    await show_card(turn, event_id)


async def ask_leave(turn: Turn, event_id: int) -> None:
    event = await turn.session.get(ClubEvent, event_id)
    if event is None:
        await show_events(turn)
        return
    await turn.go("leave", event=event_id)
    keyboard = InlineKeyboardMarkup(
        [
            [turn.button(turn.label("event_button_leave_yes"), "leave_yes", event_id)],
            [turn.button(turn.label("event_button_keep"), "open", event_id)],
        ]
    )
    turn.say("event_ask_leave", keyboard=keyboard, title=event.title)


async def leave(turn: Turn, event_id: int) -> None:
    """Give up the place; the freed seats go to waiting parties, who are told at once."""
    try:
        _, promoted = await cancel_signup(turn.session, event_id, turn.customer.id, turn.now)
    except EventRefused as refused:
        turn.notice("event_refused", reason=turn.label(f"event_reason_{refused.reason}"))
        await show_card(turn, event_id)
        return
    await drop_planned(turn.session, event_id, REMINDERS, turn.customer.id)
    event = await turn.session.get_one(ClubEvent, event_id)
    promote_now(
        turn, await queue_notices(turn.session, event, kinds.EVENT_PROMOTED, promoted, turn.now)
    )
    turn.notice("event_left")
    await show_card(turn, event_id)


def promote_now(turn: Turn, outbox_ids: list[int]) -> None:
    carebot = turn.carebot
    if outbox_ids:
        turn.after_commit.append(lambda bot: send_notices_now(bot, carebot, outbox_ids))


async def ask_code(turn: Turn, event_id: int) -> None:
    await turn.go("code", event=event_id)
    back = turn.button(turn.label("event_button_back"), "open", event_id)
    turn.say("event_ask_code", keyboard=InlineKeyboardMarkup([[back]]))


async def on_button(turn: Turn, data: ButtonData) -> None:
    """Every button of the flow; the event id is the first argument."""
    event_id = data.int_arg(0)
    if data.action == "list" or event_id is None:
        await show_events(turn)
    elif data.action == "open":
        await show_card(turn, event_id)
    elif data.action == "join":
        await ask_party(turn, event_id)
    elif data.action == "party":
        await join(turn, event_id, data.int_arg(1) or 0)
    elif data.action == "leave":
        await ask_leave(turn, event_id)
    elif data.action == "leave_yes":
        await leave(turn, event_id)
    elif data.action == "checkin":
        await ask_code(turn, event_id)
    else:
        await show_card(turn, event_id)


async def on_message(turn: Turn, message: Message) -> None:
    """The check-in code; any other text shows the card again."""
    event_id = turn.flow.data.get("event")
    if event_id is None:
        await show_events(turn)
        return
    if not turn.flow.at(FLOW, "code") or not message.text:
        turn.notice("event_use_buttons")
        await show_card(turn, event_id)
        return
    try:
        await check_in(turn.session, event_id, turn.customer.id, message.text, turn.now, turn.tz)
    except EventRefused as refused:
        if refused.reason == "wrong_code":
            turn.notice("event_refused", reason=turn.label(f"event_reason_{refused.reason}"))
            await ask_code(turn, event_id)
            return
        turn.notice("event_refused", reason=turn.label(f"event_reason_{refused.reason}"))
        await show_card(turn, event_id)
        return
    turn.notice("event_checked_in")
    await show_card(turn, event_id)
