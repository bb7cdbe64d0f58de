"""One write transaction, as an object: :func:`app.db.tx.write_transaction` makes one per attempt
and hands it to the transaction's body, which passes it down instead of a bare session.

It holds what belongs to the transaction and to nothing else, so that none of it can leak into
another transaction (a retried attempt gets a new one):

- the ORM session and its connection, fixed when the transaction began (asking a session for its
  connection again costs a few state-machine calls per statement on the hot path);
- the deferred inserts (:meth:`UnitOfWork.defer_insert`): records nothing in the transaction
  reads back (the idempotency record, the audit record), sent together just before the commit;
- what to run just before the commit (:meth:`UnitOfWork.before_commit`: a request's audit record,
  added by whoever serves the request) and once it committed (:meth:`UnitOfWork.after_commit`).

The ledger extends it with what a transaction has locked and read (:class:`app.ledger.work.LedgerWork`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Select, Table, insert
from sqlalchemy.orm import Session

from app.db.combined import combined, insert_named, named
from app.db.direct import execute
from app.db.params import Params


class UnitOfWork:
    """One attempt of one write transaction (see the module)."""

    __slots__ = ("_after", "_before", "_deferred", "connection", "postgresql", "session")

    def __init__(self, session: Session, connection: Connection) -> None:
        self.session = session
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self._deferred: list[tuple[Table, Mapping[str, object]]] = []
        self._before: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []

    def defer_insert(self, table: Table, row: Mapping[str, object]) -> None:
        """Insert ``row`` into ``table`` at the end of this transaction, just before its commit.

        For records that nothing in the transaction reads back (the idempotency record, the audit
        record): on PostgreSQL the deferred inserts of a transaction go as one statement
        (:mod:`app.db.combined`), one round trip for all.  They are sent before the commit, inside
        the transaction: a unique-key race still fails (and retries) the transaction, a lost
        connection still counts as lost before the commit.  A dry run discards them with the rest."""
        self._deferred.append((table, row))

    def before_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction's body is done, before the deferred inserts are
        sent and the transaction commits (it may defer inserts of its own).  Not for a dry run."""
        self._before.append(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed."""
        self._after.append(callback)

    def finish(self) -> None:
        """What :func:`app.db.tx.write_transaction` runs before it commits: the callbacks, then
        the deferred inserts."""
        for callback in self._before:
            callback()
        self._send_deferred()

    def committed(self) -> None:
        for callback in self._after:
            callback()

    def _send_deferred(self) -> None:
        pending = self._deferred
        if not pending:
            return
        if not self.postgresql or len(pending) == 1:
            for table, row in pending:
                execute(self.connection, _insert(table), row)
            return
        shape = tuple((table, tuple(row)) for table, row in pending)
        params: Params = {}
        for i, (_table, row) in enumerate(pending):
            params.update(named(f"d{i}", row))
        execute(self.connection, _deferred_statement(shape), params)


@cache
def _insert(table: Table) -> Insert:
    return insert(table)


@cache
def _deferred_statement(shape: tuple[tuple[Table, tuple[str, ...]], ...]) -> Select[Any]:
    """One statement for the deferred inserts of this shape (tables and columns, in order)."""
    return combined(*((f"deferred_{i}", insert_named(table, f"d{i}", keys)) for i, (table, keys) in enumerate(shape)))
