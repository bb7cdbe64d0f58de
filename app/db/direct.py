"""The hot path's statements sent straight to the driver's cursor.

A Core statement is compiled once per dialect (and, for an ``INSERT``/``UPDATE`` without explicit
values, per set of parameter names); each execution then only converts its parameters with the
column types' own bind processors, sends the compiled SQL on a cursor kept per DBAPI connection,
and converts the rows with the types' result processors.  The SQL is the statement's, compiled by
SQLAlchemy as :meth:`sqlalchemy.engine.Connection.execute` would compile it; what is left out is
SQLAlchemy's per-execution machinery (cache key, execution context, parameter construction, the
cursor result and its metadata, the driver's ``description``), which costs more than the statement
on a claim.  The types stay exactly those of the columns: money as ``NUMERIC(16,2)`` on PostgreSQL
and integer fen on SQLite (:mod:`app.db.types`), timestamps, JSON, each through its own processors.

The execution itself goes through SQLAlchemy's connection (``Connection._cursor_execute``), so the
connection's events fire as for any statement (the tests and the bench count statements with
``before_cursor_execute``) and a driver error is wrapped and classified exactly as before: a
``DBAPIError`` with ``connection_invalidated`` on a lost connection, the connection invalidated,
which :mod:`app.db.tx` relies on.  It runs in the session's transaction, like
``session.connection().execute``.

A statement this module cannot run as compiled (expanding ``IN`` parameters, Python-side column
defaults or ``onupdate`` values to compute, parameters computed at execution) goes through
``Connection.execute`` unchanged; :func:`direct` says which.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import ValuesBase
from sqlalchemy.sql.elements import BindParameter

Processor = Callable[[Any], Any] | None

_MISSING = object()
#: Where a DBAPI connection's reused cursor is kept (the pool record's ``info``: one per connection).
_CURSOR = "direct_cursor"


@dataclass(slots=True)
class _Compiled:
    """A statement compiled for one dialect, with what each execution needs."""

    sql: str
    #: Per parameter as the driver takes it: (driver's name, caller's key, default, processor).
    binds: tuple[tuple[str, str, Any, Processor], ...]
    positional: bool
    #: The result's column names (as SQLAlchemy's rows name them), or None: no rows.
    keys: tuple[str, ...] | None
    types: tuple[Any, ...]
    #: Set at the first execution from the driver's column types: the row class and processors.
    row: Any = None
    processors: tuple[Processor, ...] | None = field(default=None)


_compiled: dict[tuple[Any, ...], _Compiled | None] = {}
_MAX_COMPILED = 2000

#: Where :func:`app.db.tx.write_transaction` keeps its session's connection (one per attempt, fixed
#: once the transaction began): asked again for it, a session costs a few state-machine calls.
CONNECTION = "direct_connection"


def connection_of(session: Session) -> Connection:
    """The session's connection in its transaction (as ``session.connection()``)."""
    conn: Connection | None = session.info.get(CONNECTION)
    return conn if conn is not None else session.connection()


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...] | None) -> _Compiled | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)  # type: ignore[attr-defined]
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.post_compile_params
        or compiled.literal_execute_params
    ):
        return None
    names: list[str] = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    escaped = compiled.escaped_bind_names or {}
    binds = []
    for name in names:
        bp: BindParameter[Any] = compiled.binds[name]
        if bp.expanding or bp.callable is not None:
            return None
        default = _MISSING if bp.required else bp.value
        processor = bp.type.dialect_impl(dialect).bind_processor(dialect)
        binds.append((escaped.get(name, name), bp.key, default, processor))
    columns = compiled._result_columns  # what SQLAlchemy's rows are built from
    keys_out = tuple(c.keyname for c in columns) if columns else None
    return _Compiled(
        sql=compiled.string,
        binds=tuple(binds),
        positional=bool(compiled.positional),
        keys=keys_out,
        types=tuple(c.type for c in columns) if columns else (),
    )


def direct(conn: Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> _Compiled | None:
    """The statement as compiled for ``conn``'s dialect, or None when it must go through
    ``Connection.execute`` (see the module)."""
    dialect = conn.dialect
    keys = tuple(params) if params is not None and isinstance(statement, ValuesBase) else None
    cache_key = (statement, dialect, keys)
    try:
        return _compiled[cache_key]
    except KeyError:
        if len(_compiled) >= _MAX_COMPILED:  # statements built per call (or engines made per test)
            _compiled.clear()
        found = _compiled[cache_key] = _compile(statement, dialect, keys)
        return found


def _parameters(c: _Compiled, params: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for name, key, default, processor in c.binds:
        value = params.get(key, default)
        if value is _MISSING:
            raise KeyError(f"a value is required for the parameter {key!r}")
        values[name] = value if processor is None else processor(value)
    if c.positional:
        return tuple(values[name] for name, *_rest in c.binds)
    return values


def _cursor(conn: Connection) -> tuple[Any, dict[Any, Any]]:
    """The cursor kept for the connection's DBAPI connection, and where it is kept."""
    fairy = conn.connection
    dbapi = fairy.dbapi_connection
    info = fairy.info
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.connection is not dbapi or getattr(cursor, "closed", False):
        cursor = info[_CURSOR] = dbapi.cursor()  # type: ignore[union-attr]
    return cursor, info


def _rows(c: _Compiled, cursor: Any, dialect: Dialect) -> list[Any]:
    raw = cursor.fetchall()
    if c.row is None:
        assert c.keys is not None
        description = cursor.description
        c.processors = tuple(
            t.dialect_impl(dialect).result_processor(dialect, d[1]) for t, d in zip(c.types, description, strict=True)
        )
        c.row = namedtuple("Row", c.keys, rename=True)  # type: ignore[misc]
    processors = c.processors
    assert processors is not None
    make = c.row._make
    if not any(processors):
        return [make(r) for r in raw]
    return [make([v if p is None or v is None else p(v) for p, v in zip(processors, r, strict=True)]) for r in raw]


def execute(on: Session | Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Run ``statement`` with ``params`` on a connection or in a session (in its transaction); its
    rows (named tuples, named as SQLAlchemy's rows would be), or [] for a statement that returns
    none."""
    conn = connection_of(on) if isinstance(on, Session) else on
    c = direct(conn, statement, params)
    if c is None:
        result = conn.execute(statement, dict(params or {}))
        return list(result.all()) if result.returns_rows else []
    cursor, kept = _cursor(conn)
    parameters = _parameters(c, params or {})
    try:
        conn._cursor_execute(cursor, c.sql, parameters)  # events, error wrapping: see the module
    except BaseException:
        kept.pop(_CURSOR, None)  # closed by SQLAlchemy, or its connection is gone
        raise
    if c.keys is None:
        return []
    return _rows(c, cursor, conn.dialect)


def execute_one(on: Session | Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
    """The one row of ``statement``, or None; more than one is an error (as ``one_or_none``)."""
    rows = execute(on, statement, params)
    if len(rows) > 1:
        raise AssertionError(f"{len(rows)} rows where one or none was expected")
    return rows[0] if rows else None


M = TypeVar("M")


def row_object(model: type[M], values: Mapping[str, Any]) -> M:
    """A transient ``model`` instance holding ``values`` (a row a Core statement has just written),
    built as the ORM builds a loaded one: no ``__init__`` and no per-attribute events, which cost
    30x more (60 µs for a bill).  Not in any session; its attributes read and set as usual."""
    manager = model._sa_class_manager  # type: ignore[attr-defined]
    if not manager.mapper.configured:  # a fresh process: the ORM's constructor would configure it
        configure_mappers()
    obj: M = manager.new_instance()
    obj.__dict__.update(values)
    return obj
