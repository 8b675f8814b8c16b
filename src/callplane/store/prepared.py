"""Statements of the worker's hot path, built once and run on the driver's cursor.

A SQLAlchemy Core statement costs the worker ~0.2–1 ms of Python every time it runs, cached
compilation or not (building the expression, its cache key, bind processing, the result's
metadata): measured at 10–50x the cost of the driver executing the same SQL. The worker runs six
or so statements per call, so that overhead was most of its CPU per call (`bench/engine_profile.md`).

`Prepared` keeps the statement as Core builds it (the schema's names and types, the dialect's
SQL) but compiles it once per dialect and, each time, hands the SQL and plain parameters to the
DBAPI cursor of the caller's connection — inside its transaction. Parameters go through the
compiled statement's own bind processors (JSON, for example), so values are stored exactly as
Core would store them; `before_cursor_execute` listeners hear of it as from Core. A driver error
goes through Core's own handling (`DBAPIError`, the pool invalidated on a disconnect), so callers
and retries see what Core raises.

Compiled forms are kept per `Dialect` object, that is per engine: two engines of one dialect
name can compile differently (their JSON serializers, paramstyle, server version), so one's form
must never run on the other's connections. Nothing is prepared on the server (psycopg's
`prepare_threshold` is off, `store.db`): a form is SQL text and Python, not tied to a connection.

`execute`, `rowcount` and `first` give plain tuples with the driver's values (counts, flags,
ids); `first_row` gives a row as Core would (its values through the result types' processors,
named by its columns: `_fields`), for a RETURNING that reads a call whole.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import BindParameter, Connection, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine

T = TypeVar("T")


def param(name: str, type_: TypeEngine[T]) -> BindParameter[T]:
    """A parameter of a prepared statement (its value is given at each execution)."""
    # Not `required`: the IN lists of constants are expanded at compile time, which wants a
    # value for every parameter; this one's is given when the statement runs.
    return bindparam(name, None, type_=type_, required=False)


@dataclass(frozen=True, slots=True)
class _Form:
    sql: str
    defaults: dict[str, Any]  #: values fixed in the statement (constants, IN lists)
    processors: dict[str, Callable[[Any], Any]]
    positions: tuple[str, ...] | None  #: names in order, for a positional paramstyle
    #: Its result columns' processors (None: the driver's value as it is), and a row type named
    #: by the columns.
    results: tuple[Callable[[Any], Any] | None, ...]
    row: Callable[..., Any]


class Prepared:
    """One statement (built by `build` for a dialect's name, with `param`s for what varies),
    compiled per engine's dialect."""

    def __init__(self, build: Callable[[str], ClauseElement]) -> None:
        self._build = build
        # Weak: an engine disposed of (tests make many) takes its forms with it.
        self._forms: WeakKeyDictionary[Dialect, _Form] = WeakKeyDictionary()

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect)
        if form is None:
            # `render_postcompile`: an IN list of constants becomes plain placeholders now, not
            # at each execution.
            compiled: Any = self._build(dialect.name).compile(
                dialect=dialect, compile_kwargs={"render_postcompile": True}
            )
            processors = {k: v for k, v in compiled._bind_processors.items() if v is not None}
            positions = tuple(compiled.positiontup) if compiled.positional else None
            columns = compiled._result_columns
            results = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
            row = namedtuple("row", [c.keyname for c in columns], rename=True) if columns else tuple
            form = _Form(compiled.string, dict(compiled.params), processors, positions, results, row)
            self._forms[dialect] = form
        return form

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> tuple[int, list[Sequence[Any]]]:
        """Run it in `conn`'s transaction; the row count and the rows it returned."""
        form = self._form(conn.dialect)
        values = {**form.defaults, **params}
        for name, process in form.processors.items():
            values[name] = process(values[name])
        bound: Any = tuple(values[n] for n in form.positions) if form.positions is not None else values
        raw: Any = conn.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            # What Core would tell listeners (tests drop connections on cue, benchmarks count).
            conn.dispatch.before_cursor_execute(conn, cursor, form.sql, bound, None, False)
            cursor.execute(form.sql, bound)
            rows = cursor.fetchall() if _has_rows(cursor) else []
            return cursor.rowcount, rows
        except conn.dialect.loaded_dbapi.Error as exc:
            # Core's own handling: the error wrapped as `DBAPIError`, and on a disconnect this
            # connection and the pool's others invalidated (`handle_error` listeners run too).
            conn._handle_dbapi_exception(exc, form.sql, bound, cursor, None)
        finally:
            cursor.close()

    def rowcount(self, conn: Connection, **params: Any) -> int:
        return self.execute(conn, params)[0]

    def first(self, conn: Connection, **params: Any) -> Sequence[Any] | None:
        rows = self.execute(conn, params)[1]
        return rows[0] if rows else None

    def first_row(self, conn: Connection, **params: Any) -> Any:
        """The first row returned, its values as Core gives them and named (`_fields`), or None."""
        rows = self.execute(conn, params)[1]
        if not rows:
            return None
        form = self._form(conn.dialect)
        return form.row(
            *(v if process is None else process(v) for process, v in zip(form.results, rows[0], strict=True))
        )


def _has_rows(cursor: Any) -> bool:
    """Whether the statement returned rows (a SELECT or a RETURNING; an INSERT does not)."""
    # psycopg answers `description` by building a Column object per field (~3 % of a create's
    # server CPU, py-spy); its `rownumber` says the same from the result's status. sqlite3's
    # cursor has no `rownumber`, and its `description` is cheap.
    number = getattr(cursor, "rownumber", _ABSENT)
    if number is _ABSENT:
        return cursor.description is not None
    return number is not None


_ABSENT = object()
