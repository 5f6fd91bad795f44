"""`carebot events import`: YAML and CSV files, bad rows by line and reason, all or nothing."""

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, load_settings
from bot.db import transaction
from bot.event_import import import_event_file
from bot.events import sign_up
from bot.models import ClubEvent, EventStatus, Outbox
from bot.store_config import StoreConfig
from scheduler import kinds
from tests.care_world import TAIPEI, add_customer, add_vehicle, make_store
from tests.test_report_cli import carebot

NEXT_YEAR = dt.date.today().year + 1

YAML_FILE = f"""
events:
  - title: New RAV4 launch
    description: Test drives & coffee
    place: Neihu showroom
    latitude: 25.08
    longitude: 121.57
    starts_at: {NEXT_YEAR}-03-07 14:00
    ends_at: "17:00"
    seats: 30
    signup_deadline: {NEXT_YEAR}-03-05
    companions_allowed: 2
    audience:
      brands: [Toyota]
    status: published
  - title: Lexus owners' night
    starts_at: "{NEXT_YEAR}-03-14 19:00"
    seats: 12
    segment: loyal
    fleet_tags: private
"""

CSV_FILE = f"""title,starts_at,ends_at,seats,companions_allowed,brands,status
Spring check day,{NEXT_YEAR}/4/1 09:00,12:00,40,1,"Toyota, Lexus",draft
Bad end,{NEXT_YEAR}-04-02 10:00,09:00,10,0,,draft
Bad seats,{NEXT_YEAR}-04-03 10:00,,lots,0,,draft
No start,,,10,0,,draft
"""


def _settings(database_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        carebot_timezone="Asia/Taipei",
        carebot_default_locale="zh-Hant",
        _env_file=None,
    )


async def _events(sessions: async_sessionmaker[AsyncSession]) -> list[ClubEvent]:
    async with sessions() as session:
        return list(await session.scalars(select(ClubEvent).order_by(ClubEvent.id)))


async def test_a_yaml_file_creates_and_publishes_events_and_queues_invitations(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    settings = _settings(database_url)
    path = tmp_path / "events.yaml"
    path.write_text(YAML_FILE, encoding="utf-8")
    # The store and its owners exist first; the import finds the same store by its code.
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        toyota = await add_customer(session, store_id, name="Toyota owner")
        await add_vehicle(session, toyota, brand="Toyota")
        audi = await add_customer(session, store_id, name="Audi owner")
        await add_vehicle(session, audi, brand="Audi")

    outcome = await import_event_file(settings, store_config, path, dry_run=False)

    assert outcome.bad == []
    assert (outcome.created, outcome.published, outcome.invitations) == (2, 1, 1)
    launch, night = await _events(sessions)
    assert launch.status == EventStatus.PUBLISHED and night.status == EventStatus.DRAFT
    assert launch.starts_at == dt.datetime(NEXT_YEAR, 3, 7, 14, tzinfo=TAIPEI)
    assert launch.ends_at == dt.datetime(NEXT_YEAR, 3, 7, 17, tzinfo=TAIPEI)
    # A deadline given as a date runs to the end of that day.
    assert launch.signup_deadline == dt.datetime(NEXT_YEAR, 3, 6, 0, tzinfo=TAIPEI)
    assert (launch.seats, launch.companions_allowed, launch.latitude) == (30, 2, 25.08)
    assert launch.audience == {"brands": ["Toyota"]}
    assert night.audience == {"segment": "loyal", "fleet_tags": ["private"]}
    async with sessions() as session:
        invited = list(await session.scalars(select(Outbox.customer_id)))
    assert invited == [toyota.id]


async def test_bad_rows_are_reported_by_line_and_nothing_is_written(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV_FILE, encoding="utf-8")
    outcome = await import_event_file(_settings(database_url), store_config, path, dry_run=False)
    assert outcome.bad == [
        (4, "seats: 'lots' is not a whole number from 0 to 10000"),
    ]
    # Once the file reads, the rules are checked: the end before the start, no start.
    path.write_text(CSV_FILE.replace("Bad seats,", "#,").replace(",lots,", ",10,"), "utf-8")
    outcome = await import_event_file(_settings(database_url), store_config, path, dry_run=False)
    assert outcome.bad == [
        (3, "The end must be after the start."),
        (5, "Give the start date and time."),
    ]
    assert await _events(sessions) == []


async def test_a_row_with_an_id_changes_that_event_and_tells_who_signed_up(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    settings = _settings(database_url)
    path = tmp_path / "events.yaml"
    path.write_text(YAML_FILE, encoding="utf-8")
    await import_event_file(settings, store_config, path, dry_run=False)
    launch, _ = await _events(sessions)
    async with transaction(sessions) as session:
        owner = await add_customer(session, launch.store_id)
        await sign_up(session, launch.id, owner.id, 1, dt.datetime.now(dt.UTC))

    path.write_text(f"id,place,seats\n{launch.id},Dadu Road parking lot,40\n", encoding="utf-8")
    changed = tmp_path / "changes.csv"
    path.rename(changed)
    dry = await import_event_file(settings, store_config, changed, dry_run=True)
    assert (dry.changed, dry.notices) == (1, 1)
    assert (await _events(sessions))[0].place == "Neihu showroom"
    outcome = await import_event_file(settings, store_config, changed, dry_run=False)
    assert (outcome.changed, outcome.notices) == (1, 1)
    assert (await _events(sessions))[0].place == "Dadu Road parking lot"
    async with sessions() as session:
        notice = await session.scalar(select(Outbox).where(Outbox.kind == kinds.EVENT_CHANGED))
    assert notice is not None and notice.customer_id == owner.id
    assert notice.payload["changed"] == ["place"]

    changed.write_text(f"id,status\n{launch.id},cancelled\n999,published\n", encoding="utf-8")
    outcome = await import_event_file(settings, store_config, changed, dry_run=False)
    assert outcome.bad == [(3, "This event no longer exists.")]
    assert (await _events(sessions))[0].status == EventStatus.PUBLISHED


async def test_the_command_prints_bad_rows_with_file_and_line_and_exits_1(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV_FILE, encoding="utf-8")
    result = carebot("events", "import", str(path), cwd=tmp_path, DATABASE_URL=database_url)
    assert result.returncode == 1, result.stderr
    assert f"{path}:4: seats: 'lots'" in result.stderr
    assert "nothing imported: 1 bad row(s)" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text(YAML_FILE, encoding="utf-8")
    result = carebot("events", "import", str(good), cwd=tmp_path, DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "imported: 2 created, 0 changed, 0 unchanged, 1 published" in result.stdout


async def test_importing_the_same_file_again_changes_nothing(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    settings = _settings(database_url)
    path = tmp_path / "events.yaml"
    path.write_text(YAML_FILE, encoding="utf-8")
    store_id = await make_store(sessions, store_config)
    async with transaction(sessions) as session:
        toyota = await add_customer(session, store_id, name="Toyota owner")
        await add_vehicle(session, toyota, brand="Toyota")
    first = await import_event_file(settings, store_config, path, dry_run=False)
    assert (first.created, first.invitations) == (2, 1)

    again = await import_event_file(settings, store_config, path, dry_run=False)

    assert again.bad == []
    assert (again.created, again.changed, again.unchanged) == (0, 0, 2)
    assert (again.published, again.invitations, again.notices) == (0, 0, 0)
    assert len(await _events(sessions)) == 2
    async with sessions() as session:
        assert len(list(await session.scalars(select(Outbox.id)))) == 1
    # The same event with a new place is a change of that event, not a new one.
    path.write_text(YAML_FILE.replace("Neihu showroom", "Hsinchu showroom"), encoding="utf-8")
    moved = await import_event_file(settings, store_config, path, dry_run=False)
    assert (moved.created, moved.changed) == (0, 1)
    assert len(await _events(sessions)) == 2
