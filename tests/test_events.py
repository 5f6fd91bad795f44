"""Event rules on both engines: seats for parties, the waitlist, promotion, races, check-in."""

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.event_notices import drop_planned, invite_audience, queue_notices
from bot.events import (
    EventRefused,
    cancel_event,
    cancel_signup,
    change_event,
    check_in,
    create_event,
    event_counts,
    participants,
    publish_event,
    set_attended,
    sign_up,
)
from bot.models import EventSignup, Outbox, OutboxStatus, SignupStatus
from bot.store_config import StoreConfig
from scheduler import kinds
from tests.care_world import TAIPEI, add_customer, add_vehicle, make_store

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=TAIPEI)
SATURDAY_14 = dt.datetime(2026, 12, 5, 14, 0, tzinfo=TAIPEI)


async def _event(
    sessions: async_sessionmaker[AsyncSession], store_id: int, **values: object
) -> int:
    fields = {"title": "Coffee and detailing", "starts_at": SATURDAY_14, "seats": 10} | values
    async with transaction(sessions) as session:
        event = await create_event(session, store_id, fields)
        await publish_event(session, event.id, NOW)
        return event.id


async def _owners(
    sessions: async_sessionmaker[AsyncSession], store_id: int, count: int
) -> list[int]:
    async with transaction(sessions) as session:
        return [(await add_customer(session, store_id, name=f"Owner {n}")).id for n in range(count)]


async def _sign_up(
    sessions: async_sessionmaker[AsyncSession],
    event_id: int,
    customer_id: int,
    companions: int = 0,
    now: dt.datetime = NOW,
) -> tuple[SignupStatus, int | None]:
    async with transaction(sessions) as session:
        result = await sign_up(session, event_id, customer_id, companions, now)
        return result.signup.status, result.position


async def _statuses(sessions: async_sessionmaker[AsyncSession], event_id: int) -> dict[int, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(EventSignup.customer_id, EventSignup.status).where(
                EventSignup.event_id == event_id
            )
        )
        return {customer: status.value for customer, status in rows}


async def test_fifty_owners_racing_for_the_last_five_seats_get_five_places_and_a_fair_queue(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=20)
    early = await _owners(sessions, store_id, 15)
    for owner in early:
        await _sign_up(sessions, event_id, owner)
    racers = await _owners(sessions, store_id, 50)

    results = await asyncio.gather(*(_sign_up(sessions, event_id, owner) for owner in racers))

    assert sum(status == SignupStatus.CONFIRMED for status, _ in results) == 5
    async with sessions() as session:
        listed = await participants(session, event_id)
    late = [p for p in listed if p.customer.id in racers]
    # Arrival order is the order the sign-ups got the event's lock: their ids.
    assert [p.signup.status for p in late] == [SignupStatus.CONFIRMED] * 5 + [
        SignupStatus.WAITLISTED
    ] * 45
    assert [p.position for p in late[5:]] == list(range(1, 46))
    positions = {status: [] for status in SignupStatus}
    for status, position in results:
        positions[status].append(position)
    assert sorted(positions[SignupStatus.WAITLISTED]) == list(range(1, 46))
    async with sessions() as session:
        (counts,) = await event_counts(session, store_id, since=NOW)
    assert (counts.confirmed_people, counts.waitlisted_parties, counts.seats_left) == (20, 45, 0)


async def test_a_party_that_does_not_fit_waits_and_the_first_fitting_party_gets_a_freed_place(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=4, companions_allowed=3)
    a, b, c, d = await _owners(sessions, store_id, 4)
    assert await _sign_up(sessions, event_id, a, companions=2) == (SignupStatus.CONFIRMED, None)
    assert await _sign_up(sessions, event_id, b, companions=2) == (SignupStatus.WAITLISTED, 1)
    assert await _sign_up(sessions, event_id, c, companions=0) == (SignupStatus.CONFIRMED, None)
    assert await _sign_up(sessions, event_id, d, companions=1) == (SignupStatus.WAITLISTED, 2)

    # c leaves one seat: b (3 people) still does not fit, d (2) does not either.
    async with transaction(sessions) as session:
        _, promoted = await cancel_signup(session, event_id, c, NOW)
    assert promoted == []
    # a leaves: 4 free; b arrived first and fits (3), d (2) no longer does.
    async with transaction(sessions) as session:
        _, promoted = await cancel_signup(session, event_id, a, NOW)
    assert [signup.customer_id for signup in promoted] == [b]
    assert await _statuses(sessions, event_id) == {
        a: "cancelled",
        b: "confirmed",
        c: "cancelled",
        d: "waitlisted",
    }
    # Two more seats: d fits now.
    async with transaction(sessions) as session:
        _, changed = await change_event(session, event_id, {"seats": 6})
    assert [signup.customer_id for signup in changed.promoted] == [d]
    assert changed.fields == {"seats"}


async def test_a_smaller_party_behind_a_large_one_takes_the_seat_that_fits_it(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=3, companions_allowed=3)
    a, big, small = await _owners(sessions, store_id, 3)
    await _sign_up(sessions, event_id, a, companions=1)
    await _sign_up(sessions, event_id, big, companions=3)
    await _sign_up(sessions, event_id, small, companions=1)
    async with transaction(sessions) as session:
        _, promoted = await cancel_signup(session, event_id, a, NOW)
    assert [signup.customer_id for signup in promoted] == [small]
    assert (await _statuses(sessions, event_id))[big] == "waitlisted"


async def test_sign_up_refuses_twice_too_many_companions_after_the_deadline_and_drafts(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    deadline = dt.datetime(2026, 12, 3, 18, 0, tzinfo=TAIPEI)
    event_id = await _event(sessions, store_id, signup_deadline=deadline, companions_allowed=1)
    owner, late = await _owners(sessions, store_id, 2)
    await _sign_up(sessions, event_id, owner)

    async def refusal(customer: int, companions: int = 0, now: dt.datetime = NOW) -> str:
        with pytest.raises(EventRefused) as refused:
            await _sign_up(sessions, event_id, customer, companions, now)
        return refused.value.reason

    assert await refusal(owner) == "already_signed_up"
    assert await refusal(late, companions=2) == "too_many_companions"
    assert await refusal(late, now=deadline) == "deadline_passed"
    async with transaction(sessions) as session:
        draft = await create_event(
            session, store_id, {"title": "Draft", "starts_at": SATURDAY_14, "seats": 5}
        )
    with pytest.raises(EventRefused) as refused:
        await _sign_up(sessions, draft.id, late)
    assert refused.value.reason == "not_open"


async def test_an_owner_who_cancelled_and_comes_back_joins_the_end_of_the_queue(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=1)
    first, second, third = await _owners(sessions, store_id, 3)
    await _sign_up(sessions, event_id, first)
    await _sign_up(sessions, event_id, second)
    await _sign_up(sessions, event_id, third)
    async with transaction(sessions) as session:
        await cancel_signup(session, event_id, second, NOW)
    assert await _sign_up(sessions, event_id, second) == (SignupStatus.WAITLISTED, 2)


async def test_fewer_seats_than_people_confirmed_is_refused_and_bad_fields_are_named(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=3, companions_allowed=2)
    (owner,) = await _owners(sessions, store_id, 1)
    await _sign_up(sessions, event_id, owner, companions=2)
    for changes, reason in (
        ({"seats": 2}, "seats_below_taken"),
        ({"ends_at": SATURDAY_14 - dt.timedelta(hours=1)}, "end_before_start"),
        ({"signup_deadline": SATURDAY_14 + dt.timedelta(hours=1)}, "deadline_after_start"),
        ({"title": "  "}, "title_missing"),
        ({"audience": {"segment": "vip"}}, "audience_not_understood"),
        ({"latitude": 25.0}, "map_point_incomplete"),
    ):
        with pytest.raises(EventRefused) as refused:
            async with transaction(sessions) as session:
                await change_event(session, event_id, changes)
        assert refused.value.reason == reason, changes


async def test_check_in_needs_the_code_a_confirmed_place_and_the_event_day(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=1)
    confirmed, waiting = await _owners(sessions, store_id, 2)
    await _sign_up(sessions, event_id, confirmed)
    await _sign_up(sessions, event_id, waiting)
    async with sessions() as session:
        (counts,) = await event_counts(session, store_id, since=NOW)
    code = counts.event.checkin_code
    assert code is not None and len(code) == 5
    on_the_day = dt.datetime(2026, 12, 5, 13, 30, tzinfo=TAIPEI)

    async def attempt(customer: int, typed: str, now: dt.datetime) -> str:
        try:
            async with transaction(sessions) as session:
                signup = await check_in(session, event_id, customer, typed, now, TAIPEI)
                return signup.status.value
        except EventRefused as refused:
            return refused.reason

    assert await attempt(confirmed, code, NOW) == "not_event_day"
    assert await attempt(confirmed, "WRONG", on_the_day) == "wrong_code"
    assert await attempt(waiting, code, on_the_day) == "not_confirmed"
    assert await attempt(confirmed, f" {code.lower()} ", on_the_day) == "attended"
    async with sessions() as session:
        (counts,) = await event_counts(session, store_id, since=NOW)
    assert (counts.attended_people, counts.confirmed_people) == (1, 0)


async def test_advisors_mark_and_unmark_attendance_of_confirmed_parties_only(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    event_id = await _event(sessions, store_id, seats=1)
    confirmed, waiting = await _owners(sessions, store_id, 2)
    await _sign_up(sessions, event_id, confirmed)
    await _sign_up(sessions, event_id, waiting)
    async with sessions() as session:
        signups = {p.customer.id: p.signup.id for p in await participants(session, event_id)}
    async with transaction(sessions) as session:
        marked = await set_attended(session, event_id, signups[confirmed], True)
        assert marked.status == SignupStatus.ATTENDED
    async with transaction(sessions) as session:
        unmarked = await set_attended(session, event_id, signups[confirmed], False)
        assert unmarked.status == SignupStatus.CONFIRMED
    with pytest.raises(EventRefused):
        async with transaction(sessions) as session:
            await set_attended(session, event_id, signups[waiting], True)


async def test_publishing_invites_the_consenting_audience_once_and_cancelling_drops_them(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        lexus = await add_customer(session, store_id, name="Lexus owner")
        await add_vehicle(session, lexus, brand="Lexus")
        toyota = await add_customer(session, store_id, name="Toyota owner")
        await add_vehicle(session, toyota, brand="Toyota")
        no_consent = await add_customer(session, store_id, consent=False)
        await add_vehicle(session, no_consent, brand="Lexus")
        event = await create_event(
            session,
            store_id,
            {
                "title": "Lexus night",
                "starts_at": SATURDAY_14,
                "seats": 5,
                "audience": {"brands": ["Lexus"]},
            },
        )
        await publish_event(session, event.id, NOW)
        assert await invite_audience(session, event, store_config, TAIPEI, NOW) == 1
        assert await invite_audience(session, event, store_config, TAIPEI, NOW) == 0
    async with sessions() as session:
        invited = list(await session.scalars(select(Outbox)))
    assert [(row.kind, row.customer_id, row.marketing) for row in invited] == [
        (kinds.EVENT_INVITATION, lexus.id, True)
    ]
    await _sign_up(sessions, event.id, lexus.id)
    async with transaction(sessions) as session:
        cancelled, told = await cancel_event(session, event.id)
        assert await drop_planned(session, event.id) == 1
        ids = await queue_notices(session, cancelled, kinds.EVENT_CANCELLED, told, NOW)
    async with sessions() as session:
        rows = {row.id: row for row in await session.scalars(select(Outbox))}
    assert rows[invited[0].id].status == OutboxStatus.CANCELLED
    (notice,) = (rows[i] for i in ids)
    assert (notice.kind, notice.customer_id, notice.marketing) == (
        kinds.EVENT_CANCELLED,
        lexus.id,
        False,
    )
    assert notice.payload["title"] == "Lexus night"
