"""Date arithmetic in SQL that compiles for both SQLite and PostgreSQL.

Rules and reports work on the whole base in one statement, so date maths has to happen in the
database; the two engines spell it differently.
"""

from typing import Any

from sqlalchemy import Date, DateTime, Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class days_between(FunctionElement[float]):
    """later - earlier, in days (dates or timestamps)."""

    type = Float()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}))"


@compiles(days_between, "postgresql")
def _days_between_postgresql(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"(({compiler.process(later, **kw)})::date - ({compiler.process(earlier, **kw)})::date)"


class add_days(FunctionElement[Any]):
    """date + n days (n may be a column or a fractional expression; rounded down)."""

    type = Date()
    inherit_cache = True


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: Any, **kw: Any) -> str:
    day, count = list(element.clauses)
    n = compiler.process(count, **kw)
    # Rounded down like PostgreSQL's FLOOR (a plain CAST truncates negatives towards zero);
    # SQLite reads "-3 days" and "3 days" alike, so no sign is added.
    floor = f"(CAST({n} AS INTEGER) - ({n} < CAST({n} AS INTEGER)))"
    return f"date({compiler.process(day, **kw)}, CAST({floor} AS TEXT) || ' days')"


@compiles(add_days, "postgresql")
def _add_days_postgresql(element: add_days, compiler: Any, **kw: Any) -> str:
    day, count = list(element.clauses)
    return (
        f"(({compiler.process(day, **kw)})::date "
        f"+ CAST(FLOOR({compiler.process(count, **kw)}) AS INTEGER))"
    )


class add_months(FunctionElement[Any]):
    """date + n calendar months (the last day of the month when the day does not exist)."""

    type = Date()
    inherit_cache = True


@compiles(add_months, "sqlite")
def _add_months_sqlite(element: add_months, compiler: Any, **kw: Any) -> str:
    day, count = list(element.clauses)
    d = compiler.process(day, **kw)
    n = f"CAST(CAST({compiler.process(count, **kw)} AS INTEGER) AS TEXT)"
    # SQLite's '+N months' overflows 31 Jan + 1 month into March; clamp to the month's end
    # as PostgreSQL does: take the first of the target month, then the earlier of the same day
    # and that month's last day.
    first = f"date({d}, 'start of month', '+' || {n} || ' months')"
    last = f"date({first}, '+1 month', '-1 day')"
    same_day = f"date({first}, '+' || (CAST(strftime('%d', {d}) AS INTEGER) - 1) || ' days')"
    return f"min({same_day}, {last})"


@compiles(add_months, "postgresql")
def _add_months_postgresql(element: add_months, compiler: Any, **kw: Any) -> str:
    day, count = list(element.clauses)
    return (
        f"(({compiler.process(day, **kw)})::date "
        f"+ make_interval(months => CAST({compiler.process(count, **kw)} AS INTEGER)))::date"
    )


def as_int(expression: ColumnElement[Any]) -> ColumnElement[int]:
    """Cast to an integer the same way on both engines."""
    from sqlalchemy import cast

    return cast(expression, Integer)


class add_hours(FunctionElement[Any]):
    """timestamp + n hours (n may be negative or fractional), comparable with stored times."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(add_hours, "sqlite")
def _add_hours_sqlite(element: add_hours, compiler: Any, **kw: Any) -> str:
    moment, count = list(element.clauses)
    # Stored times are text with six decimals; keep that shape so comparisons stay textual.
    seconds = f"CAST(ROUND(({compiler.process(count, **kw)}) * 3600) AS INTEGER)"
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', {compiler.process(moment, **kw)}, "
        f"printf('%+d seconds', {seconds})) || '.000000')"
    )


@compiles(add_hours, "postgresql")
def _add_hours_postgresql(element: add_hours, compiler: Any, **kw: Any) -> str:
    moment, count = list(element.clauses)
    return (
        f"({compiler.process(moment, **kw)} "
        f"+ make_interval(secs => ({compiler.process(count, **kw)}) * 3600))"
    )
