"""Fixtures of the browser tests: Debian's chromium driven by Playwright, and a real server.

The browser is ``/usr/bin/chromium`` (``make browser`` installs it when missing); Playwright's
own browser downloads are never used.  Without chromium or Playwright the browser tests are
skipped with a plain notice, except in CI (``CI=true``) or with
``SETTLE_TEST_REQUIRE_BROWSER=1``, where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.desk.browser import Tab
from tests.desk.helpers import Site, seed
from tests.support.db import truncate

CHROMIUM = os.environ.get("SETTLE_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CI") == "true" or os.environ.get("SETTLE_TEST_REQUIRE_BROWSER") == "1"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots and the printed split sheet, per backend: ``.artifacts/desk/<backend>/``.


def _missing_browser(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"the browser tests need {reason} (CI=true or SETTLE_TEST_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}; run `make browser` (as root) to install it")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        _missing_browser(f"Debian's chromium at {CHROMIUM}, which is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("the playwright package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from tests.stress.harness import Server

    backend: str = request.param
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    truncate(url)
    env = {"SETTLE_SIGNIN_MAX_FAILURES": "3", "SETTLE_SIGNIN_DELAY_MS": "100", "SETTLE_LOG_LEVEL": "WARNING"}
    server = Server(url, tmp_path_factory.mktemp(f"desk-{backend}"), workers=1, env=env)
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            bill = seed(client, full=True)
        yield Site(backend, url, server, bill)
        assert server.log_problems() == []
    finally:
        server.stop()


@pytest.fixture
def tabs(site: Site, browser: Any) -> Iterator[list[Tab]]:
    """The tabs a test opens (``tests.desk.browser.open_tab``); on closing each, no request may
    have left the service."""
    opened: list[Tab] = []
    yield opened
    for tab in opened:
        tab.close()
