"""What is due for whom on a given day: one set-based SELECT per kind of care message.

Every rule returns rows shaped like the outbox (see OUTBOX_COLUMNS), so the planner inserts them
with one INSERT ... SELECT each; nothing here loops over customers. A rule's idempotency key is
(rule, subject, occurrence): the occurrence is what stays the same however often the rule runs
(the service the due date counts from, the policy end date, the appointment's slot...).

Date rules fire on the day their reminder falls, or within `care.catch_up_days` after it when a
planning run was missed, but never once the next reminder of the same series is due. Vehicle
rules read VEHICLE_STATE (scheduler/vehicle_state.py), which the planner fills once per run.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Subquery,
    and_,
    case,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from bot.booking import OPEN
from bot.models import (
    Appointment,
    ClubEvent,
    Customer,
    EventSignup,
    EventStatus,
    Outbox,
    ServiceVisit,
    SignupStatus,
    SurveyResponse,
    UTCDateTime,
    Vehicle,
)
from bot.months import shift_months
from bot.service_due import earlier_due, expected_interval_days, is_lost
from bot.sql_dates import add_hours, as_int, days_between
from bot.store_config import LeadTimes
from scheduler import kinds
from scheduler.audience import Audience, audience_customers
from scheduler.inspections import half_year_steps, inspection_cycles, inspection_dates
from scheduler.plan_day import (
    PlanDay,
    epoch,
    key,
    lead_profiles,
    outbox_row,
    profile_of,
    reachable,
)
from scheduler.sql_json import payload
from scheduler.vehicle_state import VEHICLE_STATE


@dataclass(frozen=True)
class Rule:
    kind: str
    # None when the store's settings leave nothing to plan for this kind.
    build: Callable[[PlanDay], Select | None]


def lead_rows(profiles: dict[str, list[int]], catch_up: int) -> list[tuple[str, int, int]]:
    """(profile, offset, window): each reminder may fire until the next one of its series."""
    rows = []
    for profile, offsets in profiles.items():
        ordered = sorted(offsets)
        for offset, following in zip(ordered, [*ordered[1:], None], strict=True):
            window = catch_up if following is None else min(catch_up, following - offset)
            rows.append((profile, offset, window))
    return rows


def firing_offset(
    rows: list[tuple[str, int, int]], profile: ColumnElement[str], age: ColumnElement[int]
) -> ColumnElement[int | None]:
    """The offset whose window holds `age` (days since the due date) for the vehicle's profile.

    Windows of one profile never overlap, so at most one fires; a CASE keeps it one pass over
    the vehicles (a join with a lead-time table made SQLite scan them once per lead time).
    """
    single = len({row[0] for row in rows}) == 1
    return case(
        *(
            (
                and_(age >= offset, age < offset + window)
                if single
                else and_(profile == name, age >= offset, age < offset + window),
                offset,
            )
            for name, offset, window in rows
        )
    )


def _due_series(
    day: PlanDay,
    *,
    kind: str,
    lead: LeadTimes,
    due: Subquery,
    key_parts: Callable[[Subquery], list[ColumnElement[Any] | str | int]],
    data: Callable[[Subquery], ColumnElement[Any]],
) -> Select:
    """Reminders around a due date: `due` has vehicle_id, customer_id, due_on, profile."""
    profiles = lead_profiles(lead)
    catch_up = day.store.care.catch_up_days
    rows = lead_rows(profiles, catch_up)
    earliest = min(offset for _, offset, _ in rows)
    latest = max(offset + window for _, offset, window in rows)
    age = as_int(days_between(literal(day.today), due.c.due_on))
    timed = (
        select(due, firing_offset(rows, due.c.profile, age).label("offset_days"))
        # Plain date comparisons first: only the few vehicles near their date pay for the rest.
        .where(
            due.c.due_on > literal(day.today - dt.timedelta(days=latest), Date),
            due.c.due_on <= literal(day.today - dt.timedelta(days=earliest), Date),
        )
        .subquery(f"{kind}_timed")
    )
    return select(
        *outbox_row(
            day,
            kind=kind,
            customer_id=timed.c.customer_id,
            idempotency_key=key(kind, *key_parts(timed)),
            marketing=lead.marketing,
            data=data(timed),
        )
    ).where(timed.c.offset_days.is_not(None))


def _vehicle_payload(timed: Subquery, **extra: ColumnElement[Any]) -> Any:
    return payload(
        vehicle_id=timed.c.vehicle_id,
        plate=timed.c.plate,
        brand=timed.c.brand,
        model=timed.c.model,
        due_on=timed.c.due_on,
        offset_days=timed.c.offset_days,
        **extra,
    )


def _consenting(marketing: bool) -> list[ColumnElement[bool]]:
    return [VEHICLE_STATE.c.consent.is_(True)] if marketing else []


# --- maintenance --------------------------------------------------------------------------------


def maintenance(day: PlanDay) -> Select:
    """Due by time or estimated km from the last service; stops once booked or visited."""
    v = VEHICLE_STATE.c
    lead = day.store.care.maintenance
    earliest = min(offset for offsets in lead_profiles(lead).values() for offset in offsets)
    due = earlier_due(v.due_by_time, v.due_by_km)
    due_rows = (
        select(
            v.vehicle_id,
            v.customer_id,
            v.plate,
            v.brand,
            v.model,
            v.basis_on,
            v.interval_km,
            v.interval_months,
            due.label("due_on"),
            (v.due_by_km < v.due_by_time).label("by_km"),
            profile_of(lead.brands, lead.models, VEHICLE_STATE.c).label("profile"),
        )
        .where(
            v.basis_on.is_not(None),
            v.booked.is_(False),
            # A visit of any kind once the reminders have started (a repair, say) ends them.
            days_between(v.last_visit_on, due) < earliest,
            *_consenting(lead.marketing),
        )
        .subquery("maintenance_due")
    )
    return _due_series(
        day,
        kind=kinds.MAINTENANCE,
        lead=lead,
        due=due_rows,
        key_parts=lambda t: [t.c.vehicle_id, t.c.basis_on, t.c.offset_days],
        data=lambda t: _vehicle_payload(
            t,
            last_service_on=t.c.basis_on,
            by_km=t.c.by_km,
            interval_km=t.c.interval_km,
            interval_months=t.c.interval_months,
        ),
    )


def first_service(day: PlanDay) -> Select:
    """A vehicle never serviced here: the first service counts from its registration date."""
    v = VEHICLE_STATE.c
    lead = day.store.care.first_service
    first = day.store.service_intervals.first_service
    due = (
        select(
            v.vehicle_id,
            v.customer_id,
            v.plate,
            v.brand,
            v.model,
            earlier_due(v.first_by_time, v.first_by_km).label("due_on"),
            (v.first_by_km < v.first_by_time).label("by_km"),
            profile_of(lead.brands, lead.models, VEHICLE_STATE.c).label("profile"),
        )
        .where(
            v.registration_date.is_not(None),
            v.last_visit_on.is_(None),
            v.booked.is_(False),
            *_consenting(lead.marketing),
        )
        .subquery("first_service_due")
    )
    return _due_series(
        day,
        kind=kinds.FIRST_SERVICE,
        lead=lead,
        due=due,
        key_parts=lambda t: [t.c.vehicle_id, t.c.offset_days],
        data=lambda t: _vehicle_payload(
            t,
            by_km=t.c.by_km,
            interval_km=literal(first.km),
            interval_months=literal(first.months),
        ),
    )


# --- insurance ----------------------------------------------------------------------------------


def insurance(day: PlanDay) -> Select:
    """Before the compulsory insurance policy ends (one-year terms)."""
    v = VEHICLE_STATE.c
    lead = day.store.care.insurance
    due = (
        select(
            v.vehicle_id,
            v.customer_id,
            v.plate,
            v.brand,
            v.model,
            v.insurance_end_date.label("due_on"),
            profile_of(lead.brands, lead.models, VEHICLE_STATE.c).label("profile"),
        )
        .where(v.insurance_end_date.is_not(None), *_consenting(lead.marketing))
        .subquery("insurance_due")
    )
    return _due_series(
        day,
        kind=kinds.INSURANCE,
        lead=lead,
        due=due,
        key_parts=lambda t: [t.c.vehicle_id, t.c.due_on, t.c.offset_days],
        data=lambda t: _vehicle_payload(t),
    )


# --- inspection ---------------------------------------------------------------------------------


def inspection(day: PlanDay) -> Select:
    """Before each statutory inspection of a private car, by the vehicle's market."""
    v = VEHICLE_STATE.c
    lead = day.store.care.inspection
    aged = (
        select(
            v.vehicle_id,
            v.customer_id,
            v.plate,
            v.brand,
            v.model,
            v.registration_date,
            v.market,
            v.inspection_variant.label("variant"),
            v.inspection_shift.label("shift"),
            v.inspection_half_years.label("half_years"),
            profile_of(lead.brands, lead.models, VEHICLE_STATE.c).label("profile"),
        )
        .where(v.inspection_variant.is_not(None), *_consenting(lead.marketing))
        .subquery("inspection_aged")
    )
    cycles = inspection_cycles(lead.mainland_half_yearly_after_years)
    due = inspection_dates(aged, half_year_steps(day), cycles).subquery("inspection_due")
    return _due_series(
        day,
        kind=kinds.INSPECTION,
        lead=lead,
        due=due,
        key_parts=lambda t: [t.c.vehicle_id, t.c.due_on, t.c.offset_days],
        data=lambda t: _vehicle_payload(
            t, market=t.c.market, label_only=t.c.label_only, half_years=t.c.half_year
        ),
    )


# --- new-car follow-up --------------------------------------------------------------------------


def new_car(step: str) -> Callable[[PlanDay], Select | None]:
    """Thanks, check-in and first-service invitation at set days after delivery."""
    kind = f"new_car_{step}"

    def build(day: PlanDay) -> Select | None:
        v = VEHICLE_STATE.c
        follow = day.store.care.new_car
        catch_up = day.store.care.catch_up_days
        plans = {
            "*": follow.steps,
            **{f"model:{k.strip().lower()}": s for k, s in follow.models.items()},
            **{f"brand:{k.strip().lower()}": s for k, s in follow.brands.items()},
        }
        rows = []
        for profile, steps in plans.items():
            if step not in steps:
                continue
            later = [days for days in steps.values() if days > steps[step]]
            window = min([catch_up, *(days - steps[step] for days in later)])
            rows.append((profile, steps[step], window))
        if not rows:
            return None
        condition = [v.registration_date.is_not(None), *_consenting(follow.marketing)]
        if step == "first_service":
            condition += [v.last_visit_on.is_(None), v.booked.is_(False)]
        earliest = min(after for _, after, _ in rows)
        latest = max(after + window for _, after, window in rows)
        age = as_int(days_between(literal(day.today), v.registration_date))
        profile = profile_of(follow.brands, follow.models, VEHICLE_STATE.c)
        aged = (
            select(
                v.vehicle_id,
                v.customer_id,
                v.plate,
                v.brand,
                v.model,
                v.registration_date,
                firing_offset(rows, profile, age).label("after_days"),
            )
            .where(
                *condition,
                v.registration_date > literal(day.today - dt.timedelta(days=latest), Date),
                v.registration_date <= literal(day.today - dt.timedelta(days=earliest), Date),
            )
            .subquery(f"{kind}_aged")
        )
        return select(
            *outbox_row(
                day,
                kind=kind,
                customer_id=aged.c.customer_id,
                idempotency_key=key(kind, aged.c.vehicle_id),
                marketing=follow.marketing,
                data=payload(
                    vehicle_id=aged.c.vehicle_id,
                    plate=aged.c.plate,
                    brand=aged.c.brand,
                    model=aged.c.model,
                    delivered_on=aged.c.registration_date,
                ),
            )
        ).where(aged.c.after_days.is_not(None))

    return build


# --- appointments -------------------------------------------------------------------------------


def _appointment_rows(day: PlanDay, kind: str, due_at: ColumnElement[Any]) -> Select:
    plate = aliased(Vehicle)
    return (
        select(
            *outbox_row(
                day,
                kind=kind,
                customer_id=Appointment.customer_id,
                idempotency_key=key(kind, Appointment.id, epoch(Appointment.slot_start)),
                marketing=False,
                data=payload(
                    appointment_id=Appointment.id,
                    service_type=Appointment.service_type,
                    slot_at=Appointment.slot_start,
                    vehicle_id=Appointment.vehicle_id,
                    plate=plate.plate,
                ),
                due_at=due_at,
            )
        )
        .select_from(Appointment)
        .join(Customer, Customer.id == Appointment.customer_id)
        .outerjoin(plate, plate.id == Appointment.vehicle_id)
    )


def _slot_days(day: PlanDay, at: dt.time, name: str) -> Subquery:
    """Local days around today as UTC ranges, each with its day-before reminder time."""
    rows = []
    for delta in range(-1, 4):
        slot_day = day.today + dt.timedelta(days=delta)
        rows.append(
            {
                "starts": day.local(slot_day, dt.time(0)),
                "ends": day.local(slot_day + dt.timedelta(days=1), dt.time(0)),
                "remind_at": day.local(slot_day - dt.timedelta(days=1), at),
            }
        )
    selects = [
        select(*(literal(value, UTCDateTime).label(column) for column, value in row.items()))
        for row in rows
    ]
    return union_all(*selects).subquery(name)


def _horizon(day: PlanDay) -> ColumnElement[Any]:
    return literal(day.as_of + dt.timedelta(hours=day.store.care.lookahead_hours), UTCDateTime)


def appointment_day_before(day: PlanDay) -> Select:
    """The evening before (local time), with Confirm / Reschedule / Cancel buttons."""
    reminders = day.store.care.appointment_reminders
    days = _slot_days(day, reminders.day_before_at, "appointment_days")
    now = literal(day.as_of, UTCDateTime)
    return (
        _appointment_rows(day, kinds.APPOINTMENT_DAY_BEFORE, days.c.remind_at)
        .join(
            days,
            and_(Appointment.slot_start >= days.c.starts, Appointment.slot_start < days.c.ends),
        )
        .where(
            Appointment.store_id == day.store_id,
            Appointment.status.in_(OPEN),
            # Booked after the reminder time, or so late that the hours-before one is next.
            Appointment.created_at < days.c.remind_at,
            days.c.remind_at <= _horizon(day),
            add_hours(Appointment.slot_start, -reminders.hours_before) > now,
            *reachable(Customer),
        )
    )


def appointment_soon(day: PlanDay) -> Select:
    """A few hours before the slot."""
    reminders = day.store.care.appointment_reminders
    due = add_hours(Appointment.slot_start, -reminders.hours_before)
    return _appointment_rows(day, kinds.APPOINTMENT_SOON, due).where(
        Appointment.store_id == day.store_id,
        Appointment.status.in_(OPEN),
        Appointment.created_at < due,
        due <= _horizon(day),
        Appointment.slot_start > literal(day.as_of, UTCDateTime),
        *reachable(Customer),
    )


# --- after a visit ------------------------------------------------------------------------------


def _survey_window(day: PlanDay) -> ColumnElement[bool]:
    # Asked days_after days after the visit, or within the catch-up days after that.
    after = day.store.care.survey.days_after
    first = day.today - dt.timedelta(days=after + day.store.care.catch_up_days - 1)
    return ServiceVisit.visited_on.between(
        literal(first, Date), literal(day.today - dt.timedelta(days=after), Date)
    )


def survey_questions(day: PlanDay) -> Select:
    """survey_response rows to create (store_id, customer_id, visit_id, asked_at): one per visit."""
    return (
        select(
            literal(day.store_id).label("store_id"),
            Vehicle.customer_id.label("customer_id"),
            ServiceVisit.id.label("visit_id"),
            literal(day.due_at, UTCDateTime).label("asked_at"),
        )
        .select_from(ServiceVisit)
        .join(Vehicle, Vehicle.id == ServiceVisit.vehicle_id)
        .join(Customer, Customer.id == Vehicle.customer_id)
        .where(ServiceVisit.store_id == day.store_id, _survey_window(day), *reachable(Customer))
    )


def survey(day: PlanDay) -> Select:
    """The satisfaction question a few days after a completed visit, at most once per visit."""
    return (
        select(
            *outbox_row(
                day,
                kind=kinds.SURVEY,
                customer_id=SurveyResponse.customer_id,
                idempotency_key=key(kinds.SURVEY, ServiceVisit.id),
                marketing=False,
                data=payload(
                    survey_id=SurveyResponse.id,
                    visit_id=ServiceVisit.id,
                    visited_on=ServiceVisit.visited_on,
                    vehicle_id=Vehicle.id,
                    plate=Vehicle.plate,
                ),
            )
        )
        .select_from(SurveyResponse)
        .join(ServiceVisit, ServiceVisit.id == SurveyResponse.visit_id)
        .join(Vehicle, Vehicle.id == ServiceVisit.vehicle_id)
        .join(Customer, Customer.id == SurveyResponse.customer_id)
        .where(
            SurveyResponse.store_id == day.store_id,
            SurveyResponse.answered_at.is_(None),
            _survey_window(day),
            *reachable(Customer),
        )
    )


# --- birthdays and win-back ---------------------------------------------------------------------


def birthday(day: PlanDay) -> Select:
    """On the day (29 February birthdays on the 28th in other years); marketing."""
    today = day.today
    month, day_of_month = extract("month", Customer.birthday), extract("day", Customer.birthday)
    on_the_day = and_(month == today.month, day_of_month == today.day)
    leap_day = today.month == 2 and today.day == 28 and not _is_leap(today.year)
    if leap_day:
        on_the_day = or_(on_the_day, and_(month == 2, day_of_month == 29))
    return select(
        *outbox_row(
            day,
            kind=kinds.BIRTHDAY,
            customer_id=Customer.id,
            idempotency_key=key(kinds.BIRTHDAY, Customer.id, today.year),
            marketing=True,
            data=payload(customer_id=Customer.id),
        )
    ).where(
        Customer.store_id == day.store_id,
        Customer.birthday.is_not(None),
        on_the_day,
        *reachable(Customer, marketing=True),
    )


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def win_back(day: PlanDay) -> Select:
    """A customer with a lost vehicle (mileage-aware), at most once per period; marketing.

    One message per customer, about their lost vehicle with the lowest id, so that two lost
    cars do not mean two messages the same day.
    """
    v = VEHICLE_STATE.c
    rules = day.store.care.win_back
    expected = expected_interval_days(v.interval_km, v.interval_months, v.daily_km)
    recently = exists(
        select(Outbox.id).where(
            Outbox.customer_id == v.customer_id,
            Outbox.kind == kinds.WIN_BACK,
            Outbox.due_at > literal(day.due_at - dt.timedelta(days=rules.every_days), UTCDateTime),
        )
    )
    lost = (
        select(v.customer_id, func.min(v.vehicle_id).label("vehicle_id"))
        .where(
            v.last_visit_on > shift_months(day.today, -rules.stop_after_months),
            v.booked.is_(False),
            v.consent.is_(True),
            is_lost(v.last_visit_on, expected, day.today, day.store.reports.lost_factor),
            ~recently,
        )
        .group_by(v.customer_id)
        .subquery("lost")
    )
    return (
        select(
            *outbox_row(
                day,
                kind=kinds.WIN_BACK,
                customer_id=lost.c.customer_id,
                idempotency_key=key(kinds.WIN_BACK, lost.c.customer_id, day.today.isoformat()),
                marketing=True,
                data=payload(
                    vehicle_id=v.vehicle_id,
                    plate=v.plate,
                    brand=v.brand,
                    model=v.model,
                    last_visit_on=v.last_visit_on,
                ),
            )
        )
        .select_from(lost)
        .join(VEHICLE_STATE, v.vehicle_id == lost.c.vehicle_id)
    )


# --- car-club events ----------------------------------------------------------------------------


def _event_data() -> ColumnElement[Any]:
    return payload(
        event_id=ClubEvent.id,
        title=ClubEvent.title,
        place=ClubEvent.place,
        starts_at=ClubEvent.starts_at,
    )


def event_invitation(event_id: int, audience: Audience) -> Callable[[PlanDay], Select]:
    """An invitation to a published event for its audience, once; marketing."""

    def build(day: PlanDay) -> Select:
        invited = audience_customers(
            audience, store_id=day.store_id, store=day.store, as_of=day.today
        ).subquery("invited")
        signed_up = exists(
            select(EventSignup.id).where(
                EventSignup.event_id == ClubEvent.id, EventSignup.customer_id == Customer.id
            )
        )
        now = literal(day.as_of, UTCDateTime)
        return (
            select(
                *outbox_row(
                    day,
                    kind=kinds.EVENT_INVITATION,
                    customer_id=Customer.id,
                    idempotency_key=key(kinds.EVENT_INVITATION, ClubEvent.id, Customer.id),
                    marketing=True,
                    data=_event_data(),
                )
            )
            .select_from(invited)
            .join(Customer, Customer.id == invited.c.customer_id)
            .join(ClubEvent, ClubEvent.id == event_id)
            .where(
                ClubEvent.status == EventStatus.PUBLISHED,
                ClubEvent.starts_at > now,
                or_(ClubEvent.signup_deadline.is_(None), ClubEvent.signup_deadline > now),
                ~signed_up,
                *reachable(Customer, marketing=True),
            )
        )

    return build


def _event_reminder_rows(day: PlanDay, kind: str, due_at: ColumnElement[Any]) -> Select:
    return (
        select(
            *outbox_row(
                day,
                kind=kind,
                customer_id=EventSignup.customer_id,
                idempotency_key=key(
                    kind, ClubEvent.id, EventSignup.customer_id, epoch(ClubEvent.starts_at)
                ),
                marketing=False,
                data=_event_data(),
                due_at=due_at,
            )
        )
        .select_from(EventSignup)
        .join(ClubEvent, ClubEvent.id == EventSignup.event_id)
        .join(Customer, Customer.id == EventSignup.customer_id)
        .where(
            ClubEvent.store_id == day.store_id,
            ClubEvent.status == EventStatus.PUBLISHED,
            EventSignup.status == SignupStatus.CONFIRMED,
            *reachable(Customer),
        )
    )


def event_day_before(day: PlanDay) -> Select:
    """The evening before an event, to everyone with a confirmed place."""
    messages = day.store.care.events
    days = _slot_days(day, messages.day_before_at, "event_days")
    return (
        _event_reminder_rows(day, kinds.EVENT_DAY_BEFORE, days.c.remind_at)
        .join(days, and_(ClubEvent.starts_at >= days.c.starts, ClubEvent.starts_at < days.c.ends))
        .where(
            EventSignup.created_at < days.c.remind_at,
            days.c.remind_at <= _horizon(day),
            add_hours(ClubEvent.starts_at, -messages.hours_before)
            > literal(day.as_of, UTCDateTime),
        )
    )


def event_soon(day: PlanDay) -> Select:
    """A few hours before an event starts."""
    messages = day.store.care.events
    due = add_hours(ClubEvent.starts_at, -messages.hours_before)
    return _event_reminder_rows(day, kinds.EVENT_SOON, due).where(
        EventSignup.created_at < due,
        due <= _horizon(day),
        ClubEvent.starts_at > literal(day.as_of, UTCDateTime),
    )


# --- campaigns ----------------------------------------------------------------------------------


def campaign(campaign_id: int, template: str, audience: Audience) -> Callable[[PlanDay], Select]:
    """A manager's message to everyone in the audience who takes marketing, once each."""

    def build(day: PlanDay) -> Select:
        chosen = audience_customers(
            audience, store_id=day.store_id, store=day.store, as_of=day.today
        ).subquery("chosen")
        return (
            select(
                *outbox_row(
                    day,
                    kind=kinds.CAMPAIGN,
                    customer_id=Customer.id,
                    idempotency_key=key(kinds.CAMPAIGN, campaign_id, Customer.id),
                    marketing=True,
                    data=payload(campaign_id=literal(campaign_id)),
                    due_at=literal(day.as_of, UTCDateTime),
                    template=template,
                )
            )
            .select_from(chosen)
            .join(Customer, Customer.id == chosen.c.customer_id)
            .where(*reachable(Customer, marketing=True))
        )

    return build


# --- the list the planner runs ------------------------------------------------------------------


def daily_rules(day: PlanDay) -> list[Rule]:
    """Every rule that does not depend on rows read first (events add their own)."""
    care = day.store.care
    rules = [
        Rule(kinds.MAINTENANCE, maintenance),
        Rule(kinds.FIRST_SERVICE, first_service),
        Rule(kinds.INSURANCE, insurance),
        Rule(kinds.INSPECTION, inspection),
        *(
            Rule(f"new_car_{step}", new_car(step))
            for step in ("thanks", "checkin", "first_service")
        ),
        Rule(kinds.APPOINTMENT_DAY_BEFORE, appointment_day_before),
        Rule(kinds.APPOINTMENT_SOON, appointment_soon),
        Rule(kinds.SURVEY, survey),
        Rule(kinds.WIN_BACK, win_back),
        Rule(kinds.EVENT_DAY_BEFORE, event_day_before),
        Rule(kinds.EVENT_SOON, event_soon),
    ]
    if care.birthday:
        rules.append(Rule(kinds.BIRTHDAY, birthday))
    return rules


def open_events(day: PlanDay) -> Select:
    """Published events still taking sign-ups: each gets its invitation rule."""
    now = literal(day.as_of, UTCDateTime)
    return select(ClubEvent.id, ClubEvent.audience).where(
        ClubEvent.store_id == day.store_id,
        ClubEvent.status == EventStatus.PUBLISHED,
        ClubEvent.starts_at > now,
        or_(ClubEvent.signup_deadline.is_(None), ClubEvent.signup_deadline > now),
    )
