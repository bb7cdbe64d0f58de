"""Receivables at the desk (rules v3.3) over HTTP: a clerk settles bill 12 with the fund's
advance on the third party who caused the injury, sees the advance and its receivable on the
bill, lists the office's receivables, records a recovery (once, however often it is posted),
is refused one over what is outstanding, and writes off the rest.  Other roles are refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_v3_examples import read
from tests.desk.helpers import CLERK, HOSPITAL_CLERK, UEBMI_CLERK, csrf_of, hidden_fields, seed, sign_in
from tests.support.api import ADMIN

RIDER = "Zhang Peng (motorcycle rider, sample)"


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[TestClient, dict[str, Any], dict[str, Any]]]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        seed(client, full=True)
        r = client.post("/v1/bills", json=read("bill-12.json"), headers=ADMIN)
        assert r.status_code == 201, r.text
        expected = read("expected-v3.json")["K_advance_third_party_bill_12"]
        yield client, r.json(), expected


def test_an_office_settles_with_an_advance_and_recovers_it(desk) -> None:
    client, bill, expected = desk
    bill_id = bill["bill_id"]
    sign_in(client, CLERK)
    page = client.get(f"/desk/bills/{bill_id}")
    form = {"csrf_token": csrf_of(page.text), "rows": "1", "advance_name": RIDER}
    shown = client.post(f"/desk/bills/{bill_id}/preview", data=form)
    assert shown.status_code == 200, shown.text
    assert RIDER in shown.text and "第三方造成伤害" in shown.text
    confirm = hidden_fields(shown.text, "confirm-form")
    assert confirm["advance_name"] == RIDER
    assert client.post(f"/desk/bills/{bill_id}/settle", data=confirm, follow_redirects=False).status_code == 303

    split = client.get(f"/v1/bills/{bill_id}/split", headers=ADMIN).json()
    settlement = client.get(f"/v1/settlements/{split['payments'][0]['settlement_id']}", headers=ADMIN).json()
    assert settlement["advance"]["liable"] == expected["receivable"]["liable"]
    receivable_id = settlement["advance"]["receivable_id"]
    opened = expected["receivable"]["steps"][0]
    assert settlement["fund_payment"] == opened["amount"] == "1312.50"

    # The bill shows the advance and its receivable.
    page = client.get(f"/desk/bills/{bill_id}").text
    assert RIDER in page and f'href="/desk/receivables/{receivable_id}"' in page
    assert 'data-field="receivable_outstanding" data-value="1312.50"' in page

    # The office's list, and the receivable.
    listed = client.get("/desk/receivables").text
    assert f'href="/desk/receivables/{receivable_id}"' in listed and bill["bill_no"] in listed
    assert "1,312.50" in listed
    assert client.get("/desk/receivables", params={"status": "recovered"}).text.count("/desk/receivables/") == 0
    detail = client.get(f"/desk/receivables/{receivable_id}")
    assert detail.status_code == 200
    recovery = hidden_fields(detail.text, "recovery-form")
    recovery.update(amount="1,000.00", received_on="2026-09-08", reference="JQX-2026-511623-0441")

    # A recovery, posted twice (a double click): recorded once.
    for _ in range(2):
        r = client.post(f"/desk/receivables/{receivable_id}/recoveries", data=recovery, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("done=recovered")
    api = client.get(f"/v1/receivables/{receivable_id}", headers=ADMIN).json()
    assert [x["amount"] for x in api["recoveries"]] == ["1000.00"]
    assert (api["recovered"], api["outstanding"], api["status"]) == ("1000.00", "312.50", "partly_recovered")
    page = client.get(f"/desk/receivables/{receivable_id}?done=recovered").text
    assert "部分收回" in page and 'data-field="outstanding" data-value="312.50"' in page

    # More than what is outstanding: refused next to the field, nothing recorded.
    again = hidden_fields(page, "recovery-form")
    again.update(amount="500", received_on="2026-09-09", reference="JQX-2")
    r = client.post(f"/desk/receivables/{receivable_id}/recoveries", data=again)
    assert r.status_code == 422 and "超过未收回金额" in r.text and 'href="#amount"' in r.text
    assert 'value="500"' in r.text
    # A date that is not one, and no reference: the desk's own checks.
    bad = {**again, "received_on": "2026-02-30", "reference": ""}
    r = client.post(f"/desk/receivables/{receivable_id}/recoveries", data=bad)
    assert r.status_code == 422 and 'href="#received_on"' in r.text and 'href="#reference"' in r.text

    # The rest is written off; once only.
    write_off = hidden_fields(page, "write-off-form")
    assert client.post(f"/desk/receivables/{receivable_id}/write-off", data=write_off).status_code == 422  # no reason
    write_off["reason"] = "the rider cannot be found"
    r = client.post(f"/desk/receivables/{receivable_id}/write-off", data=write_off, follow_redirects=False)
    assert r.status_code == 303
    api = client.get(f"/v1/receivables/{receivable_id}", headers=ADMIN).json()
    assert (api["written_off"], api["outstanding"], api["status"]) == ("312.50", "0.00", "written_off")
    r = client.post(f"/desk/receivables/{receivable_id}/write-off", data=write_off)
    assert r.status_code == 409 and "已无未收回金额" in r.text
    assert 'id="recovery-form"' not in client.get(f"/desk/receivables/{receivable_id}").text

    # Each write's audit record names the clerk and the receivable, with the answer given.
    audit = client.get("/v1/audit", params={"client_id": f"user:{CLERK}", "limit": 200}, headers=ADMIN).json()["items"]
    writes = [(a["operation"], a["status_code"]) for a in audit if a["object_id"] == receivable_id]
    assert writes.count(("deskRecordRecovery", 303)) == 2 and ("deskWriteOff", 303) in writes


def test_other_roles_do_not_reach_an_offices_receivables(desk) -> None:
    client, bill, _expected = desk
    body = {
        "scheme_code": "NRCMS-511623",
        "advance": {"reason": "third_party", "liable": {"kind": "third_party", "name": RIDER}},
    }
    r = client.post(f"/v1/bills/{bill['bill_id']}/settlements", json=body, headers=ADMIN)
    receivable_id = r.json()["advance"]["receivable_id"]
    sign_in(client, HOSPITAL_CLERK)
    assert client.get("/desk/receivables").status_code == 403
    assert client.get(f"/desk/receivables/{receivable_id}").status_code == 403
    page = client.get(f"/desk/bills/{bill['bill_id']}").text
    assert RIDER in page and f"/desk/receivables/{receivable_id}" not in page  # the advance, not its receivable
    client.cookies.clear()
    sign_in(client, UEBMI_CLERK)
    assert receivable_id not in client.get("/desk/receivables").text
    assert client.get(f"/desk/receivables/{receivable_id}").status_code == 404
    home = client.get("/desk/")
    form = {"csrf_token": csrf_of(home.text), "idempotency_key": "k", "amount": "1", "received_on": "2026-09-08"}
    r = client.post(f"/desk/receivables/{receivable_id}/recoveries", data={**form, "reference": "R"})
    assert r.status_code == 404
    assert client.get(f"/v1/receivables/{receivable_id}", headers=ADMIN).json()["recovered"] == "0.00"
