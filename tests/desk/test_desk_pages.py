"""The desk's pages over HTTP: errors as pages with the signed-in header, messages at the top,
a tier's computation, amounts read as the API reads them, reversed settlements, the split sheet,
search, and the small things (punctuation, the month in a heading, the icon)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.desk.helpers import CLERK, csrf_of, seed, sign_in
from tests.support.api import ADMIN


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        yield client, seed(client)


def signed_in_header(html: str) -> bool:
    return 'action="/desk/sign-out"' in html and "<nav" in html


def test_errors_are_pages_with_the_signed_in_header(desk) -> None:
    client, bill = desk
    # Not signed in: an unknown desk address is a page too (no header to keep).
    r = client.get("/desk/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<h1>" in r.text and "没有这个页面" in r.text
    sign_in(client, CLERK)
    for path, status in (
        ("/desk/no-such-page", 404),
        ("/desk/bills/x/y/z", 404),
        (f"/desk/bills/{bill['bill_id']}/preview", 405),  # a GET of an address that takes a form
        (f"/desk/bills/{bill['bill_id']}/settle", 405),
        ("/desk/find-patient", 405),
        ("/desk/clearing?period=" + "2" * 30, 422),  # a query longer than the desk accepts
        ("/desk/bills/no-such-bill", 404),
    ):
        r = client.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert '"title"' not in r.text, path  # not the API's JSON problem
        assert signed_in_header(r.text), path
        assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "POST" in client.get("/desk/find-patient").headers["allow"]
    # The API's addresses keep answering problems.
    r = client.get("/v1/no-such-thing", headers=ADMIN)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/v1/bills/x/split", headers=ADMIN)
    assert r.headers["content-type"].startswith("application/problem+json")


def test_the_language_switch_of_a_posted_page_opens_a_page(desk) -> None:
    client, bill = desk
    sign_in(client, CLERK)
    page = client.get(f"/desk/bills/{bill['bill_id']}")
    shown = client.post(f"/desk/bills/{bill['bill_id']}/preview", data={"csrf_token": csrf_of(page.text), "rows": "1"})
    assert shown.status_code == 200
    switch = re.search(r'class="lang" href="([^"]+)"', shown.text)
    assert switch is not None
    r = client.get(switch.group(1).replace("&amp;", "&"))
    assert r.status_code == 200
    assert r.url.path == f"/desk/bills/{bill['bill_id']}" and 'lang="en"' in r.text
    # The patient's list of bills, reached by a POST: the switch opens the search page.
    patient = {"csrf_token": csrf_of(page.text), "id_number": "511623199003071234"}
    found = client.post("/desk/find-patient", data=patient)
    switch = re.search(r'class="lang" href="([^"]+)"', found.text)
    assert switch is not None
    r = client.get(switch.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.url.path == "/desk/"


def test_the_icon_is_served(desk) -> None:
    client, _bill = desk
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def preview_form(client: TestClient, bill_id: str, **rows: str) -> dict[str, str]:
    page = client.get(f"/desk/bills/{bill_id}")
    return {"csrf_token": csrf_of(page.text), "rows": "3", **rows}


def test_problems_are_summed_up_at_the_top_and_focused(desk) -> None:
    client, bill = desk
    sign_in(client, CLERK)
    form = preview_form(client, bill["bill_id"], payer_0="PICC", voucher_no_0="V1", amount_0="1e3", voucher_no_1="V2")
    r = client.post(f"/desk/bills/{bill['bill_id']}/preview", data=form)
    assert r.status_code == 422
    problem = r.text.index('<div class="error problem"')
    assert problem < r.text.index('id="settle-form"') and problem < r.text.index('id="lines"')
    summary = r.text[problem : r.text.index("</div>", problem)]
    assert "autofocus" in summary and 'role="alert"' in summary
    # Each field's message, named by its row and field, links to the field.
    assert 'href="#amount_0"' in summary and "第 1 行，金额（元）" in summary
    assert 'href="#payer_1"' in summary and "第 2 行，支付方" in summary
    # A refusal of the service names what is wrong, not only that something is.
    form = preview_form(client, bill["bill_id"], payer_0="PICC", voucher_no_0="V1", amount_0="99999")
    r = client.post(f"/desk/bills/{bill['bill_id']}/preview", data=form)
    assert r.status_code == 422
    summary = r.text[r.text.index('id="problem"') : r.text.index("</div>", r.text.index('id="problem"'))]
    assert "将超过总额" in summary and "99,999.00" in summary
    # The search page's problems too.
    r = client.get("/desk/find", params={"hospital_code": "", "bill_no": ""})
    assert r.status_code == 422 and 'id="problem"' in r.text and 'href="#hospital_code"' in r.text


@pytest.mark.parametrize(
    ("typed", "read"),
    [("1000", "1000"), ("1,000.50", "1000.50"), ("1000.5", "1000.5"), ("12.500", "12.500"), ("0.01", "0.01")],
)
def test_amounts_are_read_as_the_api_reads_them(typed: str, read: str) -> None:
    from decimal import Decimal

    from app.desk import forms

    assert forms.amount(typed) == Decimal(read)


@pytest.mark.parametrize("typed", ["1e3", ".5", "3000.", "+5", "1 000", "1,00.00", "1,0000", "NaN", "Infinity", "١٢٣"])
def test_amounts_the_api_refuses_are_refused(typed: str) -> None:
    from app.desk import forms, i18n

    i18n.set_lang("en")
    assert forms.amount(typed) == "Enter an amount in yuan, such as 1,200.50."


def test_amounts_out_of_range_are_refused() -> None:
    from app.desk import forms, i18n

    i18n.set_lang("en")
    assert forms.amount("0.00") == forms.amount("-5") == "The amount must be more than 0."
    assert forms.amount("1.005") == "An amount has at most two decimals (yuan and fen)."
    assert forms.amount("100000000000000") == "The amount is too large."


def test_search_takes_what_clerks_type(desk) -> None:
    client, bill = desk
    sign_in(client, CLERK)
    # The hospital code in any case.
    for code in ("h511623001", " H511623001 ", "H511623001"):
        r = client.get("/desk/find", params={"hospital_code": code, "bill_no": bill["bill_no"]}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/desk/bills/{bill['bill_id']}", code
    # An ID number with spaces around it or between its groups, or a lower-case x.
    page = client.get("/desk/")
    for typed in (" 511623199003071234 ", "511623 19900307 1234", "\t511623199003071234\n"):
        r = client.post("/desk/find-patient", data={"csrf_token": csrf_of(page.text), "id_number": typed})
        assert r.status_code == 200 and bill["bill_no"] in r.text, typed
    # A wrong check character is named as such, and the entry stays in the field.
    r = client.post("/desk/find-patient", data={"csrf_token": csrf_of(page.text), "id_number": "511623199003071235"})
    assert r.status_code == 422 and "校验码" in r.text and 'value="511623199003071235"' in r.text
    assert bill["bill_no"] not in r.text
    r = client.post("/desk/find-patient", data={"csrf_token": csrf_of(page.text), "id_number": "51162319900307123"})
    assert r.status_code == 422 and "18 位" in r.text and 'value="51162319900307123"' in r.text
    # Nothing entered: a problem with the entry (422), not "not found".
    r = client.get("/desk/find", params={"hospital_code": "H511623001", "bill_no": ""})
    assert r.status_code == 422
    r = client.get("/desk/find", params={"hospital_code": "H511623001", "bill_no": "NO-SUCH-BILL"})
    assert r.status_code == 404 and 'id="problem"' in r.text
