"""The month's KPIs per DOMAIN.md, each with the denominator it stands on.

The month is the calendar month of the as-of day, counted up to and including that day (so a
report on the 15th is month-to-date). Rates are fractions 0-1, None when the denominator is 0.
Appointment, survey, outbox and event times are instants: the month's bounds are midnights in
the store's time zone.
"""

import datetime as dt
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.models import (
    Appointment,
    AppointmentStatus,
    ClubEvent,
    EventSignup,
    EventStatus,
    Outbox,
    OutboxStatus,
    ServiceVisit,
    SignupStatus,
    SurveyResponse,
    Vehicle,
    VisitKind,
)
from bot.months import month_start, shift_months
from bot.relay_queue import KIND as RELAY
from bot.sql_dates import add_days, add_hours
from bot.store_config import ReportRules

KPI_KEYS = (
    "return_rate",
    "churn_rate",
    "appointment_rate",
    "show_rate",
    "no_show_rate",
    "retention_count",
    "comeback_rate",
    "csat_mean",
    "csat_top2_share",
)
COMEBACK_DAYS = 30
BOOKED_WITHIN_DAYS = 14


@dataclass(frozen=True)
class CareReach:
    """One care kind's messages in the month: how far they got and what they led to."""

    kind: str
    sent: int
    delivered: int
    blocked: int
    replied: int
    booked_14d: int


@dataclass(frozen=True)
class EventFigures:
    events: int = 0
    signups: int = 0
    people: int = 0
    waitlisted: int = 0
    attended: int = 0
    attendance_rate: float | None = None


@dataclass(frozen=True)
class Kpis:
    month: str
    first_day: dt.date
    last_day: dt.date
    return_rate: float | None
    churn_rate: float | None
    churn_rate_annual: float | None
    appointment_rate: float | None
    show_rate: float | None
    no_show_rate: float | None
    retention_count: int
    comeback_rate: float | None
    csat_mean: float | None
    csat_top2_share: float | None
    # The denominators, so a reader can tell 0% of 2 from 0% of 2,000.
    counts: dict[str, int] = field(default_factory=dict)
    care_reach: list[CareReach] = field(default_factory=list)
    events: EventFigures = EventFigures()

    def as_dict(self) -> dict[str, float | int | None]:
        """Exactly the report's `kpis` keys."""
        return {key: getattr(self, key) for key in KPI_KEYS}

    def care_reach_dict(self) -> dict[str, dict[str, int]]:
        return {
            reach.kind: {k: v for k, v in asdict(reach).items() if k != "kind"}
            for reach in self.care_reach
        }


def rate(part: int | float | None, whole: int | float | None) -> float | None:
    if not whole:
        return None
    return float(part or 0) / float(whole)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _instant(day: dt.date, timezone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), timezone).astimezone(dt.UTC)


async def month_kpis(
    session: AsyncSession,
    store_id: int,
    as_of: dt.date,
    timezone: ZoneInfo,
    rules: ReportRules,
) -> Kpis:
    """The KPIs of the month that contains `as_of`, counted up to `as_of`."""
    first = month_start(as_of)
    start, end = _instant(first, timezone), _instant(as_of + dt.timedelta(days=1), timezone)
    counts: dict[str, int] = {}

    cohort, returned = await _cohort_returns(
        session,
        store_id,
        cohort=(shift_months(first, -6), shift_months(first, -5) - dt.timedelta(days=1)),
        back=(shift_months(first, -5), as_of),
    )
    counts.update(return_cohort=cohort, returned=returned)
    return_rate = rate(returned, cohort)

    year_ago = shift_months(as_of, -12)
    earlier, stayed = await _cohort_returns(
        session,
        store_id,
        cohort=(shift_months(as_of, -24) + dt.timedelta(days=1), year_ago),
        back=(year_ago + dt.timedelta(days=1), as_of),
    )
    counts.update(annual_cohort=earlier, annual_returned=stayed)

    visits = (
        await session.execute(
            select(
                func.count(),
                _count_if(
                    or_(ServiceVisit.from_appointment, ServiceVisit.appointment_id.is_not(None))
                ),
            ).where(
                ServiceVisit.store_id == store_id,
                ServiceVisit.visited_on >= first,
                ServiceVisit.visited_on <= as_of,
            )
        )
    ).one()
    counts.update(visits=visits[0], visits_from_appointments=int(visits[1]))

    appointments = (
        await session.execute(
            select(
                func.count(),
                _count_if(
                    Appointment.status.in_([AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED])
                ),
                _count_if(Appointment.status == AppointmentStatus.NO_SHOW),
            ).where(
                Appointment.store_id == store_id,
                Appointment.slot_start >= start,
                Appointment.slot_start < end,
                Appointment.status != AppointmentStatus.CANCELLED,
            )
        )
    ).one()
    due, arrived, no_show = appointments[0], int(appointments[1]), int(appointments[2])
    counts.update(appointments_due=due, appointments_arrived=arrived, no_shows=no_show)

    retained = await _retention_count(session, store_id, year_ago, as_of, rules)
    repairs, comebacks = await _comebacks(session, store_id, first, as_of)
    counts.update(repair_visits=repairs, comebacks=comebacks)

    csat = (
        await session.execute(
            select(
                func.count(),
                func.avg(SurveyResponse.score),
                _count_if(SurveyResponse.score >= 4),
            ).where(
                SurveyResponse.store_id == store_id,
                SurveyResponse.score.is_not(None),
                SurveyResponse.answered_at >= start,
                SurveyResponse.answered_at < end,
            )
        )
    ).one()
    counts.update(survey_answers=csat[0])

    return Kpis(
        month=first.strftime("%Y-%m"),
        first_day=first,
        last_day=as_of,
        return_rate=return_rate,
        churn_rate=None if return_rate is None else 1 - return_rate,
        churn_rate_annual=rate(earlier - stayed, earlier),
        appointment_rate=rate(visits[1], visits[0]),
        show_rate=rate(arrived, due),
        no_show_rate=rate(no_show, due),
        retention_count=retained,
        comeback_rate=rate(comebacks, repairs),
        csat_mean=float(csat[1]) if csat[0] else None,
        csat_top2_share=rate(csat[2], csat[0]),
        counts=counts,
        care_reach=await care_reach(session, store_id, start, end),
        events=await event_figures(session, store_id, start, end),
    )


async def _cohort_returns(
    session: AsyncSession,
    store_id: int,
    *,
    cohort: tuple[dt.date, dt.date],
    back: tuple[dt.date, dt.date],
) -> tuple[int, int]:
    """Distinct vehicles with a visit in `cohort`, and how many of them visited in `back`.

    `back` must follow `cohort` directly or later.
    """

    in_cohort = ServiceVisit.visited_on <= cohort[1]
    back_again = ServiceVisit.visited_on >= back[0]
    # One pass over the visits of both periods, grouped per vehicle: no join for the planner to
    # misjudge on either engine.
    per_vehicle = (
        select(
            func.max(case((in_cohort, 1), else_=0)).label("in_cohort"),
            func.max(case((back_again, 1), else_=0)).label("came_back"),
        )
        .where(
            ServiceVisit.store_id == store_id,
            ServiceVisit.visited_on >= cohort[0],
            ServiceVisit.visited_on <= back[1],
        )
        .group_by(ServiceVisit.vehicle_id)
        .subquery("per_vehicle")
    )
    row = (
        await session.execute(
            select(
                _count_if(per_vehicle.c.in_cohort == 1),
                _count_if((per_vehicle.c.in_cohort == 1) & (per_vehicle.c.came_back == 1)),
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def _retention_count(
    session: AsyncSession, store_id: int, year_ago: dt.date, as_of: dt.date, rules: ReportRules
) -> int:
    """Customers whose visits in the 12 months reach the configured minimum."""
    per_customer = (
        select(Vehicle.customer_id)
        .join(ServiceVisit, ServiceVisit.vehicle_id == Vehicle.id)
        .where(
            ServiceVisit.store_id == store_id,
            ServiceVisit.visited_on > year_ago,
            ServiceVisit.visited_on <= as_of,
        )
        .group_by(Vehicle.customer_id)
        .having(func.count() >= rules.retention_min_visits)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(per_customer)) or 0)


async def _comebacks(
    session: AsyncSession, store_id: int, first: dt.date, as_of: dt.date
) -> tuple[int, int]:
    """Repair visits in the month, and those that repeat a repair of the last 30 days.

    The repeat is the comeback (a visit on an earlier day, at most 30 days before), so a month's
    figure is final when the month ends; a visit flagged as a comeback by an advisor counts too.
    """
    earlier = aliased(ServiceVisit)
    repeat = exists().where(
        earlier.vehicle_id == ServiceVisit.vehicle_id,
        earlier.kind == VisitKind.REPAIR,
        earlier.visited_on < ServiceVisit.visited_on,
        add_days(earlier.visited_on, literal(COMEBACK_DAYS)) >= ServiceVisit.visited_on,
    )
    row = (
        await session.execute(
            select(func.count(), _count_if(or_(ServiceVisit.comeback, repeat))).where(
                ServiceVisit.store_id == store_id,
                ServiceVisit.kind == VisitKind.REPAIR,
                ServiceVisit.visited_on >= first,
                ServiceVisit.visited_on <= as_of,
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def care_reach(
    session: AsyncSession, store_id: int, start: dt.datetime, end: dt.datetime
) -> list[CareReach]:
    """Per outbox kind: messages handled in the period and what became of them."""
    handled = [OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.FAILED]
    moment = func.coalesce(Outbox.sent_at, Outbox.due_at)
    booked = exists().where(
        Appointment.customer_id == Outbox.customer_id,
        Appointment.created_at >= Outbox.sent_at,
        Appointment.created_at <= add_hours(Outbox.sent_at, literal(BOOKED_WITHIN_DAYS * 24)),
    )
    rows = (
        await session.execute(
            select(
                Outbox.kind,
                func.count(),
                _count_if(Outbox.status == OutboxStatus.SENT),
                _count_if(Outbox.status == OutboxStatus.BLOCKED),
                _count_if(Outbox.replied_at.is_not(None)),
                _count_if(and_(Outbox.status == OutboxStatus.SENT, booked)),
            )
            .where(
                Outbox.store_id == store_id,
                # The relay's posts into advisor groups are not care messages.
                Outbox.kind != RELAY,
                Outbox.status.in_(handled),
                moment >= start,
                moment < end,
            )
            .group_by(Outbox.kind)
            .order_by(Outbox.kind)
        )
    ).all()
    return [CareReach(row[0], *(int(value) for value in row[1:])) for row in rows]


async def event_figures(
    session: AsyncSession, store_id: int, start: dt.datetime, end: dt.datetime
) -> EventFigures:
    """Sign-ups and attendance of the club events that started in the period."""
    seated = EventSignup.status.in_([SignupStatus.CONFIRMED, SignupStatus.ATTENDED])
    row = (
        await session.execute(
            select(
                func.count(func.distinct(ClubEvent.id)),
                _count_if(seated),
                func.coalesce(func.sum(case((seated, EventSignup.party_size), else_=0)), 0),
                _count_if(EventSignup.status == SignupStatus.WAITLISTED),
                _count_if(EventSignup.status == SignupStatus.ATTENDED),
            )
            .select_from(ClubEvent)
            .outerjoin(EventSignup, EventSignup.event_id == ClubEvent.id)
            .where(
                ClubEvent.store_id == store_id,
                ClubEvent.status == EventStatus.PUBLISHED,
                ClubEvent.starts_at >= start,
                ClubEvent.starts_at < end,
            )
        )
    ).one()
    events, signups, people, waitlisted, attended = (int(value) for value in row)
    return EventFigures(
        events=events,
        signups=signups,
        people=people,
        waitlisted=waitlisted,
        attended=attended,
        attendance_rate=rate(attended, signups),
    )
