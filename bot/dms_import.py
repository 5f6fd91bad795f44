"""Importing a store's base from its DMS: customers with their vehicles, and repair orders.

Rows stream from the file, are validated whole, and are written in batches with set-based
upserts, so a million-row file needs no more memory than a thousand-row one. A row is either
written completely or reported with its line number and reason; nothing of a bad row is written.
Importing the same file again changes nothing: customers are keyed by store and phone, vehicles
by store and VIN or plate, visits by store and repair order number, or by vehicle, date and kind
when the file has no repair order numbers.

The import owns its transactions, one per batch, so that on SQLite a running bot waits at most
one batch for the write lock; a dry run does everything in one transaction and rolls it back,
which gives exactly the counts a real run would.
"""

import asyncio
import datetime as dt
import gc
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

from sqlalchemy import Select, String, bindparam, func, select, update
from sqlalchemy import Table as SqlTable
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bulk_insert import insert_rows, refresh_statistics
from bot.db import transaction
from bot.dms_files import RawRow, Table, open_table
from bot.dms_headers import CUSTOMER_COLUMNS, CUSTOMER_HEADERS, VISIT_COLUMNS, VISIT_HEADERS
from bot.dms_values import (
    parse_amount,
    parse_bool,
    parse_date,
    parse_fleet_tag,
    parse_kind,
    parse_km,
    parse_vin,
    parse_year,
    text,
)
from bot.errors import SetupError
from bot.models import (
    Customer,
    FleetTag,
    OdometerReading,
    ReadingSource,
    ServiceVisit,
    Vehicle,
    VehicleUsage,
    VisitKind,
)
from bot.phones import normalise_phone
from bot.plates import normalise_plate
from bot.store_config import StoreConfig

logger = logging.getLogger(__name__)

ImportKind = Literal["customers", "visits"]
BATCH_ROWS = 5000
YIELD_EVERY = 25
LISTED_BAD_ROWS = 1000

CUSTOMERS: SqlTable = Customer.__table__  # type: ignore[assignment]
VEHICLES: SqlTable = Vehicle.__table__  # type: ignore[assignment]
VISITS: SqlTable = ServiceVisit.__table__  # type: ignore[assignment]
READINGS: SqlTable = OdometerReading.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class Tally:
    """What one batch did; added to the report only once the batch is written."""

    bad: list[BadRow] = field(default_factory=list)
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def refuse(self, line: int, reason: str) -> None:
        self.bad.append(BadRow(line, reason))


@dataclass
class ImportReport:
    """What an import read, wrote and refused; the first LISTED_BAD_ROWS bad rows are kept."""

    kind: ImportKind
    path: str
    format: str
    encoding: str | None
    ignored_columns: list[str]
    dry_run: bool
    rows: int = 0
    bad_count: int = 0
    bad: list[BadRow] = field(default_factory=list)
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    @property
    def good(self) -> int:
        return self.rows - self.bad_count

    def refuse(self, bad: BadRow) -> None:
        self.bad_count += 1
        if len(self.bad) < LISTED_BAD_ROWS:
            self.bad.append(bad)

    def add(self, tally: Tally) -> None:
        for bad in tally.bad:
            self.refuse(bad)
        self.created.update(tally.created)
        self.updated.update(tally.updated)
        self.unchanged.update(tally.unchanged)


@dataclass(frozen=True)
class Spelling:
    """The store file's spelling of brands and models, so "TOYOTA" in a DMS is "Toyota" here."""

    brands: dict[str, str]
    models: dict[str, str]

    @classmethod
    def from_store(cls, config: StoreConfig) -> "Spelling":
        brands = list(config.brands) + list(config.service_intervals.brands)
        models = [m for names in config.brands.values() for m in names]
        models += list(config.service_intervals.models)
        return cls({b.casefold(): b for b in brands}, {m.casefold(): m for m in models})

    def brand(self, value: str | None) -> str | None:
        return self.brands.get(value.casefold(), value) if value else value

    def model(self, value: str | None) -> str | None:
        return self.models.get(value.casefold(), value) if value else value


@dataclass(frozen=True)
class ImportContext:
    store_id: int
    default_country: str
    spelling: Spelling
    today: dt.date
    now: dt.datetime


# --- rows ---------------------------------------------------------------------------------------
# Validated rows are named tuples, not frozen dataclasses: an import makes millions of them,
# and a frozen dataclass, setting each field through object.__setattr__, takes three times as long.


class CustomerRow(NamedTuple):
    line: int
    phone: str
    name: str | None
    plate: str | None
    vin: str | None
    brand: str | None
    model: str | None
    registration_date: dt.date | None
    manufacture_year: int | None
    insurance_end_date: dt.date | None
    birthday: dt.date | None
    fleet_tag: FleetTag | None
    marketing_consent: bool | None


class VisitRow(NamedTuple):
    line: int
    plate: str | None
    vin: str | None
    visited_on: dt.date
    km: int | None
    kind: VisitKind
    amount: Decimal | None
    from_appointment: bool
    repair_order: str | None


class _Refused(ValueError):
    """A row problem found while writing (it needs the database), before anything is written."""


def _cells(raw: RawRow, columns: list[str | None]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, cell in zip(columns, raw.cells, strict=False):
        if name is not None:
            values[name] = cell
    return values


T = TypeVar("T")


def _field(values: dict[str, Any], name: str, parse: Callable[[Any], T]) -> T:
    try:
        return parse(values.get(name))
    except ValueError as exc:
        raise ValueError(f"{name.replace('_', ' ')}: {exc}") from None


def _not_after(day: dt.date | None, today: dt.date, what: str) -> None:
    if day is not None and day > today:
        raise ValueError(f"{what}: {day.isoformat()} is in the future")


def _vehicle_keys(values: dict[str, Any]) -> tuple[str | None, str | None]:
    plate = _field(values, "plate", lambda cell: _optional(cell, normalise_plate))
    vin = _field(values, "vin", parse_vin)
    if plate is None and vin is None:
        raise ValueError("plate or VIN: neither is given")
    return plate, vin


def _optional(cell: Any, parse: Callable[[str], str]) -> str | None:
    value = text(cell)
    return None if value is None else parse(value)


def customer_row(raw: RawRow, columns: list[str | None], context: ImportContext) -> CustomerRow:
    """A validated customer row, or ValueError with the reason."""
    values = _cells(raw, columns)
    phone = _field(
        values, "phone", lambda cell: normalise_phone(text(cell) or "", context.default_country)
    )
    plate, vin = _vehicle_keys(values)
    registration = _field(values, "registration_date", parse_date)
    year = _field(values, "manufacture_year", parse_year)
    birthday = _field(values, "birthday", parse_date)
    _not_after(registration, context.today, "registration date")
    _not_after(birthday, context.today, "birthday")
    if year is not None and year > context.today.year + 1:
        raise ValueError(f"manufacture year: {year} is in the future")
    if registration is not None and year is not None and registration.year < year - 1:
        raise ValueError(f"registration date: {registration} is before the car was made ({year})")
    return CustomerRow(
        line=raw.line,
        phone=phone,
        name=_field(values, "name", lambda cell: text(cell, limit=120, what="name")),
        plate=plate,
        vin=vin,
        brand=context.spelling.brand(
            _field(values, "brand", lambda cell: text(cell, limit=60, what="brand"))
        ),
        model=context.spelling.model(
            _field(values, "model", lambda cell: text(cell, limit=60, what="model"))
        ),
        registration_date=registration,
        manufacture_year=year,
        insurance_end_date=_field(values, "insurance_end_date", parse_date),
        birthday=birthday,
        fleet_tag=_field(values, "fleet_tag", parse_fleet_tag),
        marketing_consent=_field(values, "marketing_consent", parse_bool),
    )


def visit_row(raw: RawRow, columns: list[str | None], context: ImportContext) -> VisitRow:
    """A validated repair order row, or ValueError with the reason."""
    values = _cells(raw, columns)
    plate, vin = _vehicle_keys(values)
    visited_on = _field(values, "visited_on", parse_date)
    if visited_on is None:
        raise ValueError("date: missing")
    _not_after(visited_on, context.today, "date")
    return VisitRow(
        line=raw.line,
        plate=plate,
        vin=vin,
        visited_on=visited_on,
        km=_field(values, "km", parse_km),
        kind=_field(values, "kind", parse_kind),
        amount=_field(values, "amount", parse_amount),
        from_appointment=bool(_field(values, "from_appointment", parse_bool)),
        repair_order=_field(
            values, "repair_order", lambda cell: text(cell, limit=40, what="repair order")
        ),
    )


# --- writing customers and vehicles -------------------------------------------------------------


def _matching(session: AsyncSession, query: Select, column: Any, values: Iterable[Any]) -> Select:
    """The query restricted to rows whose column is one of the values.

    The values travel as one parameter (an array, or JSON on SQLite) read as a table, so a
    batch's thousands of keys are not thousands of bound parameters, and each key is one index
    lookup: PostgreSQL sizes a join with the array right, where it misjudges IN, and plans
    index lookups once the table has statistics (see refresh_statistics).
    """
    values = list(values)
    if session.bind.dialect.name == "postgresql":
        keys = (
            func.unnest(bindparam(None, values, type_=ARRAY(column.type)))
            .table_valued("key")
            .render_derived()
        )
        return query.join(keys, column == keys.c.key)
    # SQLite plans IN (SELECT ...) as index lookups, but a join with json_each as a full scan.
    members = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued(
        "value"
    )
    return query.where(column.in_(select(members.c.value)))


_CUSTOMER_FIELDS = ("name", "birthday", "fleet_tag", "marketing_consent")
_VEHICLE_FIELDS = (
    "plate",
    "vin",
    "brand",
    "model",
    "registration_date",
    "manufacture_year",
    "insurance_end_date",
)


@dataclass
class _VehicleState:
    """A vehicle as this batch will leave it; `original` is what the database holds."""

    id: int | None
    values: dict[str, Any]
    phone: str | None
    customer_id: int | None
    original: tuple[Any, ...] | None


async def write_customers(
    session: AsyncSession, rows: list[CustomerRow], context: ImportContext, tally: Tally
) -> None:
    """Upsert the customers and vehicles of validated rows; refuses rows that conflict."""
    store_id = context.store_id
    known = select(
        CUSTOMERS.c.id,
        CUSTOMERS.c.phone,
        *(CUSTOMERS.c[name] for name in _CUSTOMER_FIELDS),
        CUSTOMERS.c.marketing_consent_at,
        CUSTOMERS.c.telegram_user_id,
    ).where(CUSTOMERS.c.store_id == store_id)
    phones = {row.phone for row in rows}
    customers = {
        row.phone: row
        for row in (await session.execute(_matching(session, known, CUSTOMERS.c.phone, phones)))
    }
    by_plate, by_vin = await _existing_vehicles(session, store_id, rows)
    accepted: list[CustomerRow] = []
    touched: dict[int, _VehicleState] = {}
    for row in rows:
        try:
            state = _claim_vehicle(row, by_plate, by_vin)
        except _Refused as exc:
            tally.refuse(row.line, str(exc))
            continue
        accepted.append(row)
        touched[id(state)] = state

    merged = _merged_customers(accepted, customers)
    customer_ids = {phone: row.id for phone, row in customers.items()}
    to_write = []
    for phone, values in merged.items():
        existing = customers.get(phone)
        if existing is None:
            tally.created["customers"] += 1
        elif any(values[name] != getattr(existing, name) for name in _CUSTOMER_FIELDS):
            tally.updated["customers"] += 1
        else:
            tally.unchanged["customers"] += 1
            continue
        consent_at = None
        if values["marketing_consent"]:
            # Consent keeps the time it was first given.
            already = existing is not None and existing.marketing_consent
            consent_at = existing.marketing_consent_at if already else context.now
        to_write.append(
            {
                "store_id": store_id,
                "phone": phone,
                **values,
                "marketing_consent_at": consent_at,
                "reachable": True,
            }
        )
    if to_write:
        result = await insert_rows(session, CUSTOMERS, to_write, _upsert_customers)
        customer_ids.update({phone: customer_id for customer_id, phone in result.all()})

    await _write_vehicles(session, store_id, touched.values(), customer_ids, tally)


def _upsert_customers(insert: Any) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[CUSTOMERS.c.store_id, CUSTOMERS.c.phone],
        set_={name: insert.excluded[name] for name in (*_CUSTOMER_FIELDS, "marketing_consent_at")},
    ).returning(CUSTOMERS.c.id, CUSTOMERS.c.phone)


def _merged_customers(
    rows: list[CustomerRow], existing: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each phone's customer as the database will hold it: blank cells keep what is known."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        known = existing.get(row.phone)
        current = merged.get(row.phone)
        if current is None:
            current = (
                {name: getattr(known, name) for name in _CUSTOMER_FIELDS}
                if known
                else {"name": None, "birthday": None, "fleet_tag": None, "marketing_consent": False}
            )
            merged[row.phone] = current
        given: dict[str, Any] = {
            "name": row.name,
            "birthday": row.birthday,
            "fleet_tag": row.fleet_tag,
        }
        # A customer who linked Telegram manages their own consent in the bot; the DMS's older
        # answer must not override it.
        if known is None or known.telegram_user_id is None:
            given["marketing_consent"] = row.marketing_consent
        current.update({name: value for name, value in given.items() if value is not None})
    return merged


async def _existing_vehicles(
    session: AsyncSession, store_id: int, rows: list[CustomerRow]
) -> tuple[dict[str, _VehicleState], dict[str, _VehicleState]]:
    plates = {row.plate for row in rows if row.plate}
    vins = {row.vin for row in rows if row.vin}
    known = select(
        VEHICLES.c.id,
        VEHICLES.c.customer_id,
        *(VEHICLES.c[name] for name in _VEHICLE_FIELDS),
    ).where(VEHICLES.c.store_id == store_id)
    found = {}
    for column, values in ((VEHICLES.c.plate, plates), (VEHICLES.c.vin, vins)):
        if values:
            for row in await session.execute(_matching(session, known, column, values)):
                found[row.id] = row
    by_plate: dict[str, _VehicleState] = {}
    by_vin: dict[str, _VehicleState] = {}
    for row in found.values():
        values = {name: getattr(row, name) for name in _VEHICLE_FIELDS}
        state = _VehicleState(
            id=row.id,
            values=values,
            phone=None,
            customer_id=row.customer_id,
            original=(row.customer_id, *values.values()),
        )
        if state.values["plate"]:
            by_plate[state.values["plate"]] = state
        if state.values["vin"]:
            by_vin[state.values["vin"]] = state
    return by_plate, by_vin


def _claim_vehicle(
    row: CustomerRow, by_plate: dict[str, _VehicleState], by_vin: dict[str, _VehicleState]
) -> _VehicleState:
    """The vehicle this row describes, updated in memory; _Refused when the keys disagree."""
    with_vin = by_vin.get(row.vin) if row.vin else None
    with_plate = by_plate.get(row.plate) if row.plate else None
    if with_vin is not None and with_plate is not None and with_vin is not with_plate:
        raise _Refused(
            f"plate {row.plate} belongs to another vehicle than VIN {row.vin}; fix one of them"
        )
    state = with_vin or with_plate
    if state is not None and row.vin and state.values["vin"] and state.values["vin"] != row.vin:
        raise _Refused(
            f"plate {row.plate} belongs to the vehicle with VIN {state.values['vin']}, "
            f"not {row.vin}"
        )
    if state is None:
        state = _VehicleState(
            id=None,
            values=dict.fromkeys(_VEHICLE_FIELDS),
            phone=None,
            customer_id=None,
            original=None,
        )
    if row.plate and state.values["plate"] != row.plate:
        # A re-registered car keeps its VIN and gets a new plate.
        if state.values["plate"]:
            by_plate.pop(state.values["plate"], None)
        by_plate[row.plate] = state
    if row.vin:
        by_vin[row.vin] = state
    for name in _VEHICLE_FIELDS:
        value = getattr(row, name)
        if value is not None:
            state.values[name] = value
    state.phone = row.phone
    return state


async def _write_vehicles(
    session: AsyncSession,
    store_id: int,
    states: Iterable[_VehicleState],
    customer_ids: dict[str, int],
    tally: Tally,
) -> None:
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for state in states:
        assert state.phone is not None
        customer_id = customer_ids[state.phone]
        if state.id is None:
            new.append(
                {
                    "store_id": store_id,
                    "customer_id": customer_id,
                    "usage": VehicleUsage.PRIVATE,
                    "leased": False,
                    **state.values,
                }
            )
        elif (customer_id, *state.values.values()) != state.original:
            changed.append({"vehicle_id": state.id, "customer_id": customer_id, **state.values})
        else:
            tally.unchanged["vehicles"] += 1
    if new:
        await insert_rows(session, VEHICLES, new, lambda insert: insert.on_conflict_do_nothing())
        tally.created["vehicles"] += len(new)
    if changed:
        await session.execute(
            update(VEHICLES)
            .where(VEHICLES.c.id == bindparam("vehicle_id"))
            .values(
                customer_id=bindparam("customer_id"),
                **{name: bindparam(name) for name in _VEHICLE_FIELDS},
            ),
            changed,
        )
        tally.updated["vehicles"] += len(changed)


# --- writing visits -----------------------------------------------------------------------------


async def write_visits(
    session: AsyncSession, rows: list[VisitRow], context: ImportContext, tally: Tally
) -> None:
    """Insert the visits of validated rows not already recorded, each with its odometer reading."""
    store_id = context.store_id
    plates = {row.plate for row in rows if row.plate}
    vins = {row.vin for row in rows if row.vin}
    known = select(VEHICLES.c.id, VEHICLES.c.plate, VEHICLES.c.vin).where(
        VEHICLES.c.store_id == store_id
    )
    by_plate: dict[str, int] = {}
    by_vin: dict[str, int] = {}
    for column, values in ((VEHICLES.c.plate, plates), (VEHICLES.c.vin, vins)):
        if values:
            # Rows unpacked rather than read by name, which costs several times more.
            for vehicle_id, plate, vin in await session.execute(
                _matching(session, known, column, values)
            ):
                if plate:
                    by_plate[plate] = vehicle_id
                if vin:
                    by_vin[vin] = vehicle_id
    vehicles = {*by_plate.values(), *by_vin.values()}

    known_orders: dict[str, tuple[int, dt.date]] = {}
    orders = {row.repair_order for row in rows if row.repair_order}
    if orders:
        recorded = select(VISITS.c.repair_order, VISITS.c.vehicle_id, VISITS.c.visited_on).where(
            VISITS.c.store_id == store_id
        )
        for order, vehicle_id, day in await session.execute(
            _matching(session, recorded, VISITS.c.repair_order, orders)
        ):
            known_orders[order] = (vehicle_id, day)
    visits = select(VISITS.c.vehicle_id, VISITS.c.visited_on, VISITS.c.kind)
    known_visits = {
        (vehicle_id, day, VisitKind(kind))
        for vehicle_id, day, kind in await session.execute(
            _matching(session, visits, VISITS.c.vehicle_id, vehicles)
        )
    }
    readings: dict[int, list[tuple[dt.date, int]]] = {}
    odometer = select(READINGS.c.vehicle_id, READINGS.c.read_on, READINGS.c.km)
    for vehicle_id, day, km in await session.execute(
        _matching(session, odometer, READINGS.c.vehicle_id, vehicles)
    ):
        readings.setdefault(vehicle_id, []).append((day, km))

    new_visits: list[dict[str, Any]] = []
    new_readings: list[dict[str, Any]] = []
    for row in rows:
        try:
            vehicle_id = _visit_vehicle(row, by_plate, by_vin)
            key = (vehicle_id, row.visited_on, row.kind)
            if row.repair_order and row.repair_order in known_orders:
                if known_orders[row.repair_order] != (vehicle_id, row.visited_on):
                    raise _Refused(
                        f"repair order {row.repair_order} is already recorded for another "
                        "vehicle or date"
                    )
                tally.unchanged["visits"] += 1
                continue
            if not row.repair_order and key in known_visits:
                tally.unchanged["visits"] += 1
                continue
            if row.km is not None:
                _check_odometer(row, readings.get(vehicle_id, []))
        except _Refused as exc:
            tally.refuse(row.line, str(exc))
            continue
        known_visits.add(key)
        if row.repair_order:
            known_orders[row.repair_order] = (vehicle_id, row.visited_on)
        new_visits.append(
            {
                "store_id": store_id,
                "vehicle_id": vehicle_id,
                "visited_on": row.visited_on,
                "km": row.km,
                "kind": row.kind,
                "amount": row.amount,
                "repair_order": row.repair_order,
                "from_appointment": row.from_appointment,
                "comeback": False,
            }
        )
        if row.km is not None:
            readings.setdefault(vehicle_id, []).append((row.visited_on, row.km))
            new_readings.append(
                {
                    "vehicle_id": vehicle_id,
                    "read_on": row.visited_on,
                    "km": row.km,
                    "source": ReadingSource.IMPORT,
                }
            )
    if new_visits:
        await insert_rows(
            session,
            VISITS,
            new_visits,
            lambda insert: insert.on_conflict_do_nothing(
                index_elements=[VISITS.c.store_id, VISITS.c.repair_order]
            ),
        )
        tally.created["visits"] += len(new_visits)
    if new_readings:
        await insert_rows(session, READINGS, new_readings)
        tally.created["odometer readings"] += len(new_readings)


def _visit_vehicle(row: VisitRow, by_plate: dict[str, int], by_vin: dict[str, int]) -> int:
    with_vin = by_vin.get(row.vin) if row.vin else None
    with_plate = by_plate.get(row.plate) if row.plate else None
    if with_vin is not None and with_plate is not None and with_vin != with_plate:
        raise _Refused(f"plate {row.plate} and VIN {row.vin} are two different vehicles")
    vehicle_id = with_vin or with_plate
    if vehicle_id is None:
        which = " / ".join(value for value in (row.plate, row.vin) if value)
        raise _Refused(f"no vehicle {which} in this store; import customers first")
    return vehicle_id


def _check_odometer(row: VisitRow, readings: list[tuple[dt.date, int]]) -> None:
    assert row.km is not None
    for day, km in readings:
        if day < row.visited_on and km > row.km:
            raise _Refused(
                f"odometer goes backwards: {km:,} km on {day}, then {row.km:,} km on {row.visited_on}"
            )
        if day > row.visited_on and km < row.km:
            raise _Refused(
                f"odometer goes backwards: {row.km:,} km on {row.visited_on}, then {km:,} km on {day}"
            )


# --- the whole file -----------------------------------------------------------------------------

_REQUIRED = {
    "customers": (("phone",), ("plate", "vin")),
    "visits": (("visited_on",), ("plate", "vin")),
}


def _check_columns(kind: ImportKind, columns: list[str | None], path: Path) -> None:
    present = set(columns) - {None}
    catalogue = {c.field: c for c in (CUSTOMER_COLUMNS if kind == "customers" else VISIT_COLUMNS)}
    for alternatives in _REQUIRED[kind]:
        if not present & set(alternatives):
            names = ", ".join(n for a in alternatives for n in catalogue[a].names[:4])
            raise SetupError(
                str(path),
                f"no {' or '.join(alternatives)} column (recognised names include {names})",
            )


ProgressCallback = Callable[[ImportReport], None]
RowParser = Callable[[RawRow, list[str | None], ImportContext], Any]
BatchWriter = Callable[[AsyncSession, list[Any], ImportContext, "Tally"], Awaitable[None]]
UnitOfWork = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def import_file(
    sessions: async_sessionmaker[AsyncSession],
    kind: ImportKind,
    path: Path,
    context: ImportContext,
    *,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: ProgressCallback | None = None,
    progress_every: int = 100_000,
) -> ImportReport:
    """Import a customers or visits file; SetupError when the file or its header is unusable."""
    headers = CUSTOMER_HEADERS if kind == "customers" else VISIT_HEADERS
    with open_table(path, headers) as table, _objects_so_far_frozen():
        _check_columns(kind, table.fields, path)
        report = ImportReport(
            kind=kind,
            path=str(path),
            format=table.format,
            encoding=table.encoding,
            ignored_columns=table.ignored,
            dry_run=dry_run,
        )
        reader = _Reader(table, kind, context, report, progress, progress_every)
        if dry_run:
            async with sessions() as session:
                await session.begin()
                try:
                    await reader.run(batch_rows, lambda: _savepoint(session))
                finally:
                    await session.rollback()
        else:
            await reader.run(batch_rows, lambda: transaction(sessions))
    logger.info(
        "%s import of %s: %d rows, %d bad%s",
        kind,
        path,
        report.rows,
        report.bad_count,
        " (dry run)" if dry_run else "",
    )
    return report


@contextmanager
def _objects_so_far_frozen() -> Iterator[None]:
    """Keep the garbage collector to the objects the import makes.

    A batch in flight is tens of thousands of objects, enough to set off a full collection
    every batch or two, and each would walk again every object that was alive before the
    import began (modules, SQLAlchemy's tables and caches): a fifth of the import's time.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@asynccontextmanager
async def _savepoint(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    async with session.begin_nested():
        yield session


class _Reader:
    """Reads, validates and writes one file batch by batch."""

    def __init__(
        self,
        table: Table,
        kind: ImportKind,
        context: ImportContext,
        report: ImportReport,
        progress: ProgressCallback | None,
        progress_every: int,
    ) -> None:
        self.table = table
        self.context = context
        self.report = report
        self.progress = progress
        self.progress_every = max(1, progress_every)
        self.parse: RowParser = customer_row if kind == "customers" else visit_row
        self.write: BatchWriter = write_customers if kind == "customers" else write_visits
        self.tables = (CUSTOMERS, VEHICLES) if kind == "customers" else (VISITS, READINGS)
        self.analysed = False

    async def run(self, batch_rows: int, unit_of_work: UnitOfWork) -> None:
        # While the database writes one batch, the next is read and validated: the two run on
        # different cores. Batches are still written one after the other, in file order.
        writing: asyncio.Task[None] | None = None
        batch: list[Any] = []
        try:
            for raw in self.table.rows:
                self.report.rows += 1
                row = self._validated(raw)
                if row is not None:
                    batch.append(row)
                if len(batch) >= batch_rows:
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(self._write(batch, unit_of_work))
                    batch = []
                if self.report.rows % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the batch in flight take its next step
                if self.progress is not None and self.report.rows % self.progress_every == 0:
                    self.progress(self.report)
            if writing is not None:
                await writing
            if batch:
                await self._write(batch, unit_of_work)
        finally:
            if writing is not None and not writing.done():
                writing.cancel()

    def _validated(self, raw: RawRow) -> Any:
        if raw.problem is not None:
            self.report.refuse(BadRow(raw.line, raw.problem))
            return None
        if self.table.format == "csv" and "\ufffd" in "".join(raw.cells):
            self.report.refuse(
                BadRow(raw.line, f"has bytes that are not valid {self.table.encoding}")
            )
            return None
        try:
            return self.parse(raw, self.table.fields, self.context)
        except ValueError as exc:
            self.report.refuse(BadRow(raw.line, str(exc)))
        except Exception as exc:
            # A cell no parser foresaw must cost one row, not the whole file.
            logger.exception("line %d could not be validated", raw.line)
            self.report.refuse(BadRow(raw.line, f"could not be read ({type(exc).__name__})"))
        return None

    async def _write(self, batch: list[Any], unit_of_work: UnitOfWork) -> None:
        try:
            await self._write_all(batch, unit_of_work)
            return
        except StatementError as exc:
            logger.warning("a batch failed (%s); writing its rows one by one", _reason(exc))
        # One row at a time finds the row the database refuses and keeps all the others.
        for row in batch:
            try:
                await self._write_all([row], unit_of_work)
            except StatementError as exc:
                self.report.refuse(BadRow(row.line, f"the database refused it: {_reason(exc)}"))

    async def _write_all(self, rows: list[Any], unit_of_work: UnitOfWork) -> None:
        tally = Tally()
        async with unit_of_work() as session:
            await self.write(session, rows, self.context, tally)
            analyse = bool(tally.created) and not self.analysed
            if analyse:
                # With the first rows in, the planner can know the tables' shape from now on.
                await refresh_statistics(session, self.tables)
        self.analysed |= analyse
        self.report.add(tally)


def _reason(exc: StatementError) -> str:
    return " ".join(str(exc.orig).split())[:200]
