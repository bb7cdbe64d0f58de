"""The desk as clerks use it, in a real browser (headless Debian chromium), on SQLite and
PostgreSQL: a confirmation that would pay another amount than its preview showed, the pages a
clerk reaches by mistake or by a refusal, a tier's computation, the split sheet.

Screenshots go to ``.artifacts/desk/<backend>/``; every request the browser makes is recorded and
none may leave the service (``tests.desk.browser.Tab``).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.desk.browser import Tab, open_tab
from tests.desk.helpers import CLERK, MA, MA_CLERK, NRCMS, SI, Site
from tests.support.api import v2_bill

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

RETURNED = {"payer": "中国人寿", "voucher_no": "CL-2026-000000031", "amount": "1000.00"}


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
    page.wait_for_load_state()
    tab.shot("c3-settled")
    # The tier's computation, as its clerk checks it: the basis is on the page, and the compliant
    # self-pay and the part toward the threshold lead to the band's base.
    assert "作为贵机构补充层结算的计算依据" in page.inner_text("#computation-1")
    assert tab.amounts("#computation-1")["in_scope"][0] == Decimal("99200.00")
    tier = tab.amounts("#computation-3")
    assert tier["compliant_self_pay"][0] == Decimal(settled["compliant_self_pay"]) == Decimal("50000.00")
    assert tier["cap_remaining"][0] == Decimal(settled["cap_remaining"]) == Decimal("0.00")
    tab.shot("c4-tier-computation")

    # The split sheet, printed: rows numbered 1..n, each with its payer's type, and the voucher
    # number on one line.
    page.click(f"a[href='/desk/bills/{bill['bill_id']}/split']")
    page.wait_for_selector("#payers")
    assert page.locator("#payers tbody tr td:first-child").all_inner_texts() == ["1", "2", "3"]
    types = page.locator("#payers tbody tr td:nth-child(2)").all_inner_texts()
    assert "前序付款方凭证" in types[1] and "earlier payer's voucher" in types[1]
    pdf_path = site.shots / "c5-split-sheet.pdf"
    page.emulate_media(media="print")
    page.pdf(path=str(pdf_path), format="A4", print_background=True)
    page.emulate_media(media="screen")
    text = unicodedata.normalize("NFKC", PdfReader(str(pdf_path)).pages[0].extract_text())
    assert RETURNED["voucher_no"] in text  # not broken over two lines
    tab.shot("c5-split-sheet")

    # The clerk reverses the assistance settlement: it stays on the page, visibly reversed.
    tab.go(f"/desk/bills/{bill['bill_id']}/reverse")
    page.click("#confirm-reverse")
    page.wait_for_url("**done=reversed**")
    total = page.locator("#computation-3 tr.total td")
    assert total.evaluate("e => getComputedStyle(e).fontWeight") == "400"
    assert "line-through" in page.locator("#computation-3 td .money").first.evaluate(
        "e => getComputedStyle(e).textDecorationLine"
    )
    assert "已冲正" in page.inner_text("#computation-3 caption .badge")
    active = page.locator("#computation-1 tr.total td")
    assert active.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    tab.shot("c6-reversed")


def test_pages_a_clerk_reaches_by_mistake_or_by_a_refusal(site: Site, browser: Any, tabs: list[Tab]) -> None:
    bill = site.bill
    tab = open_tab(site, browser, tabs)
    page = tab.page
    assert tab.sign_in(CLERK).status == 303
    # An unknown address and a form's address opened directly: pages with the desk's header.
    for path, status, shot in (
        ("/desk/no-such-page", 404, "e1-not-found"),
        (f"/desk/bills/{bill['bill_id']}/preview", 405, "e2-form-address"),
    ):
        assert tab.go(path).status == status
        assert page.locator("header.top nav a[href='/desk/']").is_visible()
        assert page.locator("header.top form[action='/desk/sign-out'] button").is_visible()
        assert page.locator("main h1").is_visible()
        tab.shot(shot)
    # A refused entry: the problems are at the top, focused, and lead to their fields.
    tab.go(f"/desk/bills/{bill['bill_id']}")
    page.fill("#payer_0", "PICC")
    page.fill("#voucher_no_0", "V1")
    page.fill("#amount_0", "1e3")
    page.click("button[name=preview]")
    page.wait_for_selector("#problem")
    assert page.evaluate("document.activeElement.id") == "problem"
    assert page.evaluate("document.querySelector('#problem').getBoundingClientRect().top") < 300
    tab.shot("e3-problems-at-the-top")
    page.click("#problem a[href='#amount_0']")
    assert page.evaluate("document.activeElement.id") == "amount_0"
    assert page.input_value("#amount_0") == "1e3"
    # The language switch of the preview (reached by a POST) opens the bill in English.
    page.fill("#amount_0", "1,000.00")
    page.click("button[name=preview]")
    page.wait_for_selector("#confirm")
    with page.expect_navigation() as nav:
        page.click("a.lang")
    assert nav.value.status == 200 and page.get_attribute("html", "lang") == "en"
    assert page.url.endswith(f"/desk/bills/{bill['bill_id']}")
    tab.shot("e4-language-after-a-preview")
    page.click("a.lang")
    page.wait_for_load_state()


def test_receivables(site: Site, browser: Any, tabs: list[Tab]) -> None:
    from tests.api.test_v3_examples import read

    with site.api() as api:
        r = api.post("/v1/bills", json=read("bill-12.json"))
        assert r.status_code == 201, r.text
        bill = r.json()
    tab = open_tab(site, browser, tabs)
    page = tab.page
    assert tab.sign_in(CLERK).status == 303
    tab.go(f"/desk/bills/{bill['bill_id']}")
    page.fill("#advance_name", "Zhang Peng (motorcycle rider, sample)")
    page.click("button[name=preview]")
    page.wait_for_selector("#confirm")
    assert "Zhang Peng" in page.inner_text("#preview-computation-1")
    page.click("#confirm")
    page.wait_for_url("**done=settled**")
    assert tab.amounts("#computation-1")["receivable_outstanding"][0] == Decimal("1312.50")
    tab.shot("v1-bill-with-an-advance")
    page.click("#computation-1 a[href^='/desk/receivables/']")
    page.wait_for_selector("#recovery-form")
    tab.shot("v2-receivable")
    page.fill("#amount", "1,000.00")
    page.fill("#received_on", "2026-09-08")
    page.fill("#reference", "JQX-2026-511623-0441")
    page.dblclick("#record-recovery")
    page.wait_for_url("**done=recovered**")
    page.wait_for_load_state()
    assert tab.amounts("#receivable")["outstanding"][0] == Decimal("312.50")
    assert page.locator("#recoveries tbody tr").count() == 1  # the double click recorded it once
    page.fill("#reason", "the rider cannot be found")
    page.click("#write-off")
    page.wait_for_url("**done=written_off**")
    assert "已核销" in page.inner_text("#status")
    tab.shot("v3-written-off")
    page.click("nav a[href='/desk/receivables']")
    page.wait_for_selector("#receivables")
    assert "Zhang Peng" in page.inner_text("#receivables")
    tab.shot("v4-receivables")


def test_returned_vouchers_in_a_batch(site: Site, browser: Any, tabs: list[Tab], tmp_path: Path) -> None:
    from app.db import tables as db
    from tests.desk.browser import rows
    from tests.support.api import bill_1

    with site.api() as api:
        for n in range(1, 19):
            r = api.post("/v1/bills", json={**bill_1(), "bill_no": f"ZY-W-{n:02d}"})
            assert r.status_code == 201, r.text
    lines = ["hospital_code,bill_no,vouchers"]
    lines += [f"H511623001,ZY-W-{n:02d},{'PICC|PW-' + str(n) + '|100.00' if n % 3 == 0 else ''}" for n in range(1, 19)]
    lines.insert(5, "H511623001,NO-SUCH-BILL,")
    lines.append("H511623001,ZY-W-99,PICC|PW-99|.5")
    path = tmp_path / "returned.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = rows(site, db.Settlement)

    tab = open_tab(site, browser, tabs)
    page = tab.page
    assert tab.sign_in(CLERK).status == 303
    page.click("nav a[href='/desk/batches']")
    page.wait_for_selector("#upload-form")
    tab.shot("b1-upload")
    page.set_input_files("#file", str(path))
    page.click("#upload")
    page.wait_for_selector("#rows")
    assert page.locator("#rows input[type=checkbox]").count() == 18
    assert page.locator("#rows tr.row-refused").count() == 2
    tab.shot("b2-previewed")
    assert rows(site, db.Settlement) == before

    # A double click on the confirmation, then a reload while the rows are being settled.
    page.dblclick("#confirm")
    page.wait_for_selector("#progress")
    page.reload()
    page.wait_for_selector("#progress")
    tab.shot("b3-progress")
    page.wait_for_selector("#result", timeout=90_000)  # the page reloads itself until done
    assert "18 行已结算，0 行被拒绝，0 行等待中" in page.inner_text("#progress-text")
    assert page.locator("#rows tr.row-settled").count() == 18
    tab.shot("b4-done")
    assert rows(site, db.Settlement) == before + 18
    with page.expect_download() as download:
        page.click("#result")
    result = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert len(result) == 20
    assert sum(1 for r in result if r["state"].startswith("settled")) == 18


def test_the_batch_command_against_the_service(site: Site, tmp_path: Path) -> None:
    from tests.support.api import bill_1

    with site.api() as api:
        for n in (1, 2):
            assert api.post("/v1/bills", json={**bill_1(), "bill_no": f"ZY-CLI-{n}"}).status_code == 201
        token = api.post("/v1/clients", json={"name": "batch", "role": "scheme_office", "scheme_code": NRCMS}).json()
    path = tmp_path / "returned.csv"
    path.write_text("hospital_code,bill_no,vouchers\nH511623001,ZY-CLI-1,\nH511623001,ZY-CLI-2,PICC|PC-2|100.00\n")
    env = {**os.environ, "SETTLE_TOKEN": token["token"], "LANG": "C"}
    command = [sys.executable, "-m", "app", "settle-batch", str(path), "--scheme", NRCMS, "--url", site.base]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert "2/2" in first.stderr and "#" * 30 in first.stderr
    settled = list(csv.DictReader(io.StringIO(first.stdout)))
    assert [r["state"] for r in settled] == ["settled", "settled"]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert [r["settlement_id"] for r in csv.DictReader(io.StringIO(again.stdout))] == [
        r["settlement_id"] for r in settled
    ]


def test_accounts(site: Site, browser: Any, tabs: list[Tab]) -> None:
    from tests.desk.helpers import ADMIN_PERSON, PASSWORD, UEBMI_CLERK

    clerk = open_tab(site, browser, tabs)
    for attempt in ("wrong 1", "wrong 2", "wrong 3"):
        clerk.sign_in(UEBMI_CLERK, attempt)
    assert clerk.sign_in(UEBMI_CLERK).status == 423
    admin = open_tab(site, browser, tabs)
    assert admin.sign_in(ADMIN_PERSON).status == 303
    admin.page.click("nav a[href='/desk/people']")
    admin.page.wait_for_selector("#people")
    assert "锁定至" in admin.page.inner_text(f"#person-{UEBMI_CLERK} .state")
    admin.shot("a1-people")
    admin.page.click(f"#person-{UEBMI_CLERK} button.unlock")
    admin.page.wait_for_url("**done=unlocked**")
    assert "正常" in admin.page.inner_text(f"#person-{UEBMI_CLERK} .state")
    admin.shot("a2-unlocked")

    assert clerk.sign_in(UEBMI_CLERK).status == 303
    clerk.page.click("header a.who")
    clerk.page.wait_for_selector("#password-form")
    clerk.shot("a3-account")
    clerk.page.fill("#current_password", PASSWORD)
    clerk.page.fill("#new_password", "a much better passphrase")
    clerk.page.fill("#new_password_again", "a much better passphrase")
    clerk.page.click("#change-password")
    clerk.page.wait_for_url("**done=password**")
    assert "密码已修改" in clerk.page.inner_text("main")
    clerk.shot("a4-password-changed")


def test_the_clearing_chart(site: Site, browser: Any, tabs: list[Tab]) -> None:
    tab = open_tab(site, browser, tabs)
    assert tab.sign_in(CLERK).status == 303
    with site.api() as api:  # at least one settlement this month, whatever ran before
        r = api.post("/v1/bills", json={**v2_bill("bill-3.json"), "bill_no": "CHART-1"})
        assert r.status_code == 201, r.text
        assert api.post(f"/v1/bills/{r.json()['bill_id']}/settlements", json={"scheme_code": NRCMS}).status_code == 201
    tab.page.click("nav a[href='/desk/clearing']")
    tab.page.wait_for_selector("#clearing-chart svg rect.bar")
    table = tab.page.locator("#clearing").bounding_box()
    figure = tab.page.locator("#clearing-chart").bounding_box()
    assert figure["x"] > table["x"] + table["width"] - 1  # beside the table
    assert tab.page.locator("#clearing-chart rect.bar").count() >= 1
    tab.shot("k1-clearing-chart")
