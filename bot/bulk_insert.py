"""Inserting thousands of rows in one statement, on SQLite and PostgreSQL alike.

On SQLite the rows go as bound parameters, which costs little in-process. On PostgreSQL
VALUES lists of thousands of rows are slow on both ends (SQLAlchemy converts every parameter,
the server parses statements of thousands of them), so the rows are copied in binary (COPY)
into a temporary table and go into the real one with a single INSERT ... SELECT. Either way
it is one INSERT statement, so ON CONFLICT, RETURNING, constraints and triggers work as usual.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from asyncpg import PostgresError
from sqlalchemy import Result, Table, column, select, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

# Adds ON CONFLICT and RETURNING to the dialect's INSERT (they are spelled the same on both).
Clauses = Callable[[Any], Any]


def _as_given(insert: Any) -> Any:
    return insert


async def insert_rows(
    session: AsyncSession,
    target: Table,
    rows: Sequence[dict[str, Any]],
    clauses: Clauses = _as_given,
) -> Result[Any]:
    """INSERT the rows (dicts with the same keys) in one statement finished by `clauses`."""
    if session.bind.dialect.name != "postgresql":
        return await session.execute(clauses(sqlite_insert(target)), rows)
    columns = list(rows[0])
    staging = f"staging_{target.name}"
    # The columns' types without the constraints: the INSERT below checks those.
    await session.execute(
        text(
            f"CREATE TEMPORARY TABLE {staging} AS "
            f"SELECT {', '.join(columns)} FROM {target.name} WITH NO DATA"
        )
    )
    await _copy(session, target, staging, columns, rows)
    source = select(*table(staging, *map(column, columns)).c)
    result = await session.execute(clauses(pg_insert(target).from_select(columns, source)))
    # Dropped at once, not at commit: a dry run writes every batch in one transaction.
    await session.execute(text(f"DROP TABLE {staging}"))
    return result


async def _copy(
    session: AsyncSession,
    target: Table,
    staging: str,
    columns: list[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    dialect = session.bind.dialect
    records = [[row[name] for name in columns] for row in rows]
    # COPY bypasses SQLAlchemy, so values are converted here as it would (enums to their values).
    for index, name in enumerate(columns):
        process = target.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            for record in records:
                record[index] = process(record[index])
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    try:
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            staging, records=records, columns=columns
        )
    except PostgresError as exc:
        # Raised as SQLAlchemy raises what the database refuses, so callers handle it alike.
        raise DBAPIError(f"COPY {staging}", None, exc) from exc


async def refresh_statistics(session: AsyncSession, tables: Iterable[Table]) -> None:
    """Let PostgreSQL's planner see the rows a bulk insert has just added.

    Until autovacuum analyses a new table (it may be minutes, or never where it is off), the
    planner guesses, and at a million rows it reads the whole table to look up a batch's keys
    by a non-unique column: half a second instead of five milliseconds, for every batch. Once
    analysed, the statistics stay right as the table grows, so once an import is enough. SQLite
    needs nothing: it looks keys up by index whatever it knows.
    """
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {', '.join(table.name for table in tables)}"))
