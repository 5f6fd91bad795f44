"""The life of a club event through the sandbox: advisors in their forum, owners in private.

Advisors work in the store's default language (zh-Hant), so their steps find buttons by the
action in their callback data; owners write in English and tap buttons by label.
"""

import csv
import datetime as dt
import io

from sqlalchemy import select, update

from bot.models import (
    ClubEvent,
    EventSignup,
    EventStatus,
    Outbox,
    OutboxStatus,
)
from bot.sandbox import StoredMessage, User
from scheduler import kinds
from scheduler.planner import plan_care
from scheduler.rules import PlanDay
from tests.harness import Harness
from tests.owner_steps import TAIPEI, customer_of, sign_up, tap


def _newest_with_action(harness: Harness, action: str) -> tuple[StoredMessage, str]:
    """The newest bot message in the advisor chat with an `evadv:<action>` button, and its data."""
    for message in reversed(harness.sandbox.messages(harness.advisor_chat_id, from_bot=True)):
        for data in message.callback_data:
            parts = data.split(":")
            if parts[0] == "evadv" and parts[1] == action:
                return message, data
    raise AssertionError(f"no evadv:{action} button in the advisor chat")


async def _advisor_presses(harness: Harness, action: str, *args: object) -> list[StoredMessage]:
    message, data = _newest_with_action(harness, action)
    if args:
        wanted = [d for d in message.callback_data if d.split(":")[1] == action]
        data = next(d for d in wanted if d.split(":")[3:] == [str(a) for a in args])
    return await harness.press(harness.advisor, message, data)


async def _advisor_says(harness: Harness, text: str) -> StoredMessage:
    await harness.send(harness.advisor, text, chat_id=harness.advisor_chat_id)
    return harness.last(harness.advisor_chat_id)


async def _owner(harness: Harness, name: str, phone: str) -> User:
    owner = harness.sandbox.add_user(name, language_code="en")
    await sign_up(harness, owner, phone, consent=True)
    return owner


async def _the_event(harness: Harness) -> ClubEvent:
    async with harness.sessions() as session:
        event = await session.scalar(select(ClubEvent))
    assert event is not None
    return event


async def _signups(harness: Harness) -> dict[int, tuple[str, int]]:
    async with harness.sessions() as session:
        rows = await session.scalars(select(EventSignup).order_by(EventSignup.id))
        return {row.customer_id: (row.status.value, row.party_size) for row in rows}


async def _open_event(harness: Harness, owner: User) -> StoredMessage:
    await harness.send(owner, "Club events")
    return await tap(harness, owner, "Coffee &")


async def _sign_up_party(harness: Harness, owner: User, people: str) -> StoredMessage:
    card = await _open_event(harness, owner)
    label = "Sign up" if "Sign up" in str(card.buttons) else "Join the waiting list"
    await tap(harness, owner, label)
    return await tap(harness, owner, people)


async def _outbox(harness: Harness, kind: str) -> list[Outbox]:
    async with harness.sessions() as session:
        rows = await session.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id))
        return list(rows)


async def test_the_whole_life_of_a_club_event(harness: Harness) -> None:
    ann = await _owner(harness, "Ann", "+886 912 000 001")
    bob = await _owner(harness, "Bob", "+886 912 000 002")
    cat = await _owner(harness, "Cat", "+886 912 000 003")
    dan = await _owner(harness, "Dan", "+886 912 000 004")
    eve = await _owner(harness, "Eve", "+886 912 000 005")
    quiet = harness.sandbox.add_user("Quiet", language_code="en")
    await sign_up(harness, quiet, "+886 912 000 006", consent=False)
    now = dt.datetime.now(TAIPEI)
    day = now.date() + dt.timedelta(days=3)

    # --- an advisor creates the event, one question at a time, and publishes it -------------
    await harness.send(harness.advisor, "/events", chat_id=harness.advisor_chat_id)
    await _advisor_presses(harness, "new")
    await _advisor_says(harness, "Coffee & detailing <b>morning</b>")
    await _advisor_presses(harness, "skip")  # no description
    await _advisor_says(harness, "Neihu showroom")
    # A restart in the middle of the conversation loses nothing.
    await harness.restart()
    harness.sandbox.send_location(harness.advisor, 25.08, 121.57, chat_id=harness.advisor_chat_id)
    await harness.deliver()
    asked = await _advisor_says(harness, "yesterday at noon")
    assert "無法辨識" in asked.text  # the start again, with the reason
    await _advisor_says(harness, f"{day:%Y-%m-%d} 14:00")
    await _advisor_says(harness, "17:00")
    await _advisor_says(harness, "4")
    await _advisor_says(harness, f"{day - dt.timedelta(days=1):%Y-%m-%d} 18:00")
    await _advisor_says(harness, "2")
    await _advisor_presses(harness, "aud", "all")
    harness.sandbox.send_photo(harness.advisor, chat_id=harness.advisor_chat_id)
    await harness.deliver()
    preview = harness.last(harness.advisor_chat_id)
    assert "Coffee &amp; detailing &lt;b&gt;morning&lt;/b&gt;" in preview.html
    assert "25.08, 121.57" in preview.text and "照片：有" in preview.text
    await _advisor_presses(harness, "publish")

    event = await _the_event(harness)
    assert event.status == EventStatus.PUBLISHED
    assert event.starts_at == dt.datetime.combine(day, dt.time(14), TAIPEI)
    assert event.ends_at == dt.datetime.combine(day, dt.time(17), TAIPEI)
    assert (event.seats, event.companions_allowed, event.place) == (4, 2, "Neihu showroom")
    assert event.photo_file_id is not None and event.latitude == 25.08
    # Invitations go through the care outbox, to the owners who accept marketing only.
    invited = {row.customer_id for row in await _outbox(harness, kinds.EVENT_INVITATION)}
    owners = {
        name: await customer_of(harness, user)
        for name, user in (
            ("ann", ann),
            ("bob", bob),
            ("cat", cat),
            ("dan", dan),
            ("eve", eve),
            ("quiet", quiet),
        )
    }
    ids = {name: customer.id for name, customer in owners.items()}
    assert invited == {ids[name] for name in ("ann", "bob", "cat", "dan", "eve")}

    # --- owners sign up with companions; who does not fit waits -----------------------------
    eve_card = await _open_event(harness, eve)  # Eve looks now and decides later
    assert "4 places left" in eve_card.text
    # The photo the advisor gave comes just above the card.
    above = harness.sandbox.messages(eve.id, from_bot=True)[-2]
    assert above.kind == "photo" and event.photo_file_id in above.file_ids
    done = await _sign_up_party(harness, ann, "3 people")
    assert "You are signed up, 3 people" in done.text
    # Bob's answer waits across a restart: the party question is still live afterwards.
    await _open_event(harness, bob)
    await tap(harness, bob, "Sign up")
    await harness.restart()
    waiting = await tap(harness, bob, "3 people")
    assert "number 1" in waiting.text and "waiting list" in waiting.text
    assert "You are signed up, 1 person" in (await _sign_up_party(harness, cat, "1 person")).text
    waiting = await _sign_up_party(harness, dan, "1 person")
    assert "number 2" in waiting.text
    # Signing up twice is not possible: the card offers cancelling instead.
    card = await _open_event(harness, ann)
    assert "You have a place for 3" in card.text
    assert "Sign up" not in str(card.buttons) and "Cancel my sign-up" in str(card.buttons)

    # --- a cancellation frees one seat: the first waiting party that fits gets it ----------
    await _open_event(harness, cat)
    await tap(harness, cat, "Cancel my sign-up")
    left = await tap(harness, cat, "Yes, cancel my sign-up")
    assert "Your sign-up is cancelled" in left.text
    promoted = harness.last(dan.id)
    assert "a place freed up and it is yours" in promoted.text
    assert promoted.buttons[0]["url"].endswith(f"?start=event_{event.id}")
    assert await _signups(harness) == {
        ids["ann"]: ("confirmed", 3),
        ids["bob"]: ("waitlisted", 3),
        ids["cat"]: ("cancelled", 1),
        ids["dan"]: ("confirmed", 1),
    }
    assert "number 1" in (await _open_event(harness, bob)).text
    [notice] = await _outbox(harness, kinds.EVENT_PROMOTED)
    assert (notice.customer_id, notice.status) == (ids["dan"], OutboxStatus.SENT)

    # --- a change of place reaches everyone signed up or waiting, at once -------------------
    await harness.send(harness.advisor, "/events", chat_id=harness.advisor_chat_id)
    listing = harness.last(harness.advisor_chat_id)
    assert "已確認 4/4 人（2 組）· 候補 1 組 · 出席 0 人" in listing.text
    await _advisor_presses(harness, "card", event.id)
    await _advisor_presses(harness, "edit", event.id)
    await _advisor_presses(harness, "field", event.id, "place")
    await _advisor_says(harness, "Dadu Road parking lot")
    for owner in (ann, bob, dan):
        assert "Dadu Road parking lot" in harness.last(owner.id).text
        assert "Change to" in harness.last(owner.id).text
    assert "Dadu Road" not in harness.last(cat.id).text

    # --- the deadline: sign-up closes with a clear message ----------------------------------
    passed = now - dt.timedelta(hours=1)
    await _advisor_presses(harness, "card", event.id)
    await _advisor_presses(harness, "edit", event.id)
    await _advisor_presses(harness, "field", event.id, "signup_deadline")
    await _advisor_says(harness, f"{passed:%Y-%m-%d %H:%M}")
    await harness.press(eve, eve_card, next(d for d in eve_card.callback_data if ":join:" in d))
    closed = harness.last(eve.id)
    assert "Sorry, sign-up for this event has closed." in closed.text
    assert "Sign up" not in str(closed.buttons)
    assert ids["eve"] not in await _signups(harness)

    # --- reminders: the evening before and a few hours before, to confirmed places only ----
    store_day = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(7), TAIPEI)
    for as_of in (store_day, dt.datetime.combine(day, dt.time(7), TAIPEI)):
        plan = PlanDay(store_id=event.store_id, store=harness.store, tz=TAIPEI, as_of=as_of)
        async with harness.sessions() as session, session.begin():
            await plan_care(session, plan)
    for kind in (kinds.EVENT_DAY_BEFORE, kinds.EVENT_SOON):
        rows = await _outbox(harness, kind)
        assert {row.customer_id for row in rows} == {ids["ann"], ids["dan"]}, kind

    # --- on the day: owners check in with the venue's code, advisors mark the rest ---------
    async with harness.sessions() as session, session.begin():
        await session.execute(
            update(ClubEvent).values(
                starts_at=dt.datetime.now(dt.UTC),
                ends_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
                signup_deadline=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
            )
        )
    await _open_event(harness, ann)
    await tap(harness, ann, "Check in")
    await harness.send(ann, "WRONG")
    assert "That code is not right" in harness.last(ann.id).text
    await harness.send(ann, event.checkin_code.lower())
    assert "You are checked in" in harness.last(ann.id).text
    # Waiting parties cannot check in.
    assert "Check in" not in str((await _open_event(harness, bob)).buttons)

    await _advisor_presses(harness, "card", event.id)
    await _advisor_presses(harness, "att", event.id, 0)
    attendance = harness.last(harness.advisor_chat_id)
    assert "已出席 3 / 4 人" in attendance.text
    dan_signup = await _signup_id(harness, ids["dan"])
    await _advisor_presses(harness, "mark", event.id, dan_signup, 0)
    assert "已出席 4 / 4 人" in harness.last(harness.advisor_chat_id).text
    assert (await _signups(harness))[ids["dan"]] == ("attended", 1)

    # --- the participant list as CSV, into the group ----------------------------------------
    await _advisor_presses(harness, "card", event.id)
    await _advisor_presses(harness, "csv", event.id)
    document = harness.last(harness.advisor_chat_id)
    assert document.kind == "document" and document.media["document"]["file_name"].endswith(".csv")
    content = harness.sandbox.files.by_id[document.file_ids[0]].content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0] == ["姓名", "電話", "人數", "狀態", "候補順位", "報名時間"]
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("Ann", "+886912000001", "3", "已出席", ""),
        ("Bob", "+886912000002", "3", "候補", "1"),
        ("Cat", "+886912000003", "1", "已取消", ""),
        ("Dan", "+886912000004", "1", "已出席", ""),
    ]

    # --- calling it off tells everyone signed up or waiting --------------------------------
    await _advisor_presses(harness, "askcancel", event.id)
    await _advisor_presses(harness, "cancel", event.id)
    assert (await _the_event(harness)).status == EventStatus.CANCELLED
    for owner in (ann, bob, dan):
        assert "has been called off" in harness.last(owner.id).text
    assert "called off" not in harness.last(cat.id).text
    cancelled = await _outbox(harness, kinds.EVENT_CANCELLED)
    assert {row.customer_id for row in cancelled} == {ids["ann"], ids["bob"], ids["dan"]}
    assert all(row.status == OutboxStatus.SENT for row in cancelled)


async def _signup_id(harness: Harness, customer_id: int) -> int:
    async with harness.sessions() as session:
        signup_id = await session.scalar(
            select(EventSignup.id).where(EventSignup.customer_id == customer_id)
        )
    assert signup_id is not None
    return signup_id


async def test_an_owner_outside_the_audience_does_not_see_the_event(harness: Harness) -> None:
    owner = await _owner(harness, "Ann", "+886 912 000 001")
    now = dt.datetime.now(dt.UTC)
    async with harness.sessions() as session, session.begin():
        store_id = (await customer_of(harness, owner)).store_id
        session.add(
            ClubEvent(
                store_id=store_id,
                title="Lexus owners' night",
                starts_at=now + dt.timedelta(days=5),
                seats=10,
                audience={"brands": ["Lexus"]},
                status=EventStatus.PUBLISHED,
                checkin_code="ABCDE",
            )
        )
    await harness.send(owner, "Club events")
    assert "no club events open for you" in harness.last(owner.id).text


async def test_event_card_buttons_pressed_outside_the_advisor_chat_do_nothing(
    harness: Harness,
) -> None:
    owner = await _owner(harness, "Ann", "+886 912 000 001")
    async with harness.sessions() as session, session.begin():
        event = ClubEvent(
            store_id=(await customer_of(harness, owner)).store_id,
            title="Coffee & detailing",
            starts_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5),
            seats=10,
            status=EventStatus.PUBLISHED,
            checkin_code="ABCDE",
        )
        session.add(event)
    await harness.press(owner, harness.last(owner.id), f"evadv:cancel:-:{event.id}", forge=True)
    assert harness.sandbox.callback_answers[-1].show_alert
    assert (await _the_event(harness)).status == EventStatus.PUBLISHED
