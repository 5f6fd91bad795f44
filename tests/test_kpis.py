"""The month's KPIs per DOMAIN.md against figures worked by hand, on both engines.

Month N is June 2026 (as of 2026-06-30) in the store's time zone, Asia/Taipei (UTC+8).
"""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.kpis import Kpis, month_kpis
from bot.models import (
    Appointment,
    AppointmentStatus,
    ClubEvent,
    Customer,
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
from bot.store_config import ReportRules, StoreConfig
from bot.stores import sync_store

AS_OF = dt.date(2026, 6, 30)
TAIPEI = ZoneInfo("Asia/Taipei")
D = dt.date


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in the store's time zone."""
    return dt.datetime.combine(day, dt.time(hour, minute), TAIPEI)


class Base:
    def __init__(self, session: AsyncSession, store_id: int) -> None:
        self.session = session
        self.store_id = store_id

    async def customer(self, name: str) -> int:
        customer = Customer(store_id=self.store_id, name=name)
        self.session.add(customer)
        await self.session.flush()
        return customer.id

    async def vehicle(self, plate: str, customer_id: int | None = None) -> int:
        customer_id = customer_id or await self.customer(plate)
        vehicle = Vehicle(store_id=self.store_id, customer_id=customer_id, plate=plate)
        self.session.add(vehicle)
        await self.session.flush()
        return vehicle.id

    def visit(self, vehicle_id: int, day: dt.date, **values: Any) -> None:
        values.setdefault("kind", VisitKind.MAINTENANCE)
        self.session.add(
            ServiceVisit(store_id=self.store_id, vehicle_id=vehicle_id, visited_on=day, **values)
        )

    def appointment(
        self, customer_id: int, slot: dt.datetime, status: AppointmentStatus, created: dt.datetime
    ) -> None:
        self.session.add(
            Appointment(
                store_id=self.store_id,
                customer_id=customer_id,
                service_type="maintenance",
                slot_start=slot,
                status=status,
                created_at=created,
            )
        )


async def _kpis(
    sessions: async_sessionmaker[AsyncSession],
    config: StoreConfig,
    rules: ReportRules | None = None,
) -> Kpis:
    async with transaction(sessions) as session:
        store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=None)
        base = Base(session, store.id)

        # Return rate: the cohort is December 2025 (N-6); back in January..June 2026 (N-5..N).
        # A and B are one customer's two cars.
        owner = await base.customer("owner of A and B")
        a = await base.vehicle("A", owner)
        b = await base.vehicle("B", owner)
        c = await base.vehicle("C")
        d = await base.vehicle("D")
        base.visit(a, D(2025, 12, 3))
        base.visit(a, D(2026, 2, 10))  # came back
        base.visit(b, D(2025, 12, 31))
        base.visit(b, D(2026, 6, 30), from_appointment=True)  # came back on the as-of day
        base.visit(c, D(2025, 12, 15))
        base.visit(c, D(2026, 7, 2))  # after the as-of day: not back (yet)
        base.visit(d, D(2025, 12, 1))
        base.visit(d, D(2025, 12, 20))  # the same month is not "back"
        # Annual churn: visited 13-24 months ago = 2024-07-01..2025-06-30.
        e = await base.vehicle("E")
        f = await base.vehicle("F")
        g = await base.vehicle("G")
        base.visit(e, D(2024, 8, 1))
        base.visit(e, D(2026, 1, 1))  # stayed
        base.visit(f, D(2025, 6, 30))  # in the window, never since: churned
        base.visit(g, D(2024, 6, 30))  # 24 months ago exactly: outside the window
        # Comebacks: H repairs on 05-20, 06-10 (21 days later) and 06-25 (15 days later);
        # I repairs on 05-05 and 06-05 (31 days later: not a comeback).
        h = await base.vehicle("H")
        i = await base.vehicle("I")
        base.visit(h, D(2026, 5, 20), kind=VisitKind.REPAIR)
        base.visit(h, D(2026, 6, 10), kind=VisitKind.REPAIR)
        base.visit(h, D(2026, 6, 25), kind=VisitKind.REPAIR, appointment_id=99)
        base.visit(i, D(2026, 5, 5), kind=VisitKind.REPAIR)
        base.visit(i, D(2026, 6, 5), kind=VisitKind.REPAIR)

        # Appointments due in June in Taipei time; cancelled ones are not due.
        x = await base.customer("X")
        y = await base.customer("Y")
        z = await base.customer("Z")
        may = at(D(2026, 5, 1))
        base.appointment(x, at(D(2026, 6, 10)), AppointmentStatus.ARRIVED, may)
        base.appointment(x, at(D(2026, 6, 15)), AppointmentStatus.COMPLETED, may)
        base.appointment(x, at(D(2026, 6, 20)), AppointmentStatus.NO_SHOW, may)
        base.appointment(x, at(D(2026, 6, 22)), AppointmentStatus.CANCELLED, may)
        base.appointment(x, at(D(2026, 6, 30), 23, 30), AppointmentStatus.BOOKED, may)
        # 00:30 on 1 July in Taipei is still 30 June in UTC: not June's.
        base.appointment(x, at(D(2026, 7, 1), 0, 30), AppointmentStatus.ARRIVED, may)
        # 00:10 on 1 June in Taipei is 31 May in UTC: June's.
        base.appointment(x, at(D(2026, 6, 1), 0, 10), AppointmentStatus.ARRIVED, may)

        # CSAT: June answers 5, 4, 2, 5; May's 1 and an unanswered question do not count.
        for score, answered in (
            (5, D(2026, 6, 3)),
            (4, D(2026, 6, 9)),
            (2, D(2026, 6, 18)),
            (5, D(2026, 6, 30)),
            (1, D(2026, 5, 31)),
        ):
            base.session.add(
                SurveyResponse(
                    store_id=store.id, customer_id=x, score=score, answered_at=at(answered, 21)
                )
            )
        base.session.add(SurveyResponse(store_id=store.id, customer_id=y, score=None))

        # Care reach. Y books within 14 days of the message, Z after 17 days.
        def outbox(
            key: str,
            kind: str,
            customer: int,
            status: OutboxStatus,
            sent: dt.datetime | None,
            **more: Any,
        ) -> None:
            base.session.add(
                Outbox(
                    store_id=store.id,
                    customer_id=customer,
                    kind=kind,
                    idempotency_key=key,
                    template=kind,
                    due_at=sent or at(D(2026, 6, 12)),
                    status=status,
                    sent_at=sent,
                    **more,
                )
            )

        outbox("o1", "maintenance_due", y, OutboxStatus.SENT, at(D(2026, 6, 5)))
        outbox(
            "o2",
            "maintenance_due",
            x,
            OutboxStatus.SENT,
            at(D(2026, 6, 6)),
            replied_at=at(D(2026, 6, 6), 12),
        )
        outbox("o3", "maintenance_due", z, OutboxStatus.BLOCKED, at(D(2026, 6, 7)))
        outbox("o4", "maintenance_due", z, OutboxStatus.PENDING, None)
        outbox("o5", "maintenance_due", y, OutboxStatus.SENT, at(D(2026, 5, 20)))
        outbox("o6", "maintenance_due", z, OutboxStatus.SENT, at(D(2026, 6, 8)))
        outbox("o7", "insurance_due", z, OutboxStatus.FAILED, None, error="chat not found")
        base.appointment(y, at(D(2026, 7, 5)), AppointmentStatus.BOOKED, at(D(2026, 6, 10)))
        base.appointment(z, at(D(2026, 7, 2)), AppointmentStatus.BOOKED, at(D(2026, 6, 25)))

        # Events starting in June: one published (the cancelled one and July's do not count).
        june = ClubEvent(
            store_id=store.id,
            title="Track day",
            starts_at=at(D(2026, 6, 20)),
            seats=10,
            status=EventStatus.PUBLISHED,
        )
        off = ClubEvent(
            store_id=store.id,
            title="Rained off",
            starts_at=at(D(2026, 6, 10)),
            seats=10,
            status=EventStatus.CANCELLED,
        )
        july = ClubEvent(
            store_id=store.id,
            title="Launch",
            starts_at=at(D(2026, 7, 5)),
            seats=10,
            status=EventStatus.PUBLISHED,
        )
        base.session.add_all([june, off, july])
        await base.session.flush()
        people = [await base.customer(f"guest {n}") for n in range(5)]
        for who, size, status in zip(
            people,
            (2, 1, 3, 1, 1),
            (
                SignupStatus.CONFIRMED,
                SignupStatus.ATTENDED,
                SignupStatus.ATTENDED,
                SignupStatus.WAITLISTED,
                SignupStatus.CANCELLED,
            ),
            strict=True,
        ):
            base.session.add(
                EventSignup(event_id=june.id, customer_id=who, party_size=size, status=status)
            )
        base.session.add(
            EventSignup(
                event_id=july.id, customer_id=people[0], party_size=4, status=SignupStatus.CONFIRMED
            )
        )
        store_id = store.id
    async with sessions() as session:
        return await month_kpis(session, store_id, AS_OF, TAIPEI, rules or config.reports)


async def test_kpis_match_the_hand_worked_month(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    kpis = await _kpis(sessions, store_config)
    assert kpis.month == "2026-06"
    # Return rate: cohort {A, B, C, D}, back {A, B} -> 2/4; churn 1 - 0.5.
    assert (kpis.counts["return_cohort"], kpis.counts["returned"]) == (4, 2)
    assert kpis.return_rate == 0.5 and kpis.churn_rate == 0.5
    # Annual churn: {E, F} visited 13-24 months ago, F never since -> 1/2.
    assert kpis.churn_rate_annual == 0.5
    # June visits: B 06-30 (from an appointment), H 06-10, H 06-25 (appointment id), I 06-05.
    assert kpis.appointment_rate == 2 / 4
    # Due: 06-01 00:10, 06-10, 06-15, 06-20, 06-30 23:30 (cancelled and 07-01 00:30 out) = 5;
    # arrived or completed 3, no-show 1.
    assert kpis.counts["appointments_due"] == 5
    assert kpis.show_rate == 3 / 5 and kpis.no_show_rate == 1 / 5
    # Customers with a visit in 2025-07-01..2026-06-30: A+B's owner, C, D, E, H, I = 6
    # (F's visit on 2025-06-30 is outside; C's July visit is after the as-of day).
    assert kpis.retention_count == 6
    # Repairs in June: H 06-10 (comeback), H 06-25 (comeback), I 06-05 (31 days: not) -> 2/3.
    assert (kpis.counts["repair_visits"], kpis.counts["comebacks"]) == (3, 2)
    assert kpis.comeback_rate == pytest.approx(2 / 3)
    # CSAT: (5 + 4 + 2 + 5) / 4 = 4.0; 4-5 share 3/4.
    assert kpis.csat_mean == 4.0 and kpis.csat_top2_share == 0.75
    # Care reach: maintenance_due o1, o2, o3, o6 handled in June (o4 pending, o5 in May);
    # delivered o1, o2, o6; blocked o3; replied o2; booked within 14 days o1 (Y, 5 days).
    reach = kpis.care_reach_dict()
    assert reach["maintenance_due"] == {
        "sent": 4,
        "delivered": 3,
        "blocked": 1,
        "replied": 1,
        "booked_14d": 1,
    }
    assert reach["insurance_due"] == {
        "sent": 1,
        "delivered": 0,
        "blocked": 0,
        "replied": 0,
        "booked_14d": 0,
    }
    # Events: the June track day: seats held by 3 sign-ups (2 + 1 + 3 people), 1 waitlisted,
    # 2 attended -> 2/3.
    events = kpis.events
    assert (events.events, events.signups, events.people, events.waitlisted, events.attended) == (
        1,
        3,
        6,
        1,
        2,
    )
    assert events.attendance_rate == pytest.approx(2 / 3)
    assert set(kpis.as_dict()) == {
        "return_rate",
        "churn_rate",
        "appointment_rate",
        "show_rate",
        "no_show_rate",
        "retention_count",
        "comeback_rate",
        "csat_mean",
        "csat_top2_share",
    }


async def test_retention_counts_customers_reaching_the_configured_visits(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    # At 2 visits in 12 months: A+B's owner (A 2026-02-10, B 2026-06-30 and the December
    # visits: 4), D (2), H (3), I (2); C and E have one each.
    kpis = await _kpis(sessions, store_config, ReportRules(retention_min_visits=2))
    assert kpis.retention_count == 4


async def test_rates_are_none_when_there_is_nothing_to_divide_by(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    async with transaction(sessions) as session:
        store = await sync_store(
            session, store_config, timezone="Asia/Taipei", advisor_chat_id=None
        )
        store_id = store.id
    async with sessions() as session:
        kpis = await month_kpis(session, store_id, AS_OF, TAIPEI, store_config.reports)
    assert kpis.as_dict() == {
        "return_rate": None,
        "churn_rate": None,
        "appointment_rate": None,
        "show_rate": None,
        "no_show_rate": None,
        "retention_count": 0,
        "comeback_rate": None,
        "csat_mean": None,
        "csat_top2_share": None,
    }
    assert kpis.churn_rate_annual is None
    assert kpis.care_reach == [] and kpis.events.attendance_rate is None
