"""The transaction boundary of every write, and its bounded retry.

``write_transaction(fn)`` opens a session, begins a transaction (``BEGIN IMMEDIATE`` on
SQLite, so the database write lock is taken up front and writers queue on the busy timeout,
the writers of one process taking turns first), calls ``fn(session)``, and commits (or rolls
back when ``commit=False``: dry runs).

A transaction that fails on a lock conflict, a serialization failure, a deadlock, or a
unique-key race with a concurrent writer is rolled back whole and run again from the start,
up to ``SETTLE_DB_RETRY_ATTEMPTS`` times with jittered backoff; past that the client gets a
503 ``busy`` problem.  Because ``fn`` re-reads everything under its locks on each attempt, a
retry sees the winner's committed state (and answers 409 or replays an idempotent response).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.db.session import get_engine
from app.errors import Busy
from app.metrics import DB_RETRIES, LOCK_WAIT
from app.settings import get_settings

T = TypeVar("T")
log = logging.getLogger(__name__)

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


def write_transaction(fn: Callable[[Session], T], *, operation: str, commit: bool = True) -> T:
    settings = get_settings()
    engine = get_engine()
    sqlite = engine.dialect.name == "sqlite"
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if sqlite else engine
    attempts = settings.db_retry_attempts
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        session = Session(bind=bind, expire_on_commit=False, autoflush=False)
        try:
            with _writer_turn(sqlite, settings.sqlite_busy_timeout_ms / 1000):
                session.begin()
                result = fn(session)
                if commit:
                    session.commit()
                else:
                    session.rollback()
            LOCK_WAIT.labels(operation).observe(time.perf_counter() - started)
            return result
        except (OperationalError, IntegrityError) as exc:
            session.rollback()
            reason = retry_reason(exc)
            if reason is None:
                raise
            DB_RETRIES.labels(operation, reason).inc()
            log.info(
                "db retry", extra={"event": "db_retry", "operation": operation, "reason": reason, "attempt": attempt}
            )
            if attempt == attempts:
                log.warning("giving up after %d attempts: %s (%s)", attempt, operation, reason)
                raise Busy(
                    f"the ledger stayed contended for {operation} after {attempt} attempts; nothing was "
                    "written, retry the request (with the same Idempotency-Key)"
                ) from exc
            time.sleep(min(0.2, 0.005 * 2**attempt) * random.uniform(0.5, 1.5))
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")


def read_session() -> Session:
    """A session for reads (no locks, no writes)."""
    return Session(bind=get_engine(), expire_on_commit=False, autoflush=False)
