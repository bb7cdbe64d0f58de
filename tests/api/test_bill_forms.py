"""A bill's engine form as a claim settles it is its stored form: what ``bill_to_engine`` reads
back from the stored row, Decimal for Decimal (``app.services.bills.stored_form``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from app.engine import types as t
from app.ledger.conversions import bill_to_engine, work_injury_document
from app.ledger.rows import BillRow
from app.schemas.bills import BillCreate
from app.services.bills import canonical_items, stored_form
from tests.support.api import bill_1

FORMS: list[tuple[Any, Any, Any]] = [
    ("10", "50.00", "500.00"),  # the usual form: kept as it is
    ("2.5", "12.5", "31.25"),
    ("1.50", "200.000", "300.0"),
    (20, 125, 2500),
    (1.5, 8.5, 12.75),
    ("10.000", "1", "10.00"),
    ("-0", "3.00", "0.00"),
    ("0.0001", "100.00", "0.01"),
]


@pytest.mark.parametrize(("quantity", "price", "amount"), FORMS)
def test_stored_form_is_what_the_stored_row_reads_back(quantity: Any, price: Any, amount: Any) -> None:
    raw = bill_1()
    raw["items"][0].update(quantity=quantity, unit_price=price, amount=amount)
    raw["items"][1]["service_date"] = raw["admission_date"]
    raw["work_injury"] = {
        "determination_no": "WI-1",
        "injury_date": raw["admission_date"],
        "employer": {"code": "91321102MA1N7D4Q8W", "name": "Works"},
    }
    given = BillCreate.model_validate(raw).to_engine(t.Hospital("H1", "County hospital", 2, "511623"))
    stored = stored_form(given)
    h = stored.hospital
    row = BillRow(
        id="b",
        hospital_code=h.code,
        bill_no=stored.bill_no,
        hospital_name=h.name,
        hospital_level=h.level,
        hospital_region=h.region,
        patient_id_number=stored.patient_id_number,
        patient_name=stored.patient_name,
        setting=stored.setting,
        admission_date=stored.admission_date,
        discharge_date=stored.discharge_date,
        diagnoses=list(stored.diagnoses),
        # As the JSON column gives them back.
        items=orjson.loads(orjson.dumps(canonical_items(stored))),
        work_injury=orjson.loads(orjson.dumps(work_injury_document(stored.work_injury))),
        medical_total=stored.medical_total,
        content_hash="",
        paid_total=stored.medical_total,
        last_sequence=0,
        created_by="test",
        created_at=datetime.now(UTC),
    )
    # repr: Decimal("12.5") == Decimal("12.50"), but a message or a sum may show the difference.
    assert repr(bill_to_engine(row)) == repr(stored)
    assert stored.items[1:] == given.items[1:]
    first, sent = stored.items[0], given.items[0]
    assert (first.quantity, first.unit_price, first.amount) == (sent.quantity, sent.unit_price, sent.amount)
    assert first.unit_price.as_tuple().exponent == first.amount.as_tuple().exponent == -2
    assert (first is sent) == (FORMS.index((quantity, price, amount)) == 0)
