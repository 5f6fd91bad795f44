"""Date arithmetic in SQL that compiles for both SQLite and PostgreSQL.

Rules and reports work on the whole base in one statement, so date maths has to happen in the
database; the two engines spell it differently.
"""

from typing import Any

from sqlalchemy import Date, Float, Integer
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
    return (
        f"date({compiler.process(day, **kw)}, "
        f"'+' || CAST(CAST({compiler.process(count, **kw)} AS INTEGER) AS TEXT) || ' days')"
    )


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
