"""The hot path's statements run on a cursor of the driver's own, kept per connection.

A Core statement is compiled once per dialect (and, for an ``INSERT``/``UPDATE`` without explicit
values, per set of parameter names) with :meth:`~sqlalchemy.sql.expression.ClauseElement.compile`;
each execution then only converts its parameters with the column types' own bind processors
(``dialect_impl(dialect).bind_processor(dialect)``), sends the compiled SQL, and makes each row a
named tuple through the types' result processors.  The SQL is the statement's, as
:meth:`sqlalchemy.engine.Connection.execute` would compile it; what is left out is SQLAlchemy's
per-execution machinery for compiled statements (cache key, parameter construction, the result's
metadata built from the driver's ``description`` at every execution), which costs more than the
statement on a claim.  The types stay exactly those of the columns: money as ``NUMERIC(16,2)`` on
PostgreSQL and integer fen on SQLite (:mod:`app.db.types`), timestamps, JSON, each through its own
processors.  Parameters are named on both databases (psycopg's ``pyformat``; the SQLite engine is
created with ``paramstyle="named"``, :mod:`app.db.session`), so no positional order is needed.

Each execution is :meth:`~sqlalchemy.engine.Connection.exec_driver_sql`, so SQLAlchemy still does
what the service relies on: the transaction's autobegin, the connection's events
(``before_cursor_execute``: the tests and the bench count statements with it), and a driver error
wrapped and classified (a ``DBAPIError`` with ``connection_invalidated`` on a lost connection, the
connection invalidated; :mod:`app.db.tx` retries on that).  The statement itself is sent by
:func:`_send`, a handler of the ``do_execute`` dialect event (``DialectEvents``, documented for
replacing how a dialect calls the DBAPI, and called "semi-public" there: the tests of this module
check what it is relied on for), on the kept cursor: with psycopg as a server-side prepared
statement from its first execution on a connection (``prepare=True``), its rows made by a row
factory.  SQLAlchemy's own cursor of the execution stays unexecuted, so its result has no metadata
to build from the driver's ``description``; the events see that cursor, not the one that ran the
statement.  On psycopg the kept cursor is a :class:`psycopg.RawCursor` and the compiled SQL is
rewritten once to PostgreSQL's own ``$n`` placeholders, so psycopg sends it as it is: psycopg
parses a ``%(name)s`` query at every execution once it is longer than 4,096 bytes or has more than
50 parameters (it caches the parse only below those), and a settlement's combined statement has 57;
that parse cost the statement about four times its execution (``bench/README.md``).

:func:`execute_many` sends one statement for many sets of parameters the same way (the
``do_executemany`` event, the driver's ``executemany``), an upload's lines in one call.

A statement this module cannot run as compiled (expanding ``IN`` parameters, Python-side column
defaults or ``onupdate`` values to compute, parameters computed at execution, a positional
paramstyle, bind names the dialect escapes) goes through ``Connection.execute`` unchanged;
:func:`direct` says which.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any
from weakref import WeakSet

import orjson
import psycopg
from psycopg.rows import tuple_row
from sqlalchemy import JSON, Connection, Dialect, Table, TextClause, event, insert, text
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, ValuesBase
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import ReturnsRows

Processor = Callable[[Any], Any] | None
RowMaker = Callable[[Sequence[Any]], Any]

_MISSING = object()
#: Where a DBAPI connection's kept cursor is (the pool record's ``info``: one per connection).
_CURSOR = "direct_cursor"
#: The execution option that hands :func:`_send` the kept cursor (and says the statement is this
#: module's).
_SEND = "direct_send"


@dataclass(slots=True)
class _Compiled:
    """A statement compiled for one dialect, with what each execution needs."""

    sql: str
    #: Per parameter: (name in the SQL, caller's key, default, processor); on psycopg in the order
    #: of the SQL's ``$n`` placeholders.
    binds: tuple[tuple[str, str, Any, Processor], ...]
    #: The result's column names and types, or None: no rows.
    keys: tuple[str, ...] | None
    types: tuple[Any, ...]
    #: psycopg: sent as a server-side prepared statement, rows made by :meth:`row_factory`.
    psycopg: bool
    #: Set at the first execution from the driver's column types: a row from its values.
    make: RowMaker | None = None

    def row_factory(self, _cursor: Any) -> RowMaker:
        """psycopg's row factory (once :attr:`make` is known)."""
        assert self.make is not None
        return self.make

    def learn(self, description: Any, dialect: Dialect) -> RowMaker:
        """:attr:`make`, from the DB-API ``description`` (the column types the driver reports are
        what the result processors are chosen by)."""
        assert self.keys is not None
        if len(description) != len(self.keys):
            raise AssertionError(f"{len(description)} result columns where {len(self.keys)} were compiled")
        processors = tuple(
            t.dialect_impl(dialect).result_processor(dialect, d[1])
            for t, d in zip(self.types, description, strict=True)
        )
        plain: RowMaker = namedtuple("Row", self.keys, rename=True)._make  # type: ignore[attr-defined]
        if not any(processors):
            self.make = plain
        else:

            def make(values: Sequence[Any]) -> Any:
                return plain([v if p is None or v is None else p(v) for p, v in zip(processors, values, strict=True)])

            self.make = make
        return self.make


_compiled: dict[tuple[Any, ...], _Compiled | None] = {}
_MAX_COMPILED = 2000
#: Dialects (one per engine) whose ``do_execute`` events run :func:`_send`.
_listening: WeakSet[Dialect] = WeakSet()


def connection_of(session: Session) -> Connection:
    """The session's connection in its transaction (``session.connection()``)."""
    return session.connection()


def _send(cursor: Any, statement: str, parameters: Any, context: ExecutionContext | None) -> bool:
    """``do_execute``: this module's statement on the kept cursor given by the execution option;
    any other statement is left to the dialect (False)."""
    kept = context.execution_options.get(_SEND) if context is not None else None
    if kept is None:
        return False
    if isinstance(kept, psycopg.Cursor):
        kept.execute(statement, parameters, prepare=True)
    else:
        kept.execute(statement, parameters)
    return True


def _send_many(cursor: Any, statement: str, parameters: Any, context: ExecutionContext | None) -> bool:
    """``do_executemany``: as :func:`_send`, one statement for many sets of parameters."""
    kept = context.execution_options.get(_SEND) if context is not None else None
    if kept is None:
        return False
    kept.executemany(statement, parameters)
    return True


def _columns_of(statement: Executable) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
    """The names and types of the statement's result columns (as SQLAlchemy's rows name them), or
    None: no rows."""
    if not isinstance(statement, ReturnsRows):
        return None
    columns = statement.exported_columns
    if not len(columns):
        return None
    return tuple(columns.keys()), tuple(c.type for c in columns)


def _compile(conn: Connection, statement: Executable, keys: tuple[str, ...] | None) -> _Compiled | None:
    dialect = conn.dialect
    if dialect.positional or not isinstance(statement, ClauseElement):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
    assert isinstance(compiled, SQLCompiler)
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.post_compile_params
        or compiled.literal_execute_params
    ):
        return None
    binds: dict[str, tuple[str, str, Any, Processor]] = {}
    for bp, name in compiled.bind_names.items():  # the names in the SQL (one per parameter)
        if bp.expanding or bp.callable is not None:
            return None
        default = _MISSING if bp.required else bp.value
        binds.setdefault(name, (name, bp.key, default, bp.type.dialect_impl(dialect).bind_processor(dialect)))
    # The names the dialect sends the parameters by: the compiled names, unless it escapes some
    # (characters its paramstyle cannot carry), which this module does not redo.
    if set(compiled.construct_params({key: None for _name, key, _d, _p in binds.values()})) != set(binds):
        return None
    columns = _columns_of(statement)
    if dialect not in _listening:
        event.listen(conn.engine, "do_execute", _send)
        event.listen(conn.engine, "do_executemany", _send_many)
        _listening.add(dialect)
    psycopg_driver = dialect.driver == "psycopg"
    sql, order = _numbered(compiled.string, binds) if psycopg_driver else (compiled.string, tuple(binds.values()))
    return _Compiled(
        sql=sql,
        binds=order,
        keys=columns[0] if columns else None,
        types=columns[1] if columns else (),
        psycopg=psycopg_driver,
    )


#: A ``pyformat`` placeholder, or a percent sign doubled to stand for itself.
_PYFORMAT = re.compile(r"%\((?P<name>[^)]+)\)s|%%")


def _numbered(
    sql: str, binds: Mapping[str, tuple[str, str, Any, Processor]]
) -> tuple[str, tuple[tuple[str, str, Any, Processor], ...]]:
    """``sql`` with PostgreSQL's ``$n`` placeholders for its ``%(name)s`` ones (a name used twice
    keeps its number) and ``%%`` as ``%``, and the binds in the numbers' order."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            return "%"
        if name not in numbers:
            numbers[name] = len(numbers) + 1
        return f"${numbers[name]}"

    numbered = _PYFORMAT.sub(number, sql)
    if set(numbers) != set(binds):
        raise AssertionError(f"placeholders {sorted(numbers)} where {sorted(binds)} were compiled")
    return numbered, tuple(binds[name] for name in numbers)


def direct(conn: Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> _Compiled | None:
    """The statement as compiled for ``conn``'s dialect, or None when it must go through
    ``Connection.execute`` (see the module)."""
    keys = tuple(params) if params is not None and isinstance(statement, ValuesBase) else None
    cache_key = (statement, conn.dialect, keys)
    try:
        return _compiled[cache_key]
    except KeyError:
        if len(_compiled) >= _MAX_COMPILED:  # statements built per call (or engines made per test)
            _compiled.clear()
        found = _compiled[cache_key] = _compile(conn, statement, keys)
        return found


def _parameters(c: _Compiled, params: Mapping[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
    """The values to send: by position on psycopg (``$n``), by name otherwise."""
    names: list[str] = []
    values: list[Any] = []
    for name, key, default, processor in c.binds:
        value = params.get(key, default)
        if value is _MISSING:
            raise KeyError(f"a value is required for the parameter {key!r}")
        names.append(name)
        values.append(value if processor is None else processor(value))
    return tuple(values) if c.psycopg else dict(zip(names, values, strict=True))


def _kept_cursor(conn: Connection) -> tuple[Any, dict[Any, Any]]:
    """The cursor kept for the connection's DBAPI connection, and where it is kept."""
    pooled = conn.connection
    dbapi = pooled.dbapi_connection
    info = pooled.info
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.connection is not dbapi or getattr(cursor, "closed", False):
        assert dbapi is not None
        cursor = info[_CURSOR] = psycopg.RawCursor(dbapi) if isinstance(dbapi, psycopg.Connection) else dbapi.cursor()
    return cursor, info


def execute(on: Session | Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Run ``statement`` with ``params`` on a connection or in a session (in its transaction); its
    rows (named tuples, named as SQLAlchemy's rows would be), or [] for a statement that returns
    none."""
    conn = connection_of(on) if isinstance(on, Session) else on
    c = direct(conn, statement, params)
    if c is None:
        result = conn.execute(statement, dict(params or {}))
        return list(result.all()) if result.returns_rows else []
    parameters = _parameters(c, params or {})
    cursor, kept = _kept_cursor(conn)
    make = c.make
    if c.psycopg and c.keys is not None:
        cursor.row_factory = c.row_factory if make is not None else tuple_row
    try:
        conn.exec_driver_sql(c.sql, parameters, execution_options={_SEND: cursor})
    except BaseException:
        kept.pop(_CURSOR, None)  # its connection may be gone; a new one costs little
        raise
    if c.keys is None:
        return []
    if make is None:
        make = c.learn(cursor.description, conn.dialect)
    elif c.psycopg:
        return cursor.fetchall()  # type: ignore[no-any-return]  # made by the row factory
    return [make(r) for r in cursor.fetchall()]


def execute_many(on: Session | Connection, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run a statement that returns no rows (an ``INSERT`` of many rows) once per set of
    parameters, all of the same names, in one ``executemany`` of the driver (compiled as
    :func:`execute` compiles it)."""
    if not rows:
        return
    conn = connection_of(on) if isinstance(on, Session) else on
    c = direct(conn, statement, rows[0])
    if c is None or c.keys is not None:
        conn.execute(statement, [dict(r) for r in rows])
        return
    parameters = [_parameters(c, r) for r in rows]
    cursor, kept = _kept_cursor(conn)
    try:
        conn.exec_driver_sql(c.sql, parameters, execution_options={_SEND: cursor})
    except BaseException:
        kept.pop(_CURSOR, None)
        raise


def insert_many(on: Session | Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same columns) into ``table``.  On PostgreSQL: one
    ``INSERT ... SELECT ... FROM json_populate_recordset(...)`` of the rows as one JSON document,
    each value converted by its column type's bind processor first (orjson writes forty lines in
    microseconds; an ``executemany`` binds and sends each line's values apart, and arrays of them
    go through psycopg's per-element text dumpers).  Decimals are written as JSON strings of their
    exact digits, which PostgreSQL reads into the ``NUMERIC`` columns as typed.  Elsewhere
    :func:`execute_many`."""
    if not rows:
        return
    conn = connection_of(on) if isinstance(on, Session) else on
    if conn.dialect.name != "postgresql":
        execute_many(conn, _insert_of(table), rows)
        return
    statement, processors = _recordset_insert(table, tuple(rows[0]), conn.dialect)
    converted = [dict(row) for row in rows] if processors else rows
    for name, processor in processors:
        for row in converted:
            value = row[name]
            if value is not None:
                row[name] = processor(value)  # type: ignore[index]  # the copies made above
    execute(conn, statement, {"rows": orjson.dumps(converted, default=_exact).decode()})


@cache
def _insert_of(table: Table) -> Insert:
    """One ``INSERT`` statement per table: the compiled statements are kept by the statement
    object, so a statement made per call would be compiled at every call."""
    return insert(table)


@cache
def _recordset_insert(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[TextClause, tuple[tuple[str, Callable[[Any], Any]], ...]]:
    """The statement, and the columns whose values a bind processor converts, with it."""
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "  # noqa: S608  # the model's names, no input
        f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))"
    )
    # A JSON column's value goes into the document as it is (its processor would write it as text).
    processors = (
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in columns
        if not isinstance(table.c[name].type, JSON)
    )
    return text(sql), tuple((name, p) for name, p in processors if p is not None)


def _exact(value: Any) -> str:
    """orjson's ``default``: a decimal as its exact digits (PostgreSQL reads them as ``NUMERIC``)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not written into a JSON document of rows")


def execute_one(on: Session | Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
    """The one row of ``statement``, or None; more than one is an error (as ``one_or_none``)."""
    rows = execute(on, statement, params)
    if len(rows) > 1:
        raise AssertionError(f"{len(rows)} rows where one or none was expected")
    return rows[0] if rows else None
