"""A JSON object built in SQL, so a rule's payload is made in the same INSERT ... SELECT."""

from typing import Any

from sqlalchemy import literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.models import Json


class json_object(FunctionElement[dict[str, Any]]):
    """json_object(k1, v1, k2, v2, ...): JSONB on PostgreSQL, JSON text on SQLite."""

    type = Json
    inherit_cache = True


@compiles(json_object)
@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"jsonb_build_object({compiler.process(element.clauses, **kw)})"


def payload(**fields: ColumnElement[Any]) -> json_object:
    """A payload object; keys are code constants, so they go into the SQL text as literals."""
    arguments: list[ColumnElement[Any]] = []
    for key, value in fields.items():
        if not key.isidentifier():
            raise ValueError(f"payload key {key!r} is not a plain name")
        arguments += [literal_column(f"'{key}'"), value]
    return json_object(*arguments)
