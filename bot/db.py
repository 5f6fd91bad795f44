"""Engine and session factory, SQLite and PostgreSQL alike, and the schema upgrade."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.errors import SetupError
from bot.paths import MIGRATIONS_DIR

logger = logging.getLogger(__name__)

# Any fixed number works; it only has to be the same in every Carebot process.
_MIGRATION_LOCK = 0x0CA2EB07


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An async engine; on SQLite every transaction takes the write lock up front."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_immediate_transactions(engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_immediate_transactions(engine: AsyncEngine) -> None:
    # SQLite upgrades a read lock to a write lock lazily and then fails with "database is locked"
    # when two writers meet, whatever the busy timeout. BEGIN IMMEDIATE queues writers instead,
    # which is what makes "take the last slot" atomic on SQLite.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back when it raises."""
    async with sessions() as session, session.begin():
        yield session


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes starting at once must not both run the same migration.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration, in one transaction."""
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    except (DBAPIError, OSError) as exc:
        raise SetupError("DATABASE_URL", f"cannot use the database: {_reason(exc)}") from None


async def check_database(engine: AsyncEngine) -> None:
    """Connect once, turning failure into a one-line setup error."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise SetupError("DATABASE_URL", f"cannot connect: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:300] or type(original).__name__
