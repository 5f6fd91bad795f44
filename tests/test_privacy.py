"""/mydata exports everything held about a customer; /forget leaves nothing that leads to them."""

import datetime as dt
import json

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.models import (
    AdvisorThread,
    Appointment,
    AppointmentStatus,
    Base,
    ClubEvent,
    Conversation,
    Customer,
    CustomerNote,
    EventSignup,
    EventStatus,
    FleetTag,
    LinkDirection,
    MessageLink,
    OdometerReading,
    Outbox,
    OutboxStatus,
    ReadingSource,
    ServiceVisit,
    SignupStatus,
    SurveyResponse,
    Vehicle,
    VisitKind,
)
from bot.privacy import export_customer_data, forget_customer
from bot.segments import segment_report
from bot.store_config import StoreConfig
from bot.stores import sync_store

NOW = dt.datetime(2026, 6, 30, 8, 0, tzinfo=dt.UTC)
TELEGRAM_ID = 987_654_321_012
# Everything that could lead back to the person; none may survive forgetting.
PERSONAL = [
    "陳志明",
    "+886912345678",
    str(TELEGRAM_ID),
    "ABC-1234",
    "JTDKB20U887654321",
    "RO-778899",
    "please call my wife",
    "scratch on the left door",
    "AgACAgUAAxkBAAIBphoto",
    "the coffee was cold",
    "VIP, knows the owner",
    "Dear Mr Chen",
    "1985-05-05",
]


async def _customer(
    sessions: async_sessionmaker[AsyncSession], config: StoreConfig
) -> tuple[int, int]:
    async with transaction(sessions) as session:
        store = await sync_store(session, config, timezone="Asia/Taipei", advisor_chat_id=-100123)
        chen = Customer(
            store_id=store.id,
            name="陳志明",
            phone="+886912345678",
            telegram_user_id=TELEGRAM_ID,
            locale="zh-Hant",
            birthday=dt.date(1985, 5, 5),
            marketing_consent=True,
            marketing_consent_at=NOW,
            fleet_tag=FleetTag.PRIVATE,
        )
        other = Customer(store_id=store.id, name="Lin", phone="+886922333444", telegram_user_id=1)
        session.add_all([chen, other])
        await session.flush()
        car = Vehicle(
            store_id=store.id,
            customer_id=chen.id,
            plate="ABC-1234",
            vin="JTDKB20U887654321",
            brand="Toyota",
            model="RAV4",
            insurance_end_date=dt.date(2026, 9, 1),
        )
        session.add(car)
        await session.flush()
        visit = ServiceVisit(
            store_id=store.id,
            vehicle_id=car.id,
            visited_on=dt.date(2026, 5, 1),
            km=20_000,
            kind=VisitKind.MAINTENANCE,
            repair_order="RO-778899",
            note="scratch on the left door",
        )
        session.add(visit)
        session.add(
            OdometerReading(
                vehicle_id=car.id,
                read_on=dt.date(2026, 5, 1),
                km=20_000,
                source=ReadingSource.VISIT,
            )
        )
        await session.flush()
        session.add_all(
            [
                Appointment(
                    store_id=store.id,
                    customer_id=chen.id,
                    vehicle_id=car.id,
                    service_type="maintenance",
                    slot_start=NOW + dt.timedelta(days=3),
                    status=AppointmentStatus.BOOKED,
                    note="please call my wife",
                    photo_file_id="AgACAgUAAxkBAAIBphoto",
                ),
                SurveyResponse(
                    store_id=store.id,
                    customer_id=chen.id,
                    visit_id=visit.id,
                    score=2,
                    comment="the coffee was cold",
                    answered_at=NOW,
                ),
                AdvisorThread(customer_id=chen.id, chat_id=-100123, topic_id=42),
                MessageLink(
                    customer_id=chen.id,
                    customer_message_id=10,
                    group_chat_id=-100123,
                    group_message_id=500,
                    direction=LinkDirection.TO_GROUP,
                ),
                CustomerNote(customer_id=chen.id, author_name="Amy", text="VIP, knows the owner"),
                Outbox(
                    store_id=store.id,
                    customer_id=chen.id,
                    kind="maintenance_due",
                    idempotency_key="maintenance_due:1:2026-06",
                    template="maintenance_due",
                    payload={"greeting": "Dear Mr Chen"},
                    due_at=NOW,
                    status=OutboxStatus.SENT,
                    sent_at=NOW,
                    chat_id=TELEGRAM_ID,
                ),
                Outbox(
                    store_id=store.id,
                    customer_id=chen.id,
                    kind="birthday",
                    idempotency_key="birthday:1:2027",
                    template="birthday",
                    payload={"greeting": "Dear Mr Chen"},
                    due_at=NOW + dt.timedelta(days=300),
                ),
                Conversation(chat_id=TELEGRAM_ID, user_id=TELEGRAM_ID, flow="booking", step="slot"),
            ]
        )
        event = ClubEvent(
            store_id=store.id,
            title="Track day",
            starts_at=NOW,
            seats=10,
            status=EventStatus.PUBLISHED,
        )
        session.add(event)
        await session.flush()
        session.add(
            EventSignup(
                event_id=event.id, customer_id=chen.id, party_size=2, status=SignupStatus.ATTENDED
            )
        )
        return store.id, chen.id


async def _everything(session: AsyncSession) -> str:
    """Every value in every table, as one string to search."""
    metadata: MetaData = Base.metadata
    values = []
    for table in metadata.sorted_tables:
        for row in (await session.execute(select(table))).all():
            values.extend(str(value) for value in row)
    return "\n".join(values)


async def test_mydata_export_holds_everything_about_the_customer(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    _, chen = await _customer(sessions, store_config)
    async with sessions() as session:
        data = await export_customer_data(session, chen)
    text = json.dumps(data, ensure_ascii=False)  # JSON-ready through and through
    assert data["customer"]["name"] == "陳志明"
    assert data["customer"]["phone"] == "+886912345678"
    assert data["customer"]["birthday"] == "1985-05-05"
    (car,) = data["vehicles"]
    assert car["plate"] == "ABC-1234" and car["vin"] == "JTDKB20U887654321"
    assert car["visits"][0]["repair_order"] == "RO-778899"
    assert car["odometer_readings"] == [{"read_on": "2026-05-01", "km": 20000, "source": "visit"}]
    assert data["appointments"][0]["note"] == "please call my wife"
    assert data["survey_responses"][0]["comment"] == "the coffee was cold"
    assert data["event_signups"] == [
        {"event": "Track day", "starts_at": NOW.isoformat(), "party_size": 2, "status": "attended"}
    ]
    assert {m["kind"] for m in data["messages_to_you"]} == {"maintenance_due", "birthday"}
    assert "Lin" not in text  # nobody else's data


async def test_forget_leaves_no_personal_data_and_keeps_the_counts(
    sessions: async_sessionmaker[AsyncSession], store_config: StoreConfig
) -> None:
    store_id, chen = await _customer(sessions, store_config)
    as_of = dt.date(2026, 6, 30)
    async with sessions() as session:
        before = await segment_report(
            session, store_id, as_of, store_config.service_intervals, store_config.reports
        )
        everything = await _everything(session)
        assert all(value in everything for value in PERSONAL)

    async with transaction(sessions) as session:
        forgotten = await forget_customer(session, chen, NOW)

    assert forgotten.telegram_user_id == TELEGRAM_ID
    assert (forgotten.advisor_chat_id, forgotten.advisor_topic_id) == (-100123, 42)
    assert (forgotten.message_links_deleted, forgotten.notes_deleted) == (1, 1)
    async with sessions() as session:
        everything = await _everything(session)
        left = [value for value in PERSONAL if value in everything]
        assert left == []
        customer = await session.get(Customer, chen)
        assert customer is not None and customer.forgotten_at == NOW
        assert not customer.marketing_consent and not customer.reachable
        # Nothing more goes out to them.
        statuses = set(
            await session.scalars(select(Outbox.status).where(Outbox.customer_id == chen))
        )
        assert OutboxStatus.PENDING not in statuses
        # The anonymous facts stay: the visit, the reading, the score, the attendance.
        after = await segment_report(
            session, store_id, as_of, store_config.service_intervals, store_config.reports
        )
        assert after.total == before.total
        assert await session.scalar(select(SurveyResponse.score)) == 2
        assert await session.scalar(select(EventSignup.status)) == SignupStatus.ATTENDED
        # The other customer is untouched.
        assert await session.scalar(select(Customer.name).where(Customer.id != chen)) == "Lin"

    # Forgetting twice is harmless and keeps the first time.
    async with transaction(sessions) as session:
        again = await forget_customer(session, chen, NOW + dt.timedelta(days=1))
    assert again.telegram_user_id is None
    async with sessions() as session:
        customer = await session.get(Customer, chen)
        assert customer is not None and customer.forgotten_at == NOW
