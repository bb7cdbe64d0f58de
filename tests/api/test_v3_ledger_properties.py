"""Properties of the v3 ledger over HTTP (hypothesis), on each database: whatever sequence of
settlements (the employee basic scheme, then its large-amount tier, with advances and external
vouchers), recoveries, write-offs and reversals is tried on a few bills of one employee, no bill is
paid beyond its total, each answer is the one the receivable's rules give (a recovery over the
outstanding amount 422, a written-off or cancelled receivable 409, the reversal of an advanced
settlement with recoveries 409), and every accumulator (the over-cap axis included) and receivable
equals what its settlements and recoveries say (``app.ledger.invariants``).

Each example settles a new employee, so the basic fund's annual cap is not used up by the examples
before it: the bills' sizes decide where the cap cuts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from stdnum.cn import ric

from app.ledger import invariants
from tests.api.test_v3_examples import load_v3_over_http, read
from tests.support.api import ADMIN

BASIC, LARGE = "UEBMI-511600", "LA-511600"
THIRD_PARTY = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A lorry driver"}}
CENT = Decimal("0.01")
_numbers = itertools.count(1)

settle_op = st.tuples(
    st.just("settle"),
    st.integers(min_value=0, max_value=2),  # which bill
    st.sampled_from((BASIC, BASIC, LARGE)),
    st.booleans(),  # with an advance
    st.one_of(st.none(), st.none(), st.integers(min_value=1, max_value=3_000_000).map(lambda c: Decimal(c).scaleb(-2))),
)
recover_op = st.tuples(
    st.just("recover"),
    st.integers(min_value=0, max_value=5),  # which receivable
    st.sampled_from(("part", "part", "all", "over")),
    st.integers(min_value=1, max_value=99),  # the part's percentage, or the cents over
    st.none(),
)
write_off_op = st.tuples(st.just("write_off"), st.integers(min_value=0, max_value=5), st.none(), st.none(), st.none())
reverse_op = st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=2), st.none(), st.none(), st.none())
operation = st.one_of(settle_op, recover_op, recover_op, recover_op, write_off_op, reverse_op, reverse_op)


@st.composite
def bills_and_operations(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """One to three of the employee's stays (bills 6 and 7 with drawn quantities), the one-stop
    order on the first (basic, with or without an advance, then the tier), then anything."""
    bills = []
    for name in draw(st.lists(st.sampled_from(("bill-6.json", "bill-7.json")), min_size=1, max_size=3)):
        bill: dict[str, Any] = read(name)
        for item in bill["items"]:
            quantity = draw(st.integers(min_value=0, max_value=int(Decimal(item["quantity"])))) or 1
            item["quantity"] = str(quantity)
            item["amount"] = f"{Decimal(item['unit_price']) * quantity:.2f}"
        bills.append(bill)
    advance = draw(st.sampled_from((True, True, False)))
    first = [("settle", 0, BASIC, advance, None), ("settle", 0, LARGE, False, None)]
    return bills, first + draw(st.lists(operation, min_size=1, max_size=12))


@dataclass
class Receivable:
    """What the receivable's rules say it holds, from the answers so far."""

    id: str
    amount: Decimal
    recovered: Decimal = Decimal("0.00")
    written_off: Decimal = Decimal("0.00")
    status: str = "open"

    @property
    def outstanding(self) -> Decimal:
        return Decimal("0.00") if self.status == "cancelled" else self.amount - self.recovered - self.written_off


@dataclass
class Model:
    active: dict[str, list[tuple[str, Receivable | None]]] = field(default_factory=dict)
    receivables: list[Receivable] = field(default_factory=list)


def new_employee(client: TestClient) -> tuple[str, str]:
    """A new member of the employee scheme (a valid resident ID), with no payment this year."""
    n = next(_numbers)
    body17 = f"511602198{n % 10}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    id_number = body17 + ric.calc_check_digit(body17 + "0")  # it skips the last character
    member_no, name = f"GAP{n:09d}", f"Employee {n}"
    member = {
        "member_no": member_no,
        "id_number": id_number,
        "name": name,
        "coverage": [{"from": "2020-01-01", "to": "2026-12-31"}],
        "offsite_registrations": [],
    }
    r = client.put(f"/v1/schemes/{BASIC}/members/{member_no}", json=member, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    return id_number, name


def settle(client: TestClient, model: Model, bill_id: str, op: tuple[Any, ...]) -> None:
    _, _, scheme, advance, voucher = op
    request: dict[str, Any] = {"scheme_code": scheme}
    if advance:
        request["advance"] = THIRD_PARTY
    if voucher is not None:
        request["external_payments"] = [{"payer": "PICC", "voucher_no": f"V{next(_numbers)}", "amount": str(voucher)}]
    r = client.post(f"/v1/bills/{bill_id}/settlements", json=request, headers=ADMIN)
    if scheme == LARGE and advance:
        assert r.status_code == 422, r.text  # a tier advances nothing
    assert r.status_code in (201, 409, 422), r.text
    if r.status_code != 201:
        return
    s = r.json()
    receivable = None
    if advance:
        rid = s["advance"]["receivable_id"]
        assert (rid is None) == (s["fund_payment"] == "0.00"), s
        if rid is not None:
            receivable = Receivable(rid, Decimal(s["fund_payment"]))
            model.receivables.append(receivable)
    else:
        assert s["advance"] is None
    model.active.setdefault(bill_id, []).append((s["settlement_id"], receivable))


def recover(client: TestClient, r: Receivable, mode: str, n: int) -> None:
    if mode == "part":
        amount = max(CENT, (r.outstanding * n / 100).quantize(CENT))
    elif mode == "all":
        amount = r.outstanding
    else:
        amount = r.outstanding + Decimal(n).scaleb(-2)
    body = {"amount": str(amount), "received_on": "2026-05-01", "reference": f"R{next(_numbers)}"}
    got = client.post(f"/v1/receivables/{r.id}/recoveries", json=body, headers=ADMIN)
    if r.status in ("written_off", "cancelled"):
        assert got.status_code == 409, got.text
    elif amount <= 0 or amount > r.outstanding:
        assert got.status_code == 422, got.text
    else:
        assert got.status_code == 201, got.text
        r.recovered += amount
        r.status = "recovered" if r.outstanding == 0 else "partly_recovered"


def write_off(client: TestClient, r: Receivable) -> None:
    got = client.post(f"/v1/receivables/{r.id}/write-off", json={"reason": "not found"}, headers=ADMIN)
    if r.status == "cancelled" or r.outstanding == 0:
        assert got.status_code == 409, got.text
    else:
        assert got.status_code == 200, got.text
        r.written_off = r.outstanding
        r.status = "written_off"


def reverse(client: TestClient, model: Model, bill_id: str) -> None:
    stack = model.active.get(bill_id)
    if not stack:
        return
    settlement_id, receivable = stack[-1]
    got = client.post(f"/v1/settlements/{settlement_id}/reversal", headers=ADMIN)
    if receivable is not None and receivable.recovered > 0:
        assert got.status_code == 409, got.text
        return
    assert got.status_code == 200, got.text
    stack.pop()
    if receivable is not None:
        receivable.status = "cancelled"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=bills_and_operations())
def test_v3_ledger_invariants_hold_under_random_operations(
    client: TestClient, db_url: str, case: tuple[list[dict[str, Any]], list[tuple[Any, ...]]]
) -> None:
    if not getattr(client, "_v3_loaded", False):
        load_v3_over_http(client)
        client._v3_loaded = True
    bills, operations = case
    id_number, name = new_employee(client)
    bill_ids = []
    for bill in bills:
        bill["bill_no"] = f"P3-{next(_numbers):06d}"
        bill["patient"] = {"id_number": id_number, "name": name}
        r = client.post("/v1/bills", json=bill, headers=ADMIN)
        assert r.status_code == 201, r.text
        bill_ids.append(r.json()["bill_id"])
    model = Model()
    for op in operations:
        kind, index = op[0], op[1]
        if kind == "settle":
            settle(client, model, bill_ids[index % len(bill_ids)], op)
        elif kind == "reverse":
            reverse(client, model, bill_ids[index % len(bill_ids)])
        elif model.receivables:
            # Mostly one that still takes a recovery; now and then any (written off, cancelled...).
            live = [r for r in model.receivables if r.status in ("open", "partly_recovered")]
            pool = live if live and index < 4 else model.receivables
            receivable = pool[index % len(pool)]
            if kind == "recover":
                recover(client, receivable, op[2], op[3])
            else:
                write_off(client, receivable)

    for bill_id in bill_ids:
        bill = client.get(f"/v1/bills/{bill_id}", headers=ADMIN).json()
        assert Decimal(bill["paid_total"]) <= Decimal(bill["medical_total"]), bill
    for r in model.receivables:
        got = client.get(f"/v1/receivables/{r.id}", headers=ADMIN).json()
        assert (got["status"], Decimal(got["recovered"]), Decimal(got["outstanding"])) == (
            r.status,
            r.recovered,
            r.outstanding,
        ), got
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            report = invariants.check(session)
    finally:
        engine.dispose()
    assert report.violations == []
