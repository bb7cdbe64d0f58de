"""``app.ledger.invariants.check`` is not vacuous: each kind of half-written ledger is reported.

A small ledger is made over HTTP (in process), then one row at a time is altered inside a
transaction that is rolled back, and the check must name what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.ledger import invariants
from tests.support.api import ADMIN, bill_1, expected_v2, load_examples_over_http, load_v2_over_http, v2_bill

NRCMS, SI, MA = "NRCMS-511623", "SI-511623", "MA-511623"

CENT = Decimal("0.01")

Tamper = Callable[[Session, dict[str, str]], None]


def _bill_paid(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.Bill).where(col(db.Bill.id) == ids["bill"]).values(paid_total=db.Bill.paid_total - CENT))


def _accumulator(s: Session, ids: dict[str, str]) -> None:
    s.execute(
        update(db.YearTotal)
        .where(col(db.YearTotal.scheme_code) == "NRCMS-511623")
        .values(fund_paid=db.YearTotal.fund_paid + CENT)
    )


def _reversal_amount(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.Reversal).values(fund_payment=db.Reversal.fund_payment + CENT))


def _external_inactive(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.ExternalPayment).values(active=False))


def _external_total(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.Settlement).where(col(db.Settlement.id) == ids["nrcms"]).values(external_total=Decimal("1.00")))


def _sequence(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.Bill).where(col(db.Bill.id) == ids["bill"]).values(last_sequence=1))


def _status_without_reversal(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.Settlement).where(col(db.Settlement.id) == ids["nrcms"]).values(status="reversed"))


CASES: list[tuple[Tamper, str]] = [
    (_bill_paid, "!= active payments"),
    (_accumulator, "!= active settlements"),
    (_reversal_amount, "reversal records whose amounts differ"),
    (_external_inactive, "external payments active or inactive"),
    (_external_total, "external_total"),
    (_sequence, "above its last_sequence"),
    (_status_without_reversal, "status disagrees with their reversal records"),
]


@pytest.fixture
def small_ledger(db_url: str) -> dict[str, str]:
    """NRCMS settled with an external payment, UEBMI settled and reversed, UEBMI settled again."""
    from app.main import app

    with TestClient(app) as client:
        load_examples_over_http(client)
        bill = client.post("/v1/bills", json=bill_1(), headers=ADMIN).json()["bill_id"]
        ext = [{"payer": "PICC", "voucher_no": "V1", "amount": "100.00"}]
        path = f"/v1/bills/{bill}/settlements"
        r = client.post(path, json={"scheme_code": "NRCMS-511623", "external_payments": ext}, headers=ADMIN)
        assert r.status_code == 201, r.text
        nrcms = r.json()["settlement_id"]
        first = client.post(path, json={"scheme_code": "UEBMI-321100"}, headers=ADMIN).json()["settlement_id"]
        r = client.post(f"/v1/settlements/{first}/reversal", headers=ADMIN)
        assert r.status_code == 200, r.text
        r = client.post(path, json={"scheme_code": "UEBMI-321100"}, headers=ADMIN)
        assert r.status_code == 201, r.text
    return {"bill": bill, "nrcms": nrcms}


def assert_reported(db_url: str, ids: dict[str, str], tamper: Tamper, expected: str) -> None:
    """The clean ledger passes; with ``tamper`` applied (then rolled back) ``expected`` is reported."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            clean = invariants.check(session)
            assert clean.violations == []
            assert clean.checks > 10
            tamper(session, ids)
            report = invariants.check(session)
            session.rollback()
    finally:
        engine.dispose()
    assert any(expected in v for v in report.violations), report.violations


@pytest.mark.parametrize(("tamper", "expected"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_each_broken_invariant_is_reported(
    small_ledger: dict[str, str], db_url: str, tamper: Tamper, expected: str
) -> None:
    engine = create_engine(db_url)
    with Session(engine) as session:
        assert session.scalar(select(col(db.Bill.last_sequence))) == 3
    engine.dispose()
    assert_reported(db_url, small_ledger, tamper, expected)


# --- v2: tiers' axes, employers' accumulators, tiers' bases -----------------------------------


def _tier_axis(s: Session, ids: dict[str, str]) -> None:
    s.execute(
        update(db.YearTotal)
        .where(col(db.YearTotal.scheme_code) == "SI-511623")
        .values(compliant_self_pay=db.YearTotal.compliant_self_pay + CENT)
    )


def _tier_cap(s: Session, ids: dict[str, str]) -> None:
    s.execute(
        update(db.YearTotal).where(col(db.YearTotal.scheme_code) == "MA-511623").values(fund_paid=Decimal("30000.01"))
    )


def _employer_accumulator(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.EmployerYearTotal).values(fund_paid=db.EmployerYearTotal.fund_paid + CENT))


def _employer_accumulator_missing(s: Session, ids: dict[str, str]) -> None:
    s.execute(delete(db.EmployerYearTotal))


def _employer_counted_as_fund(s: Session, ids: dict[str, str]) -> None:
    s.execute(update(db.Settlement).where(col(db.Settlement.id) == ids["employer"]).values(payer_type="scheme"))


def _tier_basis(s: Session, ids: dict[str, str]) -> None:
    s.execute(
        update(db.Settlement).where(col(db.Settlement.id) == ids["si"]).values(basis_settlement_id=ids["employer"])
    )


V2_CASES: list[tuple[Tamper, str]] = [
    (_tier_axis, "year_total SI-511623/2026"),
    (_tier_cap, "above the cap 30000.00"),
    (_employer_accumulator, "employer_year_total WI-321100/2026"),
    (_employer_accumulator_missing, "have no employer_year_total accumulator"),
    (_employer_counted_as_fund, "have no year_total accumulator"),
    (_tier_basis, "whose basis is not active on their bill"),
]


@pytest.fixture
def v2_ledger(db_url: str) -> dict[str, str]:
    """Bill 3 one-stop (NRCMS, SI, MA); bill 4 under WI-321100 with the employer's liability."""
    from app.main import app

    with TestClient(app) as client:
        load_v2_over_http(client)
        r = client.post("/v1/claims", json={"bill": v2_bill("bill-3.json"), "schemes": [NRCMS, SI, MA]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        si = r.json()["settlements"][1]["settlement_id"]
        bill = client.post("/v1/bills", json=v2_bill("bill-4.json"), headers=ADMIN).json()["bill_id"]
        request = expected_v2()["G_employer_liability_bill_4"]["request"]
        r = client.post(f"/v1/bills/{bill}/settlements", json=request, headers=ADMIN)
        assert r.status_code == 201, r.text
    return {"si": si, "employer": r.json()["settlement_id"]}


@pytest.mark.parametrize(("tamper", "expected"), V2_CASES, ids=[c[0].__name__.strip("_") for c in V2_CASES])
def test_each_broken_v2_invariant_is_reported(
    v2_ledger: dict[str, str], db_url: str, tamper: Tamper, expected: str
) -> None:
    assert_reported(db_url, v2_ledger, tamper, expected)
