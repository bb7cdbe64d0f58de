"""Table tests of v3.2 in the pure engine: the over-cap walk over the basis's bands (the cap cut
inside a band, at a band limit, before the first band, not at all), the large-amount tier's yearly
axis, its own cap and eligibility, and ``cap_remaining`` on every kind of settlement."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal as D

import pytest

from app.engine import settle
from app.engine import types as t
from app.engine.eligibility import supplements_problem
from app.engine.large_amount import over_cap_walk, settle_large_amount
from app.engine.money import round_money, round_quotient
from app.engine.tier import settle_tier
from app.errors import BasicNotSettled, NoPolicy, WorkInjuryRefused

UEBMI = t.Scheme("UEBMI-X", "employees", "uebmi", "511600")
LA = t.Scheme("LA-X", "large amount", "large_amount", "511600", "repeat_capped", "UEBMI-X")
LA_POLICY = t.LargeAmountPolicy(
    2026, D("400000.00"), (t.TierBand(D("50000.00"), D("0.85")), t.TierBand(None, D("0.90")))
)
#: A basis's bands as bill 6's: 17,000.00 + 26,400.00 + 70,409.66 = 113,809.66 computed.
BASIS_BANDS = (
    t.BandResult(D("0.00"), D("20000.00"), D("0.85"), D("20000.00"), D("17000.00")),
    t.BandResult(D("20000.00"), D("50000.00"), D("0.88"), D("30000.00"), D("26400.00")),
    t.BandResult(D("50000.00"), None, D("0.90"), D("78232.95"), D("70409.66")),
)
BASES = sum((b.base for b in BASIS_BANDS), D("0.00"))


def bill(total: str = "200000.00", **changes: object) -> t.Bill:
    base = t.Bill(
        hospital=t.Hospital("H1", "City hospital", 3, "511602"),
        bill_no="B1",
        patient_id_number="512925197106180311",
        patient_name="He Ping",
        setting="inpatient",
        admission_date=date(2026, 3, 2),
        discharge_date=date(2026, 3, 30),
        diagnoses=("I71.0",),
        items=(t.BillLine(1, "X", "x", "service", D("1"), D(total), D(total)),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def basis(after_cap: str, bands: tuple[t.BandResult, ...] = BASIS_BANDS) -> t.Basis:
    in_scope = sum((b.base for b in bands), D("800.00"))
    return t.Basis(
        "basis-1",
        "UEBMI-X",
        "local",
        False,
        D("0.00"),
        D("0.00"),
        D("0.00"),
        in_scope,
        (),
        bands=bands,
        benefit_after_cap=D(after_cap),
    )


def large_amount(
    after_cap: str = "80000.00",
    *,
    ytd: str = "0.00",
    fund_paid: str = "0.00",
    prior: str | None = None,
    b: t.Bill | None = None,
    policy: t.LargeAmountPolicy | None = LA_POLICY,
    the_basis: t.Basis | None = None,
) -> t.SettlementResult:
    return settle_large_amount(
        t.LargeAmountInput(
            bill=b or bill(),
            scheme=LA,
            policy=policy,
            basis=the_basis or basis(after_cap),
            year_to_date=t.LargeAmountYearToDate(D(fund_paid), D(ytd)),
            prior_payments=D(after_cap if prior is None else prior),
        )
    )


def bands(r: t.SettlementResult) -> list[tuple[str, str | None, str, str, str]]:
    return [
        (str(b.lower), None if b.upper is None else str(b.upper), str(b.ratio), str(b.base), str(b.amount))
        for b in r.bands
    ]


@pytest.mark.parametrize(
    ("after_cap", "covered", "over_cap"),
    [
        # Inside the third band: round(36,600.00 / 0.90) = round(40,666.666...) = 40,666.67.
        ("80000.00", ("20000.00", "30000.00", "40666.67"), "37566.28"),
        # At the first band's limit: band 1 fits exactly, band 2 is cut at its start.
        ("17000.00", ("20000.00", "0.00", "0.00"), "108232.95"),
        # At the second band's limit.
        ("43400.00", ("20000.00", "30000.00", "0.00"), "78232.95"),
        # Before the first band: nothing was paid, every base is over the cap.
        ("0.00", ("0.00", "0.00", "0.00"), "128232.95"),
        # Inside the first band: 10.00 / 0.85 = 11.7647... -> 11.76.
        ("10.00", ("11.76", "0.00", "0.00"), "128221.19"),
        # The cap did not bite: every band is covered.
        ("113809.66", ("20000.00", "30000.00", "78232.95"), "0.00"),
    ],
    ids=["inside-a-band", "at-the-first-limit", "at-the-second-limit", "before-the-first-band", "in-band-1", "uncut"],
)
def test_over_cap_walk(after_cap: str, covered: tuple[str, ...], over_cap: str) -> None:
    walk = over_cap_walk(BASIS_BANDS, D(after_cap))
    assert walk.covered == tuple(D(c) for c in covered)
    assert walk.over_cap == D(over_cap) == BASES - sum(walk.covered, D("0.00"))


def test_over_cap_walk_quotient_rounded_once_half_up() -> None:
    # 0.01 / 0.40 = 0.025 exactly: half up to 0.03 (the band's base 10.00 pays 4.00 at 0.40).
    cut = (t.BandResult(D("0.00"), None, D("0.40"), D("10.00"), D("4.00")),)
    assert over_cap_walk(cut, D("0.01")).covered == (D("0.03"),)
    assert over_cap_walk(cut, D("0.01")).over_cap == D("9.97")


def test_over_cap_walk_passes_a_band_at_ratio_zero_without_dividing() -> None:
    free = (
        t.BandResult(D("0.00"), D("1000.00"), D("0.00"), D("1000.00"), D("0.00")),
        t.BandResult(D("1000.00"), None, D("0.50"), D("3000.00"), D("1500.00")),
    )
    assert over_cap_walk(free, D("500.00")).covered == (D("1000.00"), D("1000.00"))
    assert over_cap_walk(free, D("0.00")).over_cap == D("3000.00")


def test_round_quotient_rounds_the_exact_quotient() -> None:
    # Rounded first to 28 digits (the default context), this dividend becomes 0.005 and then 0.01;
    # the exact value is below half a fen.
    just_below_half = D("0.00499999999999999999999999999999")
    assert round_money(just_below_half / 1) == D("0.01")
    assert round_quotient(just_below_half, D(1)) == D("0.00")
    assert round_quotient(D("2.00"), D("3")) == D("0.67")
    assert round_quotient(D("36600.00"), D("0.90")) == D("40666.67")
    assert round_quotient(D("-0.01"), D("0.40")) == D("-0.03")


def test_bill_6_large_amount_pays_the_over_cap_cost_on_its_first_band() -> None:
    r = large_amount("80000.00")
    assert (r.over_cap, r.compliant_self_pay, r.deductible) == (D("37566.28"), None, D("0.00"))
    assert bands(r) == [("0.00", "50000.00", "0.85", "37566.28", "31931.34")]
    assert (r.fund_payment, r.cap_remaining) == (D("31931.34"), D("368068.66"))
    assert r.basis_settlement_id == "basis-1"


def test_axis_crossing_two_bands() -> None:
    # Already 40,000.00 over the cap this year: the axis runs 40,000.00 -> 60,000.00.
    wide = (t.BandResult(D("0.00"), None, D("0.80"), D("20000.00"), D("16000.00")),)
    r = large_amount(the_basis=basis("0.00", wide), after_cap="0.00", ytd="40000.00", fund_paid="34000.00")
    assert r.over_cap == D("20000.00")
    assert bands(r) == [
        ("0.00", "50000.00", "0.85", "10000.00", "8500.00"),
        ("50000.00", None, "0.90", "10000.00", "9000.00"),
    ]
    assert (r.computed_benefit, r.fund_payment, r.cap_remaining) == (D("17500.00"), D("17500.00"), D("348500.00"))


def test_axis_wholly_in_the_open_band() -> None:
    r = large_amount("80000.00", ytd="61893.00")
    assert bands(r) == [("50000.00", None, "0.90", "37566.28", "33809.65")]


@pytest.mark.parametrize(
    ("fund_paid", "after_cap", "remaining"),
    [("0.00", "31931.34", "368068.66"), ("390000.00", "10000.00", "0.00"), ("400000.00", "0.00", "0.00")],
    ids=["cap-free", "cap-partly-used", "cap-used-up"],
)
def test_own_annual_cap(fund_paid: str, after_cap: str, remaining: str) -> None:
    r = large_amount("80000.00", fund_paid=fund_paid)
    assert r.computed_benefit == D("31931.34")
    assert (r.benefit_after_cap, r.fund_payment, r.cap_remaining) == (D(after_cap), D(after_cap), D(remaining))


def test_uncapped_basis_leaves_nothing_over_the_cap() -> None:
    r = large_amount("113809.66")
    assert (r.over_cap, r.bands, r.fund_payment) == (D("0.00"), (), D("0.00"))
    assert r.cap_remaining == D("400000.00")


def test_coordination_keeps_the_bill_within_its_total() -> None:
    # The bill is 120,000.00; the basic fund paid 80,000.00, a voucher 30,000.00: 10,000.00 left.
    r = large_amount("80000.00", prior="110000.00", b=bill("120000.00"))
    assert (r.benefit_after_cap, r.fund_payment, r.coordination_reduction) == (
        D("31931.34"),
        D("10000.00"),
        D("21931.34"),
    )
    assert (r.patient_responsibility, r.cap_remaining) == (D("0.00"), D("390000.00"))


def test_refusals() -> None:
    with pytest.raises(BasicNotSettled):
        settle_large_amount(t.LargeAmountInput(bill=bill(), scheme=LA, policy=LA_POLICY, basis=None))
    with pytest.raises(NoPolicy):
        large_amount(policy=None)
    with pytest.raises(NoPolicy):
        large_amount(policy=dataclasses.replace(LA_POLICY, year=2025))
    injury = t.WorkInjury("GS-1", date(2026, 3, 1), t.Employer("91321102MA1N7D4Q8W", "Employer"))
    with pytest.raises(WorkInjuryRefused):
        large_amount(b=bill(work_injury=injury))


def test_the_other_entry_points_refuse_the_kind() -> None:
    with pytest.raises(ValueError, match="large-amount"):
        settle_tier(t.TierInput(bill=bill(), scheme=LA, member=None, policy=None, basis=basis("0.00")))
    with pytest.raises(ValueError, match="tier"):
        settle(t.SettlementInput(bill=bill(), scheme=LA, member=None, catalogs=(), policy=t.Policy(2026, D("1"), {})))
    with pytest.raises(ValueError, match="bands"):
        large_amount(the_basis=dataclasses.replace(basis("0.00"), benefit_after_cap=None))
    assert "large_amount" in t.TIER_KINDS


def test_cap_remaining_on_basic_and_tier_settlements() -> None:
    member = t.Member("M1", "512925197106180311", "He Ping", (t.Period(date(2026, 1, 1), None),))
    catalog = t.CatalogVersion("1", date(2026, 1, 1), None, {"X": t.CatalogEntry("X", "x", "service", "A")})
    section = t.SettingPolicy(t.Deductible("per_admission", {3: D("800.00")}), (t.Band(None, {3: D("0.90")}),))
    policy = t.Policy(2026, D("80000.00"), {"inpatient": section})
    inp = t.SettlementInput(
        bill=bill("10800.00"),
        scheme=UEBMI,
        member=member,
        catalogs=(catalog,),
        policy=policy,
        year_to_date=t.YearToDate(D("60000.00")),
    )
    r = settle(inp)
    assert (r.fund_payment, r.cap_remaining) == (D("9000.00"), D("11000.00"))
    capped = settle(dataclasses.replace(inp, year_to_date=t.YearToDate(D("75000.00"))))
    assert (capped.benefit_after_cap, capped.fund_payment, capped.cap_remaining) == (
        D("5000.00"),
        D("5000.00"),
        D("0.00"),
    )
    si = t.Scheme("SI-X", "serious illness", "serious_illness", "511600", "repeat_capped", "UEBMI-X")
    tier = settle_tier(
        t.TierInput(
            bill=bill("30000.00"),
            scheme=si,
            member=None,
            policy=t.TierPolicy(2026, D("300000.00"), D("0.00"), (t.TierBand(None, D("0.50")),)),
            basis=basis("0.00"),
            paid_by_basic_and_tiers=D("128032.95"),
            year_to_date=t.TierYearToDate(D("1000.00"), D("0.00")),
        )
    )
    assert (tier.compliant_self_pay, tier.fund_payment, tier.cap_remaining) == (
        D("1000.00"),
        D("500.00"),
        D("298500.00"),
    )


@pytest.mark.parametrize(
    ("kind", "basic_kind", "fits"),
    [
        ("large_amount", "uebmi", True),
        ("large_amount", "nrcms", False),
        ("large_amount", "urrbmi", False),
        ("large_amount", None, False),
        ("serious_illness", "nrcms", True),
        ("medical_assistance", "work_injury", False),
    ],
)
def test_what_a_tier_supplements(kind: str, basic_kind: str | None, fits: bool) -> None:
    assert (supplements_problem(kind, basic_kind) is None) == fits
