"""Car-club events: create, change, publish and cancel them; sign owners up, wait-list, check in.

Seats count people: an owner and the companions they bring. A party that does not fit waits,
in arrival order (event_signup.id). Whenever places free up (a cancellation, more seats), they go
to the first waiting party that fits, skipping larger ones, so after every change no waiting
party fits in the seats left; a new party that fits is therefore confirmed at once.

Every change to who holds a place locks the event row first (SELECT ... FOR UPDATE on
PostgreSQL; SQLite transactions hold the write lock from BEGIN), so counting the seats taken
and handing one out happen as one step however many owners press at once.
"""

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import case, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import ClubEvent, Customer, EventSignup, EventStatus, SignupStatus
from bot.store_config import StoreConfig
from scheduler.audience import Audience, audience_customers

# Places are held by these; cancelled ones hold nothing.
HOLDING = (SignupStatus.CONFIRMED, SignupStatus.ATTENDED)
ACTIVE = (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED, SignupStatus.ATTENDED)
# Fields whose change the people signed up are told about.
NOTICE_FIELDS = frozenset({"starts_at", "ends_at", "place", "latitude", "longitude"})
EDITABLE = (
    "title",
    "description",
    "place",
    "latitude",
    "longitude",
    "starts_at",
    "ends_at",
    "seats",
    "signup_deadline",
    "companions_allowed",
    "audience",
    "photo_file_id",
)
MAX_SEATS = 10_000
MAX_COMPANIONS = 20
TITLE_LIMIT = 200
PLACE_LIMIT = 300
# Unambiguous on a printed sign: no 0/O, 1/I/L.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 5


class EventRefused(Exception):
    """An event action that the rules do not allow; `reason` names which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignupResult:
    signup: EventSignup
    # 1-based place on the waitlist; None when confirmed.
    position: int | None


@dataclass
class Changed:
    """What a change to an event did: the fields changed and who moved off the waitlist."""

    fields: set[str] = field(default_factory=set)
    promoted: list[EventSignup] = field(default_factory=list)

    @property
    def noticed(self) -> list[str]:
        """The changed fields that the people signed up are told about."""
        return sorted(self.fields & NOTICE_FIELDS)

    @property
    def worth_a_notice(self) -> bool:
        return bool(self.noticed)


# --- the event itself ---------------------------------------------------------------------------


def new_checkin_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def problems(values: dict[str, Any]) -> list[str]:
    """Reasons a set of event fields cannot stand (empty when they can)."""
    found = []
    title = (values.get("title") or "").strip()
    if not title:
        found.append("title_missing")
    elif len(title) > TITLE_LIMIT:
        found.append("title_too_long")
    if len(values.get("place") or "") > PLACE_LIMIT:
        found.append("place_too_long")
    starts, ends = values.get("starts_at"), values.get("ends_at")
    deadline = values.get("signup_deadline")
    if starts is None:
        found.append("start_missing")
    if starts is not None and ends is not None and ends <= starts:
        found.append("end_before_start")
    if starts is not None and deadline is not None and deadline > starts:
        found.append("deadline_after_start")
    seats = values.get("seats")
    if seats is None:
        found.append("seats_missing")
    elif not 0 <= seats <= MAX_SEATS:
        found.append("seats_out_of_range")
    if not 0 <= (values.get("companions_allowed") or 0) <= MAX_COMPANIONS:
        found.append("companions_out_of_range")
    latitude, longitude = values.get("latitude"), values.get("longitude")
    if (latitude is None) != (longitude is None):
        found.append("map_point_incomplete")
    elif latitude is not None and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        found.append("map_point_out_of_range")
    try:
        Audience.from_json(values.get("audience"))
    except ValidationError:
        found.append("audience_not_understood")
    return found


async def create_event(session: AsyncSession, store_id: int, values: dict[str, Any]) -> ClubEvent:
    """A draft event; EventRefused names the first problem with the fields."""
    found = problems(values)
    if found:
        raise EventRefused(found[0])
    fields = {"companions_allowed": 0, "audience": {}} | {
        name: value for name, value in values.items() if name in EDITABLE
    }
    fields["title"] = fields["title"].strip()
    event = ClubEvent(
        store_id=store_id, status=EventStatus.DRAFT, checkin_code=new_checkin_code(), **fields
    )
    session.add(event)
    await session.flush()
    return event


async def store_event(session: AsyncSession, store_id: int, event_id: int) -> ClubEvent | None:
    return await session.scalar(
        select(ClubEvent).where(ClubEvent.id == event_id, ClubEvent.store_id == store_id)
    )


async def lock_event(session: AsyncSession, event_id: int) -> ClubEvent:
    """The event, locked until the transaction ends, and read afresh."""
    event = await session.scalar(
        select(ClubEvent)
        .where(ClubEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if event is None:
        raise EventRefused("no_such_event")
    return event


async def change_event(
    session: AsyncSession, event_id: int, changes: dict[str, Any]
) -> tuple[ClubEvent, Changed]:
    """Apply field changes; more seats promote waiting parties, fewer than taken are refused."""
    event = await lock_event(session, event_id)
    if event.status == EventStatus.CANCELLED:
        raise EventRefused("event_cancelled")
    current = {name: getattr(event, name) for name in EDITABLE}
    merged = current | {name: value for name, value in changes.items() if name in EDITABLE}
    found = problems(merged)
    if found:
        raise EventRefused(found[0])
    if merged["seats"] < await seats_taken(session, event.id):
        raise EventRefused("seats_below_taken")
    outcome = Changed({name for name in EDITABLE if merged[name] != current[name]})
    for name in outcome.fields:
        setattr(event, name, merged[name])
    await session.flush()
    if "seats" in outcome.fields:
        outcome.promoted = await _fill_free_seats(session, event)
    return event, outcome


async def publish_event(session: AsyncSession, event_id: int, now: dt.datetime) -> ClubEvent:
    event = await lock_event(session, event_id)
    if event.status != EventStatus.DRAFT:
        raise EventRefused("not_a_draft")
    if event.starts_at <= now:
        raise EventRefused("already_started")
    event.status = EventStatus.PUBLISHED
    await session.flush()
    return event


async def cancel_event(session: AsyncSession, event_id: int) -> tuple[ClubEvent, list[EventSignup]]:
    """Call the event off; returns the sign-ups (confirmed or waiting) who must be told."""
    event = await lock_event(session, event_id)
    if event.status == EventStatus.CANCELLED:
        raise EventRefused("event_cancelled")
    was_published = event.status == EventStatus.PUBLISHED
    event.status = EventStatus.CANCELLED
    told = await active_signups(session, event.id) if was_published else []
    await session.flush()
    return event, told


# --- sign-ups -----------------------------------------------------------------------------------


def signup_open(event: ClubEvent, now: dt.datetime) -> str | None:
    """Why an owner cannot sign up now, or None when they can."""
    if event.status != EventStatus.PUBLISHED:
        return "not_open"
    if event.starts_at <= now:
        return "already_started"
    if event.signup_deadline is not None and event.signup_deadline <= now:
        return "deadline_passed"
    return None


async def sign_up(
    session: AsyncSession, event_id: int, customer_id: int, companions: int, now: dt.datetime
) -> SignupResult:
    """A place for the owner's party, or a place on the waitlist when it does not fit."""
    event = await lock_event(session, event_id)
    refused = signup_open(event, now)
    if refused:
        raise EventRefused(refused)
    if not 0 <= companions <= event.companions_allowed:
        raise EventRefused("too_many_companions")
    earlier = await session.scalar(
        select(EventSignup).where(
            EventSignup.event_id == event.id, EventSignup.customer_id == customer_id
        )
    )
    if earlier is not None and earlier.status != SignupStatus.CANCELLED:
        raise EventRefused("already_signed_up")
    if earlier is not None:
        # A new arrival: the old row's id would put them back at their old place in the queue.
        await session.execute(delete(EventSignup).where(EventSignup.id == earlier.id))
    party = 1 + companions
    fits = party <= event.seats - await seats_taken(session, event.id)
    signup = EventSignup(
        event_id=event.id,
        customer_id=customer_id,
        party_size=party,
        status=SignupStatus.CONFIRMED if fits else SignupStatus.WAITLISTED,
    )
    session.add(signup)
    await session.flush()
    position = None if fits else await waitlist_position(session, signup)
    return SignupResult(signup, position)


async def cancel_signup(
    session: AsyncSession, event_id: int, customer_id: int, now: dt.datetime
) -> tuple[EventSignup, list[EventSignup]]:
    """The owner gives up their place (or waitlist place); returns who got the freed seats."""
    event = await lock_event(session, event_id)
    signup = await session.scalar(
        select(EventSignup)
        .where(EventSignup.event_id == event.id, EventSignup.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )
    if signup is None or signup.status not in (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED):
        raise EventRefused("not_signed_up")
    if event.starts_at <= now:
        raise EventRefused("already_started")
    freed = signup.status == SignupStatus.CONFIRMED
    signup.status = SignupStatus.CANCELLED
    await session.flush()
    promoted = await _fill_free_seats(session, event) if freed else []
    return signup, promoted


async def _fill_free_seats(session: AsyncSession, event: ClubEvent) -> list[EventSignup]:
    """Give free seats to waiting parties in arrival order, skipping those that do not fit."""
    if event.status != EventStatus.PUBLISHED:
        return []
    free = event.seats - await seats_taken(session, event.id)
    promoted: list[EventSignup] = []
    waiting = await session.scalars(
        select(EventSignup)
        .where(EventSignup.event_id == event.id, EventSignup.status == SignupStatus.WAITLISTED)
        .order_by(EventSignup.id)
        .execution_options(populate_existing=True)
    )
    for signup in waiting:
        if free <= 0:
            break
        if signup.party_size <= free:
            signup.status = SignupStatus.CONFIRMED
            free -= signup.party_size
            promoted.append(signup)
    await session.flush()
    return promoted


async def seats_taken(session: AsyncSession, event_id: int) -> int:
    taken = await session.scalar(
        select(func.coalesce(func.sum(EventSignup.party_size), 0)).where(
            EventSignup.event_id == event_id, EventSignup.status.in_(HOLDING)
        )
    )
    return int(taken or 0)


async def waitlist_position(session: AsyncSession, signup: EventSignup) -> int:
    """1 for the first waiting party, and so on."""
    ahead = await session.scalar(
        select(func.count()).where(
            EventSignup.event_id == signup.event_id,
            EventSignup.status == SignupStatus.WAITLISTED,
            EventSignup.id < signup.id,
        )
    )
    return int(ahead or 0) + 1


async def customer_signup(
    session: AsyncSession, event_id: int, customer_id: int
) -> EventSignup | None:
    return await session.scalar(
        select(EventSignup)
        .where(EventSignup.event_id == event_id, EventSignup.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )


async def active_signups(session: AsyncSession, event_id: int) -> list[EventSignup]:
    """Confirmed, waiting and attended sign-ups, in arrival order."""
    rows = await session.scalars(
        select(EventSignup)
        .where(EventSignup.event_id == event_id, EventSignup.status.in_(ACTIVE))
        .order_by(EventSignup.id)
    )
    return list(rows)


# --- on the day ---------------------------------------------------------------------------------


def event_day(event: ClubEvent, now: dt.datetime, tz: dt.tzinfo) -> bool:
    """Whether `now` falls on the event's day(s), in the store's time zone."""
    today = now.astimezone(tz).date()
    first = event.starts_at.astimezone(tz).date()
    last = event.ends_at.astimezone(tz).date() if event.ends_at else first
    return first <= today <= last


async def check_in(
    session: AsyncSession,
    event_id: int,
    customer_id: int,
    code: str,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> EventSignup:
    """An owner with a confirmed place checks in with the code shown at the venue."""
    event = await lock_event(session, event_id)
    signup = await customer_signup(session, event.id, customer_id)
    if signup is None or signup.status not in (SignupStatus.CONFIRMED, SignupStatus.ATTENDED):
        raise EventRefused("not_confirmed")
    if event.status != EventStatus.PUBLISHED or not event_day(event, now, tz):
        raise EventRefused("not_event_day")
    typed = "".join(code.split()).upper()
    if not event.checkin_code or not secrets.compare_digest(typed, event.checkin_code):
        raise EventRefused("wrong_code")
    signup.status = SignupStatus.ATTENDED
    await session.flush()
    return signup


async def set_attended(
    session: AsyncSession, event_id: int, signup_id: int, attended: bool
) -> EventSignup:
    """An advisor marks (or unmarks) a confirmed party as present."""
    await lock_event(session, event_id)
    signup = await session.scalar(
        select(EventSignup)
        .where(EventSignup.id == signup_id, EventSignup.event_id == event_id)
        .execution_options(populate_existing=True)
    )
    if signup is None or signup.status not in HOLDING:
        raise EventRefused("not_confirmed")
    signup.status = SignupStatus.ATTENDED if attended else SignupStatus.CONFIRMED
    await session.flush()
    return signup


# --- lists --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventCounts:
    event: ClubEvent
    confirmed_people: int
    confirmed_parties: int
    waitlisted_parties: int
    attended_people: int

    @property
    def seats_left(self) -> int:
        return max(self.event.seats - self.confirmed_people - self.attended_people, 0)


def _people(status: SignupStatus) -> Any:
    return func.coalesce(
        func.sum(case((EventSignup.status == status, EventSignup.party_size), else_=0)), 0
    )


def _parties(status: SignupStatus) -> Any:
    return func.coalesce(func.sum(case((EventSignup.status == status, 1), else_=0)), 0)


async def _counted(session: AsyncSession, *where: Any, limit: int) -> list[EventCounts]:
    rows = await session.execute(
        select(
            ClubEvent,
            _people(SignupStatus.CONFIRMED),
            _parties(SignupStatus.CONFIRMED),
            _parties(SignupStatus.WAITLISTED),
            _people(SignupStatus.ATTENDED),
        )
        .outerjoin(EventSignup, EventSignup.event_id == ClubEvent.id)
        .where(*where)
        .group_by(ClubEvent.id)
        .order_by(ClubEvent.starts_at, ClubEvent.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return [EventCounts(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows]


async def event_counts(
    session: AsyncSession, store_id: int, *, since: dt.datetime, limit: int = 20
) -> list[EventCounts]:
    """Events starting from `since` on, soonest first, with their sign-up counts."""
    return await _counted(
        session, ClubEvent.store_id == store_id, ClubEvent.starts_at >= since, limit=limit
    )


async def counts_of(session: AsyncSession, event_id: int) -> EventCounts | None:
    found = await _counted(session, ClubEvent.id == event_id, limit=1)
    return found[0] if found else None


async def upcoming_events(
    session: AsyncSession, store_id: int, since: dt.datetime, limit: int = 10
) -> list[EventCounts]:
    """Published events starting from `since` (today's ones stay, for check-in), soonest first."""
    return await _counted(
        session,
        ClubEvent.store_id == store_id,
        ClubEvent.status == EventStatus.PUBLISHED,
        ClubEvent.starts_at >= since,
        limit=limit,
    )


@dataclass(frozen=True)
class Participant:
    signup: EventSignup
    customer: Customer
    position: int | None


async def participants(session: AsyncSession, event_id: int) -> list[Participant]:
    """Everyone who signed up (cancelled ones too), in arrival order, with waitlist places."""
    rows = await session.execute(
        select(EventSignup, Customer)
        .join(Customer, Customer.id == EventSignup.customer_id)
        .where(EventSignup.event_id == event_id)
        .order_by(EventSignup.id)
    )
    found, waiting = [], 0
    for signup, customer in rows:
        position = None
        if signup.status == SignupStatus.WAITLISTED:
            waiting += 1
            position = waiting
        found.append(Participant(signup, customer, position))
    return found


async def in_audience(
    session: AsyncSession, event: ClubEvent, customer_id: int, store: StoreConfig, today: dt.date
) -> bool:
    """Whether an owner is among those the event is for (everyone, when it names nobody)."""
    try:
        audience = Audience.from_json(event.audience)
    except ValidationError:
        return False
    if audience == Audience():
        return True
    everyone = audience_customers(audience, store_id=event.store_id, store=store, as_of=today)
    return bool(await session.scalar(select(exists(everyone.where(Customer.id == customer_id)))))
