"""Fixtures of the stress and crash tests: an empty migrated database and a server factory.

PostgreSQL is the session's fresh database of ``tests.conftest`` (emptied first); SQLite is a
file of its own in the test's temporary folder, migrated with ``app.db.migrate.upgrade``.
Every server a test starts is stopped (SIGTERM, then SIGKILL) when the test ends, whatever
happened, and its log is kept in the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.db.migrate import upgrade
from tests.stress.harness import Server
from tests.support.db import truncate


@pytest.fixture
def stress_pg(postgres_url: str) -> str:
    truncate(postgres_url)
    return postgres_url


@pytest.fixture
def stress_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'stress.db'}"
    upgrade(url)
    return url


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[[str], Server]]:
    servers: list[Server] = []

    def make(db_url: str) -> Server:
        server = Server(db_url, tmp_path / f"server{len(servers) + 1}")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
