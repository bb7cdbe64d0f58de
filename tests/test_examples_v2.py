"""The worked examples of v2 (``shared/examples/v2/expected-v2.json``) reproduced to the cent by the
pure engine: ``settle`` for basic and injury schemes and employers' liabilities, ``settle_tier``
for the tiers.  A small in-memory book keeps what the ledger would hand the engine (the bill's
earlier payments, each tier's basis, the person's yearly accumulators), so scenario E2 continues
the yearly axes where E left them.  Every expected number is read from the shared file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from app.engine import settle
from app.engine import types as t
from app.engine.tier import settle_tier
from app.errors import DomainError
from app.sample import ReferenceSet
from app.schemas.settlements import engine_fields
from tests.support.api import expected_v2
from tests.support.examples import ORDER, assert_matches, engine_bill, v2_reference

ZERO = Decimal("0.00")


@dataclass
class Book:
    """What the ledger would know: active payments per bill, accumulators per person and scheme."""

    paid: dict[str, list[tuple[str, str, Decimal, str | None]]] = field(default_factory=dict)
    results: dict[str, t.SettlementResult] = field(default_factory=dict)
    year: dict[tuple[str, str, str | None], tuple[Decimal, Decimal]] = field(default_factory=dict)

    def settle(self, ref: ReferenceSet, bill: t.Bill, code: str, employer: t.Employer | None) -> t.SettlementResult:
        scheme = ref.engine_scheme(code)
        on_bill = self.paid.setdefault(bill.bill_no, [])
        prior = sum((p[2] for p in on_bill), ZERO)
        person = bill.patient_id_number
        key = (person, code, None if employer is None else employer.code)
        fund_paid, axis = self.year.get(key, (ZERO, ZERO))
        member = next(
            (m.to_engine(n) for n, m in ref.members.get(code, []) if m.id_number == person),
            None,
        )
        if scheme.kind in t.TIER_KINDS:
            basis_entry = next((p for p in on_bill if p[0] == scheme.supplements and p[1] == "scheme"), None)
            basis = None
            paid = ZERO
            if basis_entry is not None:
                b = self.results[f"{bill.bill_no}/{basis_entry[0]}"]
                basis = t.Basis(
                    f"{bill.bill_no}/{basis_entry[0]}",
                    b.scheme_code,
                    b.offsite,
                    b.registered,
                    b.excluded,
                    b.over_limit,
                    b.b_self_pay,
                    b.in_scope,
                    b.lines,
                )
                paid = basis_entry[2] + sum((p[2] for p in on_bill if p[3] == basis.settlement_id), ZERO)
            result = settle_tier(
                t.TierInput(
                    bill=bill,
                    scheme=scheme,
                    member=member,
                    policy=ref.engine_tier_policy(code, bill.discharge_date.year),
                    basis=basis,
                    paid_by_basic_and_tiers=paid,
                    year_to_date=t.TierYearToDate(fund_paid, axis),
                    prior_payments=prior,
                )
            )
        else:
            result = settle(
                t.SettlementInput(
                    bill=bill,
                    scheme=scheme,
                    member=member,
                    catalogs=ref.engine_catalogs(code),
                    policy=ref.engine_policy(code, bill.discharge_date.year),
                    year_to_date=t.YearToDate(fund_paid),
                    prior_payments=prior,
                    employer=employer,
                )
            )
        on_bill.append(
            (code, "scheme" if employer is None else "employer", result.fund_payment, result.basis_settlement_id)
        )
        self.results[f"{bill.bill_no}/{code}"] = result
        self.year[key] = (fund_paid + result.fund_payment, axis + (result.compliant_self_pay or ZERO))
        return result


def response_fields(result: t.SettlementResult, scheme: t.Scheme, employer: t.Employer | None) -> dict[str, Any]:
    out = engine_fields(result)
    out["scheme_kind"] = scheme.kind
    out["payer_type"] = "scheme" if employer is None else "employer"
    if employer is not None:
        out["employer"] = {"code": employer.code, "name": employer.name}
    return out


def test_every_v2_scenario_is_covered() -> None:
    assert set(expected_v2()) == set(ORDER)


def test_v2_scenarios_reproduced_to_the_cent_by_the_engine() -> None:
    ref = v2_reference()
    book = Book()
    scenarios = expected_v2()
    for name in ORDER:
        scenario = scenarios[name]
        bill = engine_bill(scenario["bill"])
        request = scenario.get("request", {})
        liability = request.get("employer_liability")
        employer = None if liability is None else t.Employer(**liability["employer"])
        for refused in scenario.get("refused", []):
            refused_employer = None if refused.get("without") == "employer_liability" else employer
            with pytest.raises(DomainError) as info:
                Book().settle(ref, bill, refused["scheme_code"], refused_employer)
            assert (info.value.status, info.value.problem) == (refused["status"], refused["problem"]), name
        for want in sorted(scenario["settlements"], key=lambda s: s["sequence"]):
            code = want["scheme_code"]
            result = book.settle(ref, bill, code, employer if want["payer_type"] == "employer" else None)
            got = response_fields(
                result, ref.engine_scheme(code), employer if want["payer_type"] == "employer" else None
            )
            got["sequence"] = len(book.paid[bill.bill_no])
            assert_matches(got, want, f"{name} {code}")
