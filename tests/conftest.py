"""Test databases: SQLite and PostgreSQL, built by the Alembic migrations, one per session.

Each test that uses ``db_url`` (or ``client``) runs on both backends and starts from empty
tables.  PostgreSQL is ``SETTLE_TEST_PG_URL`` (default: 127.0.0.1:5432, user postgres, the
``test`` database as the maintenance connection); a fresh database is created for the run.
Without PostgreSQL the PostgreSQL cases are skipped with a plain notice, unless
``SETTLE_TEST_REQUIRE_POSTGRES=1`` (as ``.ci/run`` sets), which turns that into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("SETTLE_LOG_JSON", "true")

import pytest
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Engine, make_url

from app.db.migrate import upgrade
from app.db.session import reset_engine
from app.settings import get_settings
from tests.support.db import use_database

PG_URL = os.environ.get("SETTLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("SETTLE_TEST_REQUIRE_POSTGRES") == "1"

_pg_problem: str | None = None


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def pytest_report_header(config: pytest.Config) -> str:
    global _pg_problem
    _pg_problem = _pg_reachable()
    if _pg_problem is None:
        return f"PostgreSQL: {make_url(PG_URL).render_as_string(hide_password=True)} (reachable)"
    mode = "FAILING the PostgreSQL tests (SETTLE_TEST_REQUIRE_POSTGRES=1)" if REQUIRE_PG else "SKIPPING them"
    return f"PostgreSQL NOT reachable at {PG_URL}: {_pg_problem} -- {mode}"


def require_postgres() -> None:
    problem = _pg_problem if _pg_problem is not None else _pg_reachable()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable ({problem})"
    if REQUIRE_PG:
        pytest.fail(message + " and SETTLE_TEST_REQUIRE_POSTGRES=1", pytrace=False)
    pytest.skip(message)


#: Per test database: an engine and the statements of :func:`empty_tables`, made once.
_EMPTIERS: dict[str, tuple[Engine, tuple[str, ...]]] = {}


def _emptier(url: str) -> tuple[Engine, tuple[str, ...]]:
    """An engine on ``url`` and the statements that empty every table of its schema and, on
    PostgreSQL, restart its sequences."""
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    tables = [t.name for t in reversed(metadata.sorted_tables) if t.name != "alembic_version"]  # children first
    statements: list[str] = []
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            sequences = list(conn.execute(text("SELECT sequence_name FROM information_schema.sequences")).scalars())
            # A table that refuses DELETE (the append-only audit record) is truncated, first.
            triggers = "SELECT event_object_table FROM information_schema.triggers WHERE event_manipulation = 'DELETE'"
            guarded = set(conn.execute(text(triggers)).scalars())
        statements += [f'TRUNCATE "{name}" CASCADE' for name in tables if name in guarded]
        tables = [name for name in tables if name not in guarded]
        statements += [f"SELECT setval('\"{name}\"', 1, false)" for name in sequences]
    statements += [f'DELETE FROM "{name}"' for name in tables]
    return engine, tuple(statements)


def empty_tables(url: str) -> None:
    """Every table of the test database emptied, as TRUNCATE ... RESTART IDENTITY would leave it.

    DELETE rather than TRUNCATE where it can: PostgreSQL gives each truncated table new files,
    about 0.25 s for all of this schema's tables on a 2-core machine, where deleting the few rows
    that a test left takes milliseconds; that was most of the PostgreSQL half of the fast tier.
    """
    if url not in _EMPTIERS:
        _EMPTIERS[url] = _emptier(url)
    engine, statements = _EMPTIERS[url]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _forget_emptier(url: str) -> None:
    emptier = _EMPTIERS.pop(url, None)
    if emptier is not None:
        emptier[0].dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'settle.db'}"
    upgrade(url)
    yield url
    _forget_emptier(url)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    require_postgres()
    name = f"settle_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    reset_engine()
    _forget_emptier(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    empty_tables(url)
    use_database(url, monkeypatch)
    yield url
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    """PostgreSQL only (concurrency tests)."""
    url: str = request.getfixturevalue("postgres_url")
    empty_tables(url)
    use_database(url, monkeypatch)
    yield url
    reset_engine()
    get_settings.cache_clear()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist (``make test`` runs the fast tier in one worker per core) a worker
    hands its figures to the controller, which prints them."""
    from tests.support.figures import FIGURES

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = list(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    from tests.support.figures import FIGURES

    FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.support.figures import FIGURES

    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
