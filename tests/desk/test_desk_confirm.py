"""A confirmation pays exactly what its preview showed, or nothing.

Bill 3 (one-stop: the county scheme, its serious-illness tier, then medical assistance): the
medical-assistance clerk previews with a returned voucher; meanwhile the serious-illness tier's
settlement is reversed through the API; the clerk's confirmation is refused with the new preview
and what changed, and nothing is written.  The new preview then confirms.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import tables as db
from app.db.tx import read_session
from tests.desk.helpers import MA, MA_CLERK, NRCMS, SI, csrf_of, hidden_fields, seed, sign_in
from tests.support.api import ADMIN, v2_bill

VOUCHER = {"payer": "中国人寿", "voucher_no": "CL-2026-031", "amount": "1000.00"}


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        seed(client, full=True)
        r = client.post("/v1/bills", json=v2_bill("bill-3.json"), headers=ADMIN)
        assert r.status_code == 201, r.text
        bill: dict[str, Any] = r.json()
        for scheme in (NRCMS, SI):
            settled = client.post(
                f"/v1/bills/{bill['bill_id']}/settlements", json={"scheme_code": scheme}, headers=ADMIN
            )
            assert settled.status_code == 201, settled.text
        yield client, bill


def count(table: Any, **where: Any) -> int:
    with read_session() as s:
        stmt = select(func.count()).select_from(table)
        for column, value in where.items():
            stmt = stmt.where(getattr(table, column) == value)
        return int(s.scalar(stmt) or 0)


def api_preview(client: TestClient, bill_id: str) -> dict[str, Any]:
    body = {"scheme_code": MA, "dry_run": True, "external_payments": [VOUCHER]}
    r = client.post(f"/v1/bills/{bill_id}/settlements", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def preview(client: TestClient, bill_id: str) -> Any:
    page = client.get(f"/desk/bills/{bill_id}")
    form = {
        "csrf_token": csrf_of(page.text),
        "rows": "1",
        "payer_0": VOUCHER["payer"],
        "voucher_no_0": VOUCHER["voucher_no"],
        "amount_0": "1,000.00",
    }
    return client.post(f"/desk/bills/{bill_id}/preview", data=form)


def fund_payment_on(html: str, prefix: str = "preview-") -> Decimal:
    start = html.index(f'id="{prefix}computation-')
    at = html.index('data-field="fund_payment"', start)
    value = html[at:].split('data-value="', 1)[1].split('"', 1)[0]
    return Decimal(value)


def test_a_confirmation_after_another_office_changed_the_bill_is_refused_with_the_new_preview(desk) -> None:
    client, bill = desk
    bill_id = bill["bill_id"]
    assert sign_in(client, MA_CLERK).status_code == 303
    before = api_preview(client, bill_id)
    shown = preview(client, bill_id)
    assert shown.status_code == 200, shown.text
    assert fund_payment_on(shown.text) == Decimal(before["fund_payment"])
    assert Decimal(before["fund_payment"]) == Decimal("18550.00")  # 26,500.00 x 0.70 (v2's scenario E)
    confirm = hidden_fields(shown.text, "confirm-form")
    assert confirm["previewed"] and confirm["idempotency_key"]

    # Meanwhile the serious-illness tier's settlement is reversed: assistance would pay more.
    split = client.get(f"/v1/bills/{bill_id}/split", headers=ADMIN).json()
    si = next(p["settlement_id"] for p in split["payments"] if p["scheme_code"] == SI)
    assert client.post(f"/v1/settlements/{si}/reversal", headers=ADMIN).status_code == 200
    after = api_preview(client, bill_id)
    assert Decimal(after["fund_payment"]) == Decimal("30000.00")  # its annual cap

    settlements, vouchers = count(db.Settlement), count(db.ExternalPayment)
    refused = client.post(f"/desk/bills/{bill_id}/settle", data=confirm, follow_redirects=False)
    assert refused.status_code == 409
    assert 'id="problem"' in refused.text and "autofocus" in refused.text
    assert "结果已变化" in refused.text and "未支付任何款项" in refused.text
    # What changed, old and new, and the new preview's figures are the service's.
    at = refused.text.index('id="changes"')
    changes = refused.text[at : refused.text.index("</ul>", at)]
    assert "18,550.00" in changes and "30,000.00" in changes
    assert fund_payment_on(refused.text) == Decimal(after["fund_payment"])
    assert "30,000.00" in refused.text[refused.text.index('id="confirm"') :]
    # Nothing written: no settlement, no voucher, no idempotency record.
    assert count(db.Settlement) == settlements and count(db.ExternalPayment) == vouchers
    assert count(db.Settlement, scheme_code=MA) == 0
    assert count(db.IdempotencyRecord, client_id=f"user:{MA_CLERK}") == 0

    # The new preview confirms: the settlement is what it showed.
    again = hidden_fields(refused.text, "confirm-form")
    assert again["idempotency_key"] != confirm["idempotency_key"]
    done = client.post(f"/desk/bills/{bill_id}/settle", data=again, follow_redirects=False)
    assert done.status_code == 303, done.text
    split = client.get(f"/v1/bills/{bill_id}/split", headers=ADMIN).json()
    ma = next(p for p in split["payments"] if p["scheme_code"] == MA)
    assert Decimal(ma["amount"]) == Decimal("30000.00")
    # The stale form posted once more: refused again, nothing paid twice.
    assert client.post(f"/desk/bills/{bill_id}/settle", data=confirm, follow_redirects=False).status_code == 409
    assert count(db.Settlement, scheme_code=MA) == 1


def test_a_confirmation_must_carry_its_preview(desk) -> None:
    client, bill = desk
    bill_id = bill["bill_id"]
    sign_in(client, MA_CLERK)
    confirm = hidden_fields(preview(client, bill_id).text, "confirm-form")
    for previewed in ("", "not json", '[["fund_payment"]]'):
        r = client.post(f"/desk/bills/{bill_id}/settle", data={**confirm, "previewed": previewed})
        assert r.status_code == 400
        assert count(db.Settlement, scheme_code=MA) == 0
    # Figures altered by hand: refused as a changed result (the service pays only what it computes).
    altered = confirm["previewed"].replace('"18550.00"', '"99999.00"')
    assert altered != confirm["previewed"]
    r = client.post(f"/desk/bills/{bill_id}/settle", data={**confirm, "previewed": altered})
    assert r.status_code == 409 and count(db.Settlement, scheme_code=MA) == 0
    # Unchanged: paid once, and a second click replays it.
    for _ in range(2):
        r = client.post(f"/desk/bills/{bill_id}/settle", data=confirm, follow_redirects=False)
        assert r.status_code == 303
    assert count(db.Settlement, scheme_code=MA) == 1
    assert count(db.ExternalPayment, voucher_no=VOUCHER["voucher_no"]) == 1
