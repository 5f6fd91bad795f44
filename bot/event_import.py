"""`carebot events import FILE`: create or change club events from a YAML or CSV file.

One event per row (CSV) or per list item (YAML: a list, or a mapping with `events:`). Columns:
id (to change an existing event), title, description, place, latitude, longitude, starts_at,
ends_at, seats, signup_deadline, companions_allowed, segment, brands, models, fleet_tags (lists
separated by commas; YAML may also nest them under `audience:`), photo_file_id, status (draft,
published or cancelled; new events default to draft). Times are the store's local time as
people write them (bot/event_input.py). A row without an id changes the store's event with the
same title and start when there is one, so importing a file again changes nothing.

All rows are checked and written in one transaction: one bad row and nothing is written, and
every bad row is reported with its line and reason. Publishing queues the invitations, and a
change of time or place, a cancellation or a freed place queues the notices, as in the chat.
"""

import asyncio
import csv
import datetime as dt
import io
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db import make_engine, make_sessionmaker, transaction
from bot.errors import SetupError
from bot.event_input import parse_count, parse_deadline, parse_end, parse_moment, parse_names
from bot.event_notices import REMINDERS, drop_planned, invite_audience, queue_notices
from bot.events import (
    MAX_COMPANIONS,
    MAX_SEATS,
    EventRefused,
    active_signups,
    cancel_event,
    change_event,
    create_event,
    publish_event,
    store_event,
)
from bot.models import ClubEvent, EventStatus, SignupStatus
from bot.render import Renderer
from bot.startup import prepare_database
from bot.store_config import StoreConfig
from bot.stores import sync_store
from scheduler import kinds

logger = logging.getLogger(__name__)

COLUMNS = (
    "id",
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
    "segment",
    "brands",
    "models",
    "fleet_tags",
    "photo_file_id",
    "status",
)
AUDIENCE = ("segment", "brands", "models", "fleet_tags")


class BadRow(ValueError):
    """A row that cannot be imported; the message is the reason."""


@dataclass
class EventRow:
    line: int
    event_id: int | None
    values: dict[str, Any]
    status: EventStatus | None


@dataclass
class ImportOutcome:
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    published: int = 0
    cancelled: int = 0
    invitations: int = 0
    notices: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)


# --- reading the file ---------------------------------------------------------------------------


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, raw fields) per event; ValueError when the file itself cannot be read."""
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(text)
    if suffix in (".yaml", ".yml"):
        return _yaml_rows(text)
    raise ValueError("use a .csv, .yaml or .yml file")


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise ValueError(f"line 1: unknown column {unknown[0]!r}; known: {', '.join(COLUMNS)}")
    rows = []
    line = reader.line_num
    for cells in reader:
        if any(cell.strip() for cell in cells):
            rows.append((line + 1, dict(zip(header, cells, strict=False))))
        line = reader.line_num
    return rows


def _yaml_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())) from None
    if isinstance(data, dict) and "events" in data:
        data = data["events"]
        assert isinstance(root, yaml.MappingNode)
        root = next(value for key, value in root.value if key.value == "events")
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        raise ValueError("expected a list of events (or `events:` with a list)")
    rows = []
    for node, item in zip(root.value, data, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            rows.append((line, {"_problem": "expected a mapping of event fields"}))
            continue
        fields = {str(key).lower(): value for key, value in item.items()}
        audience = fields.pop("audience", None)
        if isinstance(audience, dict):
            fields.update({str(key).lower(): value for key, value in audience.items()})
        rows.append((line, fields))
    return rows


def parse_row(line: int, raw: dict[str, Any], today: dt.date, tz: dt.tzinfo) -> EventRow:
    """Typed values of one row; BadRow names the first field that does not read."""
    if "_problem" in raw:
        raise BadRow(raw["_problem"])
    unknown = [name for name in raw if name not in COLUMNS and name != "audience"]
    if unknown:
        raise BadRow(f"unknown field {unknown[0]!r}")
    given = {name: value for name, value in raw.items() if _present(value)}
    values: dict[str, Any] = {}
    for name in ("title", "description", "place", "photo_file_id"):
        if name in given:
            values[name] = str(given[name]).strip()
    if "starts_at" in given:
        values["starts_at"] = _moment(given["starts_at"], "starts_at", today, tz)
    if "ends_at" in given:
        starts = values.get("starts_at")
        text = _text(given["ends_at"])
        moment = parse_end(text, starts, today, tz) if starts else parse_moment(text, today, tz)
        if moment is None:
            raise BadRow(f"ends_at: {text!r} is not a time")
        values["ends_at"] = moment
    if "signup_deadline" in given:
        text = _text(given["signup_deadline"])
        moment = parse_deadline(text, today, tz)
        if moment is None:
            raise BadRow(f"signup_deadline: {text!r} is not a date or a time")
        values["signup_deadline"] = moment
    for name, most in (("seats", MAX_SEATS), ("companions_allowed", MAX_COMPANIONS)):
        if name in given:
            number = parse_count(_text(given[name]), most)
            if number is None:
                raise BadRow(f"{name}: {given[name]!r} is not a whole number from 0 to {most}")
            values[name] = number
    for name in ("latitude", "longitude"):
        if name in given:
            try:
                values[name] = float(_text(given[name]))
            except ValueError:
                raise BadRow(f"{name}: {given[name]!r} is not a number") from None
    audience = _audience(given)
    if audience is not None:
        values["audience"] = audience
    event_id = None
    if "id" in given:
        event_id = parse_count(_text(given["id"]), 2**62)
        if event_id is None:
            raise BadRow(f"id: {given['id']!r} is not an event number")
    status = None
    if "status" in given:
        try:
            status = EventStatus(_text(given["status"]).lower())
        except ValueError:
            raise BadRow("status: use draft, published or cancelled") from None
    return EventRow(line, event_id, values, status)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value).strip()


def _moment(value: Any, name: str, today: dt.date, tz: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        # YAML reads an unquoted timestamp itself; without a zone it is the store's time.
        return value if value.tzinfo else value.replace(tzinfo=tz)
    moment = parse_moment(_text(value), today, tz)
    if moment is None:
        raise BadRow(f"{name}: {_text(value)!r} is not a date and time such as 2026-12-05 14:00")
    return moment


def _audience(given: dict[str, Any]) -> dict[str, Any] | None:
    if not any(name in given for name in AUDIENCE):
        return None
    audience: dict[str, Any] = {}
    if "segment" in given:
        audience["segment"] = _text(given["segment"]).lower()
    for name in ("brands", "models", "fleet_tags"):
        if name in given:
            value = given[name]
            names = (
                [str(v).strip() for v in value]
                if isinstance(value, list)
                else parse_names(str(value))
            )
            audience[name] = [n.lower() for n in names] if name == "fleet_tags" else names
    return audience


# --- writing ------------------------------------------------------------------------------------


async def import_events(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    tz: ZoneInfo,
    rows: list[EventRow],
    now: dt.datetime,
    describe: Callable[[str], str],
) -> ImportOutcome:
    """Apply every row; the caller rolls back when `bad` is not empty."""
    outcome = ImportOutcome()
    for row in rows:
        try:
            await _apply(session, store_id, store, tz, row, now, outcome)
        except EventRefused as refused:
            outcome.bad.append((row.line, describe(refused.reason)))
    return outcome


async def _apply(
    session: AsyncSession,
    store_id: int,
    store: StoreConfig,
    tz: ZoneInfo,
    row: EventRow,
    now: dt.datetime,
    outcome: ImportOutcome,
) -> None:
    if row.event_id is not None:
        found = await store_event(session, store_id, row.event_id)
        if found is None:
            raise EventRefused("no_such_event")
    else:
        found = await _same_event(session, store_id, row.values)
        if found is not None and found.status == EventStatus.CANCELLED:
            # The file names an event it cancelled on an earlier import: nothing to do.
            outcome.unchanged += 1
            return
    if found is None:
        event = await create_event(session, store_id, row.values)
        outcome.created += 1
    else:
        event, changed = await change_event(session, found.id, row.values)
        if changed.fields:
            outcome.changed += 1
        else:
            outcome.unchanged += 1
        if event.status == EventStatus.PUBLISHED:
            if "starts_at" in changed.fields:
                await drop_planned(session, event.id, REMINDERS)
            if changed.worth_a_notice:
                told = [
                    s
                    for s in await active_signups(session, event.id)
                    if s.status != SignupStatus.ATTENDED
                ]
                outcome.notices += len(
                    await queue_notices(
                        session,
                        event,
                        kinds.EVENT_CHANGED,
                        told,
                        now,
                        changed=changed.noticed,
                    )
                )
            outcome.notices += len(
                await queue_notices(session, event, kinds.EVENT_PROMOTED, changed.promoted, now)
            )
    if row.status == EventStatus.PUBLISHED and event.status == EventStatus.DRAFT:
        await publish_event(session, event.id, now)
        outcome.published += 1
        outcome.invitations += await invite_audience(session, event, store, tz, now)
    elif row.status == EventStatus.DRAFT and event.status != EventStatus.DRAFT:
        raise EventRefused("not_a_draft")
    elif row.status == EventStatus.CANCELLED and event.status != EventStatus.CANCELLED:
        _, told = await cancel_event(session, event.id)
        await drop_planned(session, event.id)
        outcome.cancelled += 1
        outcome.notices += len(
            await queue_notices(session, event, kinds.EVENT_CANCELLED, told, now)
        )


async def _same_event(
    session: AsyncSession, store_id: int, values: dict[str, Any]
) -> ClubEvent | None:
    """The store's event with this title and start: a file imported again names it.

    A live event is preferred to a cancelled one of the same title and time.
    """
    if "title" not in values or "starts_at" not in values:
        return None
    return await session.scalar(
        select(ClubEvent)
        .where(
            ClubEvent.store_id == store_id,
            ClubEvent.title == values["title"],
            ClubEvent.starts_at == values["starts_at"],
        )
        .order_by(ClubEvent.status == EventStatus.CANCELLED, ClubEvent.id)
        .limit(1)
    )


class _RollBack(Exception):
    pass


async def import_event_file(
    settings: Settings, config: StoreConfig, path: Path, *, dry_run: bool
) -> ImportOutcome:
    await prepare_database(settings)
    tz = settings.timezone
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(tz).date()
    outcome = ImportOutcome()
    rows: list[EventRow] = []
    for line, raw in read_rows(path):
        try:
            rows.append(parse_row(line, raw, today, tz))
        except BadRow as bad:
            outcome.bad.append((line, str(bad)))
    if outcome.bad:
        return outcome
    renderer = Renderer(settings.carebot_template_dir)

    def describe(reason: str) -> str:
        return renderer.label("en", f"event_reason_{reason}")

    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        try:
            async with transaction(sessions) as session:
                store = await sync_store(
                    session,
                    config,
                    timezone=settings.carebot_timezone,
                    advisor_chat_id=settings.advisor_chat_id,
                )
                outcome = await import_events(
                    session,
                    store_id=store.id,
                    store=config,
                    tz=tz,
                    rows=rows,
                    now=now,
                    describe=describe,
                )
                if outcome.bad or dry_run:
                    raise _RollBack
        except _RollBack:
            pass
    finally:
        await engine.dispose()
    return outcome


def run_event_import(settings: Settings, config: StoreConfig, path: Path, *, dry_run: bool) -> int:
    """Import one file; 0 when it was written (or would be), 1 when rows were refused."""
    if not path.is_file():
        raise SetupError(str(path), "no such file")
    try:
        outcome = asyncio.run(import_event_file(settings, config, path, dry_run=dry_run))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SetupError(str(path), str(exc)) from None
    if outcome.bad:
        for line, reason in sorted(outcome.bad):
            print(f"{path}:{line}: {reason}", file=sys.stderr)
        print(f"nothing imported: {len(outcome.bad)} bad row(s)", file=sys.stderr)
        return 1
    print(
        f"{'would import' if dry_run else 'imported'}: {outcome.created} created, "
        f"{outcome.changed} changed, {outcome.unchanged} unchanged, {outcome.published} published "
        f"({outcome.invitations} invitations queued), {outcome.cancelled} cancelled, "
        f"{outcome.notices} notices queued"
    )
    return 0
