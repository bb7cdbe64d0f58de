"""Every response body the service renders is exactly its documented ``*Public`` model.

The routes return prebuilt JSON (FastAPI does not re-validate it), so this test does: each body,
read through the route's response model and dumped again, must give back the same document; a
field the renderer forgot, added, renamed or formatted differently fails here.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter

from app.schemas.clients import AuditPage, ClientCreated, ClientPublic
from app.schemas.hospitals import HospitalPage, RegisteredHospitalPublic
from app.schemas.public import (
    BillPage,
    BillPublic,
    ClaimPublic,
    MemberPublic,
    PolicyPublic,
    SettlementPage,
    SplitPublic,
)
from app.schemas.reference import CatalogPublic, SchemePublic
from app.schemas.reports import (
    CLEARING_CSV_HEADER,
    ClearingLine,
    ClearingPublic,
    ClearingRow,
    ClearingStatement,
    Reconciliation,
    ReconciliationLine,
    ReconciliationPublic,
    ReportFigures,
    clearing_csv,
    clearing_public,
    reconciliation_public,
)
from app.schemas.settlements import SettlementPublic
from tests.support.api import ADMIN, bill_1
from tests.support.paths import examples_dir

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"


def keys(document: Any) -> Any:
    """The document's shape: its keys at every depth (values left out)."""
    if isinstance(document, dict):
        return {k: keys(v) for k, v in document.items()}
    if isinstance(document, list):
        return [keys(v) for v in document]
    return None


def conforms(model: Any, body: Any) -> None:
    """``body`` validates as ``model`` (types, patterns, required fields) and has no field the
    model does not declare."""
    adapter = TypeAdapter(model)
    again = adapter.dump_python(adapter.validate_python(body), mode="json", by_alias=True)
    assert keys(again) == keys(body), f"{getattr(model, '__name__', model)}: {body}"


def test_every_renderer_gives_its_model(loaded: TestClient) -> None:
    def ok(response: Any, model: type[BaseModel] | Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        body = response.json()
        conforms(model, body)
        return body

    bill = ok(loaded.post("/v1/bills", json=bill_1(), headers=ADMIN), BillPublic, 201)
    bill_id = bill["bill_id"]
    ok(loaded.get(f"/v1/bills/{bill_id}", headers=ADMIN), BillPublic)
    ok(loaded.get("/v1/bills", headers=ADMIN), BillPage)
    settle = f"/v1/bills/{bill_id}/settlements"
    ok(loaded.post(settle, json={"scheme_code": NRCMS, "dry_run": True}, headers=ADMIN), SettlementPublic)
    first = ok(loaded.post(settle, json={"scheme_code": NRCMS}, headers=ADMIN), SettlementPublic, 201)
    external = [{"payer": "An insurer", "voucher_no": "V-1", "amount": "100.00"}]
    second = ok(
        loaded.post(settle, json={"scheme_code": UEBMI, "external_payments": external}, headers=ADMIN),
        SettlementPublic,
        201,
    )
    assert second["external_payments"] == external
    split = ok(loaded.get(f"/v1/bills/{bill_id}/split", headers=ADMIN), SplitPublic)
    assert [p["payer_type"] for p in split["payments"]] == ["scheme", "external", "scheme"]
    ok(loaded.get(f"/v1/settlements/{first['settlement_id']}", headers=ADMIN), SettlementPublic)
    ok(loaded.get("/v1/settlements", headers=ADMIN), SettlementPage)
    reversed_ = ok(loaded.post(f"/v1/settlements/{second['settlement_id']}/reversal", headers=ADMIN), SettlementPublic)
    assert reversed_["status"] == "reversed"
    claim = {"bill": {**bill_1(), "bill_no": "RENDER-2"}, "schemes": [NRCMS, UEBMI]}
    ok(loaded.post("/v1/claims", json=claim, headers=ADMIN), ClaimPublic, 201)

    ok(loaded.get("/v1/schemes", headers=ADMIN), list[SchemePublic])
    ok(loaded.get(f"/v1/schemes/{NRCMS}", headers=ADMIN), SchemePublic)
    folder = examples_dir()
    version = json.loads((folder / "catalogs.json").read_text())[NRCMS]["version"]
    member_no = json.loads((folder / "members.json").read_text())[NRCMS][0]["member_no"]
    ok(loaded.get(f"/v1/schemes/{NRCMS}/catalogs/{version}", headers=ADMIN), CatalogPublic)
    ok(loaded.get(f"/v1/schemes/{NRCMS}/policies/{first['policy_year']}", headers=ADMIN), PolicyPublic)
    ok(loaded.get(f"/v1/schemes/{NRCMS}/members/{member_no}", headers=ADMIN), MemberPublic)
    ok(loaded.get("/v1/hospitals", headers=ADMIN), HospitalPage)
    hospital = bill["hospital"]["code"]
    ok(loaded.get(f"/v1/hospitals/{hospital}", headers=ADMIN), RegisteredHospitalPublic)
    created = ok(
        loaded.post(
            "/v1/clients", json={"name": "Render", "role": "scheme_office", "scheme_code": NRCMS}, headers=ADMIN
        ),
        ClientCreated,
        201,
    )
    ok(loaded.get("/v1/clients", headers=ADMIN), list[ClientPublic])
    ok(loaded.delete(f"/v1/clients/{created['client_id']}", headers=ADMIN), ClientPublic)
    ok(loaded.get("/v1/audit", headers=ADMIN), AuditPage)
    period = first["created_at"][:7]
    ok(loaded.get(f"/v1/clearing?period={period}", headers=ADMIN), ClearingPublic)
    day = first["created_at"][:10]
    ok(loaded.get(f"/v1/reconciliation?hospital_code={hospital}&date={day}", headers=ADMIN), ReconciliationPublic)


def test_the_report_renderers_give_their_models() -> None:
    """The reports' typed figures (``Decimal`` money, counts, a day) rendered as JSON conform to
    their models and write money with two decimals, negative nets included; the CSV has the
    JSON rows' columns and values, one line each, no totals line."""
    local = ReportFigures(
        settlements=2, reversals=0, medical_total=Decimal("23400.00"), fund_payment=Decimal("9630.00")
    )
    # A month with only the reversal of an earlier month's settlement: its nets are negative.
    taken_back = ReportFigures(
        settlements=0, reversals=1, medical_total=Decimal("-11700.00"), fund_payment=Decimal("-7524.00")
    )
    totals = ReportFigures(
        settlements=2, reversals=1, medical_total=Decimal("11700.00"), fund_payment=Decimal("2106.00")
    )
    statement = ClearingStatement(
        period="2026-05",
        rows=(ClearingLine(NRCMS, "511623", "511623", local), ClearingLine(UEBMI, "321100", "511623", taken_back)),
        totals=totals,
    )
    body = clearing_public(statement)
    conforms(ClearingPublic, body)
    assert body == {
        "period": "2026-05",
        "rows": [
            {
                "scheme_code": NRCMS,
                "insuring_region": "511623",
                "treatment_region": "511623",
                "settlements": 2,
                "reversals": 0,
                "medical_total": "23400.00",
                "fund_payment": "9630.00",
            },
            {
                "scheme_code": UEBMI,
                "insuring_region": "321100",
                "treatment_region": "511623",
                "settlements": 0,
                "reversals": 1,
                "medical_total": "-11700.00",
                "fund_payment": "-7524.00",
            },
        ],
        "totals": {"settlements": 2, "reversals": 1, "medical_total": "11700.00", "fund_payment": "2106.00"},
    }
    assert ClearingPublic.model_validate(body).rows[1].fund_payment == Decimal("-7524.00")
    assert list(CLEARING_CSV_HEADER) == list(ClearingRow.model_fields)
    assert clearing_csv(statement) == (
        "scheme_code,insuring_region,treatment_region,settlements,reversals,medical_total,fund_payment\r\n"
        "NRCMS-511623,511623,511623,2,0,23400.00,9630.00\r\n"
        "UEBMI-321100,321100,511623,0,1,-11700.00,-7524.00\r\n"
    )

    zero = ReportFigures(settlements=0, reversals=0, medical_total=Decimal("0.00"), fund_payment=Decimal("0.00"))
    empty = ClearingStatement(period="2026-12", rows=(), totals=zero)
    conforms(ClearingPublic, clearing_public(empty))
    assert clearing_public(empty)["rows"] == []
    assert clearing_public(empty)["totals"] == {
        "settlements": 0,
        "reversals": 0,
        "medical_total": "0.00",
        "fund_payment": "0.00",
    }
    assert clearing_csv(empty) == ",".join(ClearingRow.model_fields) + "\r\n"

    day = Reconciliation(
        hospital_code="H511623001",
        day=date(2026, 5, 2),
        rows=(ReconciliationLine(UEBMI, taken_back),),
        totals=taken_back,
    )
    body = reconciliation_public(day)
    conforms(ReconciliationPublic, body)
    assert body == {
        "hospital_code": "H511623001",
        "date": "2026-05-02",
        "rows": [
            {
                "scheme_code": UEBMI,
                "settlements": 0,
                "reversals": 1,
                "medical_total": "-11700.00",
                "fund_payment": "-7524.00",
            }
        ],
        "totals": {"settlements": 0, "reversals": 1, "medical_total": "-11700.00", "fund_payment": "-7524.00"},
    }
    assert ReconciliationPublic.model_validate(body).date == date(2026, 5, 2)
