"""All configuration, from the environment (prefix ``SETTLE_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLE_", env_file=".env", extra="ignore")

    #: SQLAlchemy URL.  ``postgresql+psycopg://user@host/db`` in production.
    database_url: str = "sqlite:///./settle.db"
    #: A bearer token that is an admin.  Unset: only tokens of registered clients work.
    admin_token: SecretStr | None = None

    #: Seconds a worker process keeps a client token's principal after looking it up, so the
    #: requests that follow cost no database round trip (0: looked up on every request).  A
    #: revocation made through this worker takes effect in it at once; in the other workers within
    #: this long (``app.services.clients``).
    token_cache_seconds: float = Field(1.0, ge=0, le=60)

    #: Largest request body accepted, in bytes (413 above).  8 MiB holds a 20,000-line bill.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)

    #: How often a transaction that hit a lock conflict, serialization failure or deadlock is
    #: retried before the client gets a 503 ``busy`` problem.
    db_retry_attempts: int = Field(8, ge=1)
    #: SQLite: how long a writer waits for the database lock per attempt (ms).
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    #: PostgreSQL: how long a statement may wait for a row lock (ms) before it is retried.
    pg_lock_timeout_ms: int = Field(5000, ge=0)
    #: PostgreSQL: the longest one transaction attempt (or read) may hold its connection, in ms.
    #: The server ends a statement past it (``statement_timeout``) and a session idle inside a
    #: transaction that long (``idle_in_transaction_session_timeout``); a second later the service
    #: itself cuts the connection of a server that does not answer at all (a hung or partitioned
    #: primary: ``app.db.session``).  Either way the client gets a 503 with ``Retry-After``.
    db_deadline_ms: int = Field(10000, ge=1000)
    #: PostgreSQL: seconds a new connection may take, per host of a multi-host URL (libpq's
    #: ``connect_timeout``; 2 is its minimum).
    db_connect_timeout_s: int = Field(2, ge=2)
    #: PostgreSQL is reached through PgBouncer in transaction mode: no startup ``options`` (PgBouncer
    #: refuses them: set ``lock_timeout``, ``statement_timeout`` and
    #: ``idle_in_transaction_session_timeout`` on the database or role instead, docs/failover.md)
    #: and no server-side prepared statements (PgBouncer before 1.21 cannot keep them).
    db_pgbouncer: bool = False
    #: Optional read-only SQLAlchemy URL (a standby) for reports and lists that may lag behind the
    #: primary by the replication delay; unset, they read from ``database_url``.
    database_read_url: str | None = None
    #: Connection pool per worker process (PostgreSQL).
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    #: Threads of a worker process that run the synchronous endpoints, their dependencies and the
    #: audit write (anyio's default thread limiter, set at startup).  A worker runs Python on one
    #: core at a time, so many threads trade the GIL while their transactions hold row locks, and
    #: each claim costs more CPU than with a few; fewer would let a handful of requests waiting on
    #: one contended row hold them all (docs/decisions/0006-eight-worker-threads.md).
    worker_threads: int = Field(8, ge=1)

    #: FastAPI's native OpenTelemetry (traces, metrics, logs through the global OpenTelemetry
    #: providers).  Off by default: the service's metrics are Prometheus's (``/metrics``), and a
    #: FastAPI with telemetry on asks OpenTelemetry for its providers on every request, a cost on
    #: every claim even when none is configured (docs/decisions/0012-opentelemetry-off-by-default.md).
    opentelemetry: bool = False

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: JSON log lines (production) or plain text.
    log_json: bool = True

    #: The desk's session cookie carries ``Secure`` (send it only over HTTPS).  Set it wherever
    #: the desk is served over TLS (behind a proxy too); leave it unset for plain-HTTP development.
    cookie_secure: bool = False
    #: A desk session ends after this many minutes without a request, and after 12 hours in any case.
    session_idle_minutes: int = Field(30, ge=1)
    #: Consecutive failed sign-ins of one account before it is locked, and for how long.
    signin_max_failures: int = Field(5, ge=1)
    signin_lock_minutes: int = Field(15, ge=1)
    #: Each failed sign-in is answered this much later per failure so far (slowing a guesser).
    signin_delay_ms: int = Field(400, ge=0)

    #: uvicorn bind and workers for ``python -m app serve``.
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
