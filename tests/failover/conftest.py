"""The pg_auto_failover formation of the failover test (``deploy/ha``), made in the test's
temporary folder and stopped whatever happens; its logs are kept there.

Without ``pg_autoctl`` (``bash deploy/ha/install.sh``) the test is skipped with a notice, unless
``SETTLE_TEST_REQUIRE_POSTGRES=1`` (as ``.ci/run`` sets), which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.failover.cluster import Formation, missing

REQUIRE = os.environ.get("SETTLE_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def formation(tmp_path: Path) -> Iterator[Formation]:
    why = missing()
    if why is not None:
        if REQUIRE:
            pytest.fail(f"cannot run the failover test: {why} and SETTLE_TEST_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(f"cannot run the failover test: {why}")
    # Short: PostgreSQL's Unix socket path under it must stay within 107 bytes.
    root = Path(f"/tmp/settle-ha-{os.getpid()}")
    formation = Formation(root)
    try:
        formation.start()
        yield formation
    finally:
        formation.stop()
        for log in root.glob("*.log"):
            shutil.copy(log, tmp_path / log.name)
        shutil.rmtree(root, ignore_errors=True)
        if formation.log.exists():
            shutil.move(formation.log, tmp_path / "start.log")
