"""The private PostgreSQL of the fault tests (``tests.faults.private_pg``).

Without PostgreSQL's server binaries the test is skipped with a plain notice, unless
``SETTLE_TEST_REQUIRE_POSTGRES=1`` (as ``.ci/run`` sets), which turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.private_pg import PrivatePostgres, find_bindir

#: As ``.ci/run`` sets: a missing PostgreSQL is a failure, not a skip.
REQUIRE_PG = os.environ.get("SETTLE_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PrivatePostgres]:
    """Started; destroyed at the end, its log kept in the test's temporary folder."""
    bindir, why = find_bindir()
    if bindir is None:
        message = f"cannot run a private PostgreSQL: {why}"
        if REQUIRE_PG:
            pytest.fail(message + " and SETTLE_TEST_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(message)
    pg = PrivatePostgres(bindir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.stop("immediate")
        if pg.logfile.exists():
            shutil.copy(pg.logfile, tmp_path / "postgres.log")
        pg.destroy()
