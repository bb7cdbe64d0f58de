"""``app.ledger.invariants.check`` is not vacuous: each kind of half-written ledger is reported.

A small ledger is made over HTTP (in process), then one row at a time is altered inside a
transaction that is rolled back, and the check must name what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.ledger import invariants
from tests.api_helpers import ADMIN, bill_1, load_examples_over_http

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


@pytest.mark.parametrize(("tamper", "expected"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_each_broken_invariant_is_reported(
    small_ledger: dict[str, str], db_url: str, tamper: Tamper, expected: str
) -> None:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            clean = invariants.check(session)
            assert clean.violations == []
            assert clean.checks > 10
            assert session.scalar(select(col(db.Bill.last_sequence))) == 3
            tamper(session, small_ledger)
            report = invariants.check(session)
            session.rollback()
    finally:
        engine.dispose()
    assert any(expected in v for v in report.violations), report.violations
