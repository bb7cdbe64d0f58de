"""Properties of the settlement engine over random catalogs, bills, policies and ledgers.

A composite strategy draws a whole :class:`SettlementInput`: a catalog of class A/B/C entries
(some capped, some restricted to a setting or a hospital level), a bill of 1-30 lines whose
amount is ``round(q x p)`` half up, a policy with 1-3 ascending ratio bands (the last open), a
year-to-date ledger and prior payments no larger than the bill's total.  Whatever the draw, the
invariants of ``settlement-rules.md`` must hold.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from app.engine import settle
from app.engine.types import (
    COORDINATION_MODES,
    SETTINGS,
    Band,
    Bill,
    BillLine,
    CatalogClass,
    CatalogEntry,
    CatalogVersion,
    Category,
    Deductible,
    Hospital,
    Member,
    Period,
    Policy,
    Registration,
    Scheme,
    Setting,
    SettingPolicy,
    SettlementInput,
    SettlementResult,
    YearToDate,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
PATIENT_ID = "51162319900307123" + ric.calc_check_digit("51162319900307123" + "0")
POOLING = "511623"
#: local (same county, same prefecture), in province, out of province
HOSPITAL_REGIONS = ("511623", "511602", "510105", "511723", "321102", "110101")
REGISTRATION_REGIONS = ("510000", "511600", "511623", "511624", "320000", "110000")
ADMISSION = date(2026, 3, 2)
#: weighted towards payable classes
CLASSES: tuple[CatalogClass, ...] = ("A", "B", "A", "B", "C")
CATEGORIES: tuple[Category, ...] = ("drug", "service", "material", "facility")
#: unrestricted most of the time, so that most draws pay something
ENTRY_SETTINGS: tuple[tuple[Setting, ...] | None, ...] = (
    None,
    None,
    None,
    ("inpatient",),
    ("outpatient",),
    ("inpatient", "outpatient"),
    (),
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def money(low_cents: int, high_cents: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low_cents, high_cents).map(lambda c: Decimal(c).scaleb(-2))


def ratio(high: int = 100, places: int = 2) -> st.SearchStrategy[Decimal]:
    return st.integers(0, high).map(lambda n: Decimal(n).scaleb(-places))


def by_level(values: st.SearchStrategy[Decimal]) -> st.SearchStrategy[dict[int, Decimal]]:
    return st.fixed_dictionaries({1: values, 2: values, 3: values})


def entry_row() -> st.SearchStrategy[
    tuple[CatalogClass, Decimal, Decimal | None, tuple[Setting, ...] | None, int | None]
]:
    """Class, self-pay ratio (used for class B only), price cap, settings, minimum level."""
    return st.tuples(
        st.sampled_from(CLASSES),
        ratio(99),
        st.none() | money(0, 500_000),
        st.sampled_from(ENTRY_SETTINGS),
        st.sampled_from([None, None, None, 1, 2, 3]),
    )


def catalog_entries() -> st.SearchStrategy[dict[str, CatalogEntry]]:
    def build(
        rows: list[tuple[CatalogClass, Decimal, Decimal | None, tuple[Setting, ...] | None, int | None]],
    ) -> dict[str, CatalogEntry]:
        entries = {}
        for i, (klass, self_pay, cap, entry_settings, min_level) in enumerate(rows):
            entries[f"E{i}"] = CatalogEntry(
                code=f"E{i}",
                name=f"entry {i}",
                category=CATEGORIES[i % len(CATEGORIES)],
                klass=klass,
                self_pay_ratio=self_pay if klass == "B" else None,
                price_cap=cap,
                settings=entry_settings,
                min_hospital_level=min_level,
            )
        return entries

    return st.lists(entry_row(), min_size=1, max_size=10).map(build)


#: whole units, hundredths and ten-thousandths (a third of a vial), up to 200
QUANTITIES = st.one_of(
    st.integers(0, 200).map(Decimal),
    st.integers(0, 20_000).map(lambda n: Decimal(n).scaleb(-2)),
    st.integers(0, 2_000_000).map(lambda n: Decimal(n).scaleb(-4)),
)


def bill_lines(codes: list[str]) -> st.SearchStrategy[tuple[BillLine, ...]]:
    def build(rows: list[tuple[str, Decimal, Decimal]]) -> tuple[BillLine, ...]:
        return tuple(
            BillLine(no, code, f"line {no}", "drug", q, p, (q * p).quantize(CENT, rounding=ROUND_HALF_UP))
            for no, (code, q, p) in enumerate(rows, start=1)
        )

    row = st.tuples(st.sampled_from(codes), QUANTITIES, money(0, 1_000_000))
    return st.lists(row, min_size=1, max_size=30).map(build)


@st.composite
def setting_policies(draw: st.DrawFn) -> SettingPolicy:
    if draw(st.booleans()):
        deductible = Deductible(
            "per_admission",
            by_level=draw(by_level(money(0, 200_000))),
            offsite_by_level=draw(st.none() | by_level(money(0, 200_000))),
        )
    else:
        deductible = Deductible("per_year", amount=draw(money(0, 500_000)))
    limits = sorted(draw(st.sets(money(1, 5_000_000), min_size=0, max_size=2)))
    band_ratio = st.integers(500, 1000).map(lambda n: Decimal(n).scaleb(-3)) | ratio(1000, 3)
    bands = [Band(up_to, draw(by_level(band_ratio))) for up_to in [*limits, None]]
    delta = st.integers(-50, 50).map(lambda n: Decimal(n).scaleb(-2))
    return SettingPolicy(deductible, tuple(bands), draw(delta), draw(delta))


@st.composite
def registrations(draw: st.DrawFn) -> tuple[Registration, ...]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        start = ADMISSION + timedelta(days=draw(st.integers(-400, 30)))
        length = draw(st.none() | st.integers(0, 400))
        end = None if length is None else start + timedelta(days=length)
        out.append(Registration(draw(st.sampled_from(REGISTRATION_REGIONS)), start, end))
    return tuple(out)


@st.composite
def settlement_inputs(draw: st.DrawFn) -> SettlementInput:
    entries = draw(catalog_entries())
    items = draw(bill_lines([*entries, *entries, "ZZ-UNLISTED"]))
    bill = Bill(
        hospital=Hospital("H1", "Hospital", draw(st.integers(1, 3)), draw(st.sampled_from(HOSPITAL_REGIONS))),
        bill_no="B1",
        patient_id_number=PATIENT_ID,
        patient_name="Wang Jun",
        setting=draw(st.sampled_from(SETTINGS)),
        admission_date=ADMISSION,
        discharge_date=ADMISSION + timedelta(days=draw(st.integers(0, 60))),
        diagnoses=("I21.0",),
        items=items,
    )
    annual_cap = draw(money(0, 20_000_000))
    policy = Policy(
        year=2026,
        annual_cap=annual_cap,
        settings={"inpatient": draw(setting_policies()), "outpatient": draw(setting_policies())},
    )
    cap_cents = int(annual_cap * 100)
    ytd = YearToDate(
        fund_paid=draw(st.just(ZERO) | money(0, cap_cents) | money(0, cap_cents + cap_cents // 2 + 100)),
        deductible_paid=draw(st.just(ZERO) | money(0, 600_000)),
    )
    total_cents = int(bill.medical_total * 100)
    prior = draw(st.sampled_from([0, 0, total_cents]) | st.integers(0, total_cents)) * CENT
    return SettlementInput(
        bill=bill,
        scheme=Scheme("S-511623", "Scheme", "nrcms", POOLING, draw(st.sampled_from(COORDINATION_MODES))),
        member=Member("M1", PATIENT_ID, "Wang Jun", (Period(date(2020, 1, 1), None),), draw(registrations())),
        catalogs=(CatalogVersion("2026", date(2026, 1, 1), None, entries),),
        policy=policy,
        year_to_date=ytd,
        prior_payments=prior,
    )


def totals(result: SettlementResult) -> SettlementResult:
    """The result without its lines, for comparisons that ignore line order."""
    return dataclasses.replace(result, lines=())


# --- properties ------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(settlement_inputs())
def test_amount_is_split_without_loss(inp: SettlementInput) -> None:
    result = settle(inp)
    assert len(result.lines) == len(inp.bill.items)
    for line, item in zip(result.lines, inp.bill.items, strict=True):
        assert line.line_no == item.line_no
        assert line.amount == item.amount
        parts = (line.excluded, line.over_limit, line.b_self_pay, line.in_scope)
        assert all(part >= 0 for part in parts), line
        assert line.amount == sum(parts), line
        if line.reason is not None:
            assert line.excluded == line.amount
    parts = (result.excluded, result.over_limit, result.b_self_pay, result.in_scope)
    assert all(part >= 0 for part in parts)
    assert result.medical_total == inp.bill.medical_total == sum(parts)


@PROPERTY_SETTINGS
@given(settlement_inputs())
def test_fund_payment_within_what_is_left_of_the_bill(inp: SettlementInput) -> None:
    result = settle(inp)
    assert 0 <= result.fund_payment <= result.medical_total - inp.prior_payments


@PROPERTY_SETTINGS
@given(settlement_inputs())
def test_fund_payment_within_the_capped_benefit(inp: SettlementInput) -> None:
    result = settle(inp)
    assert 0 <= result.fund_payment <= result.benefit_after_cap <= result.computed_benefit
    # Coordination only withholds part of the capped benefit, and only when someone paid before.
    assert 0 <= result.coordination_reduction <= result.benefit_after_cap
    if inp.prior_payments == 0:
        assert result.coordination_reduction == 0
        assert result.fund_payment == result.benefit_after_cap


@PROPERTY_SETTINGS
@given(settlement_inputs())
def test_patient_pays_the_rest(inp: SettlementInput) -> None:
    result = settle(inp)
    assert result.prior_payments == inp.prior_payments
    # The patient owes at most what nobody paid before, and at least what no fund covers
    # (excluded, over the limit, class B self-pay, the deductible) less what others paid.
    uncovered = result.excluded + result.over_limit + result.b_self_pay + result.deductible
    assert uncovered - inp.prior_payments <= result.patient_responsibility <= result.medical_total - inp.prior_payments
    assert result.patient_responsibility >= 0


@PROPERTY_SETTINGS
@given(settlement_inputs())
def test_deductible_and_bands_partition_the_in_scope_amount(inp: SettlementInput) -> None:
    result = settle(inp)
    assert 0 <= result.deductible <= result.in_scope
    assert sum((band.base for band in result.bands), ZERO) == result.in_scope - result.deductible
    assert all(0 <= band.ratio <= 1 and band.base > 0 and band.amount >= 0 for band in result.bands)
    assert result.computed_benefit == sum((band.amount for band in result.bands), ZERO)
    basis = inp.policy.settings[inp.bill.setting].deductible.basis
    assert result.yearly_deductible == (result.deductible if basis == "per_year" else 0)


@PROPERTY_SETTINGS
@given(settlement_inputs(), st.data())
def test_line_order_does_not_matter(inp: SettlementInput, data: st.DataObject) -> None:
    shuffled_items = tuple(data.draw(st.permutations(inp.bill.items), label="shuffled items"))
    shuffled = dataclasses.replace(inp, bill=dataclasses.replace(inp.bill, items=shuffled_items))
    a, b = settle(inp), settle(shuffled)
    assert totals(a) == totals(b)
    assert {line.line_no: line for line in a.lines} == {line.line_no: line for line in b.lines}


@PROPERTY_SETTINGS
@given(settlement_inputs())
def test_annual_cap_is_never_exceeded(inp: SettlementInput) -> None:
    result = settle(inp)
    fund_paid, cap = inp.year_to_date.fund_paid, inp.policy.annual_cap
    if fund_paid <= cap:
        assert result.benefit_after_cap + fund_paid <= cap
        assert result.fund_payment + fund_paid <= cap
    else:
        assert result.benefit_after_cap == 0
