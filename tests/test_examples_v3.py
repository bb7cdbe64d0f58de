"""The worked examples of v3 (``shared/examples/v3/expected-v3.json``) reproduced to the cent by the
pure engine, refusals and receivables included, and v2's still holding with v3 loaded.

The v1 and v2 layers are read by ``app.sample.load_reference``; v3's files are parsed here into the
engine's own types (the request models learn the v3 fields when the ledger settles them).  A small
in-memory book keeps what the ledger hands the engine: the bill's earlier payments (and which part
of a mixed bill each paid for), each tier's basis, the person's yearly accumulators (an employer's
own, for an employer's liability or an advance for that employer).  Every expected number is read
from the shared files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.engine import settle
from app.engine import types as t
from app.engine.documents import large_amount_policy_from_document, policy_from_document
from app.engine.eligibility import advance_employer, part_of_kind
from app.engine.large_amount import settle_large_amount
from app.engine.money import format_money, format_ratio
from app.engine.receivables import Receivable, open_receivable, recover, write_off
from app.engine.receivables import cancel as cancel_receivable
from app.engine.tier import settle_tier
from app.errors import DomainError
from app.sample import load_reference
from app.schemas.reference import CatalogCreate, MemberCreate
from tests.support.paths import examples_dir

ZERO = Decimal("0.00")
#: The scenarios, in the order the shared file runs them on one ledger.
V3_ORDER = (
    "H_large_amount_bill_6",
    "H2_cap_exhausted_bill_7",
    "I_mixed_work_injury_bill_8",
    "I2_injury_lines_only_bill_9",
    "I3_no_injury_line_bill_10",
    "J_advance_employer_not_enrolled_bill_11",
    "K_advance_third_party_bill_12",
)
V2_ORDER = ("E_one_stop_bill_3", "E2_later_in_the_year_bill_5", "F_work_injury_bill_2", "G_employer_liability_bill_4")

AnyPolicy = t.Policy | t.TierPolicy | t.LargeAmountPolicy


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class Reference:
    """v1, v2 and v3 layered: an entry with the same key replaces the earlier; members merge."""

    schemes: dict[str, t.Scheme] = field(default_factory=dict)
    catalogs: dict[str, dict[str, t.CatalogVersion]] = field(default_factory=dict)
    policies: dict[tuple[str, int], AnyPolicy] = field(default_factory=dict)
    members: dict[str, dict[str, t.Member]] = field(default_factory=dict)
    hospitals: dict[str, t.Hospital] = field(default_factory=dict)

    def member(self, code: str, id_number: str) -> t.Member | None:
        return next((m for m in self.members.get(code, {}).values() if m.id_number == id_number), None)


def reference(*, with_v3: bool = True) -> Reference:
    ref = Reference()
    root = examples_dir()
    for folder in (root, root / "v2"):
        layer = load_reference(folder)
        for code, scheme in layer.schemes.items():
            ref.schemes[code] = scheme.to_engine(code)
        for code, catalogs in layer.catalogs.items():
            ref.catalogs.setdefault(code, {}).update({v: c.to_engine(v) for v, c in catalogs})
        for code, policies in layer.policies.items():
            ref.policies.update({(code, y): p.to_engine(y) for y, p in policies})
        for code, members in layer.members.items():
            ref.members.setdefault(code, {}).update({n: m.to_engine(n) for n, m in members})
    layers = [root / "v2", root / "v3"] if with_v3 else [root / "v2"]
    for folder in layers:
        for h in read(folder / "hospitals.json"):
            ref.hospitals[h["code"]] = t.Hospital(h["code"], h["name"], h["level"], h["region"])
    if not with_v3:
        return ref
    v3 = root / "v3"
    for s in read(v3 / "schemes.json"):
        ref.schemes[s["code"]] = t.Scheme(
            s["code"], s["name"], s["kind"], s["pooling_region"], s["coordination"], s.get("supplements")
        )
    for code, value in read(v3 / "catalogs.json").items():
        for c in as_list(value):
            ref.catalogs.setdefault(code, {})[c["version"]] = CatalogCreate.model_validate(c).to_engine(c["version"])
    for code, value in read(v3 / "policies.json").items():
        for p in as_list(value):
            year = int(p["year"])
            large = ref.schemes[code].kind == "large_amount"
            parse = large_amount_policy_from_document if large else policy_from_document
            ref.policies[code, year] = parse(p, year)
    for code, members in read(v3 / "members.json").items():
        for m in members:
            ref.members.setdefault(code, {})[m["member_no"]] = MemberCreate.model_validate(m).to_engine(m["member_no"])
    return ref


def engine_bill(ref: Reference, path: Path) -> t.Bill:
    """A shared bill in the engine's form, at the registry's hospital (as the service takes it)."""
    doc = read(path)
    injury = doc.get("work_injury")
    return t.Bill(
        hospital=ref.hospitals[doc["hospital"]["code"]],
        bill_no=doc["bill_no"],
        patient_id_number=doc["patient"]["id_number"],
        patient_name=doc["patient"]["name"],
        setting=doc["setting"],
        admission_date=date.fromisoformat(doc["admission_date"]),
        discharge_date=date.fromisoformat(doc["discharge_date"]),
        diagnoses=tuple(doc["diagnoses"]),
        items=tuple(
            t.BillLine(
                i["line_no"],
                i["code"],
                i["name"],
                i["category"],
                Decimal(str(i["quantity"])),
                Decimal(str(i["unit_price"])),
                Decimal(str(i["amount"])),
                date.fromisoformat(i["service_date"]) if "service_date" in i else None,
                i.get("injury_related"),
            )
            for i in doc["items"]
        ),
        work_injury=None
        if injury is None
        else t.WorkInjury(
            injury["determination_no"],
            date.fromisoformat(injury["injury_date"]),
            t.Employer(injury["employer"]["code"], injury["employer"]["name"]),
        ),
    )


@dataclass(frozen=True)
class Payment:
    settlement_id: str
    scheme_code: str
    payer_type: str
    amount: Decimal
    #: The part of a mixed bill it paid for (what ``gap_fill`` and ``exclusive`` look at).
    part: t.Part
    basis_settlement_id: str | None


@dataclass
class Book:
    """What the ledger would know: active payments per bill, accumulators per person and payer."""

    ref: Reference
    paid: dict[str, list[Payment]] = field(default_factory=dict)
    results: dict[str, t.SettlementResult] = field(default_factory=dict)
    #: (person, scheme, employer code or None) -> (fund paid, per-year deductible paid, yearly axis)
    year: dict[tuple[str, str, str | None], tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)

    def basis(self, bill: t.Bill, basic_code: str) -> t.Basis | None:
        entry = next(
            (p for p in self.paid.get(bill.bill_no, []) if p.scheme_code == basic_code and p.payer_type == "scheme"),
            None,
        )
        if entry is None:
            return None
        b = self.results[entry.settlement_id]
        return t.Basis(
            entry.settlement_id,
            b.scheme_code,
            b.offsite,
            b.registered,
            b.excluded,
            b.over_limit,
            b.b_self_pay,
            b.in_scope,
            b.lines,
            bands=b.bands,
            benefit_after_cap=b.benefit_after_cap,
        )

    def settle(
        self, bill: t.Bill, code: str, *, employer: t.Employer | None = None, advance: t.Advance | None = None
    ) -> t.SettlementResult:
        """Settle and record, or raise without recording anything (as the ledger's transaction)."""
        ref = self.ref
        scheme = ref.schemes[code]
        on_bill = self.paid.get(bill.bill_no, [])
        prior = sum((p.amount for p in on_bill), ZERO)
        part = part_of_kind(scheme.kind)
        same_part = sum((p.amount for p in on_bill if p.part == part), ZERO)
        person = bill.patient_id_number
        owner = employer or advance_employer(advance)
        key = (person, code, None if owner is None else owner.code)
        fund_paid, deductible_paid, axis = self.year.get(key, (ZERO, ZERO, ZERO))
        policy = ref.policies.get((code, bill.discharge_date.year))
        if scheme.kind == "large_amount":
            assert policy is None or isinstance(policy, t.LargeAmountPolicy)
            result = settle_large_amount(
                t.LargeAmountInput(
                    bill=bill,
                    scheme=scheme,
                    policy=policy,
                    basis=self.basis(bill, scheme.supplements or ""),
                    year_to_date=t.LargeAmountYearToDate(fund_paid, axis),
                    prior_payments=prior,
                    same_part_prior=same_part,
                )
            )
        elif scheme.kind in t.TIER_KINDS:
            assert policy is None or isinstance(policy, t.TierPolicy)
            basis = self.basis(bill, scheme.supplements or "")
            by_basic = ZERO
            if basis is not None:
                by_basic = sum(
                    (
                        p.amount
                        for p in on_bill
                        if p.settlement_id == basis.settlement_id or p.basis_settlement_id == basis.settlement_id
                    ),
                    ZERO,
                )
            result = settle_tier(
                t.TierInput(
                    bill=bill,
                    scheme=scheme,
                    member=ref.member(code, person),
                    policy=policy,
                    basis=basis,
                    paid_by_basic_and_tiers=by_basic,
                    year_to_date=t.TierYearToDate(fund_paid, axis),
                    prior_payments=prior,
                    same_part_prior=same_part,
                )
            )
        else:
            assert isinstance(policy, t.Policy)
            result = settle(
                t.SettlementInput(
                    bill=bill,
                    scheme=scheme,
                    member=ref.member(code, person),
                    catalogs=tuple(ref.catalogs[code].values()),
                    policy=policy,
                    year_to_date=t.YearToDate(fund_paid, deductible_paid),
                    prior_payments=prior,
                    employer=employer,
                    advance=advance,
                    same_part_prior=same_part,
                )
            )
        sid = f"{bill.bill_no}/{code}"
        payer = "employer" if employer is not None else "scheme"
        self.paid.setdefault(bill.bill_no, []).append(
            Payment(sid, code, payer, result.fund_payment, part, result.basis_settlement_id)
        )
        self.results[sid] = result
        moved = result.compliant_self_pay if result.over_cap is None else result.over_cap
        self.year[key] = (
            fund_paid + result.fund_payment,
            deductible_paid + result.yearly_deductible,
            axis + (moved or ZERO),
        )
        return result


def money(value: Decimal | None) -> str | None:
    return None if value is None else format_money(value)


def fields(
    r: t.SettlementResult,
    scheme: t.Scheme,
    *,
    sequence: int,
    employer: t.Employer | None = None,
    advance: t.Advance | None = None,
) -> dict[str, Any]:
    """A result under the response's field names (the engine's part, plus what the request says)."""
    out: dict[str, Any] = {
        "scheme_code": r.scheme_code,
        "scheme_kind": scheme.kind,
        "payer_type": "employer" if employer is not None else "scheme",
        "sequence": sequence,
        "offsite": r.offsite,
        "registered": r.registered,
        "bands": [
            {
                "lower": money(b.lower),
                "upper": money(b.upper),
                "ratio": format_ratio(b.ratio),
                "base": money(b.base),
                "amount": money(b.amount),
            }
            for b in r.bands
        ],
        "coordination_mode": r.coordination_mode,
        "lines": [
            {
                "line_no": line.line_no,
                "excluded": money(line.excluded),
                "over_limit": money(line.over_limit),
                "b_self_pay": money(line.b_self_pay),
                "in_scope": money(line.in_scope),
                "reason": line.reason,
            }
            for line in r.lines
        ],
        "basis_settlement_id": r.basis_settlement_id,
    }
    for name in (
        "medical_total",
        "excluded",
        "over_limit",
        "b_self_pay",
        "in_scope",
        "deductible",
        "computed_benefit",
        "benefit_after_cap",
        "prior_payments",
        "fund_payment",
        "coordination_reduction",
        "patient_responsibility",
        "cap_remaining",
        "compliant_self_pay",
        "over_cap",
    ):
        out[name] = money(getattr(r, name))
    if employer is not None:
        out["employer"] = {"code": employer.code, "name": employer.name}
    if advance is not None:
        liable = advance.liable
        out["advance"] = {
            "reason": advance.reason,
            "liable": {"kind": liable.kind, "code": liable.code, "name": liable.name},
        }
    return out


def assert_matches(got: dict[str, Any], want: dict[str, Any], context: str) -> None:
    """Every field of the expected settlement; lines and bands field by field."""
    for name, value in want.items():
        if name in ("lines", "bands"):
            assert len(got[name]) == len(value), (context, name)
            for ours, theirs in zip(got[name], value, strict=True):
                assert {k: ours[k] for k in theirs} == theirs, (context, name, theirs)
        else:
            assert got[name] == value, (context, name)


def parse_advance(request: dict[str, Any]) -> t.Advance | None:
    doc = request.get("advance")
    if doc is None:
        return None
    liable = doc["liable"]
    return t.Advance(doc["reason"], t.Liable(liable["kind"], liable["name"], liable.get("code")))


def parse_employer(request: dict[str, Any]) -> t.Employer | None:
    doc = request.get("employer_liability")
    return None if doc is None else t.Employer(**doc["employer"])


def receivable_fields(r: Receivable) -> dict[str, str]:
    return {
        "amount": format_money(r.amount),
        "recovered": format_money(r.recovered),
        "written_off": format_money(r.written_off),
        "outstanding": format_money(r.outstanding),
        "status": r.status,
    }


def check_receivable(name: str, scenario: dict[str, Any], result: t.SettlementResult) -> None:
    """The receivable after each step, and each refused change after the step it follows."""
    want = scenario["receivable"]
    receivable = open_receivable(result.fund_payment)
    assert receivable is not None, name
    states: dict[str, Receivable] = {}
    for step in want["steps"]:
        if step["step"] == "recovery":
            receivable = recover(receivable, Decimal(step["recovery"]["amount"]))
        elif step["step"] == "write_off":
            receivable = write_off(receivable, step["write_off_reason"])
        else:
            assert step["step"] == "opened", name
        states[step["step"]] = receivable
        assert receivable_fields(receivable) == {k: step[k] for k in receivable_fields(receivable)}, (name, step)
    for refused in want.get("refused", []):
        state = states[refused["after"]]
        with pytest.raises(DomainError) as info:
            if refused["operation"] == "recovery":
                recover(state, Decimal(refused["amount"]))
            else:
                assert refused["operation"] == "reversal of the settlement", name
                cancel_receivable(state)
        assert (info.value.status, info.value.problem) == (refused["status"], refused["problem"]), (name, refused)


def run(book: Book, folder: Path, name: str, scenario: dict[str, Any]) -> int:
    """One scenario on the book: its refusals, its settlements in sequence, its receivable.
    Returns how many settlements it compared."""
    ref = book.ref
    bill = engine_bill(ref, folder / scenario["bill"])
    request = scenario.get("request", {})
    employer, advance = parse_employer(request), parse_advance(request)
    for refused in scenario.get("refused", []):
        asked = refused.get("request", request)
        without = refused.get("without")
        with pytest.raises(DomainError) as info:
            book.settle(
                bill,
                refused["scheme_code"],
                employer=None if without == "employer_liability" else parse_employer(asked),
                advance=None if without == "advance" else parse_advance(asked),
            )
        assert (info.value.status, info.value.problem) == (refused["status"], refused["problem"]), (name, refused)
    compared = 0
    for want in sorted(scenario["settlements"], key=lambda s: s["sequence"]):
        code = want["scheme_code"]
        as_employer = employer if want["payer_type"] == "employer" else None
        as_advance = advance if "advance" in want else None
        result = book.settle(bill, code, employer=as_employer, advance=as_advance)
        got = fields(
            result,
            ref.schemes[code],
            sequence=len(book.paid[bill.bill_no]),
            employer=as_employer,
            advance=as_advance,
        )
        assert_matches(got, want, f"{name} {code}")
        compared += 1
        if "receivable" in scenario:
            check_receivable(name, scenario, result)
    return compared


def test_every_v3_scenario_is_covered_in_the_files_order() -> None:
    assert tuple(read(examples_dir() / "v3" / "expected-v3.json")) == V3_ORDER


def test_v3_scenarios_reproduced_to_the_cent_by_the_engine() -> None:
    folder = examples_dir() / "v3"
    scenarios = read(folder / "expected-v3.json")
    book = Book(reference())
    compared = sum(run(book, folder, name, scenarios[name]) for name in V3_ORDER)
    assert compared == sum(len(s["settlements"]) for s in scenarios.values()) == 10


@pytest.mark.parametrize("with_v3", [False, True], ids=["v2-only", "v3-loaded"])
def test_v2_scenarios_still_hold(with_v3: bool) -> None:
    folder = examples_dir() / "v2"
    scenarios = read(folder / "expected-v2.json")
    assert set(scenarios) == set(V2_ORDER)
    book = Book(reference(with_v3=with_v3))
    for name in V2_ORDER:
        run(book, folder, name, scenarios[name])
