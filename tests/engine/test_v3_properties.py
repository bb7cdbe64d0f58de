"""A property of v3 in the pure engine: whatever the mix on one bill (lines of the injury's care and
of other care, the injury fund, an employer's advance, a basic scheme in any coordination mode, a
third party's advance under it, the serious-illness and large-amount tiers on its settlement,
other payers' vouchers) and in whatever order, no bill is paid beyond its total; each settlement
pays within its benefit after the cap and leaves a cap remaining of at least 0.00; an advanced
fund payment's receivable never recovers more than it advanced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine import settle
from app.engine import types as t
from app.engine.eligibility import part_of_kind
from app.engine.large_amount import settle_large_amount
from app.engine.receivables import open_receivable, recover
from app.engine.tier import settle_tier
from app.errors import DomainError

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
PATIENT = "321102198602230517"
EMPLOYER = t.Employer("91321102MA1PQ3K768", "Hengtai Steel (sample)")
ALWAYS = (t.Period(date(2015, 1, 1), None),)
MEMBER = t.Member("M1", PATIENT, "Zhao Lei", ALWAYS)
CODES = ("A1", "B1", "C1", "CAP", "NONE")
ENTRIES = {
    "A1": t.CatalogEntry("A1", "a", "service", "A"),
    "B1": t.CatalogEntry("B1", "b", "drug", "B", Decimal("0.20")),
    "C1": t.CatalogEntry("C1", "c", "drug", "C"),
    "CAP": t.CatalogEntry("CAP", "capped", "material", "A", price_cap=Decimal("50.00")),
}
CATALOG = t.CatalogVersion("1", date(2026, 1, 1), None, ENTRIES)
COORDINATION: tuple[t.Coordination, ...] = ("repeat_capped", "gap_fill", "exclusive")
PAYERS = ("WI", "WI-advance", "UEBMI", "UEBMI-third-party", "SI", "LA", "voucher")

settings_ = settings(max_examples=150, deadline=None)


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda c: Decimal(c) * CENT)


@st.composite
def bills(draw: st.DrawFn) -> t.Bill:
    injured = draw(st.booleans())
    lines = []
    for no in range(1, draw(st.integers(1, 8)) + 1):
        # Mostly the prices of a long stay, so that caps bite and the tiers have something to pay.
        price = draw(st.one_of(cents(1, 10_000), cents(10_000, 4_000_000), cents(4_000_000, 8_000_000)))
        quantity = Decimal(draw(st.integers(1, 5)))
        mark = draw(st.sampled_from((None, True, False))) if injured else None
        lines.append(
            t.BillLine(no, draw(st.sampled_from(CODES)), "x", "service", quantity, price, quantity * price, None, mark)
        )
    return t.Bill(
        hospital=t.Hospital("H1", "First hospital", 3, "321102"),
        bill_no="B1",
        patient_id_number=PATIENT,
        patient_name="Zhao Lei",
        setting="inpatient",
        admission_date=date(2026, 4, 13),
        discharge_date=date(2026, 4, 27),
        diagnoses=("S82.2",),
        items=tuple(lines),
        work_injury=t.WorkInjury("GS-1", date(2026, 4, 13), EMPLOYER) if injured else None,
    )


def policy(cap: Decimal, ratio: str) -> t.Policy:
    section = t.SettingPolicy(
        t.Deductible("per_admission", {3: Decimal("500.00")}),
        (t.Band(Decimal("20000.00"), {3: Decimal(ratio)}), t.Band(None, {3: Decimal("0.90")})),
    )
    return t.Policy(2026, cap, {"inpatient": section})


@dataclass(frozen=True)
class World:
    bill: t.Bill
    order: tuple[str, ...]
    uebmi_cap: Decimal
    uebmi_mode: t.Coordination
    tier_mode: t.Coordination
    voucher: Decimal
    voucher_part: t.Part
    fund_paid: Decimal
    la_axis: Decimal
    recoveries: tuple[Decimal, ...]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    bill = draw(bills())
    return World(
        bill=bill,
        order=tuple(draw(st.permutations(PAYERS))),
        uebmi_cap=draw(st.one_of(cents(0, 10_000_000), st.sampled_from((Decimal("80000.00"), Decimal("300000.00"))))),
        uebmi_mode=draw(st.sampled_from(COORDINATION)),
        tier_mode=draw(st.sampled_from(COORDINATION)),
        voucher=draw(st.one_of(st.just(ZERO), cents(0, int(bill.medical_total * 100)))),
        voucher_part=draw(st.sampled_from(("injury", "other"))),
        fund_paid=draw(st.one_of(st.just(ZERO), cents(0, 10_000_000))),
        la_axis=draw(st.one_of(st.just(ZERO), cents(0, 10_000_000))),
        recoveries=tuple(draw(st.lists(cents(1, 10_000_000), max_size=4))),
    )


@dataclass
class Paid:
    payer: str
    kind: str
    part: t.Part
    amount: Decimal
    result: t.SettlementResult | None = None


def one(world: World, payer: str, paid: list[Paid]) -> Paid:
    """Settle ``payer`` on the bill after ``paid``; raises what the engine refuses."""
    bill = world.bill
    prior = sum((p.amount for p in paid), ZERO)
    if payer == "voucher":
        room = bill.medical_total - prior
        return Paid(payer, "external", world.voucher_part, min(world.voucher, room))
    uebmi = t.Scheme("UEBMI-X", "employees", "uebmi", "321100", world.uebmi_mode)
    if payer in ("WI", "WI-advance"):
        scheme, kind = t.Scheme("WI-X", "work injury", "work_injury", "321100"), "work_injury"
    elif payer == "SI":
        kind = "serious_illness"
        scheme = t.Scheme("SI-X", payer, "serious_illness", "321100", world.tier_mode, "UEBMI-X")
    elif payer == "LA":
        kind = "large_amount"
        scheme = t.Scheme("LA-X", payer, "large_amount", "321100", world.tier_mode, "UEBMI-X")
    else:
        scheme, kind = uebmi, "uebmi"
    part = part_of_kind(kind)
    same_part = sum((p.amount for p in paid if p.part == part), ZERO)
    basic = next((p for p in paid if p.payer in ("UEBMI", "UEBMI-third-party")), None)
    basis = None
    if basic is not None and basic.result is not None:
        b = basic.result
        basis = t.Basis(
            "basis", b.scheme_code, b.offsite, b.registered, b.excluded, b.over_limit, b.b_self_pay, b.in_scope,
            b.lines, bands=b.bands, benefit_after_cap=b.benefit_after_cap,
        )  # fmt: skip
    if payer == "LA":
        result = settle_large_amount(
            t.LargeAmountInput(
                bill=bill,
                scheme=scheme,
                policy=t.LargeAmountPolicy(
                    2026,
                    Decimal("400000.00"),
                    (t.TierBand(Decimal("50000.00"), Decimal("0.85")), t.TierBand(None, Decimal("0.90"))),
                ),
                basis=basis,
                year_to_date=t.LargeAmountYearToDate(ZERO, world.la_axis),
                prior_payments=prior,
                same_part_prior=same_part,
            )
        )
    elif payer == "SI":
        by_basic = sum((p.amount for p in paid if p.payer in ("UEBMI", "UEBMI-third-party", "LA", "SI")), ZERO)
        result = settle_tier(
            t.TierInput(
                bill=bill,
                scheme=scheme,
                member=None,
                policy=t.TierPolicy(
                    2026, Decimal("300000.00"), Decimal("1000.00"), (t.TierBand(None, Decimal("0.60")),)
                ),
                basis=basis,
                paid_by_basic_and_tiers=by_basic,
                prior_payments=prior,
                same_part_prior=same_part,
            )
        )
    else:
        advance = None
        if payer == "WI-advance":
            advance = t.Advance("employer_not_enrolled", t.Liable("employer", EMPLOYER.name, EMPLOYER.code))
        elif payer == "UEBMI-third-party":
            advance = t.Advance("third_party", t.Liable("third_party", "Rider"))
        injury = kind == "work_injury"
        result = settle(
            t.SettlementInput(
                bill=bill,
                scheme=scheme,
                member=None if payer == "WI-advance" else MEMBER,
                catalogs=(CATALOG,),
                policy=policy(Decimal("1000000.00"), "1.00") if injury else policy(world.uebmi_cap, "0.85"),
                year_to_date=t.YearToDate(ZERO if injury else min(world.fund_paid, world.uebmi_cap)),
                prior_payments=prior,
                same_part_prior=same_part,
                advance=advance,
            )
        )
    return Paid(payer, kind, part, result.fund_payment, result)


@settings_
@given(worlds())
def test_random_mixes_never_pay_a_bill_beyond_its_total(world: World) -> None:
    total = world.bill.medical_total
    paid: list[Paid] = []
    for payer in world.order:
        # One injury-fund settlement and one basic settlement per bill, whoever pays.
        if payer.startswith("WI") and any(p.payer.startswith("WI") for p in paid):
            continue
        if payer.startswith("UEBMI") and any(p.payer.startswith("UEBMI") for p in paid):
            continue
        try:
            payment = one(world, payer, paid)
        except DomainError:
            continue
        r = payment.result
        if r is not None:
            assert ZERO <= r.fund_payment <= r.benefit_after_cap <= r.computed_benefit
            assert r.cap_remaining >= 0
            assert r.fund_payment + r.coordination_reduction == r.benefit_after_cap
            assert r.medical_total == r.excluded + r.over_limit + r.b_self_pay + r.in_scope == total
            if r.over_cap is not None:
                assert ZERO <= r.over_cap <= r.in_scope
            assert r.patient_responsibility == total - r.prior_payments - r.fund_payment >= 0
        paid.append(payment)
        assert sum((p.amount for p in paid), ZERO) <= total
        if payer in ("WI-advance", "UEBMI-third-party") and r is not None:
            receivable = open_receivable(r.fund_payment)
            for amount in world.recoveries:
                if receivable is None or amount > receivable.outstanding:
                    break
                receivable = recover(receivable, amount)
            assert receivable is None or ZERO <= receivable.recovered <= receivable.amount == r.fund_payment
