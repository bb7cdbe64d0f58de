"""Properties of the v2 ledger (hypothesis), on each database: whatever sequence of settlements
(basic schemes, tiers, the work-injury fund, employers' liabilities, with external vouchers) and
reversals is tried on one bill, the bill's active payments never exceed its total and every
accumulator (``year_total`` with the tiers' axes, ``employer_year_total``) equals the sums of its
active settlements (``app.ledger.invariants``).

The service functions run in real write transactions, as the API runs them; refusals are part
of the draw (a tier before its basis, a work-injury bill under NRCMS, an enrolled worker's
"employer liability"...) and must change nothing.
"""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.errors import DomainError
from app.ledger import invariants
from app.principal import ADMIN as ADMIN_PRINCIPAL
from app.schemas.bills import BillCreate
from app.schemas.settlements import SettlementCreate
from app.services import claims
from app.services.idempotency import Reply
from tests.support.api import load_v2_over_http, v2_bill

SCHEMES = ("NRCMS-511623", "SI-511623", "MA-511623", "UEBMI-321100", "WI-321100")
EMPLOYERS = (
    None,
    {"code": "91321102MA1N7D4Q8W", "name": "Employer A"},
    {"code": "91321102MA1N7D5Q8J", "name": "Employer B"},
)
#: Wang Jun (NRCMS, MA, UEBMI), Li Qiang (NRCMS, WI), Zhou Gang (nothing)
PATIENTS = (("511623199003071234", "Wang Jun"), ("511623198811050015", "Li Qiang"), ("511602199201150038", "Zhou Gang"))
_numbers = itertools.count(1)

#: Weighted so that most draws settle something: the one-stop order, then the others.
operation = st.one_of(
    st.tuples(
        st.just("settle"),
        st.sampled_from(SCHEMES + SCHEMES[:3] + SCHEMES[:1] + SCHEMES[4:]),
        st.sampled_from((None, None, None, *EMPLOYERS)),
        st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.integers(min_value=1, max_value=4_000_000).map(lambda c: Decimal(c).scaleb(-2)),
        ),
    ),
    st.tuples(st.just("reverse"), st.none(), st.none(), st.none()),
)


@st.composite
def bills_and_operations(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    bill = v2_bill(draw(st.sampled_from(("bill-3.json", "bill-5.json", "bill-2.json"))))
    patient = draw(st.sampled_from((PATIENTS[0], *PATIENTS)))
    bill["patient"] = dict(zip(("id_number", "name"), patient, strict=True))
    employer = draw(st.sampled_from((None, None, *EMPLOYERS)))
    if employer is None:
        bill.pop("work_injury", None)
    else:
        bill["work_injury"] = {
            "determination_no": "P-1",
            "injury_date": draw(st.sampled_from(("2025-01-10", bill["admission_date"]))),
            "employer": employer,
        }
    for item in bill["items"]:
        quantity = draw(st.integers(min_value=1, max_value=40))
        item["quantity"] = str(quantity)
        item["amount"] = f"{Decimal(item['unit_price']) * quantity:.2f}"
    # Often the one-stop order first (basic, serious illness, assistance), then anything.
    prefix = draw(st.sampled_from(((), SCHEMES[:2], SCHEMES[:3], SCHEMES[:3])))
    voucher = st.one_of(st.none(), st.integers(min_value=1, max_value=2_000_000).map(lambda c: Decimal(c).scaleb(-2)))
    first = [("settle", code, None, draw(voucher)) for code in prefix]
    return bill, first + draw(st.lists(operation, min_size=1, max_size=8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=bills_and_operations())
def test_v2_ledger_invariants_hold_under_random_operations(
    client: TestClient, db_url: str, case: tuple[dict[str, Any], list[tuple[Any, ...]]]
) -> None:
    if not getattr(client, "_v2_loaded", False):
        load_v2_over_http(client)
        client._v2_loaded = True
    body, operations = case
    body["bill_no"] = f"P{next(_numbers):06d}"
    create = BillCreate.model_validate(body)
    submitted = claims.submit_bill(
        principal=ADMIN_PRINCIPAL, body=create, render=lambda s: Reply(201, {"id": s.bill.id})
    )
    bill_id = submitted.body["id"]
    for kind, scheme, employer, voucher in operations:
        try:
            if kind == "settle":
                request: dict[str, Any] = {"scheme_code": scheme}
                if employer is not None:
                    request["employer_liability"] = {"employer": employer}
                if voucher is not None:
                    request["external_payments"] = [
                        {"payer": "PICC", "voucher_no": f"V{next(_numbers)}", "amount": str(voucher)}
                    ]
                settlement = SettlementCreate.model_validate(request)
                claims.settle(principal=ADMIN_PRINCIPAL, bill_id=bill_id, body=settlement, idem=None, render=_ok)
            else:
                latest = _latest(db_url, bill_id)
                if latest is not None:
                    claims.reverse(principal=ADMIN_PRINCIPAL, settlement_id=latest, idem=None, render=_ok)
        except DomainError:
            pass
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            report = invariants.check(session)
            paid, total = session.execute(
                select(col(db.Bill.paid_total), col(db.Bill.medical_total)).where(col(db.Bill.id) == bill_id)
            ).one()
    finally:
        engine.dispose()
    assert report.violations == []
    assert paid <= total
    if os.environ.get("SETTLE_TEST_SHOW_MIX"):
        print(kinds_settled(db_url))


def kinds_settled(url: str) -> dict[tuple[str, str, str], int]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            s = db.Settlement
            rows = session.execute(
                select(col(s.scheme_kind), col(s.payer_type), col(s.status), func.count()).group_by(
                    col(s.scheme_kind), col(s.payer_type), col(s.status)
                )
            ).all()
    finally:
        engine.dispose()
    return {(k, p, st_): n for k, p, st_, n in rows}


def _ok(_outcome: object) -> Reply:
    return Reply(201, {})


def _latest(url: str, bill_id: str) -> str | None:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(
                select(col(db.Settlement.id))
                .where(col(db.Settlement.bill_id) == bill_id, col(db.Settlement.status) == "settled")
                .order_by(col(db.Settlement.sequence).desc())
                .limit(1)
            )
    finally:
        engine.dispose()
