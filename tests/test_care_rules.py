"""Each care rule against hand-worked dates and mileage, on SQLite and PostgreSQL.

The working is written beside each case: the due date, then the day each reminder falls on.
Planning runs at 07:00 Taipei unless a test says otherwise; day-based messages are due at the
store's send time, 10:00 Taipei (02:00 UTC).
"""

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.models import (
    Appointment,
    AppointmentStatus,
    ClubEvent,
    Customer,
    EventSignup,
    EventStatus,
    Market,
    SignupStatus,
    SurveyResponse,
    VehicleUsage,
    VisitKind,
)
from bot.store_config import StoreConfig
from tests.care_world import (
    add_customer,
    add_reading,
    add_vehicle,
    add_visit,
    in_market,
    keys,
    local,
    make_store,
    outbox,
    plan,
    store_with,
)

Sessions = async_sessionmaker[AsyncSession]
D = dt.date


async def days_with(
    sessions: Sessions, store_id: int, config: StoreConfig, days: list[dt.date], kind: str
) -> dict[dt.date, list[str]]:
    """Plan each day in turn; the new keys of `kind` each day."""
    seen: set[str] = set()
    found: dict[dt.date, list[str]] = {}
    for day in days:
        await plan(sessions, store_id, config, day)
        current = await keys(sessions, kind)
        found[day] = sorted(k for k in current if k not in seen)
        seen.update(current)
    return {day: new for day, new in found.items() if new}


def span(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


# --- maintenance --------------------------------------------------------------------------------


async def test_maintenance_due_by_time_is_reminded_14_days_before_on_and_14_after(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Toyota: 10,000 km or 12 months. Visits 2024-03-10 at 15,000 and 2025-03-10 at 20,000:
    # 5,000 km in 365 days = 13.7 km/day, so 10,000 km take 730 days; 12 months come first:
    # due 2026-03-10. Reminders 2026-02-24 (-14), 2026-03-10 (0), 2026-03-24 (+14).
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        car = await add_vehicle(session, await add_customer(session, store_id), brand="Toyota")
        await add_visit(session, car, D(2024, 3, 10), 15_000)
        await add_visit(session, car, D(2025, 3, 10), 20_000)
    found = await days_with(
        sessions, store_id, store_config, span(D(2026, 2, 20), D(2026, 4, 5)), "maintenance"
    )
    basis = f"maintenance:{car.id}:2025-03-10"
    assert found == {
        D(2026, 2, 24): [f"{basis}:-14"],
        D(2026, 3, 10): [f"{basis}:0"],
        D(2026, 3, 24): [f"{basis}:14"],
    }
    (first, *_) = await outbox(sessions, "maintenance")
    assert first.payload["due_on"] == "2026-03-10"
    assert not first.payload["by_km"]
    assert first.marketing is True
    assert first.due_at == dt.datetime(2026, 2, 24, 2, 0, tzinfo=dt.UTC)


async def test_a_high_mileage_car_is_due_by_km_before_the_months_run_out(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Audi: 7,500 km or 6 months. Owner's reading 2025-12-02 at 27,000, service 2026-01-01 at
    # 30,000: 3,000 km in 30 days = 100 km/day, so 7,500 km take 75 days: due 2026-03-17
    # (by time it would be 2026-07-01). The -14 reminder falls on 2026-03-03.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        car = await add_vehicle(session, await add_customer(session, store_id), brand="AUDI")
        await add_reading(session, car, D(2025, 12, 2), 27_000)
        await add_visit(session, car, D(2026, 1, 1), 30_000)
    found = await days_with(
        sessions, store_id, store_config, span(D(2026, 3, 1), D(2026, 3, 4)), "maintenance"
    )
    assert found == {D(2026, 3, 3): [f"maintenance:{car.id}:2026-01-01:-14"]}
    (row,) = await outbox(sessions, "maintenance")
    assert row.payload["due_on"] == "2026-03-17"
    assert row.payload["by_km"]
    assert row.payload["interval_km"] == 7_500


async def test_a_missed_planning_day_is_caught_up_but_a_stale_reminder_is_not_sent(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Due 2026-03-10 as in the first case. The -14 reminder (2026-02-24) may still go until
    # 2026-03-02 (7 days' catch-up), so planning first on 2026-02-27 sends it; planning first on
    # 2026-03-05 sends nothing (too late for -14, too early for 0).
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        late = await add_vehicle(session, await add_customer(session, store_id))
        await add_visit(session, late, D(2025, 3, 10), 20_000)
    await plan(sessions, store_id, store_config, D(2026, 2, 27))
    assert await keys(sessions, "maintenance") == [f"maintenance:{late.id}:2025-03-10:-14"]

    async with transaction(sessions) as session:
        later = await add_vehicle(session, await add_customer(session, store_id))
        await add_visit(session, later, D(2025, 3, 10), 20_000)
    await plan(sessions, store_id, store_config, D(2026, 3, 5))
    assert not [k for k in await keys(sessions, "maintenance") if f":{later.id}:" in k]


async def test_maintenance_stops_once_booked_or_visited_and_per_brand_lead_times_apply(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Three Toyotas due 2026-03-10 (serviced 2025-03-10). One is booked for 2026-04-02, one came
    # in for a repair on 2026-03-01 (inside the reminder window), one is left alone. Lexus is
    # configured to be reminded 21 days before: its due 2026-03-10 gives 2026-02-17.
    config = store_with(store_config, maintenance={"brands": {"Lexus": [-21, 0]}})
    store_id = await make_store(sessions, config)
    async with transaction(sessions) as session:
        booked, repaired, alone = [
            await add_vehicle(session, await add_customer(session, store_id)) for _ in range(3)
        ]
        lexus = await add_vehicle(session, await add_customer(session, store_id), brand="Lexus")
        for car in (booked, repaired, alone, lexus):
            await add_visit(session, car, D(2025, 3, 10), 20_000)
        await add_visit(session, repaired, D(2026, 3, 1), 26_000, VisitKind.REPAIR)
        session.add(
            Appointment(
                store_id=store_id,
                customer_id=booked.customer_id,
                vehicle_id=booked.id,
                service_type="maintenance",
                slot_start=local(D(2026, 4, 2), 9),
            )
        )
    found = await days_with(
        sessions, store_id, config, span(D(2026, 2, 15), D(2026, 3, 25)), "maintenance"
    )
    assert found == {
        D(2026, 2, 17): [f"maintenance:{lexus.id}:2025-03-10:-21"],
        D(2026, 2, 24): sorted(f"maintenance:{car.id}:2025-03-10:-14" for car in (repaired, alone)),
        D(2026, 3, 10): sorted(f"maintenance:{car.id}:2025-03-10:0" for car in (alone, lexus)),
        D(2026, 3, 24): [f"maintenance:{alone.id}:2025-03-10:14"],
    }


async def test_first_service_counts_from_registration_and_the_owners_reading(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # First service: 5,000 km or 6 months. A car registered 2026-01-15 with no reading is due
    # 2026-07-15 (-14: 2026-07-01). A car registered 2026-01-01 whose owner reports 4,000 km on
    # 2026-02-10 drives 100 km/day (4,000 / 40 days): 5,000 km on 2026-02-20, so its -14
    # reminder (2026-02-06) is caught up when the reading arrives, on 2026-02-10.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        calm = await add_vehicle(
            session, await add_customer(session, store_id), registered=D(2026, 1, 15)
        )
        busy = await add_vehicle(
            session, await add_customer(session, store_id), registered=D(2026, 1, 1)
        )
        await add_reading(session, busy, D(2026, 2, 10), 4_000)
    await plan(sessions, store_id, store_config, D(2026, 2, 10))
    await plan(sessions, store_id, store_config, D(2026, 7, 1))
    assert await keys(sessions, "first_service") == [
        f"first_service:{busy.id}:-14",
        f"first_service:{calm.id}:-14",
    ]
    rows = {row.payload["vehicle_id"]: row for row in await outbox(sessions, "first_service")}
    assert rows[busy.id].payload["due_on"] == "2026-02-20"
    assert rows[calm.id].payload["due_on"] == "2026-07-15"


# --- insurance ----------------------------------------------------------------------------------


async def test_insurance_renewal_30_and_7_days_before_the_policy_ends(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Policy ends 2026-06-30: reminders 2026-05-31 (-30) and 2026-06-23 (-7).
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        car = await add_vehicle(
            session, await add_customer(session, store_id), insurance_end_date=D(2026, 6, 30)
        )
    found = await days_with(
        sessions, store_id, store_config, span(D(2026, 5, 25), D(2026, 7, 5)), "insurance"
    )
    assert found == {
        D(2026, 5, 31): [f"insurance:{car.id}:2026-06-30:-30"],
        D(2026, 6, 23): [f"insurance:{car.id}:2026-06-30:-7"],
    }


# --- inspection ---------------------------------------------------------------------------------


async def inspection_days(
    sessions: Sessions, config: StoreConfig, days: list[dt.date], **vehicle: object
) -> tuple[int, dict[dt.date, list[str]]]:
    store_id = await make_store(sessions, config)
    async with transaction(sessions) as session:
        car = await add_vehicle(session, await add_customer(session, store_id), **vehicle)  # type: ignore[arg-type]
    return car.id, await days_with(sessions, store_id, config, days, "inspection")


async def test_mainland_private_car_gets_labels_in_years_2_4_8_and_inspections_in_6_and_10(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Registered 2020-04-15 (built 2020). Year 2: 2022-04-15 label; year 4: 2024-04-15 label;
    # year 6: 2026-04-15 on site; year 8: 2028-04-15 label; year 10: 2030-04-15 on site;
    # year 11: 2031-04-15 on site. The -30 reminder falls 30 days before each.
    config = in_market(store_config, Market.MAINLAND)
    days = [
        D(2022, 3, 16),
        D(2024, 3, 16),
        D(2025, 3, 16),
        D(2026, 3, 16),
        D(2027, 3, 16),
        D(2028, 3, 16),
        D(2029, 3, 16),
        D(2030, 3, 16),
        D(2031, 3, 16),
    ]
    car, found = await inspection_days(
        sessions, config, days, registered=D(2020, 4, 15), manufactured=2020
    )
    assert sorted(found) == [
        D(2022, 3, 16),
        D(2024, 3, 16),
        D(2026, 3, 16),
        D(2028, 3, 16),
        D(2030, 3, 16),
        D(2031, 3, 16),
    ]
    rows = {row.payload["due_on"]: row.payload for row in await outbox(sessions, "inspection")}
    assert [rows[day]["label_only"] for day in sorted(rows)] == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]
    assert found[D(2026, 3, 16)] == [f"inspection:{car}:2026-04-15:-30"]


async def test_mainland_car_registered_over_4_years_after_build_keeps_the_old_cycle(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Built 2015, registered 2020-06-01 (5 years later): on site every 2 years to year 6
    # (2022-06-01, 2024-06-01, 2026-06-01), no labels; then yearly (2027-06-01).
    config = in_market(store_config, Market.MAINLAND)
    days = [D(2022, 5, 2), D(2024, 5, 2), D(2025, 5, 2), D(2026, 5, 2), D(2027, 5, 2)]
    _, found = await inspection_days(
        sessions, config, days, registered=D(2020, 6, 1), manufactured=2015
    )
    assert sorted(found) == [D(2022, 5, 2), D(2024, 5, 2), D(2026, 5, 2), D(2027, 5, 2)]
    assert not any(row.payload["label_only"] for row in await outbox(sessions, "inspection"))


async def test_mainland_after_year_10_is_inspected_yearly(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Registered 2010-01-20. Year 16: 2026-01-20 (reminded 2025-12-21); nothing half a year
    # later (2026-07-20 would be reminded 2026-06-20).
    config = in_market(store_config, Market.MAINLAND)
    _, found = await inspection_days(
        sessions, config, [D(2025, 12, 21), D(2026, 6, 20)], registered=D(2010, 1, 20)
    )
    assert sorted(found) == [D(2025, 12, 21)]


async def test_mainland_every_6_months_after_year_15_when_the_store_asks_for_it(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # As above with mainland_half_yearly_after_years: 15: year 16.5 (2026-07-20) is reminded
    # on 2026-06-20 too.
    config = store_with(
        in_market(store_config, Market.MAINLAND),
        inspection={"mainland_half_yearly_after_years": 15},
    )
    _, found = await inspection_days(
        sessions, config, [D(2025, 12, 21), D(2026, 6, 20)], registered=D(2010, 1, 20)
    )
    assert sorted(found) == [D(2025, 12, 21), D(2026, 6, 20)]


async def test_taiwan_counts_from_manufacture_yearly_from_5_and_twice_a_year_from_10(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Built 2018, registered 2019-03-05: the age counts from 2018-03-05. Year 4 (2022-03-05):
    # none. Years 5-9: 2023-03-05 ... 2027-03-05. From year 10: 2028-03-05 and 2028-09-05.
    days = [D(2022, 2, 3), D(2023, 2, 3), D(2027, 2, 3), D(2028, 2, 4), D(2028, 8, 6)]
    car, found = await inspection_days(
        sessions, store_config, days, registered=D(2019, 3, 5), manufactured=2018
    )
    assert sorted(found) == [D(2023, 2, 3), D(2027, 2, 3), D(2028, 2, 4), D(2028, 8, 6)]
    assert found[D(2028, 8, 6)] == [f"inspection:{car}:2028-09-05:-30"]


async def test_taiwan_leased_cars_from_3_years_and_twice_a_year_from_6(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Built and registered 2022-05-10, leased: none in year 2 (2024); 2025-05-10 and
    # 2026-05-10 yearly; from year 6 twice: 2028-05-10 and 2028-11-10 (-30: 2028-10-11).
    days = [
        D(2024, 4, 10),
        D(2025, 4, 10),
        D(2026, 4, 10),
        D(2027, 10, 11),
        D(2028, 4, 10),
        D(2028, 10, 11),
    ]
    _, found = await inspection_days(
        sessions, store_config, days, registered=D(2022, 5, 10), manufactured=2022, leased=True
    )
    assert sorted(found) == [D(2025, 4, 10), D(2026, 4, 10), D(2028, 4, 10), D(2028, 10, 11)]


async def test_a_vehicle_can_follow_the_other_markets_rules_and_operating_cars_are_left_out(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # A Taiwan store; three cars registered 2022-04-15 (built 2022). Year 4 (2026-04-15):
    # the one set to mainland rules needs its label; under Taiwan rules a 4-year-old car needs
    # nothing; an operating car is left out.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        owner = await add_customer(session, store_id)
        registered = {"registered": D(2022, 4, 15), "manufactured": 2022}
        mainland = await add_vehicle(
            session, owner, inspection_market=Market.MAINLAND, **registered
        )
        await add_vehicle(session, owner, **registered)
        await add_vehicle(
            session,
            owner,
            usage=VehicleUsage.OPERATING,
            inspection_market=Market.MAINLAND,
            **registered,
        )
    await plan(sessions, store_id, store_config, D(2026, 3, 16))
    assert await keys(sessions, "inspection") == [f"inspection:{mainland.id}:2026-04-15:-30"]
    (row,) = await outbox(sessions, "inspection")
    assert row.payload["label_only"]


# --- new cars -----------------------------------------------------------------------------------


async def test_new_car_thanks_check_in_and_first_service_invitation(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Delivered (registered) 2026-03-01: thanks 2026-03-02 (+1), check-in 2026-03-31 (+30),
    # first-service invitation 2026-07-29 (+150). A car already in for a visit gets no invitation.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        car = await add_vehicle(
            session, await add_customer(session, store_id), registered=D(2026, 3, 1)
        )
        visited = await add_vehicle(
            session, await add_customer(session, store_id), registered=D(2026, 3, 1)
        )
        await add_visit(session, visited, D(2026, 6, 1), 3_000, VisitKind.REPAIR)
    days = [D(2026, 3, 1), D(2026, 3, 2), D(2026, 3, 30), D(2026, 3, 31), D(2026, 7, 29)]
    for day in days:
        await plan(sessions, store_id, store_config, day)
    rows = [
        (row.kind, row.due_at.date())
        for row in await outbox(sessions)
        if row.kind.startswith("new_car") and row.payload["vehicle_id"] == car.id
    ]
    assert rows == [
        ("new_car_thanks", D(2026, 3, 2)),
        ("new_car_checkin", D(2026, 3, 31)),
        ("new_car_first_service", D(2026, 7, 29)),
    ]
    assert f"new_car_first_service:{visited.id}" not in await keys(sessions)


# --- appointments -------------------------------------------------------------------------------


async def test_appointment_reminders_the_evening_before_and_two_hours_before(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Slot 2026-05-06 09:00 Taipei (01:00 UTC). Day before at 18:00 Taipei = 2026-05-05 10:00
    # UTC; two hours before = 2026-05-05 23:00 UTC. Planning on 2026-05-04 07:00 looks 36 hours
    # ahead (to 2026-05-05 19:00): only the evening reminder; on 2026-05-05 07:00 both.
    # A slot booked on 2026-05-05 at 20:00 (after 18:00) gets only the two-hours one; a
    # cancelled one gets none.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        owner = await add_customer(session, store_id)
        late_owner = await add_customer(session, store_id)
        slot = local(D(2026, 5, 6), 9)
        early = Appointment(
            store_id=store_id,
            customer_id=owner.id,
            service_type="maintenance",
            slot_start=slot,
            created_at=local(D(2026, 5, 1), 12),
        )
        late = Appointment(
            store_id=store_id,
            customer_id=late_owner.id,
            service_type="maintenance",
            slot_start=slot,
            created_at=local(D(2026, 5, 5), 20),
        )
        gone = Appointment(
            store_id=store_id,
            customer_id=owner.id,
            service_type="repair",
            slot_start=slot,
            created_at=local(D(2026, 5, 1), 12),
            status=AppointmentStatus.CANCELLED,
        )
        session.add_all([early, late, gone])
    await plan(sessions, store_id, store_config, local(D(2026, 5, 4)))
    assert [(r.kind, r.due_at) for r in await outbox(sessions)] == [
        ("appointment_day_before", dt.datetime(2026, 5, 5, 10, tzinfo=dt.UTC)),
    ]
    await plan(sessions, store_id, store_config, local(D(2026, 5, 5)))
    await plan(sessions, store_id, store_config, local(D(2026, 5, 5), 21))
    epoch = int(slot.timestamp())
    assert sorted(await keys(sessions)) == [
        f"appointment_day_before:{early.id}:{epoch}",
        f"appointment_soon:{early.id}:{epoch}",
        f"appointment_soon:{late.id}:{epoch}",
    ]
    (soon,) = [
        r
        for r in await outbox(sessions, "appointment_soon")
        if r.payload["appointment_id"] == early.id
    ]
    assert soon.due_at == dt.datetime(2026, 5, 5, 23, tzinfo=dt.UTC)
    assert soon.marketing is False
    assert soon.payload["appointment_id"] == early.id


async def test_a_moved_appointment_is_reminded_again_for_its_new_slot(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        owner = await add_customer(session, store_id)
        booking = Appointment(
            store_id=store_id,
            customer_id=owner.id,
            service_type="maintenance",
            slot_start=local(D(2026, 5, 6), 9),
            created_at=local(D(2026, 5, 1), 12),
        )
        session.add(booking)
    await plan(sessions, store_id, store_config, local(D(2026, 5, 5)))
    async with transaction(sessions) as session:
        moved = await session.get(Appointment, booking.id)
        assert moved is not None
        moved.slot_start = local(D(2026, 5, 6), 14)
    await plan(sessions, store_id, store_config, local(D(2026, 5, 5), 8))
    assert [k.rsplit(":", 1)[0] for k in await keys(sessions, "appointment_soon")] == [
        f"appointment_soon:{booking.id}",
        f"appointment_soon:{booking.id}",
    ]


# --- surveys, birthdays, win-back ---------------------------------------------------------------


async def test_survey_three_days_after_a_visit_once_per_visit(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Visit 2026-05-01: the question is asked 2026-05-04, once, with its survey row.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        car = await add_vehicle(session, await add_customer(session, store_id))
        visit = await add_visit(session, car, D(2026, 5, 1), 12_000)
    found = await days_with(
        sessions, store_id, store_config, span(D(2026, 5, 1), D(2026, 5, 12)), "survey"
    )
    assert found == {D(2026, 5, 4): [f"survey:{visit.id}"]}
    (row,) = await outbox(sessions, "survey")
    async with sessions() as session:
        question = await session.get(SurveyResponse, row.payload["survey_id"])
    assert question is not None and question.visit_id == visit.id
    assert row.marketing is False


async def test_birthday_greeting_only_with_consent_and_leap_day_on_the_28th(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        may = await add_customer(session, store_id, birthday=D(1990, 5, 4))
        await add_customer(session, store_id, birthday=D(1990, 5, 4), consent=False)
        leap = await add_customer(session, store_id, birthday=D(1992, 2, 29))
    for day in (D(2026, 5, 3), D(2026, 5, 4), D(2026, 5, 4), D(2027, 2, 28), D(2028, 2, 28)):
        await plan(sessions, store_id, store_config, day)
    assert await keys(sessions, "birthday") == [
        f"birthday:{may.id}:2026",
        f"birthday:{leap.id}:2027",
    ]


async def test_win_back_uses_the_mileage_aware_lost_rule_once_per_period(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # High-mileage Audi: 100 km/day (as in the km case), expected interval 7,500 / 100 = 75
    # days (6 months would be 182.6), lost after 1.5 x 75 = 112.5 days: last visit 2026-01-01
    # + 113 days = 2026-04-24. At most once per 180 days: again from 2026-10-21.
    # A Toyota with one visit and no pace: 12 months = 365.25 days, lost after 547.9 days:
    # visit 2024-06-01 + 548 = 2025-12-01. Its owner's second lost car adds no second message.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        audi = await add_vehicle(session, await add_customer(session, store_id), brand="Audi")
        await add_reading(session, audi, D(2025, 12, 2), 27_000)
        await add_visit(session, audi, D(2026, 1, 1), 30_000)
        toyota = await add_vehicle(session, await add_customer(session, store_id))
        await add_visit(session, toyota, D(2024, 6, 1), None)
        second = await add_vehicle(session, await session.get_one(Customer, toyota.customer_id))
        await add_visit(session, second, D(2024, 7, 1), None)
    found = await days_with(
        sessions,
        store_id,
        store_config,
        [
            D(2025, 11, 30),
            D(2025, 12, 1),
            D(2026, 4, 23),
            D(2026, 4, 24),
            D(2026, 4, 25),
            D(2026, 10, 20),
            D(2026, 10, 21),
        ],
        "win_back",
    )
    assert found == {
        D(2025, 12, 1): [f"win_back:{toyota.customer_id}:2025-12-01"],
        D(2026, 4, 24): [f"win_back:{audi.customer_id}:2026-04-24"],
        D(2026, 10, 21): [f"win_back:{audi.customer_id}:2026-10-21"],
    }


# --- events -------------------------------------------------------------------------------------


async def test_event_invitations_go_to_the_audience_and_reminders_to_confirmed_places(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # An event for Lexus owners on 2026-06-13 10:00 Taipei. The Lexus owner is invited once;
    # the Toyota owner is not. A confirmed participant is reminded the evening before (18:00
    # on 2026-06-12 = 10:00 UTC) and 3 hours before (07:00 Taipei = 2026-06-12 23:00 UTC);
    # a waitlisted one is not.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        lexus_owner = await add_customer(session, store_id)
        await add_vehicle(session, lexus_owner, brand="Lexus")
        toyota_owner = await add_customer(session, store_id)
        await add_vehicle(session, toyota_owner, brand="Toyota")
        going = await add_customer(session, store_id)
        waiting = await add_customer(session, store_id)
        event = ClubEvent(
            store_id=store_id,
            title="Lexus drive",
            seats=10,
            starts_at=local(D(2026, 6, 13), 10),
            status=EventStatus.PUBLISHED,
            audience={"brands": ["lexus"]},
        )
        session.add(event)
        await session.flush()
        early = local(D(2026, 6, 1), 12)
        session.add_all(
            [
                EventSignup(
                    event_id=event.id,
                    customer_id=going.id,
                    status=SignupStatus.CONFIRMED,
                    created_at=early,
                ),
                EventSignup(
                    event_id=event.id,
                    customer_id=waiting.id,
                    status=SignupStatus.WAITLISTED,
                    created_at=early,
                ),
            ]
        )
    await plan(sessions, store_id, store_config, D(2026, 6, 2))
    await plan(sessions, store_id, store_config, D(2026, 6, 12))
    starts = int(local(D(2026, 6, 13), 10).timestamp())
    assert [(r.idempotency_key, r.due_at, r.marketing) for r in await outbox(sessions)] == [
        (
            f"event_invitation:{event.id}:{lexus_owner.id}",
            dt.datetime(2026, 6, 2, 2, tzinfo=dt.UTC),
            True,
        ),
        (
            f"event_day_before:{event.id}:{going.id}:{starts}",
            dt.datetime(2026, 6, 12, 10, tzinfo=dt.UTC),
            False,
        ),
        (
            f"event_soon:{event.id}:{going.id}:{starts}",
            dt.datetime(2026, 6, 12, 23, tzinfo=dt.UTC),
            False,
        ),
    ]
