"""One write transaction, as an object: :func:`app.db.tx.write_transaction` makes one per attempt
and hands it to the transaction's body, which passes it down instead of a bare session.

It holds what belongs to the transaction and to nothing else, so that none of it can leak into
another transaction (a retried attempt gets a new one):

- its connection, on which it began (the hot path's statements go on it directly), and an ORM
  session on that same connection, made only for the writers that use the ORM (the reference
  data's, the hospitals', the clients' and the users' writes, the desk's): a session's own
  transaction bookkeeping cost each message of the national interface 0.2-0.3 ms it had no use
  for (``docs/decisions/0021-a-transaction-is-its-connection.md``);
- the deferred writes (:meth:`UnitOfWork.defer_insert`, :meth:`UnitOfWork.defer_update`): rows
  nothing in the transaction reads back (the idempotency record, the audit record, a visit's row
  as a message leaves it), sent together just before the commit;
- what to run just before the commit (:meth:`UnitOfWork.before_commit`: a request's audit record,
  added by whoever serves the request) and once it committed (:meth:`UnitOfWork.after_commit`).

The ledger extends it with what a transaction has locked and read (:class:`app.ledger.work.LedgerWork`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from sqlalchemy import Column, Connection, Insert, Select, Table, Update, bindparam, insert, update
from sqlalchemy.orm import Session

from app.db.combined import combined, insert_named, named, update_named
from app.db.direct import execute
from app.db.params import Params


class UnitOfWork:
    """One attempt of one write transaction (see the module)."""

    __slots__ = ("_after", "_before", "_deferred", "_session", "connection", "postgresql")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._session: Session | None = None
        self.postgresql = connection.dialect.name == "postgresql"
        #: Per deferred write: the table (an insert) or the key column (an update), and its values.
        self._deferred: list[tuple[Table | Column[Any], Mapping[str, object]]] = []
        self._before: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []

    @property
    def session(self) -> Session:
        """An ORM session in this transaction, on its connection (made at the first use).  It
        never commits or rolls back: :func:`app.db.tx.write_transaction` flushes it before the
        commit, and the connection's transaction is the one that ends."""
        if self._session is None:
            self._session = Session(bind=self.connection, expire_on_commit=False, autoflush=False)
        return self._session

    def defer_insert(self, table: Table, row: Mapping[str, object]) -> None:
        """Insert ``row`` into ``table`` at the end of this transaction, just before its commit.

        For records that nothing in the transaction reads back (the idempotency record, the audit
        record): on PostgreSQL the deferred inserts of a transaction go as one statement
        (:mod:`app.db.combined`), one round trip for all.  They are sent before the commit, inside
        the transaction: a unique-key race still fails (and retries) the transaction, a lost
        connection still counts as lost before the commit.  A dry run discards them with the rest."""
        self._deferred.append((table, row))

    def defer_update(self, key: Column[Any], value: object, changes: Mapping[str, object]) -> None:
        """Set ``changes`` on the row whose ``key`` is ``value`` at the end of this transaction, with
        the deferred inserts (see :meth:`defer_insert`): for a row the transaction holds locked and
        reads no more, so that its last change costs no round trip of its own."""
        self._deferred.append((key, {**changes, _KEY: value}))

    def before_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction's body is done, before the deferred inserts are
        sent and the transaction commits (it may defer inserts of its own).  Not for a dry run."""
        self._before.append(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed."""
        self._after.append(callback)

    def finish(self) -> None:
        """What :func:`app.db.tx.write_transaction` runs before it commits: the callbacks, the
        deferred inserts, then what the ORM session (if one was used) has pending."""
        for callback in self._before:
            callback()
        self._send_deferred()
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        """Forget the ORM session's objects (its transaction is the connection's, ended apart)."""
        if self._session is not None:
            self._session.close()

    def committed(self) -> None:
        for callback in self._after:
            callback()

    def _send_deferred(self) -> None:
        pending = self._deferred
        if not pending:
            return
        if not self.postgresql or len(pending) == 1:
            for target, row in pending:
                execute(self.connection, _alone(target, tuple(row)), row)
            return
        shape = tuple((target, tuple(row)) for target, row in pending)
        params: Params = {}
        for i, (_target, row) in enumerate(pending):
            params.update(named(f"d{i}", row))
        execute(self.connection, _deferred_statement(shape), params)


#: The parameter that carries a deferred update's key value.
_KEY = "where_key"


@cache
def _alone(target: Table | Column[Any], columns: tuple[str, ...]) -> Insert | Update:
    """A deferred write as a statement of its own: the table's insert, or the update by ``target``."""
    if isinstance(target, Table):
        return insert(target)
    changed = {name: bindparam(name, type_=target.table.c[name].type) for name in columns if name != _KEY}
    return update(target.table).where(target == bindparam(_KEY)).values(changed)


@cache
def _deferred_statement(shape: tuple[tuple[Table | Column[Any], tuple[str, ...]], ...]) -> Select[Any]:
    """One statement for the deferred writes of this shape (tables or keys, and columns, in order)."""
    return combined(*((f"deferred_{i}", _part(target, f"d{i}", keys)) for i, (target, keys) in enumerate(shape)))


def _part(target: Table | Column[Any], prefix: str, columns: tuple[str, ...]) -> Insert | Update:
    if isinstance(target, Table):
        return insert_named(target, prefix, columns)
    return update_named(target, f"{prefix}_{_KEY}", prefix, *(c for c in columns if c != _KEY))
