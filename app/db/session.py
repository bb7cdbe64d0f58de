"""Database engine and sessions, and what counts as "the database is away".

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` (see :func:`app.db.tx.write_transaction`), so writers queue on the
database lock instead of failing half-way.  ``synchronous=NORMAL``: in WAL mode a commit is in
the WAL file when it returns, so a killed server loses nothing committed (``tests/faults``); a
power cut or an OS crash may lose the last commits, never corrupt the file.

PostgreSQL is reached through psycopg 3.  When PostgreSQL restarts, fails over or ends a
backend, the service must neither hang nor answer 500:

- a connection attempt gives up after :data:`CONNECT_TIMEOUT_S`, a wait for a free pooled
  connection after :data:`POOL_TIMEOUT_S`;
- the pool never hands out a connection the server has closed, without a round trip per
  checkout (no ``pool_pre_ping``): an idle connection whose socket is readable has heard from
  the server while nobody asked, which in practice is its goodbye ("terminating connection due
  to administrator command / unexpected postmaster exit / immediate shutdown") followed by EOF;
  :func:`_idle_connection_dead` sees that with one ``poll(2)`` and the pool replaces it.  A
  connection that dies while in use fails its statement; SQLAlchemy then flags the error as a
  disconnect and invalidates every connection of the pool opened before it;
- every wait on the server has a deadline, also when it goes silent (hung, partitioned,
  SIGSTOPped: connections open, nothing answering): :func:`pg_connect_args` and
  :class:`Deadlines` below;
- :func:`unavailable_reason` tells such errors (connection refused, "the database system is
  starting up", a terminated backend, a closed connection, a pool timeout) from bugs: they
  become a 503 ``unavailable`` problem with ``Retry-After`` (``app.db.tx``,
  ``app.api.problems``), never a 500.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: Seconds a new PostgreSQL connection may take by default (``SETTLE_DB_CONNECT_TIMEOUT_S``).
CONNECT_TIMEOUT_S = 2
#: Seconds a request waits for a pooled connection when all are in use.
POOL_TIMEOUT_S = 10
#: SQLSTATEs of a lost or refused connection: class 08 (connection exception) and these.
_UNAVAILABLE_SQLSTATES = {
    "57P01": "admin_shutdown",  # pg_terminate_backend, smart/fast shutdown
    "57P02": "crash_shutdown",  # another backend crashed, the server restarts
    "57P03": "cannot_connect_now",  # starting up, shutting down, in recovery
    "53300": "too_many_connections",
    "57014": "statement_timeout",  # past SETTLE_DB_DEADLINE_MS (or cancelled by an operator)
    "25P03": "idle_in_transaction_timeout",
}
#: Reasons after which a new attempt on a new connection can succeed at once: the connection was
#: lost (its backend terminated, even while it was being opened, or the server closed it), not
#: refused.  The others (``connect_failed``, ``cannot_connect_now``, ``pool_timeout``, ...) say
#: the database is not there now.
LOST_CONNECTION = frozenset(
    {"admin_shutdown", "crash_shutdown", "connection_exception", "connection_lost", "terminated_at_connect"}
)


def unavailable_reason(exc: BaseException) -> str | None:
    """Why this error means the database is unreachable (not a bug of the request), or None.

    The reason is a short code for logs and metrics: a SQLSTATE name, ``pool_timeout``,
    ``connection_lost`` (the server closed the connection), ``terminated_at_connect`` (a backend
    terminated while its connection was being opened) or ``connect_failed`` (refused, timed out,
    or refused by a server that is starting up or shutting down)."""
    if isinstance(exc, PoolTimeout):
        return "pool_timeout"
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        if sqlstate in _UNAVAILABLE_SQLSTATES:
            return _UNAVAILABLE_SQLSTATES[sqlstate]
        if sqlstate.startswith("08"):
            return "connection_exception"
    if isinstance(orig, psycopg.errors.ConnectionTimeout):
        return "connect_failed"  # no host answered within connect_timeout: nothing was sent
    if exc.connection_invalidated:
        return "connection_lost"
    if sqlstate is None and isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        # No SQLSTATE: libpq's own failure (refused, timed out, "the database system is
        # starting up" at connect, "server closed the connection unexpectedly", closed).  A
        # server's FATAL at connect comes as text only; a localized one reads as connect_failed.
        message = str(orig)
        if not message.startswith("connection failed"):
            return "connection_lost"
        return "terminated_at_connect" if "terminating connection" in message else "connect_failed"
    return None


def _idle_connection_dead(dbapi_conn: Any) -> bool:
    """Whether a pooled psycopg connection is known dead without asking the server."""
    if not isinstance(dbapi_conn, psycopg.Connection):
        return False
    if dbapi_conn.closed or dbapi_conn.broken:
        return True
    try:
        fd = dbapi_conn.pgconn.socket
    except psycopg.OperationalError:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def json_text(value: Any) -> str:
    """JSON columns' serializer (both databases): orjson, compact; several times cheaper than the
    standard library's, which psycopg and SQLAlchemy use by default, and a claim writes its bill's
    lines and its settlement's detail as JSON (docs/decisions/0010).  Values read back are the same."""
    return orjson.dumps(value).decode()


#: What JSON columns are read with, on both databases.
JSON_OPTIONS: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_pre_ping=False,
            # Parameters by name, as on PostgreSQL: app.db.direct sends compiled statements with
            # their parameters as a mapping, which needs no positional order.
            paramstyle="named",
            **JSON_OPTIONS,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit BEGIN is disabled).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        _observe_pool(engine, 1)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=POOL_TIMEOUT_S,
        pool_pre_ping=False,
        connect_args=pg_connect_args(settings),
        **JSON_OPTIONS,
    )

    # Registered before the pool gauge's listener: a connection refused here is not counted.
    @event.listens_for(engine, "checkout")
    def _refuse_dead(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if _idle_connection_dead(dbapi_conn):
            raise DisconnectionError("the server closed this pooled connection")  # the pool reconnects

    DEADLINES.watch(engine, (settings.db_deadline_ms + 1000) / 1000)
    _observe_pool(engine, settings.db_pool_size + settings.db_max_overflow)
    return engine


def _observe_pool(engine: Engine, size: int) -> None:
    from app.metrics import POOL_IN_USE, POOL_SIZE

    POOL_SIZE.set(size)

    @event.listens_for(engine, "checkout")
    def _checkout(*_args: Any) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_args: Any) -> None:
        POOL_IN_USE.dec()


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings())


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False, autoflush=False)


@lru_cache
def get_read_engine() -> Engine:
    """The engine of ``SETTLE_DATABASE_READ_URL`` (a standby) for reports and lists that may lag
    behind the primary, or the primary's engine when it is unset.  Never for a settlement or the
    reads it decides on: those must see every committed write, and take their locks, on the
    primary (docs/failover.md)."""
    settings = get_settings()
    if not settings.database_read_url:
        return get_engine()
    return make_engine(settings.model_copy(update={"database_url": settings.database_read_url}))


def reset_engine() -> None:
    """Forget the cached engines (tests switch databases)."""
    for cached in (get_read_engine, get_engine):
        if cached.cache_info().currsize:
            cached().dispose()
        cached.cache_clear()
    get_sessionmaker.cache_clear()


# --- deadlines of a PostgreSQL connection ----------------------------------------------------

#: TCP keepalives and user timeout: a connection whose peer vanished (host down, network cut: no
#: RST) fails within about 10 s instead of TCP's minutes, idle (keepalives: first probe after 4 s,
#: 2 more 2 s apart) or with data unacknowledged (``tcp_user_timeout``).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 4, "keepalives_interval": 2, "keepalives_count": 2}
TCP_USER_TIMEOUT_MS = 10000


def pg_connect_args(settings: Settings) -> dict[str, Any]:
    """psycopg's connect arguments: libpq's connect timeout (per host of a multi-host URL, so a
    silent first host costs this long before the next is tried), TCP keepalives and user timeout,
    and the server's own deadlines as startup options, unless through PgBouncer (``db_pgbouncer``),
    which refuses startup options and cannot keep server-side prepared statements."""
    args: dict[str, Any] = {
        "connect_timeout": settings.db_connect_timeout_s,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        **KEEPALIVES,
    }
    if settings.db_pgbouncer:
        args["prepare_threshold"] = None  # psycopg then prepares nothing, even when asked to
        return args
    deadline = int(settings.db_deadline_ms)
    args["options"] = (
        f"-c lock_timeout={int(settings.pg_lock_timeout_ms)} -c statement_timeout={deadline} "
        f"-c idle_in_transaction_session_timeout={deadline}"
    )
    # The URL's own options (``?options=-c ...``) kept, after ours: theirs win.
    own = make_url(settings.database_url).query.get("options")
    if own:
        args["options"] += " " + (own if isinstance(own, str) else " ".join(own))
    return args


class Deadlines:
    """How long a pooled connection may stay checked out before its socket is shut down.

    A server that stops answering while its connections stay open (a hung host, a partition, a
    SIGSTOPped primary) sends no error and no RST; its kernel may even keep acknowledging, so
    neither TCP keepalives nor ``tcp_user_timeout`` fire, and ``statement_timeout`` is the silent
    server's own.  One daemon thread per process looks at the connections in use four times a
    second and shuts down (``shutdown(2)``, not ``close``: the descriptor stays the driver's) the
    socket of one held past its deadline: the driver's wait then ends with "server closed the
    connection", which the pool treats as a lost connection (the request is retried on a new
    connection or answered 503 with ``Retry-After``, ``app.db.tx``) and which invalidates the
    pool's older connections, the other ones to the silent server.  A connection leaves the
    watch before it is returned, invalidated or closed, so a descriptor number reused by another
    socket is never touched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[psycopg.Connection[Any], tuple[float, int]] = {}
        self._thread: threading.Thread | None = None
        #: Connections cut so far (tests, logs).
        self.cut = 0

    def watch(self, engine: Engine, seconds: float) -> None:
        def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            if not isinstance(dbapi_conn, psycopg.Connection):
                return
            try:
                fd = dbapi_conn.pgconn.socket
            except psycopg.OperationalError:
                return
            with self._lock:
                self._due[dbapi_conn] = (time.monotonic() + seconds, fd)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="db-deadlines", daemon=True)
                    self._thread.start()

        def release(dbapi_conn: Any, *_args: Any) -> None:
            if dbapi_conn is not None:
                with self._lock:
                    self._due.pop(dbapi_conn, None)

        event.listen(engine, "checkout", checkout)
        for name in ("checkin", "invalidate", "soft_invalidate", "close", "detach", "close_detached"):
            event.listen(engine, name, release)

    def _run(self) -> None:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                late = [(conn, fd) for conn, (due, fd) in self._due.items() if due <= now]
                for conn, fd in late:
                    del self._due[conn]
                    self._cut(conn, fd)

    def _cut(self, conn: psycopg.Connection[Any], fd: int) -> None:
        try:
            if conn.closed or conn.pgconn.socket != fd:
                return  # libpq already dropped it: the descriptor is no longer this connection's
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            return
        self.cut += 1
        log.warning(
            "database connection past its deadline cut",
            extra={"event": "db_deadline", "host": conn.info.host, "port": conn.info.port},
        )


DEADLINES = Deadlines()
