"""Rules -> outbox rows: one INSERT ... SELECT ... ON CONFLICT (idempotency_key) DO NOTHING each.

Running the planner twice, or in two processes at once, inserts every row once: the unique key
makes a repeat a no-op, and on PostgreSQL planners also queue on an advisory lock so that two
runs never wait on each other's keys in opposite orders (a deadlock). On SQLite the write lock
taken at BEGIN does the same. The caller owns the transaction; a dry run works inside a
savepoint and rolls it back, so it reports exactly what a real run would insert.
"""

import logging
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import Insert, Select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.models import Outbox, SurveyResponse
from scheduler import kinds
from scheduler.audience import Audience
from scheduler.plan_day import OUTBOX_COLUMNS, PlanDay
from scheduler.rules import Rule, daily_rules, event_invitation, open_events, survey_questions
from scheduler.vehicle_state import VEHICLE_STATE, vehicle_state

logger = logging.getLogger(__name__)

# Any fixed number; the same in every Carebot process.
_PLANNER_LOCK = 0x0CA2EB08


@dataclass
class PlanResult:
    """Rows inserted (or, in a dry run, that would be) per kind."""

    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def outbox_insert(session: AsyncSession, select: Select) -> Insert:
    """INSERT INTO outbox SELECT ... ON CONFLICT (idempotency_key) DO NOTHING."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return (
        insert(Outbox)
        .from_select(list(OUTBOX_COLUMNS), select)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


async def plan_care(session: AsyncSession, day: PlanDay, *, dry_run: bool = False) -> PlanResult:
    """Insert every care message due on the day; counts per kind."""
    postgres = session.bind.dialect.name == "postgresql"
    if postgres:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PLANNER_LOCK})
        # A few big statements once a day: compiling them costs more than it saves.
        await session.execute(text("SET LOCAL jit = off"))
    savepoint = await session.begin_nested() if dry_run else None
    result = PlanResult(dry_run=dry_run)
    try:
        await _fill_vehicle_state(session, day)
        await _ask_survey_questions(session, day)
        for rule in daily_rules(day) + await _event_rules(session, day):
            select = rule.build(day)
            if select is None:
                continue
            inserted = (await session.execute(outbox_insert(session, select))).rowcount  # type: ignore[attr-defined]
            result.counts[rule.kind] = result.counts.get(rule.kind, 0) + max(inserted, 0)
        await session.run_sync(lambda sync: VEHICLE_STATE.drop(sync.connection()))
    finally:
        if savepoint is not None:
            await savepoint.rollback()
    logger.info(
        "care plan for %s%s: %d rows %s",
        day.today,
        " (dry run)" if dry_run else "",
        result.total,
        {kind: n for kind, n in result.counts.items() if n},
    )
    return result


async def _fill_vehicle_state(session: AsyncSession, day: PlanDay) -> None:
    def create(sync: Session) -> None:
        VEHICLE_STATE.drop(sync.connection(), checkfirst=True)
        VEHICLE_STATE.create(sync.connection())

    await session.run_sync(create)
    await session.execute(
        VEHICLE_STATE.insert().from_select(
            [column.name for column in VEHICLE_STATE.c], vehicle_state(day)
        )
    )
    if session.bind.dialect.name == "postgresql":
        # A fresh temporary table has no statistics; without them the rules' joins plan badly.
        await session.execute(text(f"ANALYZE {VEHICLE_STATE.name}"))


async def _ask_survey_questions(session: AsyncSession, day: PlanDay) -> None:
    # The answer buttons carry the survey id, so the question row exists before its message;
    # visit_id is unique, so each visit is asked about once.
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    questions = survey_questions(day)
    await session.execute(
        insert(SurveyResponse)
        .from_select(list(questions.selected_columns.keys()), questions)
        .on_conflict_do_nothing(index_elements=["visit_id"])
    )


async def _event_rules(session: AsyncSession, day: PlanDay) -> list[Rule]:
    if not day.store.care.events.invitations:
        return []
    rules = []
    for event_id, audience in (await session.execute(open_events(day))).all():
        try:
            spec = Audience.from_json(audience)
        except ValidationError as exc:
            logger.warning(
                "event %s: audience %r not understood, no invitations: %s",
                event_id,
                audience,
                exc.errors()[0]["msg"],
            )
            continue
        rules.append(Rule(kinds.EVENT_INVITATION, event_invitation(event_id, spec)))
    return rules
