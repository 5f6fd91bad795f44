"""What the care buttons do, /stop and /subscribe, and manager campaigns, on both engines."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.models import (
    Appointment,
    AppointmentStatus,
    Campaign,
    Confirmation,
    Customer,
    FleetTag,
    Outbox,
    OutboxStatus,
    SurveyResponse,
)
from bot.render import Renderer
from bot.store_config import StoreConfig
from scheduler.answers import (
    cancel_from_reminder,
    confirm_from_reminder,
    record_survey_comment,
    record_survey_score,
    reschedule_from_reminder,
    subscribe,
    unsubscribe,
)
from scheduler.audience import Audience
from scheduler.campaigns import plan_campaign, start_campaign
from scheduler.messages import Signature
from tests.care_world import TAIPEI, add_customer, add_vehicle, add_visit, make_store

Sessions = async_sessionmaker[AsyncSession]
NOW = dt.datetime(2026, 5, 6, 10, 0, tzinfo=TAIPEI)


async def booked(session: AsyncSession, store_id: int, customer: Customer) -> Appointment:
    appointment = Appointment(
        store_id=store_id,
        customer_id=customer.id,
        service_type="maintenance",
        slot_start=NOW + dt.timedelta(days=1),
    )
    session.add(appointment)
    await session.flush()
    return appointment


async def test_the_reminder_buttons_confirm_reschedule_or_cancel_only_the_owners_appointment(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        owner = await add_customer(session, store_id)
        stranger = await add_customer(session, store_id)
        first, second, third = [await booked(session, store_id, owner) for _ in range(3)]
    async with transaction(sessions) as session:
        assert (
            await confirm_from_reminder(session, customer_id=stranger.id, appointment_id=first.id)
            is None
        )
        confirmed = await confirm_from_reminder(
            session, customer_id=owner.id, appointment_id=first.id
        )
        moved = await reschedule_from_reminder(
            session, customer_id=owner.id, appointment_id=second.id
        )
        gone = await cancel_from_reminder(
            session, customer_id=owner.id, appointment_id=third.id, store=store_config, now=NOW
        )
    assert confirmed is not None and moved is not None and gone is not None
    assert (confirmed.status, confirmed.confirmation) == (
        AppointmentStatus.CONFIRMED,
        Confirmation.CONFIRMED,
    )
    assert moved.confirmation == Confirmation.RESCHEDULED
    assert gone.status == AppointmentStatus.CANCELLED
    async with transaction(sessions) as session:
        # A cancelled appointment cannot be confirmed from an old reminder.
        assert (
            await confirm_from_reminder(session, customer_id=owner.id, appointment_id=third.id)
            is None
        )


async def test_a_survey_takes_one_score_flags_three_or_less_and_keeps_a_comment(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        owner = await add_customer(session, store_id)
        car = await add_vehicle(session, owner)
        visits = [
            await add_visit(session, car, dt.date(2026, 5, day), 1000 * day) for day in (1, 2)
        ]
        surveys = [
            SurveyResponse(store_id=store_id, customer_id=owner.id, visit_id=v.id) for v in visits
        ]
        session.add_all(surveys)
    async with transaction(sessions) as session:
        low = await record_survey_score(
            session, customer_id=owner.id, survey_id=surveys[0].id, score=3, now=NOW
        )
        again = await record_survey_score(
            session, customer_id=owner.id, survey_id=surveys[0].id, score=5, now=NOW
        )
        high = await record_survey_score(
            session, customer_id=owner.id, survey_id=surveys[1].id, score=4, now=NOW
        )
        noted = await record_survey_comment(
            session, customer_id=owner.id, survey_id=surveys[0].id, comment="  Waited long.  "
        )
    assert low is not None and low.low and low.survey.score == 3
    assert again is None
    assert high is not None and not high.low
    assert noted is not None and noted.comment == "Waited long."


async def test_stop_cancels_pending_marketing_keeps_service_and_subscribe_restores_consent(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        owner = await add_customer(session, store_id)
        for key, marketing in (("offer", True), ("reminder", False)):
            session.add(
                Outbox(
                    store_id=store_id,
                    customer_id=owner.id,
                    kind="birthday",
                    template="t",
                    idempotency_key=key,
                    marketing=marketing,
                    payload={},
                    due_at=NOW,
                )
            )
    async with transaction(sessions) as session:
        customer = await session.get_one(Customer, owner.id)
        assert await unsubscribe(session, customer, NOW) == 1
    async with sessions() as session:
        rows = {row.idempotency_key: row for row in await session.scalars(select(Outbox))}
        customer = await session.get_one(Customer, owner.id)
    assert rows["offer"].status == OutboxStatus.CANCELLED
    assert rows["reminder"].status == OutboxStatus.PENDING
    assert customer.marketing_consent is False
    async with transaction(sessions) as session:
        await subscribe(session, await session.get_one(Customer, owner.id), NOW)
    async with sessions() as session:
        assert (await session.get_one(Customer, owner.id)).marketing_consent is True


async def test_a_campaign_counts_previews_and_queues_one_message_per_consenting_recipient(
    sessions: Sessions, store_config: StoreConfig
) -> None:
    # Lexus owners: two with consent (one a taxi fleet), one without; a Toyota owner.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        for brand, consent, fleet in (
            ("Lexus", True, None),
            ("LEXUS", True, FleetTag.TAXI),
            ("Lexus", False, None),
            ("Toyota", True, None),
        ):
            owner = await add_customer(session, store_id, consent=consent, name=f"{brand} <o>")
            owner.fleet_tag = fleet
            await add_vehicle(session, owner, brand=brand)
    renderer = Renderer()
    signature = Signature(store_config, ZoneInfo("Asia/Taipei"), "carebot_demo_bot")
    lexus = Audience(brands=["Lexus"])
    async with sessions() as session:
        plan = await plan_campaign(
            session,
            store_id=store_id,
            store=store_config,
            renderer=renderer,
            signature=signature,
            audience=lexus,
            template="campaign_seasonal_check",
            locale="en",
            as_of=NOW.date(),
        )
        taxis = await plan_campaign(
            session,
            store_id=store_id,
            store=store_config,
            renderer=renderer,
            signature=signature,
            audience=Audience(fleet_tags=[FleetTag.TAXI]),
            template="campaign_seasonal_check",
            locale="en",
            as_of=NOW.date(),
        )
    assert plan.recipients == 2 and taxis.recipients == 1
    assert plan.preview is not None and "Lexus &lt;o&gt;" in plan.preview.text
    for _ in range(2):  # a second confirmation is a second campaign, not a duplicate row
        async with transaction(sessions) as session:
            campaign = await start_campaign(
                session,
                store_id=store_id,
                store=store_config,
                tz=TAIPEI,
                name="Lexus spring",
                audience=lexus,
                template="campaign_seasonal_check",
                created_by=None,
                now=NOW,
            )
        assert campaign.recipients == 2
    async with sessions() as session:
        rows = list(await session.scalars(select(Outbox).order_by(Outbox.id)))
        stored = list(await session.scalars(select(Campaign)))
    assert [(r.kind, r.marketing, r.template) for r in rows] == [
        ("campaign", True, "campaign_seasonal_check")
    ] * 4
    assert len({r.idempotency_key for r in rows}) == 4
    assert stored[0].audience == {"brands": ["Lexus"]}
