"""Where a user is in a multi-step conversation, kept in the `conversation` table.

A flow is a name (`book`, `cars`, ...), a step within it and a small JSON dict of answers so
far. Because it lives in the database, a restarted bot resumes a customer at the same step.

Each row also carries a version that goes up on every step change and when a flow ends. Inline
buttons carry the version they were sent with (bot/callbacks.py), so a button from an older
message is recognised as out of date. The row is kept when a flow ends (with an empty name), so
the version never goes back and an old button can never match a new flow by accident.

Loading locks the row (FOR UPDATE on PostgreSQL; SQLite transactions already hold the write
lock), so two presses of the same button are handled one after the other, and the second sees
the step the first moved to.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Conversation

_VERSION_KEY = "_v"
IDLE = ""


@dataclass
class Flow:
    chat_id: int
    user_id: int
    name: str
    step: str
    version: int
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.name != IDLE

    def at(self, name: str, step: str | None = None) -> bool:
        """True when the flow is `name` (and, when given, at `step`)."""
        return self.name == name and (step is None or self.step == step)


async def load_flow(session: AsyncSession, chat_id: int, user_id: int) -> Flow:
    """The user's flow in a chat (idle when there is none), with its row locked."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(Conversation)
        .values(chat_id=chat_id, user_id=user_id, flow=IDLE, step=IDLE, data={_VERSION_KEY: 0})
        .on_conflict_do_nothing(index_elements=[Conversation.chat_id, Conversation.user_id])
    )
    row = await session.scalar(
        select(Conversation)
        .where(Conversation.chat_id == chat_id, Conversation.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None  # inserted above or already there
    data = dict(row.data or {})
    version = int(data.pop(_VERSION_KEY, 0))
    return Flow(chat_id, user_id, row.flow, row.step, version, data)


async def enter_step(
    session: AsyncSession, flow: Flow, name: str, step: str, data: dict[str, Any]
) -> None:
    """Move to a step of a flow with these answers; every older button becomes out of date."""
    flow.name, flow.step, flow.data = name, step, dict(data)
    flow.version += 1
    await _save(session, flow)


async def end_flow(session: AsyncSession, flow: Flow) -> None:
    """Leave whatever flow the user was in."""
    flow.name, flow.step, flow.data = IDLE, IDLE, {}
    flow.version += 1
    await _save(session, flow)


async def _save(session: AsyncSession, flow: Flow) -> None:
    row = await session.get(Conversation, (flow.chat_id, flow.user_id))
    if row is None:
        row = Conversation(chat_id=flow.chat_id, user_id=flow.user_id)
        session.add(row)
    row.flow, row.step = flow.name, flow.step
    # A new dict, so SQLAlchemy sees the JSON change.
    row.data = {**flow.data, _VERSION_KEY: flow.version}
    await session.flush()
