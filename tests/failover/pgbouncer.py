"""PgBouncer in transaction mode in front of a PostgreSQL, for the tests (``pgbouncer`` from
``deploy/ha/install.sh``; its settings are ``deploy/ha/pgbouncer.ini``'s; :mod:`bench.pgbouncer`
runs it).

``SETTLE_TEST_PGBOUNCER=1`` puts one in front of the database of every server the stress and
fault tests start (``tests.stress.harness.Server``): the service then runs with
``SETTLE_DB_PGBOUNCER=true``, and the timeouts it would send as startup options are set on the
database instead (:func:`bench.pgbouncer.database_settings`).  A multi-host URL (the failover test)
is left alone: PgBouncer follows no failover by itself (docs/failover.md).
"""

from __future__ import annotations

import atexit
import os

from sqlalchemy.engine import make_url

from app.settings import Settings
from bench.pgbouncer import PgBouncer, database_settings

ASKED = os.environ.get("SETTLE_TEST_PGBOUNCER") == "1"
_running: list[PgBouncer] = []


def pooled(url: str) -> tuple[str, dict[str, str]]:
    """The URL and settings a test server uses for the database at ``url``: unchanged, or through
    a PgBouncer of its own when ``SETTLE_TEST_PGBOUNCER=1``."""
    parsed = make_url(url)
    if not ASKED or not url.startswith("postgresql") or "host" in parsed.query:
        return url, {}
    settings = Settings()
    database_settings(url, lock_timeout_ms=settings.pg_lock_timeout_ms, deadline_ms=settings.db_deadline_ms)
    bouncer = PgBouncer(parsed.host or "127.0.0.1", parsed.port or 5432)
    _running.append(bouncer)
    return bouncer.url(url), {"SETTLE_DB_PGBOUNCER": "true"}


@atexit.register
def _stop_all() -> None:
    for bouncer in _running:
        bouncer.stop()
