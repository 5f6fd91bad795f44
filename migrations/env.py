"""Alembic environment: runs on the connection Carebot hands over, or on DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.config import load_settings
from bot.db import make_engine
from bot.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # Batch mode lets ALTER TABLE work on SQLite, which rewrites the table for most changes.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    engine = make_engine(load_settings().database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_from_settings())


if context.is_offline_mode():
    raise SystemExit("Carebot migrations run online only: carebot db upgrade")
run_migrations_online()
