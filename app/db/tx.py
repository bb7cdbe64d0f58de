"""The transaction boundary of every write, and its bounded retry.

``write_transaction(fn)`` takes a connection, begins a transaction on it (``BEGIN IMMEDIATE`` on
SQLite, so the database write lock is taken up front and writers queue on the busy timeout,
the writers of one process taking turns first), calls ``fn`` with the attempt's unit of work
(:class:`app.db.unit_of_work.UnitOfWork`, or what ``unit`` makes), runs what the unit of work
holds for before the commit (callbacks, deferred inserts, its ORM session's pending objects), and
commits (or rolls back when ``commit=False``: dry runs).

A transaction that fails on a lock conflict, a serialization failure, a deadlock, or a
unique-key race with a concurrent writer is rolled back whole and run again from the start,
up to ``SETTLE_DB_RETRY_ATTEMPTS`` times with jittered backoff; past that the client gets a
503 ``busy`` problem.  Because ``fn`` re-reads everything under its locks on each attempt, a
retry sees the winner's committed state (and answers 409 or replays an idempotent response).

When the database goes away (``app.db.session.unavailable_reason``):

- no connection could be had (refused, starting up, pool timeout): 503 ``unavailable`` at once,
  with ``Retry-After``; waiting inside the request would only hold the client longer;
- the connection died *before the commit* (backend terminated, even while the connection was
  being opened; server restarted): the server rolled the transaction back, so it is run again on
  a new connection, invisibly, at most ``LOST_CONNECTION_ATTEMPTS`` times in all;
- the connection died *during the commit*: the outcome is unknown, so it is not retried; the
  client gets a 503 saying so, and its resend with the same Idempotency-Key is safe.

Each of these 503s is logged once, as one line (``db_unavailable`` / ``db_commit_unknown``).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar, overload

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.session import LOST_CONNECTION, get_engine, get_read_engine, unavailable_reason
from app.db.unit_of_work import UnitOfWork
from app.errors import Busy, OutcomeUnknown, Unavailable
from app.metrics import DB_RETRIES, LOCK_WAIT
from app.settings import get_settings

T = TypeVar("T")
W = TypeVar("W", bound=UnitOfWork)
log = logging.getLogger(__name__)

#: Attempts of a transaction whose connection was lost before it committed (each on a new one).
LOST_CONNECTION_ATTEMPTS = 3

#: PostgreSQL SQLSTATEs worth a retry: serialization failure, deadlock, lock timeout, unique race.
_PG_RETRY = {"40001", "40P01", "55P03", "23505"}
_SQLITE_RETRY = ("database is locked", "database is busy", "unique constraint failed")


def retry_reason(exc: DBAPIError) -> str | None:
    """Why this error is worth running the transaction again, or None."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate if sqlstate in _PG_RETRY else None
    message = str(orig).lower()
    for fragment in _SQLITE_RETRY:
        if fragment in message:
            return fragment.replace(" ", "_")
    return None


#: SQLite: the writers of one process take turns (:func:`_writer_turn`).
_sqlite_writers = threading.Lock()


@contextmanager
def _writer_turn(sqlite: bool, timeout_s: float) -> Iterator[None]:
    """On SQLite, wait for this process's other writers first, at most the busy timeout.

    SQLite's busy handler polls the database lock with growing sleeps, so when many threads
    wait for it the lock goes to whoever polls at the right moment and some wait for seconds
    (past the busy timeout: "database is locked").  With one writer per process at a time only
    one thread per process polls; the others queue here and are woken as soon as it is done.
    """
    if not sqlite:
        yield
        return
    if not _sqlite_writers.acquire(timeout=timeout_s):
        locked = sqlite3.OperationalError("database is locked (this process's writers stayed busy)")
        raise OperationalError("BEGIN IMMEDIATE", None, locked)
    try:
        yield
    finally:
        _sqlite_writers.release()


@overload
def write_transaction(
    fn: Callable[[UnitOfWork], T], *, operation: str, commit: bool = True, log_unavailable: bool = True
) -> T: ...


@overload
def write_transaction(
    fn: Callable[[W], T],
    *,
    operation: str,
    unit: Callable[[Connection], W],
    commit: bool = True,
    log_unavailable: bool = True,
) -> T: ...


def write_transaction(
    fn: Callable[[W], T],
    *,
    operation: str,
    unit: Callable[[Connection], W] | None = None,
    commit: bool = True,
    log_unavailable: bool = True,
) -> T:
    """Run ``fn`` in one transaction, retried as the module says; ``fn`` gets the attempt's unit of
    work (``unit(connection)``, by default a plain :class:`UnitOfWork`).
    ``log_unavailable=False``: the caller logs the database's absence itself (the audit, whose
    record goes in its line)."""
    settings = get_settings()
    engine = get_engine()
    sqlite = engine.dialect.name == "sqlite"
    make = unit if unit is not None else UnitOfWork
    attempts = settings.db_retry_attempts
    started = time.perf_counter()
    lost = 0
    for attempt in range(1, attempts + 1):
        connection: Connection | None = None
        work: UnitOfWork | None = None
        phase = "connect"
        try:
            with _writer_turn(sqlite, settings.sqlite_busy_timeout_ms / 1000):
                # The connection (and on SQLite the write lock) first.
                connection = engine.connect()
                if sqlite:
                    # On the connection, in place: an engine with the option made per transaction
                    # (``Engine.execution_options``) cost a write a tenth of a millisecond.
                    connection.execution_options(sqlite_begin="IMMEDIATE")
                connection.begin()
                work = make(connection)
                phase = "run"
                result = fn(work)  # type: ignore[arg-type]  # W is UnitOfWork when unit is None
                if commit:
                    work.finish()
                    phase = "commit"
                    connection.commit()
                    work.committed()
                else:
                    connection.rollback()
            LOCK_WAIT.labels(operation).observe(time.perf_counter() - started)
            return result
        except SQLAlchemyError as exc:
            _discard(connection)
            down = unavailable_reason(exc)
            if down is not None:
                lost += 1
                again = phase != "commit" and down in LOST_CONNECTION
                if not again or lost == LOST_CONNECTION_ATTEMPTS or attempt == attempts:
                    failure = _unavailable(exc, operation=operation, reason=down, phase=phase, attempt=attempt)
                    if log_unavailable:
                        log.warning("database unavailable", extra=failure.log_fields)
                    raise failure from exc
                _note_retry(operation, down, attempt)
                _backoff(attempt)
                continue
            reason = retry_reason(exc) if isinstance(exc, DBAPIError) else None
            if reason is None:
                raise
            _note_retry(operation, reason, attempt)
            if attempt == attempts:
                log.warning("giving up after %d attempts: %s (%s)", attempt, operation, reason)
                raise Busy(
                    f"the ledger stayed contended for {operation} after {attempt} attempts; nothing was "
                    "written, retry the request (with the same Idempotency-Key)"
                ) from exc
            _backoff(attempt)
        except BaseException:
            _discard(connection)
            raise
        finally:
            if work is not None:
                work.close()
            if connection is not None:
                connection.close()
    raise AssertionError("unreachable")


def _note_retry(operation: str, reason: str, attempt: int) -> None:
    DB_RETRIES.labels(operation, reason).inc()
    log.info("db retry", extra={"event": "db_retry", "operation": operation, "reason": reason, "attempt": attempt})


def _backoff(attempt: int) -> None:
    time.sleep(min(0.2, 0.005 * 2**attempt) * random.uniform(0.5, 1.5))


def _discard(connection: Connection | None) -> None:
    """Roll back; on a connection that turns out dead, drop it instead of returning it to the pool."""
    if connection is None:
        return
    try:
        connection.rollback()
    except SQLAlchemyError:
        connection.invalidate()


def _unavailable(exc: SQLAlchemyError, *, operation: str, reason: str, phase: str, attempt: int) -> Unavailable:
    """The 503 for a database that went away, with the fields of its one log line.

    Lost before the commit was sent, the transaction was rolled back by the server: nothing was
    written.  Lost *while committing*, nobody can tell whether the server committed it; it is
    not retried blindly: the client is told so, and resending with the same Idempotency-Key is
    safe either way (a committed write's response was stored in the same transaction and is
    replayed, an uncommitted one is carried out once)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    unknown = phase == "commit"
    fields = {
        "event": "db_commit_unknown" if unknown else "db_unavailable",
        "operation": operation,
        "reason": reason,
        "phase": phase,
        "attempt": attempt,
        "error": lines[0][:200] if lines else type(cause).__name__,
    }
    if unknown:
        return OutcomeUnknown(
            fields,
            f"the connection to the database was lost while {operation} was committing: it may or may not "
            "have been carried out; resend it with the same Idempotency-Key, which returns the first outcome "
            "if it was and carries it out once if it was not",
        )
    return Unavailable(
        fields,
        f"the database could not be reached for {operation}; nothing was written: retry the request "
        "(with the same Idempotency-Key)",
    )


def read_session() -> Session:
    """A session for reads (no locks, no writes)."""
    return Session(bind=get_engine(), expire_on_commit=False, autoflush=False)


def report_session() -> Session:
    """A session for reports and lists that may lag behind the primary: on the standby of
    ``SETTLE_DATABASE_READ_URL`` when one is set (:func:`app.db.session.get_read_engine`).  Never
    for a read that a write decides on, nor for one object read by its id right after its write."""
    return Session(bind=get_read_engine(), expire_on_commit=False, autoflush=False)


@contextmanager
def one_statement_connection() -> Iterator[Connection]:
    """A connection for a single read statement (no ORM session around it: the token lookup of
    every request).  On PostgreSQL it runs in autocommit: one round trip, without a BEGIN and a
    ROLLBACK around it (one statement sees one snapshot anyway)."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn
