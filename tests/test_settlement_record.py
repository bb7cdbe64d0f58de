"""A settlement's response is rendered from the ledger's typed record through its response model,
byte for byte as the answers already stored under Idempotency-Keys (an idempotent replay after a
deploy returns the body the first attempt got; a retried request compares with what is stored)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from app.ledger.records import COLUMNS, SettlementRecord
from app.schemas.settlements import SettlementBody, SettlementPublic, settlement_public

RECORD = SettlementRecord(
    id="5d7c1f2e-0000-4000-8000-000000000001",
    bill_id="b-1",
    scheme_code="UEBMI-321100",
    scheme_kind="uebmi",
    payer_type="employer",
    employer_code="91321102MA1N7D4Q8W",
    employer_name="Works",
    basis_settlement_id=None,
    compliant_self_pay=Decimal("12.30"),
    cap_remaining=Decimal("93115.00"),
    over_cap=None,
    advance_reason=None,
    liable_kind=None,
    liable_code=None,
    liable_name=None,
    receivable_id=None,
    sequence=2,
    status="reversed",
    policy_year=2026,
    policy_id=7,
    patient_id_number="110105194912310029",
    hospital_code="H1",
    insuring_region="321100",
    treatment_region="511623",
    offsite="out_of_province",
    registered=False,
    setting="inpatient",
    medical_total=Decimal("11700.00"),
    excluded=Decimal("100.50"),
    over_limit=Decimal("0.00"),
    b_self_pay=Decimal("20.10"),
    in_scope=Decimal("11579.40"),
    deductible=Decimal("800.00"),
    yearly_deductible=Decimal("0.00"),
    computed_benefit=Decimal("7000.00"),
    benefit_after_cap=Decimal("7000.00"),
    prior_payments=Decimal("4815.00"),
    coordination_mode="gap_fill",
    fund_payment=Decimal("6885.00"),
    coordination_reduction=Decimal("115.00"),
    patient_responsibility=Decimal("0.00"),
    external_total=Decimal("10.00"),
    detail={
        "bands": [{"lower": "800.00", "upper": None, "ratio": "0.925", "base": "10779.40", "amount": "7000.00"}],
        "lines": [
            {
                "line_no": 1,
                "code": "X1",
                "class": "B",
                "excluded": "100.50",
                "over_limit": "0.00",
                "b_self_pay": "20.10",
                "in_scope": "11579.40",
                "reason": None,
            }
        ],
        "external_payments": [{"payer": "PICC", "voucher_no": "V1", "amount": "10.00"}],
        "catalog_versions": ["2026"],
    },
    created_by="client-1",
    created_at=datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC),
    reversed_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
)

#: As the hand-built renderer wrote it before the response model rendered it.
STORED = (
    b'{"settlement_id":"5d7c1f2e-0000-4000-8000-000000000001","bill_id":"b-1","scheme_code":"UEBMI-321100"'
    b',"scheme_kind":"uebmi","payer_type":"employer","employer":{"code":"91321102MA1N7D4Q8W","name":"Works'
    b'"},"sequence":2,"status":"reversed","policy_year":2026,"offsite":"out_of_province","registered":fals'
    b'e,"medical_total":"11700.00","excluded":"100.50","over_limit":"0.00","b_self_pay":"20.10","in_scope"'
    b':"11579.40","deductible":"800.00","bands":[{"lower":"800.00","upper":null,"ratio":"0.925","base":"10'
    b'779.40","amount":"7000.00"}],"computed_benefit":"7000.00","benefit_after_cap":"7000.00","prior_payme'
    b'nts":"4815.00","coordination_mode":"gap_fill","fund_payment":"6885.00","coordination_reduction":"115'
    b'.00","patient_responsibility":"0.00","external_payments":[{"payer":"PICC","voucher_no":"V1","amount"'
    b':"10.00"}],"lines":[{"line_no":1,"code":"X1","class":"B","excluded":"100.50","over_limit":"0.00","b_'
    b'self_pay":"20.10","in_scope":"11579.40","reason":null}],"basis_settlement_id":null,"compliant_self_p'
    b'ay":"12.30","created_at":"2026-03-01T08:30:15.123456+00:00","reversed_at":"2026-03-02T09:00:00+00:00'
    b'"}'
)
#: v3 adds its fields after the earlier ones: an answer stored before them is their prefix.
V3_FIELDS = b',"cap_remaining":"93115.00","over_cap":null,"advance":null}'
STORED_PREVIEW = (
    b'{"settlement_id":null,"bill_id":"b-1","scheme_code":"UEBMI-321100","scheme_kind":"uebmi","payer_type'
    b'":"employer","employer":{"code":"91321102MA1N7D4Q8W","name":"Works"},"sequence":2,"status":"preview"'
    b',"policy_year":2026,"offsite":"out_of_province","registered":false,"medical_total":"11700.00","exclu'
    b'ded":"100.50","over_limit":"0.00","b_self_pay":"20.10","in_scope":"11579.40","deductible":"800.00","'
    b'bands":[{"lower":"800.00","upper":null,"ratio":"0.925","base":"10779.40","amount":"7000.00"}],"compu'
    b'ted_benefit":"7000.00","benefit_after_cap":"7000.00","prior_payments":"4815.00","coordination_mode":'
    b'"gap_fill","fund_payment":"6885.00","coordination_reduction":"115.00","patient_responsibility":"0.00'
    b'","external_payments":[{"payer":"PICC","voucher_no":"V1","amount":"10.00"}],"lines":[{"line_no":1,"c'
    b'ode":"X1","class":"B","excluded":"100.50","over_limit":"0.00","b_self_pay":"20.10","in_scope":"11579'
    b'.40","reason":null}],"basis_settlement_id":null,"compliant_self_pay":"12.30","created_at":null,"reve'
    b'rsed_at":null}'
)


def test_a_settlement_renders_byte_for_byte_as_stored_answers() -> None:
    assert orjson.dumps(settlement_public(RECORD)) == STORED[:-1] + V3_FIELDS
    assert orjson.dumps(settlement_public(RECORD, preview=True)) == STORED_PREVIEW[:-1] + V3_FIELDS


#: A basic scheme's settlement: no employer, no tier, still active.
SCHEME_RECORD = replace(
    RECORD,
    payer_type="scheme",
    employer_code=None,
    employer_name=None,
    compliant_self_pay=None,
    basis_settlement_id=None,
    status="settled",
    reversed_at=None,
)


def test_the_rendered_body_is_the_documented_response() -> None:
    """The renderer writes the document without the model: the model must read it as it is and
    write it back unchanged, key for key, in the same order."""
    names = [field.alias or name for name, field in SettlementPublic.model_fields.items()]
    assert list(SettlementBody.__annotations__) == names
    for record in (RECORD, SCHEME_RECORD):
        for preview in (False, True):
            body = settlement_public(record, preview=preview)
            assert list(body) == names
            again = SettlementPublic.model_validate(body).model_dump(mode="json", by_alias=True)
            assert orjson.dumps(again) == orjson.dumps(body)
    scheme = settlement_public(SCHEME_RECORD)
    assert (scheme["employer"], scheme["compliant_self_pay"], scheme["reversed_at"]) == (None, None, None)
    assert (scheme["status"], scheme["fund_payment"], scheme["created_at"]) == (
        "settled",
        "6885.00",
        "2026-03-01T08:30:15.123456+00:00",
    )


def test_a_record_reads_back_from_its_columns() -> None:
    class Row:
        pass

    row = Row()
    for name, value in RECORD.columns().items():
        setattr(row, name, value)
    assert SettlementRecord.of(row) == RECORD
    assert tuple(RECORD.columns()) == COLUMNS
    reversed_again = RECORD.reversed(datetime(2026, 4, 1, tzinfo=UTC))
    assert (reversed_again.status, reversed_again.reversed_at) == ("reversed", datetime(2026, 4, 1, tzinfo=UTC))
