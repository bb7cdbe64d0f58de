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


@pytest.fixture
def full(db_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    """v1, v2 and v3's examples and every person (tiers, large amounts, advances)."""
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        yield client, seed(client, full=True)


def settled(client: TestClient, bill: dict[str, Any], *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for body in bodies:
        r = client.post(f"/v1/bills/{bill['bill_id']}/settlements", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def submitted(client: TestClient, bill: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/bills", json=bill, headers=ADMIN)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def shown_amounts(html: str, table_id: str) -> dict[str, str]:
    """``data-field`` -> ``data-value`` of one table of a page."""
    start = html.index(f'id="{table_id}"')
    table = html[start : html.index("</table>", start)]
    return dict(re.findall(r'data-field="([^"]+)" data-value="([^"]+)"', table))


def table_text(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return re.sub(r"<[^>]+>", " ", html[start : html.index("</table>", start)])


def test_a_tiers_computation_can_be_checked_by_its_clerk(full) -> None:
    from tests.desk.helpers import MA, MA_CLERK, NRCMS, SI, SI_CLERK
    from tests.support.api import v2_bill

    client, _bill = full
    bill = submitted(client, v2_bill("bill-3.json"))
    basic, si, ma = settled(client, bill, {"scheme_code": NRCMS}, {"scheme_code": SI}, {"scheme_code": MA})
    sign_in(client, MA_CLERK)
    page = client.get(f"/desk/bills/{bill['bill_id']}").text
    # The basis the tier was computed from is on the tier clerk's page, with its figures.
    assert 'id="computation-1"' in page and "作为贵机构补充层结算的计算依据" in page
    assert shown_amounts(page, "computation-1")["in_scope"] == basic["in_scope"] == "99200.00"
    assert 'id="computation-2"' not in page  # the other tier's own computation stays its office's
    # The tier's computation: in scope, paid by the basic scheme and its tiers, compliant
    # self-pay, the part toward the threshold, the band, the cap left.
    figures = shown_amounts(page, "computation-3")
    assert figures["compliant_self_pay"] == ma["compliant_self_pay"] == "27500.00"
    assert figures["deductible"] == ma["deductible"] == "1000.00"
    assert figures["fund_payment"] == ma["fund_payment"] == "18550.00"
    assert figures["cap_remaining"] == ma["cap_remaining"] == "11450.00"
    text = table_text(page, "computation-3")
    assert "71,700.00" in text  # 99,200.00 - 49,200.00 - 22,500.00, paid by NRCMS-511623 and SI-511623
    assert "26,500.00" in text and "计算依据" in text and 'href="#computation-1"' in page
    # The serious-illness clerk reads the same basis.
    client.cookies.clear()
    sign_in(client, SI_CLERK)
    page = client.get(f"/desk/bills/{bill['bill_id']}").text
    assert 'id="computation-1"' in page and 'id="computation-3"' not in page
    assert shown_amounts(page, "computation-2")["compliant_self_pay"] == si["compliant_self_pay"]


def test_the_large_amount_tier_shows_its_over_cap_and_every_settlement_its_cap_left(full) -> None:
    from tests.desk.helpers import ADMIN_PERSON
    from tests.support.api import ADMIN as _admin  # noqa: F401

    client, _bill = full
    from tests.api.test_v3_examples import read

    bill = submitted(client, read("bill-6.json"))
    basic, large = settled(client, bill, {"scheme_code": "UEBMI-511600"}, {"scheme_code": "LA-511600"})
    sign_in(client, ADMIN_PERSON)
    page = client.get(f"/desk/bills/{bill['bill_id']}").text
    assert shown_amounts(page, "computation-1")["cap_remaining"] == basic["cap_remaining"] == "0.00"
    figures = shown_amounts(page, "computation-2")
    assert figures["over_cap"] == large["over_cap"] and large["over_cap"] is not None
    assert figures["cap_remaining"] == large["cap_remaining"]
    assert "compliant_self_pay" not in figures


def test_a_reversed_settlement_looks_reversed(desk) -> None:
    from tests.desk.helpers import NRCMS

    client, bill = desk
    (first,) = settled(client, bill, {"scheme_code": NRCMS})
    assert client.post(f"/v1/settlements/{first['settlement_id']}/reversal", headers=ADMIN).status_code == 200
    settled(client, bill, {"scheme_code": NRCMS})
    sign_in(client, CLERK)
    page = client.get(f"/desk/bills/{bill['bill_id']}").text
    assert re.search(r'<table class="figures reversed" id="computation-1">', page)
    assert re.search(r'<table class="figures" id="computation-2">', page)
    reversed_caption = page[
        page.index('id="computation-1"') : page.index("</caption>", page.index('id="computation-1"'))
    ]
    assert '<span class="badge">已冲正</span>' in reversed_caption and "冲正于" in reversed_caption


def test_the_split_sheet_numbers_its_rows_and_names_each_payers_type(desk) -> None:
    from tests.desk.helpers import NRCMS, UEBMI

    client, bill = desk
    voucher = {"payer": "PICC", "voucher_no": "PICC-2026-000123456789", "amount": "500.00"}
    (first,) = settled(client, bill, {"scheme_code": NRCMS})
    assert client.post(f"/v1/settlements/{first['settlement_id']}/reversal", headers=ADMIN).status_code == 200
    settled(client, bill, {"scheme_code": NRCMS, "external_payments": [voucher]}, {"scheme_code": UEBMI})
    api = client.get(f"/v1/bills/{bill['bill_id']}/split", headers=ADMIN).json()
    assert [p["sequence"] for p in api["payments"]] == [2, 2, 3]  # the ledger's: repeating, skipping
    sign_in(client, CLERK)
    for path, table in (
        (f"/desk/bills/{bill['bill_id']}", "split"),
        (f"/desk/bills/{bill['bill_id']}/split", "payers"),
    ):
        html = client.get(path).text
        start = html.index(f'id="{table}"')
        body = html[html.index("<tbody>", start) : html.index("</tbody>", start)]
        cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]
        assert [c[0] for c in cells] == ["1", "2", "3"], path
        types = [re.sub(r"<[^>]+>", "", c[1]) for c in cells]
        assert "前序付款方凭证" in types[0] and "医保基金" in types[1] and "医保基金" in types[2], path
        assert '<td class="voucher">PICC-2026-000123456789</td>' in body, path


CJK = "\u3400-\u9fff"
#: ASCII punctuation ending or splitting Chinese text (after a Chinese character, or a bracket
#: closing one), or leading into it.
ASCII_IN_CHINESE = re.compile(rf"[{CJK}][)）]?[.?!:;,]|[.?!:;,] ?[{CJK}]")


def visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    import html as html_lib

    return html_lib.unescape(html)


def test_chinese_pages_use_chinese_punctuation_and_say_the_right_things(desk) -> None:
    from tests.desk.helpers import NRCMS

    client, bill = desk
    (first,) = settled(client, bill, {"scheme_code": NRCMS})
    assert client.post(f"/v1/settlements/{first['settlement_id']}/reversal", headers=ADMIN).status_code == 200
    settled(client, bill, {"scheme_code": NRCMS})
    sign_in(client, CLERK)
    home = client.get("/desk/")
    pages = {
        "home": home.text,
        "bill": client.get(f"/desk/bills/{bill['bill_id']}").text,
        "split": client.get(f"/desk/bills/{bill['bill_id']}/split").text,
        "reverse": client.get(f"/desk/bills/{bill['bill_id']}/reverse").text,
        "clearing": client.get("/desk/clearing").text,
        "bad month": client.get("/desk/clearing", params={"period": "2026-13"}).text,
        "not found": client.get("/desk/nowhere").text,
        "patient": client.post(
            "/desk/find-patient", data={"csrf_token": csrf_of(home.text), "id_number": "511623199003071234"}
        ).text,
    }
    for name, html in pages.items():
        found = ASCII_IN_CHINESE.findall(visible_text(html))
        assert found == [], (name, found)
    # A month that is not one is not repeated as a heading.
    bad = pages["bad month"]
    assert "2026-13" not in bad[bad.index("<h1>") : bad.index("</h1>")]
    assert "2026-13" not in bad[: bad.index("</title>")]
    # Class C lines are in the catalog: only "not in the catalog" says so.
    computation = table_text(pages["bill"], "computation-2")
    assert "目录外" not in computation and "不予支付" in computation
    lines = {
        int(m[0]): m[1]
        for m in re.findall(r"<tr><td>(\d+)</td>(.*?)</tr>", table_and_rest(pages["bill"], "lines"), re.S)
    }
    assert "丙类" in lines[6] and "目录外" not in lines[6] and "目录外" in lines[7]
    # A warning is not styled as a success.
    assert 'class="warning"' in pages["reverse"] and 'class="notice"' not in pages["reverse"]


def table_and_rest(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</table>", start)]
