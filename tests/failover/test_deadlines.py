"""Every wait on PostgreSQL has a deadline, also when the server goes silent (connections open,
nothing answering), and the optional read-only engine.  Fast: a silent server is a proxy that
stops forwarding (``tests.failover.silent``); the failover under load is ``test_failover.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from app.db.session import (
    DEADLINES,
    LOST_CONNECTION,
    get_engine,
    get_read_engine,
    make_engine,
    pg_connect_args,
    reset_engine,
    unavailable_reason,
)
from app.db.tx import write_transaction
from app.errors import Unavailable
from app.settings import Settings, get_settings
from tests.failover.silent import SilentProxy


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, SilentProxy]]:
    """The test database behind a proxy that can go silent."""
    url = make_url(pg_url)
    with SilentProxy(url.port or 5432) as proxy:
        yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy


def test_a_silent_server_costs_a_statement_its_deadline_then_the_connection(proxied: tuple[str, SilentProxy]) -> None:
    url, proxy = proxied
    engine = make_engine(Settings(database_url=url, db_deadline_ms=1000))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            proxy.freeze()
            cut = DEADLINES.cut
            began = time.monotonic()
            with pytest.raises(DBAPIError) as caught:
                conn.execute(text("SELECT 2"))
            waited = time.monotonic() - began
        # The deadline (1 s) plus the service's second, checked four times a second.
        assert 1.5 <= waited < 4.0
        assert DEADLINES.cut == cut + 1
        assert caught.value.connection_invalidated
        assert unavailable_reason(caught.value) in LOST_CONNECTION
        # A new connection to the silent server: libpq's connect timeout (2 s), then refused.
        began = time.monotonic()
        with pytest.raises(OperationalError) as refused, engine.connect():
            pass
        assert 1.8 <= time.monotonic() - began < 5.0
        assert unavailable_reason(refused.value) == "connect_failed"
    finally:
        engine.dispose()


def test_a_multi_host_url_passes_over_a_silent_first_host(proxied: tuple[str, SilentProxy], pg_url: str) -> None:
    url, proxy = proxied
    real = make_url(pg_url)
    proxy.freeze()
    hosts = make_url(url).set(query={"host": [f"127.0.0.1:{proxy.port}", f"127.0.0.1:{real.port or 5432}"]})
    multi = hosts.set(host=None, port=None).update_query_dict({"target_session_attrs": "read-write"})
    engine = make_engine(Settings(database_url=multi.render_as_string(hide_password=False)))
    try:
        began = time.monotonic()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT inet_server_port()")).scalar() == (real.port or 5432)
        assert 1.8 <= time.monotonic() - began < 5.0
    finally:
        engine.dispose()


def test_a_write_on_a_silent_server_is_answered_503(
    proxied: tuple[str, SilentProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, proxy = proxied
    monkeypatch.setenv("SETTLE_DATABASE_URL", url)
    monkeypatch.setenv("SETTLE_DB_DEADLINE_MS", "1000")
    reset_engine()
    get_settings.cache_clear()
    write_transaction(lambda w: w.session.execute(text("SELECT 1")).scalar(), operation="warm")
    proxy.freeze()
    began = time.monotonic()
    with pytest.raises(Unavailable):
        write_transaction(lambda w: w.session.execute(text("SELECT 1")).scalar(), operation="probe")
    # The statement's deadline, then a new connection's connect timeout: never the silence's length.
    assert time.monotonic() - began < 6.0


def test_the_server_ends_a_statement_past_the_deadline(pg_url: str) -> None:
    engine = make_engine(Settings(database_url=pg_url, db_deadline_ms=1000))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1s"
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1s"
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "5s"
            with pytest.raises(DBAPIError) as caught:
                conn.execute(text("SELECT pg_sleep(3)"))
        assert unavailable_reason(caught.value) == "statement_timeout"
    finally:
        engine.dispose()


def test_through_pgbouncer_no_startup_options_and_nothing_prepared(pg_url: str) -> None:
    args = pg_connect_args(Settings(database_url=pg_url, db_pgbouncer=True))
    assert "options" not in args
    assert args["prepare_threshold"] is None
    engine = make_engine(Settings(database_url=pg_url, db_pgbouncer=True))
    try:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert isinstance(driver, psycopg.Connection)
            assert driver.prepare_threshold is None
            with driver.cursor() as cur:
                for _ in range(3):
                    cur.execute("SELECT 1", prepare=True)
            assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar() == 0
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        engine.dispose()


def test_the_read_engine_is_the_primary_unless_a_read_url_is_set(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_read_engine() is get_engine()
    # A stand-in for a standby: the same database, every transaction read-only.
    standby = make_url(pg_url).update_query_dict({"options": "-c default_transaction_read_only=on"})
    monkeypatch.setenv("SETTLE_DATABASE_READ_URL", standby.render_as_string(hide_password=False))
    reset_engine()
    get_settings.cache_clear()
    read = get_read_engine()
    assert read is not get_engine()
    with read.connect() as conn:
        assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
        assert conn.execute(text("SELECT count(*) FROM bill")).scalar() == 0
    with get_engine().connect() as conn:
        assert conn.execute(text("SHOW transaction_read_only")).scalar() == "off"
