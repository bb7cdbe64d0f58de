"""Several writes sent as one statement: one round trip instead of one per write.

PostgreSQL runs each data-modifying ``WITH`` part of a statement exactly once and to completion,
whether or not anything reads it, and a constraint any part breaks fails the whole statement (as
it would fail the writes one by one).  The parts go under a plain ``SELECT 1``, not under one of
them: compiled with its parameters' names, an ``UPDATE`` or ``INSERT`` at the top would also
write every column of its table that a parameter of another part happens to name (the
accumulator's ``compliant_self_pay`` is a settlement's column too).  The parts keep their
parameters apart by prefix (:func:`insert_named`, :func:`update_named`).

SQLite has no data-modifying ``WITH``: its callers send the parts one by one (the same
statements, with the same parameters).  This module is the one builder of such statements: the
ledger's settle and reverse and the transaction's deferred inserts use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Insert, Select, Table, Update, bindparam, insert, literal_column, select, update

from app.db.params import Params


def combined(*parts: tuple[str, Insert | Update]) -> Select[Any]:
    """One statement running each ``(name, write)`` part, in order, as a ``WITH`` part."""
    statement: Select[Any] = select(literal_column("1"))
    for name, part in parts:
        statement = statement.add_cte(part.cte(name))
    return statement


def insert_named(table: Table, prefix: str, columns: Iterable[str] | None = None) -> Insert:
    """``table``'s insert of ``columns`` (default: all), each from the parameter
    ``<prefix>_<column>`` of the column's type."""
    names = [c.name for c in table.columns] if columns is None else list(columns)
    return insert(table).values({name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names})


def update_named(key: Column[Any], key_parameter: str, prefix: str, *columns: str) -> Update:
    """``UPDATE`` of ``columns`` (each from the parameter ``<prefix>_<column>``, of the column's
    type) where ``key`` equals the parameter ``key_parameter``."""
    table = key.table
    return (
        update(table)
        .where(key == bindparam(key_parameter))
        .values({name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns})
    )


def named(prefix: str, values: Mapping[str, object]) -> Params:
    """``values`` as the parameters of a part built with ``prefix``."""
    return {f"{prefix}_{k}": v for k, v in values.items()}
