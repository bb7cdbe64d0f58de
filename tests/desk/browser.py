"""The browser tests' tools: a person's tab (a browser context recording every request) and the
ledger's row counts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, func, select

from tests.desk.helpers import PASSWORD, Site, parse_amount


class Tab:
    """One browser context (a person at their PC) and its page, recording every request."""

    def __init__(self, site: Site, browser: Any, *, locale: str = "zh-CN") -> None:
        self.site = site
        self.context = browser.new_context(
            locale=locale, viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.requested: list[str] = []
        self.page.on("request", lambda r: self.requested.append(r.url))

    def go(self, path: str) -> Any:
        return self.page.goto(self.site.base + path)

    def shot(self, name: str, *, full_page: bool = True) -> None:
        self.page.screenshot(path=str(self.site.shots / f"{name}.png"), full_page=full_page)

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        self.go("/desk/")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        with self.page.expect_response(lambda r: r.url.endswith("/desk/sign-in") and r.request.method == "POST") as r:
            self.page.press("#password", "Enter")  # from the keyboard
        self.page.wait_for_load_state()
        return r.value

    def amounts(self, scope: str) -> dict[str, tuple[Decimal, Decimal]]:
        """``data-field`` -> (the amount as shown, parsed back; its exact value)."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for el in self.page.locator(f"{scope} [data-field]").all():
            out[el.get_attribute("data-field")] = (
                parse_amount(el.inner_text()),
                Decimal(el.get_attribute("data-value")),
            )
        return out

    def close(self) -> None:
        local = (self.site.base + "/", "blob:" + self.site.base + "/", "data:", "about:")
        outside = [u for u in self.requested if not u.startswith(local)]
        self.context.close()
        assert outside == [], "the page loaded something from outside the service"


def open_tab(site: Site, browser: Any, tabs: list[Tab], **kw: Any) -> Tab:
    tab = Tab(site, browser, **kw)
    tabs.append(tab)
    return tab


def rows(site: Site, table: Any) -> int:
    engine = create_engine(site.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        engine.dispose()
