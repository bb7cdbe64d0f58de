"""The desk in a real browser (headless Debian chromium), on SQLite and PostgreSQL.

Refusals first (wrong password then locked, a form without its CSRF token, a clerk of another
scheme), then the journey of an NRCMS-511623 clerk: find bill 1 by its number, preview, settle
with a voucher (double-clicking the confirmation), compare every amount on the page with the
API's answer, read the page in English, print the split sheet to PDF and read it back, the
month's clearing statement and its CSV, a reversal, and the hospital clerk's day.

Screenshots of each page and the PDF are written to ``.artifacts/desk/<backend>/``.  Every
request the browser makes is recorded: none may leave the service.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app.db import tables as db
from app.desk import i18n
from tests.desk.browser import Tab, open_tab, rows
from tests.desk.helpers import CLERK, HOSPITAL_CLERK, OTHER_CLERK, PASSWORD, UEBMI_CLERK, Site

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def settlement_fields(api: dict[str, Any]) -> dict[str, Decimal]:
    """The API's amounts under the desk's ``data-field`` names."""
    names = [
        *("medical_total", "excluded", "over_limit", "b_self_pay", "in_scope", "deductible", "computed_benefit"),
        *("benefit_after_cap", "prior_payments", "coordination_reduction", "fund_payment", "patient_responsibility"),
    ]
    out = {n: Decimal(api[n]) for n in names}
    out.update({n: Decimal(api[n]) for n in ("cap_remaining", "compliant_self_pay", "over_cap") if api[n] is not None})
    out.update({f"band_{i}": Decimal(b["amount"]) for i, b in enumerate(api["bands"])})
    out.update({f"voucher_{e['voucher_no']}": Decimal(e["amount"]) for e in api["external_payments"]})
    return out


def assert_page_matches(shown: dict[str, tuple[Decimal, Decimal]], expected: dict[str, Decimal]) -> None:
    assert set(shown) == set(expected)
    for field, (as_shown, exact) in shown.items():
        assert as_shown == exact == expected[field], field


VOUCHER = {"payer": "中国人寿", "voucher_no": "CL-2026-001", "amount": "1000.00"}


def fill_voucher(page: Any) -> None:
    page.fill("#payer_0", VOUCHER["payer"])
    page.fill("#voucher_no_0", VOUCHER["voucher_no"])
    page.fill("#amount_0", "1,000.00")


def test_refusals(site: Site, browser: Any, tabs: list[Tab]) -> None:
    bill = site.bill
    # Wrong password, then locked (3 failures here): the right password no longer opens it.
    tab = open_tab(site, browser, tabs)
    assert tab.sign_in(UEBMI_CLERK, "not the password").status == 401
    assert "用户名或密码错误" in tab.page.inner_text("#signin-error")
    assert tab.page.input_value("#username") == UEBMI_CLERK  # the form keeps what was typed
    tab.shot("r1-wrong-password")
    assert tab.sign_in(UEBMI_CLERK, "still not it").status == 401
    assert tab.sign_in(UEBMI_CLERK, "nor this").status == 423
    assert tab.sign_in(UEBMI_CLERK, PASSWORD).status == 423
    assert "账号已锁定" in tab.page.inner_text("#signin-error")
    tab.shot("r2-locked")
    assert tab.page.url.endswith("/desk/sign-in")

    # A form posted without its CSRF token: 403, nothing written.
    tab = open_tab(site, browser, tabs)
    assert tab.sign_in(CLERK).status == 303
    tab.go(f"/desk/bills/{bill['bill_id']}")
    fill_voucher(tab.page)
    tab.page.click("button[name=preview]")
    tab.page.wait_for_selector("#confirm")
    tab.page.evaluate("document.querySelector('#confirm-form input[name=csrf_token]').remove()")
    with tab.page.expect_response(lambda r: r.url.endswith("/settle")) as r:
        tab.page.click("#confirm")
    assert r.value.status == 403
    assert "无法受理该表单" in tab.page.inner_text("h1")
    tab.shot("r3-no-csrf-token")
    assert rows(site, db.Settlement) == rows(site, db.IdempotencyRecord) == rows(site, db.ExternalPayment) == 0

    # A clerk of a scheme the patient is not in: the bill does not exist for them.
    tab = open_tab(site, browser, tabs)
    tab.sign_in(OTHER_CLERK)
    assert tab.go(f"/desk/bills/{bill['bill_id']}").status == 404
    assert "没有该费用单" in tab.page.inner_text("main")
    assert bill["patient"]["name"] not in tab.page.content()
    tab.shot("r4-other-scheme-bill")
    tab.go("/desk/")
    tab.page.fill("#hospital_code", bill["hospital"]["code"])
    tab.page.fill("#bill_no", bill["bill_no"])
    tab.page.press("#bill_no", "Enter")
    tab.page.wait_for_selector("#err-bill_no")
    assert tab.page.get_attribute("#bill_no", "aria-invalid") == "true"
    assert tab.page.input_value("#bill_no") == bill["bill_no"]
    tab.shot("r5-other-scheme-find")


def test_journey(site: Site, browser: Any, tabs: list[Tab]) -> None:
    bill = site.bill
    api = site.api()
    tab = open_tab(site, browser, tabs)
    page = tab.page
    tab.go("/desk/")
    assert page.get_attribute("html", "lang") == "zh-CN"
    tab.shot("01-sign-in")
    assert tab.sign_in(CLERK).status == 303
    tab.shot("02-home")
    # The first Tab reaches the skip link: the desk is used from the keyboard.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"

    # Find bill 1 by its number.
    page.fill("#hospital_code", bill["hospital"]["code"])
    page.fill("#bill_no", bill["bill_no"])
    page.press("#bill_no", "Enter")
    page.wait_for_url(f"**/desk/bills/{bill['bill_id']}")
    assert bill["patient"]["id_number"] in page.inner_text("main")  # masked, as the API shows it
    assert "511623199003071234" not in page.content()
    tab.shot("03-bill")

    # Preview (the dry run): the page's figures are the API's dry run.
    fill_voucher(page)
    page.click("button[name=preview]")
    page.wait_for_selector("#confirm")
    tab.shot("04-preview")
    body = {"scheme_code": "NRCMS-511623", "dry_run": True, "external_payments": [VOUCHER]}
    dry = api.post(f"/v1/bills/{bill['bill_id']}/settlements", json=body).json()
    assert_page_matches(tab.amounts("#preview-computation-1"), settlement_fields(dry))
    assert rows(site, db.Settlement) == 0

    # Confirm with a double click: one settlement.
    confirm_form = page.evaluate("Object.fromEntries(new FormData(document.querySelector('#confirm-form')))")
    page.dblclick("#confirm")
    page.wait_for_url("**done=settled**")
    page.wait_for_load_state()
    tab.shot("05-settled")
    assert rows(site, db.Settlement) == 1 and rows(site, db.ExternalPayment) == 1
    # The same confirmation posted again (a reload of the POST): the first settlement, replayed.
    browser_request = tab.context.request  # with the browser's own cookies
    again = browser_request.post(
        site.base + f"/desk/bills/{bill['bill_id']}/settle", form=confirm_form, max_redirects=0
    )
    assert again.status == 303 and again.headers["location"].endswith("done=settled#settlement-1")
    assert rows(site, db.Settlement) == 1 and rows(site, db.ExternalPayment) == 1
    split = api.get(f"/v1/bills/{bill['bill_id']}/split").json()
    sid = next(p["settlement_id"] for p in split["payments"] if p["payer_type"] == "scheme")
    settled = api.get(f"/v1/settlements/{sid}").json()
    assert settled["fund_payment"] == dry["fund_payment"]
    assert_page_matches(tab.amounts("#computation-1"), settlement_fields(settled))
    shown_split = tab.amounts("#split")
    expected_split = {f"split_{i}": Decimal(p["amount"]) for i, p in enumerate(split["payments"])}
    expected_split["split_total_paid"] = Decimal(split["total_paid"])
    expected_split["split_patient_responsibility"] = Decimal(split["patient_responsibility"])
    assert_page_matches(shown_split, expected_split)
    the_bill = api.get(f"/v1/bills/{bill['bill_id']}").json()
    facts = tab.amounts("dl.facts")
    assert facts["bill_medical_total"][0] == Decimal(the_bill["medical_total"])
    assert facts["bill_paid_total"][0] == Decimal(the_bill["paid_total"])
    assert facts["bill_patient_share"][0] == Decimal(split["patient_responsibility"])
    # Each line shows NRCMS's class and reason.
    assert page.locator("#lines tbody tr").count() == len(bill["items"])
    assert "目录外" in page.inner_text("#lines")
    # A new preview now is refused in the clerk's language: NRCMS already settled the bill.
    form = {"csrf_token": confirm_form["csrf_token"], "rows": "1"}
    refused = browser_request.post(site.base + f"/desk/bills/{bill['bill_id']}/preview", form=form)
    assert refused.status == 409 and "已结算本单" in refused.text()
    assert rows(site, db.Settlement) == 1

    # English is one click away.
    page.click("a.lang")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert "The fund pays" in page.inner_text("#computation-1")
    tab.shot("06-bill-english")
    page.click("a.lang")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "zh-CN"

    # The split sheet, printed to PDF by Chromium: every payer line and amount is on it.
    page.click(f"a[href='/desk/bills/{bill['bill_id']}/split']")
    page.wait_for_selector("#payers")
    tab.shot("07-split-sheet")
    pdf_path = site.shots / "split-sheet.pdf"
    page.emulate_media(media="print")
    page.pdf(path=str(pdf_path), format="A4", print_background=True)
    page.emulate_media(media="screen")
    reader = PdfReader(str(pdf_path))
    assert len(reader.pages) == 1  # one A4 sheet
    # NFKC: the CJK font maps some glyphs to Kangxi radicals (⽤ for 用).
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", reader.pages[0].extract_text()))
    i18n.set_lang("zh_CN")
    assert "费用分割单" in text and "Medical expense split sheet" in text
    for p in split["payments"]:
        payer = p["payer"] if p["payer_type"] == "external" else p["scheme_code"]
        line = f"{payer}" + (f" {p['voucher_no']}" if p["voucher_no"] else "")
        assert payer in text and i18n.amount(p["amount"]) in text, p
        if p["voucher_no"]:
            assert p["voucher_no"] in text
        assert line.split(maxsplit=1)[0] in text
    assert i18n.amount(split["patient_responsibility"]) in text
    assert i18n.amount(split["total_paid"]) in text
    assert "李明" in text and datetime.now(UTC).date().isoformat() in text

    # The month's clearing statement and its CSV.
    tab.go("/desk/")
    page.click("nav a[href='/desk/clearing']")
    page.wait_for_selector("#clearing")
    tab.shot("08-clearing")
    period = datetime.now(UTC).strftime("%Y-%m")
    clearing = api.get("/v1/clearing", params={"period": period}).json()
    nrcms = [r for r in clearing["rows"] if r["scheme_code"] == "NRCMS-511623"]
    shown = tab.amounts("#clearing tfoot")
    assert shown["total_fund_payment"][0] == sum(Decimal(r["fund_payment"]) for r in nrcms)
    with page.expect_download() as download:
        page.click("a[download]")
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    api_csv = api.get("/v1/clearing", params={"period": period}, headers={"Accept": "text/csv"}).text
    assert csv_text.splitlines()[0] == api_csv.splitlines()[0]
    assert list(csv_text.splitlines()[1:]) == [ln for ln in api_csv.splitlines()[1:] if "NRCMS-511623" in ln]

    # Reverse, after a confirmation.
    tab.go(f"/desk/bills/{bill['bill_id']}")
    page.click(f"a[href='/desk/bills/{bill['bill_id']}/reverse']")
    page.wait_for_selector("#confirm-reverse")
    tab.shot("09-reverse-confirm")
    page.click("#confirm-reverse")
    page.wait_for_url("**done=reversed**")
    tab.shot("10-reversed")
    assert api.get(f"/v1/settlements/{sid}").json()["status"] == "reversed"
    assert rows(site, db.Reversal) == 1

    # The hospital clerk's day: one settlement and one reversal, netting to zero.
    htab = open_tab(site, browser, tabs)
    assert htab.sign_in(HOSPITAL_CLERK).status == 303
    htab.page.click("nav a[href='/desk/reconciliation']")
    htab.page.wait_for_selector("#reconciliation")
    htab.shot("11-reconciliation")
    day = datetime.now(UTC).date().isoformat()
    recon = api.get("/v1/reconciliation", params={"hospital_code": bill["hospital"]["code"], "date": day}).json()
    shown = htab.amounts("#reconciliation tfoot")
    assert shown["total_fund_payment"][0] == Decimal(recon["totals"]["fund_payment"]) == Decimal("0.00")
    assert shown["total_medical_total"][0] == Decimal(recon["totals"]["medical_total"])
    assert recon["totals"]["settlements"] == 1 and recon["totals"]["reversals"] == 1

    # The audit trail names the clerk for every step.
    audit = api.get("/v1/audit", params={"client_id": f"user:{CLERK}", "limit": 500}).json()["items"]
    operations = [a["operation"] for a in audit]
    assert {"deskSignIn", "deskFindBill", "deskBill", "deskPreview", "deskSplit", "deskReverse"} <= set(operations)
    # The clicks and the replay reached the server, and every answer was that one settlement (a
    # click whose connection the browser dropped while posting may have been cut off, unpaid).
    settles = [(a["object_id"], a["status_code"]) for a in audit if a["operation"] == "deskSettle"]
    answered = [object_id for object_id, status in settles if status == 303]
    assert len(answered) >= 2 and set(answered) == {sid}, settles
    api.close()


def test_api_docs_load_nothing_from_outside(site: Site, browser: Any, tabs: list[Tab]) -> None:
    tab = open_tab(site, browser, tabs)
    tab.go("/docs")
    tab.page.wait_for_selector(".swagger-ui .info", timeout=30_000)
    tab.shot("12-docs", full_page=False)
    tab.go("/redoc")
    tab.page.wait_for_selector("redoc .api-content, [role=main], .redoc-wrap", timeout=30_000)
    tab.shot("13-redoc", full_page=False)
