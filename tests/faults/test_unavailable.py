"""The database going away, in process: which errors mean "unavailable", what the client gets,
what is retried, what is logged, and that the pool replaces a connection the server closed.

The end-to-end proof under load, with a real PostgreSQL killed and restarted, is
``test_postgres_faults.py``; these pin each rule on its own, in milliseconds.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.db.session import _idle_connection_dead, make_engine, reset_engine, unavailable_reason
from app.db.tx import LOST_CONNECTION_ATTEMPTS, write_transaction
from app.db.unit_of_work import UnitOfWork
from app.errors import PROBLEM_BASE, OutcomeUnknown, Unavailable
from app.main import create_app
from app.settings import Settings, get_settings
from tests.stress.harness import free_port
from tests.support.api import ADMIN, bill_1
from tests.support.db import truncate, use_database

REFUSED = 'connection to server at "127.0.0.1", port 1 failed: Connection refused'
TERMINATED = 'connection to server at "127.0.0.1", port 1 failed: FATAL:  terminating connection due to admin command'


def _wrapped(orig: Exception) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_wrapped(psycopg.OperationalError(f"connection failed: {REFUSED}")), "connect_failed"),
        (_wrapped(psycopg.OperationalError(f"connection failed: {TERMINATED}")), "terminated_at_connect"),
        (_wrapped(psycopg.OperationalError("consuming input failed: server closed the connection")), "connection_lost"),
        (_wrapped(psycopg.errors.AdminShutdown("terminating connection")), "admin_shutdown"),
        (_wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")), "cannot_connect_now"),
        (_wrapped(psycopg.errors.ConnectionFailure("connection failure")), "connection_exception"),
        (_wrapped(psycopg.InterfaceError("the connection is closed")), "connection_lost"),
        (PoolTimeout("QueuePool limit of size 10 overflow 10 reached"), "pool_timeout"),
        # Contention and bugs are not an outage: retried as busy, or a 500.
        (_wrapped(psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")), None),
        (_wrapped(psycopg.errors.SerializationFailure("could not serialize access")), None),
        (IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")), None),
        (_wrapped(psycopg.errors.UndefinedTable('relation "x" does not exist')), None),
        (_wrapped(sqlite3.OperationalError("database is locked")), None),
    ],
)
def test_which_errors_mean_the_database_is_away(error: Exception, reason: str | None) -> None:
    assert unavailable_reason(error) == reason


@pytest.fixture
def sqlite_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    truncate(sqlite_url)
    use_database(sqlite_url, monkeypatch)
    yield sqlite_url
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostgreSQL URL on a loopback port nothing listens on."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    use_database(url, monkeypatch)
    yield url
    reset_engine()
    get_settings.cache_clear()


def _lost() -> OperationalError:
    return _wrapped(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))


def test_a_transaction_whose_connection_died_before_commit_runs_again(
    sqlite_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def fn(work: UnitOfWork) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise _lost()
        return int(work.session.execute(text("SELECT 41 + 1")).scalar_one())

    with caplog.at_level(logging.INFO):
        assert write_transaction(fn, operation="test") == 42
    assert len(calls) == 2
    retries = [r for r in caplog.records if getattr(r, "event", None) == "db_retry"]
    assert [(r.operation, r.reason) for r in retries] == [("test", "admin_shutdown")]  # type: ignore[attr-defined]


def test_a_connection_lost_again_and_again_ends_in_a_503_after_bounded_attempts(
    sqlite_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def fn(work: UnitOfWork) -> None:
        calls.append(1)
        raise _lost()

    with caplog.at_level(logging.INFO), pytest.raises(Unavailable) as raised:
        write_transaction(fn, operation="test")
    assert len(calls) == LOST_CONNECTION_ATTEMPTS
    assert type(raised.value) is Unavailable
    assert raised.value.status == 503 and raised.value.retry_after
    lines = [r for r in caplog.records if getattr(r, "event", None) == "db_unavailable"]
    assert len(lines) == 1 and lines[0].exc_info is None


def test_a_connection_lost_while_committing_is_not_retried(sqlite_db: str, caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def fn(work: UnitOfWork) -> None:
        calls.append(1)
        work.connection.execute(text("SELECT 1"))

        @event.listens_for(work.connection, "commit")
        def _die(_connection: object) -> None:
            raise _lost()

    with caplog.at_level(logging.INFO), pytest.raises(OutcomeUnknown) as raised:
        write_transaction(fn, operation="test")
    assert len(calls) == 1, "an ambiguous commit must not be run again"
    assert "same Idempotency-Key" in raised.value.detail
    assert [getattr(r, "event", None) for r in caplog.records if r.levelno >= logging.WARNING] == ["db_commit_unknown"]


def test_without_a_database_the_service_answers_503_problems_and_stays_alive(
    no_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on the port: every database request is a 503 with Retry-After, logged
    once as one line without a traceback, and the audit record goes to the log."""
    with TestClient(create_app()) as client, caplog.at_level(logging.INFO):
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        started = time.monotonic()
        write = client.post("/v1/bills", json=bill_1(), headers=ADMIN)
        read = client.get(f"/v1/bills/{uuid.uuid4()}/split", headers=ADMIN)
        fhir = client.get(f"/fhir/R4/ClaimResponse/{uuid.uuid4()}", headers=ADMIN)
        elapsed = time.monotonic() - started
    for r in (ready, write, read):
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == PROBLEM_BASE + "unavailable"
        assert int(r.headers["Retry-After"]) > 0
    # FHIR answers the same outage as an OperationOutcome.
    assert fhir.status_code == 503, fhir.text
    assert fhir.json()["resourceType"] == "OperationOutcome" and int(fhir.headers["Retry-After"]) > 0
    assert elapsed < 5, "a refused connection must fail fast"
    events = [getattr(r, "event", None) for r in caplog.records if r.levelno >= logging.WARNING]
    assert events.count("db_unavailable") == 3  # the write and the two reads; /readyz is a probe
    assert [r for r in caplog.records if r.exc_info] == []
    # The write's audit record, and the FHIR read's (a settlement read is audited), go to the log.
    unwritten = [r.audit for r in caplog.records if getattr(r, "event", None) == "audit_unwritten"]  # type: ignore[attr-defined]
    want = [("submitBill", 503), ("fhirReadClaimResponse", 503)]
    assert [(a["operation"], a["status_code"]) for a in unwritten] == want


def test_the_pool_replaces_a_connection_the_server_closed(pg_url: str) -> None:
    """A pooled connection whose backend was terminated is seen dead without a round trip
    and replaced: the next user gets a working connection, not an error."""
    engine = make_engine(Settings(database_url=pg_url, db_pool_size=1, db_max_overflow=0))
    admin = make_engine(Settings(database_url=pg_url))
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            dbapi_conn = conn.connection.dbapi_connection
        assert not _idle_connection_dead(dbapi_conn)
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        deadline = time.monotonic() + 5
        while not _idle_connection_dead(dbapi_conn):
            assert time.monotonic() < deadline, "the closed connection never looked dead"
            time.sleep(0.01)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        admin.dispose()
