"""The desk as clerks use it, in a real browser (headless Debian chromium), on SQLite and
PostgreSQL: a confirmation that would pay another amount than its preview showed, the pages a
clerk reaches by mistake or by a refusal, a tier's computation, the split sheet.

Screenshots go to ``.artifacts/desk/<backend>/``; every request the browser makes is recorded and
none may leave the service (``tests.desk.browser.Tab``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.desk.browser import Tab, open_tab
from tests.desk.helpers import MA, MA_CLERK, NRCMS, SI, Site
from tests.support.api import v2_bill

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

RETURNED = {"payer": "中国人寿", "voucher_no": "CL-2026-031", "amount": "1000.00"}


def one_stop_bill(site: Site, *schemes: str) -> dict[str, Any]:
    """Bill 3, settled through the API under ``schemes`` in order."""
    with site.api() as api:
        r = api.post("/v1/bills", json=v2_bill("bill-3.json"))
        assert r.status_code in (200, 201), r.text
        bill: dict[str, Any] = r.json()
        for scheme in schemes:
            settled = api.post(f"/v1/bills/{bill['bill_id']}/settlements", json={"scheme_code": scheme})
            assert settled.status_code == 201, settled.text
    return bill


def settlement_of(site: Site, bill_id: str, scheme: str) -> dict[str, Any] | None:
    with site.api() as api:
        split = api.get(f"/v1/bills/{bill_id}/split").json()
        sid = next((p["settlement_id"] for p in split["payments"] if p["scheme_code"] == scheme), None)
        return None if sid is None else dict(api.get(f"/v1/settlements/{sid}").json())


def test_a_stale_preview_is_not_paid(site: Site, browser: Any, tabs: list[Tab]) -> None:
    bill = one_stop_bill(site, NRCMS, SI)
    tab = open_tab(site, browser, tabs)
    page = tab.page
    assert tab.sign_in(MA_CLERK).status == 303
    tab.go(f"/desk/bills/{bill['bill_id']}")
    page.fill("#payer_0", RETURNED["payer"])
    page.fill("#voucher_no_0", RETURNED["voucher_no"])
    page.fill("#amount_0", RETURNED["amount"])
    page.click("button[name=preview]")
    page.wait_for_selector("#confirm")
    assert "18,550.00" in page.inner_text("#confirm")
    tab.shot("c1-preview")

    # Another office reverses the serious-illness settlement while the clerk looks at the preview.
    si = settlement_of(site, bill["bill_id"], SI)
    assert si is not None
    with site.api() as api:
        assert api.post(f"/v1/settlements/{si['settlement_id']}/reversal").status_code == 200

    with page.expect_response(lambda r: r.url.endswith("/settle")) as answer:
        page.click("#confirm")
    assert answer.value.status == 409
    page.wait_for_selector("#problem")
    # The message is at the top, has the focus, and says what changed; nothing was paid.
    assert page.evaluate("document.activeElement.id") == "problem"
    assert page.evaluate("document.querySelector('#problem').getBoundingClientRect().top") < 300
    changes = page.inner_text("#changes")
    assert "18,550.00" in changes and "30,000.00" in changes
    assert "30,000.00" in page.inner_text("#confirm")
    tab.shot("c2-changed")
    assert settlement_of(site, bill["bill_id"], MA) is None

    # The new preview confirms what it shows.
    page.click("#confirm")
    page.wait_for_url("**done=settled**")
    settled = settlement_of(site, bill["bill_id"], MA)
    assert settled is not None and Decimal(settled["fund_payment"]) == Decimal("30000.00")
    assert [e["voucher_no"] for e in settled["external_payments"]] == [RETURNED["voucher_no"]]
    tab.shot("c3-settled")
