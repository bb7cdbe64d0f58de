"""Table tests of ``shared/spec/settlement-rules.md``, one rule at a time, exact to the cent.

Every expected number is worked out by hand in the table (ids and comments), never by calling
engine code.  Inputs are built directly from the frozen dataclasses of ``app.engine.types``.

Defaults of the tables (unless a case says otherwise): the scheme ``NRCMS-511623`` pools in
county ``511623``; the hospital is level 2 in ``511623`` (local); the bill is inpatient,
admitted 2026-03-02, discharged 2026-03-12; the 2026 policy has an annual cap of 150000.00, a
``per_admission`` deductible of 100.00 / 300.00 / 800.00 by level, one open band with ratios
0.85 / 0.75 / 0.60 and off-site deltas -0.10 (registered) / -0.20 (unregistered).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from stdnum.cn import ric

from app.engine import settle
from app.engine.coordination import check_prior
from app.engine.policy import offsite_of, region_contains
from app.engine.types import (
    Band,
    Bill,
    BillLine,
    CatalogEntry,
    CatalogVersion,
    Coordination,
    Deductible,
    ExternalPayment,
    Hospital,
    Member,
    Period,
    Policy,
    Registration,
    Scheme,
    SettingPolicy,
    SettlementInput,
    SettlementResult,
    YearToDate,
)
from app.engine.validate import validate_bill
from app.errors import FieldError, NoCatalog, NoPolicy, NotCovered, NotEnrolled, ValidationFailed
from app.privacy import mask_id

D = Decimal
Z = D("0.00")


# --- builders -------------------------------------------------------------------------


def resident_id(first17: str) -> str:
    """A valid 18-character resident ID.

    ``ric.calc_check_digit`` expects the number *with* its check character and ignores the
    last one, so a placeholder is appended before asking it.
    """
    assert len(first17) == 17
    assert first17.isdigit()
    return first17 + ric.calc_check_digit(first17 + "0")


PATIENT_ID = resident_id("51162319900307123")  # born 1990-03-07 -> 511623199003071234
ADMISSION = date(2026, 3, 2)
DISCHARGE = date(2026, 3, 12)

A_ENTRY = CatalogEntry("A1", "Plain class A", "drug", "A")
C_ENTRY = CatalogEntry("C1", "Plain class C", "drug", "C")
DEFAULT_ENTRIES: dict[str, CatalogEntry] = {"A1": A_ENTRY, "C1": C_ENTRY}


def levels(l1: str, l2: str, l3: str) -> dict[int, Decimal]:
    return {1: D(l1), 2: D(l2), 3: D(l3)}


def catalog(entries: Mapping[str, CatalogEntry] | Sequence[CatalogEntry] = DEFAULT_ENTRIES) -> CatalogVersion:
    if not isinstance(entries, Mapping):
        entries = {e.code: e for e in entries}
    return CatalogVersion("2026", date(2026, 1, 1), None, dict(entries))


def section(
    *,
    deductible: Deductible | None = None,
    bands: Sequence[Band] | None = None,
    registered: str = "-0.10",
    unregistered: str = "-0.20",
) -> SettingPolicy:
    return SettingPolicy(
        deductible=deductible or Deductible("per_admission", by_level=levels("100.00", "300.00", "800.00")),
        bands=tuple(bands) if bands is not None else (Band(None, levels("0.85", "0.75", "0.60")),),
        delta_registered=D(registered),
        delta_unregistered=D(unregistered),
    )


def policy(
    sec: SettingPolicy | None = None, *, year: int = 2026, cap: str = "150000.00", outpatient: bool = False
) -> Policy:
    settings = {"inpatient": sec or section()}
    if outpatient:
        settings["outpatient"] = sec or section()
    return Policy(year=year, annual_cap=D(cap), settings=settings)


def line(
    no: int, code: str, quantity: str, price: str, amount: str | None = None, service_date: date | None = None
) -> BillLine:
    """A bill line; ``amount`` defaults to ``quantity x price`` written out by the caller's numbers."""
    q, p = D(quantity), D(price)
    a = D(amount) if amount is not None else (q * p).quantize(D("0.01"), ROUND_HALF_UP)
    return BillLine(no, code, f"item {no}", "drug", q, p, a, service_date)


def bill(
    items: Sequence[BillLine],
    *,
    region: str = "511623",
    level: int = 2,
    setting: str = "inpatient",
    admission: date = ADMISSION,
    discharge: date = DISCHARGE,
    patient_id: str = PATIENT_ID,
) -> Bill:
    return Bill(
        hospital=Hospital("H1", "County hospital", level, region),
        bill_no="B1",
        patient_id_number=patient_id,
        patient_name="Wang Jun",
        setting=setting,
        admission_date=admission,
        discharge_date=discharge,
        diagnoses=("I21.0",),
        items=tuple(items),
    )


def member(
    registrations: Sequence[Registration] = (),
    coverage: Sequence[Period] = (Period(date(2020, 1, 1), None),),
    id_number: str = PATIENT_ID,
) -> Member:
    return Member("M1", id_number, "Wang Jun", tuple(coverage), tuple(registrations))


def scheme(pooling: str = "511623", coordination: Coordination = "repeat_capped") -> Scheme:
    return Scheme(f"S-{pooling}", "Scheme", "nrcms", pooling, coordination)


def run(
    b: Bill,
    *,
    catalogs: Sequence[CatalogVersion] | None = None,
    pol: Policy | None = None,
    sch: Scheme | None = None,
    mem: Member | None = None,
    ytd: YearToDate | None = None,
    prior: str = "0.00",
) -> SettlementResult:
    return settle(
        SettlementInput(
            bill=b,
            scheme=sch or scheme(),
            member=mem or member(),
            catalogs=tuple(catalogs) if catalogs is not None else (catalog(),),
            policy=pol or policy(),
            year_to_date=ytd or YearToDate(),
            prior_payments=D(prior),
        )
    )


def one_line(amount: str) -> Bill:
    """A bill of one class A line of ``amount`` (quantity 1): in scope = amount."""
    return bill([line(1, "A1", "1", amount)])


def errors_of(exc: ValidationFailed) -> list[FieldError]:
    return list(exc.errors)


def locs(exc: ValidationFailed) -> set[tuple[Any, ...]]:
    return {e.loc for e in exc.errors}


# --- rule 2: the lines ----------------------------------------------------------------


def lcase(title: str, entry: CatalogEntry | None, line_text: str, split: str, reason: str | None = None) -> Any:
    """One row: ``line_text`` is ``"q x p = amount"``; ``split`` is ``"excluded over_limit b_self_pay in_scope"``."""
    qp, amount = line_text.split(" = ")
    quantity, price = qp.split(" x ")
    return pytest.param(entry, quantity, price, amount, *split.split(), reason, id=title)


B10 = CatalogEntry("X", "B 10%", "drug", "B", self_pay_ratio=D("0.10"))

# Inpatient bill at a level-2 hospital.
LINE_CASES = [
    lcase("not in catalog", None, "1 x 100.00 = 100.00", "100.00 0.00 0.00 0.00", "not_in_catalog"),
    lcase("class C", CatalogEntry("X", "Zolpidem", "drug", "C"), "10 x 5.00 = 50.00", "50.00 0 0 0", "class_c"),
    lcase(
        "outpatient-only A on an inpatient bill",
        CatalogEntry("X", "Clinic", "service", "A", settings=("outpatient",)),
        "2 x 30.00 = 60.00",
        "60.00 0 0 0",
        "restricted_setting",
    ),
    lcase(
        "outpatient-only B on an inpatient bill: excluded whole, no B split",
        dataclasses.replace(B10, settings=("outpatient",)),
        "1 x 40.00 = 40.00",
        "40.00 0 0 0",
        "restricted_setting",
    ),
    lcase(
        "min level 3 at a level-2 hospital",
        CatalogEntry("X", "Stent", "material", "B", self_pay_ratio=D("0.20"), min_hospital_level=3),
        "1 x 8000.00 = 8000.00",
        "8000.00 0 0 0",
        "restricted_level",
    ),
    lcase(
        "min level 2 at a level-2 hospital is met",
        CatalogEntry("X", "L2", "service", "A", min_hospital_level=2),
        "1 x 80.00 = 80.00",
        "0 0 0 80.00",
    ),
    lcase(
        "settings [inpatient] on an inpatient bill",
        CatalogEntry("X", "Ward", "material", "A", settings=("inpatient",)),
        "1 x 70.00 = 70.00",
        "0 0 0 70.00",
    ),
    lcase("A, no cap", CatalogEntry("X", "Amoxicillin", "drug", "A"), "20 x 12.50 = 250.00", "0 0 0 250.00"),
    lcase(
        "A over cap 40.00: (50.00 - 40.00) x 10 = 100.00 over, 400.00 in scope",
        CatalogEntry("X", "Bed", "facility", "A", price_cap=D("40.00")),
        "10 x 50.00 = 500.00",
        "0 100.00 0 400.00",
    ),
    lcase(
        "A at its cap is not over the limit",
        CatalogEntry("X", "Bed", "facility", "A", price_cap=D("50.00")),
        "10 x 50.00 = 500.00",
        "0 0 0 500.00",
    ),
    lcase(
        "over_limit (10.01 - 10.00) x 0.5 = 0.005 -> 0.01 half up; 5.01 - 0.01 = 5.00",
        CatalogEntry("X", "Half vial", "drug", "A", price_cap=D("10.00")),
        "0.5 x 10.01 = 5.01",
        "0 0.01 0 5.00",
    ),
    lcase(
        "over_limit 0.33 x 3 = 0.99 is bounded by the amount 0.98 (within 0.01 of q x p)",
        CatalogEntry("X", "Capped at 0", "drug", "A", price_cap=D("0.00")),
        "3 x 0.33 = 0.98",
        "0 0.98 0 0.00",
    ),
    lcase("B 10%: 300.00 x 0.10 = 30.00", B10, "1 x 300.00 = 300.00", "0 0 30.00 270.00"),
    lcase(
        "B 20% cap 200.00: over 500.00, allowed 2000.00 x 0.20 = 400.00, in scope 1600.00",
        CatalogEntry("X", "Targeted", "drug", "B", self_pay_ratio=D("0.20"), price_cap=D("200.00")),
        "10 x 250.00 = 2500.00",
        "0 500.00 400.00 1600.00",
    ),
    lcase("B rounding 0.05 x 0.10 = 0.005 -> 0.01", B10, "1 x 0.05 = 0.05", "0 0 0.01 0.04"),
    lcase("B rounding 0.25 x 0.10 = 0.025 -> 0.03 (half up, not half even)", B10, "1 x 0.25 = 0.25", "0 0 0.03 0.22"),
    lcase("B rounding 0.04 x 0.10 = 0.004 -> 0.00", B10, "1 x 0.04 = 0.04", "0 0 0.00 0.04"),
    lcase(
        "B 0%: all in scope",
        CatalogEntry("X", "Free B", "drug", "B", self_pay_ratio=D("0")),
        "3 x 7.00 = 21.00",
        "0 0 0 21.00",
    ),
]


@pytest.mark.parametrize(
    ("entry", "quantity", "price", "amount", "excluded", "over", "b_self", "in_scope", "reason"), LINE_CASES
)
def test_line_classification(
    entry: CatalogEntry | None,
    quantity: str,
    price: str,
    amount: str,
    excluded: str,
    over: str,
    b_self: str,
    in_scope: str,
    reason: str | None,
) -> None:
    entries = {} if entry is None else {entry.code: entry}
    b = bill([line(1, "X", quantity, price, amount)])
    result = run(b, catalogs=[catalog(entries)])
    (got,) = result.lines
    klass = None if entry is None else entry.klass
    assert (got.line_no, got.code, got.klass, got.reason) == (1, "X", klass, reason)
    want = (D(amount), D(excluded), D(over), D(b_self), D(in_scope))
    assert (got.amount, got.excluded, got.over_limit, got.b_self_pay, got.in_scope) == want
    # the line's figures are also the totals of a one-line bill
    assert (result.medical_total, result.excluded, result.over_limit, result.b_self_pay, result.in_scope) == want
    # money comes out with exactly two places
    assert {x.as_tuple().exponent for x in (got.excluded, got.over_limit, got.b_self_pay, got.in_scope)} == {-2}


def test_line_totals_add_up_on_a_mixed_bill() -> None:
    entries = [
        CatalogEntry("BED", "Bed", "facility", "A", price_cap=D("40.00")),
        CatalogEntry("CT", "CT", "service", "B", self_pay_ratio=D("0.10")),
        CatalogEntry("ZOL", "Zolpidem", "drug", "C"),
        CatalogEntry("OUT", "Clinic", "service", "A", settings=("outpatient",)),
        CatalogEntry("L3", "Level 3 only", "service", "A", min_hospital_level=3),
    ]
    items = [
        line(1, "BED", "10", "50.00"),  # 500.00: over 100.00, in 400.00
        line(2, "CT", "1", "300.00"),  # 300.00: self 30.00, in 270.00
        line(3, "ZOL", "10", "5.00"),  # 50.00 excluded
        line(4, "UNLISTED", "1", "100.00"),  # 100.00 excluded
        line(5, "OUT", "1", "20.00"),  # 20.00 excluded
        line(6, "L3", "2", "15.00"),  # 30.00 excluded
    ]
    r = run(bill(items), catalogs=[catalog(entries)])
    assert [x.reason for x in r.lines] == [
        None,
        None,
        "class_c",
        "not_in_catalog",
        "restricted_setting",
        "restricted_level",
    ]
    # total 1000.00 = excluded 200.00 + over 100.00 + self 30.00 + in scope 670.00
    assert r.medical_total == D("1000.00")
    assert (r.excluded, r.over_limit, r.b_self_pay, r.in_scope) == (D("200.00"), D("100.00"), D("30.00"), D("670.00"))
    # local level 2: deductible 300.00, base 370.00 x 0.75 = 277.50
    assert (r.deductible, r.computed_benefit, r.fund_payment) == (D("300.00"), D("277.50"), D("277.50"))
    assert r.patient_responsibility == D("722.50")


# --- rule 2: catalog version by service date ------------------------------------------

# v1: 2026-01-01 .. 2026-03-31, D1 is class A; v2: from 2026-04-01, D1 is class B 20%.
V1 = CatalogVersion("v1", date(2026, 1, 1), date(2026, 3, 31), {"D1": CatalogEntry("D1", "Drug", "drug", "A")})
V2 = CatalogVersion(
    "v2", date(2026, 4, 1), None, {"D1": CatalogEntry("D1", "Drug", "drug", "B", self_pay_ratio=D("0.20"))}
)


@pytest.mark.parametrize(
    ("service_date", "klass", "b_self", "in_scope"),
    [
        pytest.param(date(2026, 3, 31), "A", "0.00", "100.00", id="last day of v1 (effective_to inclusive): A"),
        pytest.param(date(2026, 4, 1), "B", "20.00", "80.00", id="first day of v2: B 20% of 100.00"),
        pytest.param(date(2026, 4, 9), "B", "20.00", "80.00", id="inside v2 (open end): B"),
        pytest.param(None, "A", "0.00", "100.00", id="no service_date: admission 2026-03-25 -> v1: A"),
    ],
)
def test_catalog_version_follows_service_date(
    service_date: date | None, klass: str, b_self: str, in_scope: str
) -> None:
    b = bill(
        [line(1, "D1", "1", "100.00", service_date=service_date)],
        admission=date(2026, 3, 25),
        discharge=date(2026, 4, 10),
    )
    (got,) = run(b, catalogs=[V1, V2]).lines
    assert (got.klass, got.b_self_pay, got.in_scope) == (klass, D(b_self), D(in_scope))


def test_catalog_version_per_line_on_one_bill() -> None:
    b = bill(
        [
            line(1, "D1", "1", "100.00", service_date=date(2026, 3, 30)),  # v1: A, 100.00
            line(2, "D1", "1", "100.00", service_date=date(2026, 4, 2)),  # v2: B, 20.00 + 80.00
            line(3, "D1", "1", "100.00"),  # admission 2026-03-25 -> v1: A, 100.00
        ],
        admission=date(2026, 3, 25),
        discharge=date(2026, 4, 10),
    )
    r = run(b, catalogs=[V2, V1])
    assert [x.klass for x in r.lines] == ["A", "B", "A"]
    assert (r.b_self_pay, r.in_scope) == (D("20.00"), D("280.00"))


@pytest.mark.parametrize(
    ("admission", "service_date"),
    [
        pytest.param(date(2026, 3, 10), date(2026, 3, 15), id="service date in the gap between versions"),
        pytest.param(date(2026, 3, 10), None, id="no service date: admission date in the gap"),
        pytest.param(date(2026, 1, 20), date(2026, 1, 31), id="service date before the first version"),
    ],
)
def test_no_catalog_version_in_effect(admission: date, service_date: date | None) -> None:
    feb = CatalogVersion("feb", date(2026, 2, 1), date(2026, 2, 28), {"A1": A_ENTRY})
    apr = CatalogVersion("apr", date(2026, 4, 1), None, {"A1": A_ENTRY})
    b = bill(
        [
            line(1, "A1", "1", "10.00", service_date=date(2026, 4, 2)),
            line(2, "A1", "1", "10.00", service_date=service_date),
        ],
        admission=admission,
        discharge=date(2026, 4, 5),
    )
    with pytest.raises(NoCatalog):
        run(b, catalogs=[feb, apr])


# --- rule 3: where the care happened and registration ----------------------------------


@pytest.mark.parametrize(
    ("hospital", "pooling", "expected"),
    [
        ("511623", "511623", "local"),
        ("511602", "511623", "local"),  # same prefecture 5116
        ("511600", "511623", "local"),
        ("510105", "511623", "in_province"),  # same province 51
        ("511723", "511623", "in_province"),
        ("321102", "511623", "out_of_province"),
        ("511623", "321100", "out_of_province"),
    ],
)
def test_offsite_of(hospital: str, pooling: str, expected: str) -> None:
    assert offsite_of(hospital, pooling) == expected


@pytest.mark.parametrize(
    ("container", "region", "expected"),
    [
        ("510000", "511623", True),
        ("510000", "510105", True),
        ("510000", "510000", True),
        ("510000", "521623", False),
        ("511600", "511623", True),
        ("511600", "511602", True),
        ("511600", "511723", False),
        ("511600", "521623", False),
        ("511623", "511623", True),
        ("511623", "511624", False),
        ("511623", "511600", False),
    ],
)
def test_region_contains(container: str, region: str, expected: bool) -> None:
    assert region_contains(container, region) is expected


OPEN = Registration("510000", date(2026, 1, 1), None)


# One A line of 1300.00 at level 2: deductible 300.00, base 1000.00, ratio 0.75 + delta.
@pytest.mark.parametrize(
    ("pooling", "hospital", "registrations", "offsite", "registered", "ratio", "benefit"),
    [
        pytest.param("511623", "511623", [], "local", False, "0.75", "750.00", id="local"),
        pytest.param("511623", "511602", [], "local", False, "0.75", "750.00", id="local, other county, same city"),
        pytest.param("511623", "511623", [Registration("511623", date(2026, 1, 1), None)], "local", False, "0.75",
                     "750.00", id="local: a registration does not make it registered"),
        pytest.param("511623", "510105", [], "in_province", False, "0.55", "550.00", id="in_province unregistered"),
        pytest.param("511623", "510105", [OPEN], "in_province", True, "0.65", "650.00",
                     id="in_province registered for the province"),
        pytest.param("321100", "511623", [], "out_of_province", False, "0.55", "550.00",
                     id="out_of_province unregistered"),
        pytest.param("321100", "511623", [OPEN], "out_of_province", True, "0.65", "650.00",
                     id="registered 510000 contains 511623"),
        pytest.param("321100", "511623", [Registration("511600", date(2026, 1, 1), None)], "out_of_province", True,
                     "0.65", "650.00", id="registered 511600 contains 511623"),
        pytest.param("321100", "511623", [Registration("511623", date(2026, 1, 1), None)], "out_of_province", True,
                     "0.65", "650.00", id="registered 511623 is itself"),
        pytest.param("321100", "511623", [Registration("511624", date(2026, 1, 1), None)], "out_of_province",
                     False, "0.55", "550.00", id="registered 511624 does not contain 511623"),
        pytest.param("321100", "511623", [Registration("511700", date(2026, 1, 1), None)], "out_of_province",
                     False, "0.55", "550.00", id="registered 511700 does not contain 511623"),
        pytest.param("321100", "511623", [Registration("520000", date(2026, 1, 1), None)], "out_of_province",
                     False, "0.55", "550.00", id="registered 520000 does not contain 511623"),
        pytest.param("321100", "511623", [Registration("510000", date(2025, 1, 1), date(2026, 3, 1))],
                     "out_of_province", False, "0.55", "550.00", id="registration ended the day before admission"),
        pytest.param("321100", "511623", [Registration("510000", date(2026, 3, 3), None)], "out_of_province",
                     False, "0.55", "550.00", id="registration starts the day after admission"),
        pytest.param("321100", "511623", [Registration("510000", date(2025, 1, 1), date(2026, 3, 2))],
                     "out_of_province", True, "0.65", "650.00", id="registration ends on the admission date"),
        pytest.param("321100", "511623", [Registration("510000", date(2026, 3, 2), date(2026, 3, 2))],
                     "out_of_province", True, "0.65", "650.00", id="one-day registration on the admission date"),
        pytest.param("321100", "511623",
                     [Registration("520000", date(2026, 1, 1), None), Registration("511600", date(2026, 1, 1), None)],
                     "out_of_province", True, "0.65", "650.00", id="any one of several registrations"),
    ],
)  # fmt: skip
def test_offsite_and_registration(
    pooling: str,
    hospital: str,
    registrations: list[Registration],
    offsite: str,
    registered: bool,
    ratio: str,
    benefit: str,
) -> None:
    r = run(
        bill([line(1, "A1", "1", "1300.00")], region=hospital),
        sch=scheme(pooling),
        mem=member(registrations),
    )
    assert (r.offsite, r.registered) == (offsite, registered)
    assert r.deductible == D("300.00")
    assert [(b.lower, b.upper, b.ratio, b.base, b.amount) for b in r.bands] == [
        (Z, None, D(ratio), D("1000.00"), D(benefit))
    ]
    assert r.computed_benefit == D(benefit)


# --- rule 5: bands ---------------------------------------------------------------------

UEBMI_BANDS = (
    Band(D("20000.00"), levels("0.92", "0.88", "0.85")),
    Band(None, levels("0.95", "0.92", "0.90")),
)
UEBMI_DEDUCTIBLE = Deductible("per_admission", by_level=levels("300.00", "600.00", "900.00"))


@pytest.mark.parametrize(
    ("in_scope", "bands", "computed"),
    [
        pytest.param(
            "20600.00",
            [("0.00", "20000.00", "0.88", "20000.00", "17600.00")],
            "17600.00",
            id="base exactly 20000.00 = up_to: one band, full amount 20000 x 0.88",
        ),
        pytest.param(
            "20600.01",
            [("0.00", "20000.00", "0.88", "20000.00", "17600.00"), ("20000.00", None, "0.92", "0.01", "0.01")],
            "17600.01",
            id="base 20000.01: 0.01 x 0.92 = 0.0092 -> 0.01 in the open band",
        ),
        pytest.param(
            "30600.00",
            [("0.00", "20000.00", "0.88", "20000.00", "17600.00"), ("20000.00", None, "0.92", "10000.00", "9200.00")],
            "26800.00",
            id="base 30000.00 crosses into the open band: 17600.00 + 9200.00",
        ),
        pytest.param(
            "19600.00",
            [("0.00", "20000.00", "0.88", "19000.00", "16720.00")],
            "16720.00",
            id="base 19000.00 inside the first band",
        ),
    ],
)
def test_bands_uebmi_shape(in_scope: str, bands: list[tuple[str, str | None, str, str, str]], computed: str) -> None:
    pol = policy(section(deductible=UEBMI_DEDUCTIBLE, bands=UEBMI_BANDS))
    r = run(one_line(in_scope), pol=pol)
    assert r.deductible == D("600.00")
    assert [(b.lower, b.upper, b.ratio, b.base, b.amount) for b in r.bands] == [
        (D(lo), None if up is None else D(up), D(ratio), D(base), D(amount)) for lo, up, ratio, base, amount in bands
    ]
    assert r.computed_benefit == D(computed)
    assert r.fund_payment == D(computed)


def test_base_crossing_two_band_limits() -> None:
    # bands: [0, 10000) x 0.50, [10000, 20000) x 0.60, [20000, -) x 0.70; level 2; deductible 0.
    pol = policy(
        section(
            deductible=Deductible("per_admission", by_level={}),
            bands=[
                Band(D("10000.00"), {2: D("0.50")}),
                Band(D("20000.00"), {2: D("0.60")}),
                Band(None, {2: D("0.70")}),
            ],
        )
    )
    r = run(one_line("25000.00"), pol=pol)
    # 10000 x 0.50 = 5000.00; 10000 x 0.60 = 6000.00; 5000 x 0.70 = 3500.00
    assert r.deductible == Z
    assert [(b.lower, b.upper, b.base, b.amount) for b in r.bands] == [
        (Z, D("10000.00"), D("10000.00"), D("5000.00")),
        (D("10000.00"), D("20000.00"), D("10000.00"), D("6000.00")),
        (D("20000.00"), None, D("5000.00"), D("3500.00")),
    ]
    assert r.computed_benefit == D("14500.00")


def test_each_band_is_rounded_on_its_own() -> None:
    # base 0.10 cut at 0.05: 0.05 x 0.5 = 0.025 -> 0.03 twice = 0.06 (rounding the sum would give 0.05)
    pol = policy(
        section(
            deductible=Deductible("per_admission", by_level={}),
            bands=[Band(D("0.05"), {2: D("0.5")}), Band(None, {2: D("0.5")})],
        )
    )
    r = run(one_line("0.10"), pol=pol)
    assert [b.amount for b in r.bands] == [D("0.03"), D("0.03")]
    assert r.computed_benefit == D("0.06")


# --- rule 4: deductible ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_scope", "deductible", "patient"),
    [
        pytest.param("200.00", "200.00", "200.00", id="in scope 200.00 < deductible 300.00"),
        pytest.param("300.00", "300.00", "300.00", id="in scope exactly the deductible"),
        pytest.param("0.01", "0.01", "0.01", id="one fen"),
    ],
)
def test_deductible_larger_than_in_scope(in_scope: str, deductible: str, patient: str) -> None:
    r = run(one_line(in_scope))
    assert r.in_scope == D(in_scope)
    assert r.deductible == D(deductible)
    assert r.bands == ()
    assert r.computed_benefit == Z
    assert r.benefit_after_cap == Z
    assert r.fund_payment == Z
    assert r.patient_responsibility == D(patient)


def test_deductible_when_nothing_is_in_scope() -> None:
    r = run(bill([line(1, "C1", "1", "500.00")]))
    assert (r.in_scope, r.deductible, r.bands, r.computed_benefit) == (Z, Z, (), Z)
    assert r.patient_responsibility == D("500.00")


OFFSITE_DEDUCTIBLE = levels("200.00", "500.00", "1000.00")


# One A line of 2000.00; by_level 100/300/800, ratios 0.85/0.75/0.60, unregistered delta -0.20.
@pytest.mark.parametrize(
    ("region", "level", "offsite_by_level", "deductible", "ratio", "benefit"),
    [
        pytest.param("511623", 2, OFFSITE_DEDUCTIBLE, "300.00", "0.75", "1275.00",
                     id="local L2 uses by_level: 1700 x 0.75"),
        pytest.param("511623", 1, OFFSITE_DEDUCTIBLE, "100.00", "0.85", "1615.00",
                     id="local L1 uses by_level: 1900 x 0.85"),
        pytest.param("511623", 3, OFFSITE_DEDUCTIBLE, "800.00", "0.60", "720.00",
                     id="local L3 uses by_level: 1200 x 0.60"),
        pytest.param("510105", 2, OFFSITE_DEDUCTIBLE, "500.00", "0.55", "825.00",
                     id="in_province L2 uses offsite_by_level: 1500 x 0.55"),
        pytest.param("321102", 2, OFFSITE_DEDUCTIBLE, "500.00", "0.55", "825.00",
                     id="out_of_province L2 uses offsite_by_level: 1500 x 0.55"),
        pytest.param("510105", 3, OFFSITE_DEDUCTIBLE, "1000.00", "0.40", "400.00",
                     id="in_province L3 uses offsite_by_level: 1000 x 0.40"),
        pytest.param("510105", 2, None, "300.00", "0.55", "935.00",
                     id="off-site without offsite_by_level falls back to by_level: 1700 x 0.55"),
    ],
)  # fmt: skip
def test_per_admission_deductible(
    region: str, level: int, offsite_by_level: dict[int, Decimal] | None, deductible: str, ratio: str, benefit: str
) -> None:
    rule = Deductible("per_admission", by_level=levels("100.00", "300.00", "800.00"), offsite_by_level=offsite_by_level)
    r = run(bill([line(1, "A1", "1", "2000.00")], region=region, level=level), pol=policy(section(deductible=rule)))
    assert r.deductible == D(deductible)
    assert r.yearly_deductible == Z
    assert [(b.ratio, b.amount) for b in r.bands] == [(D(ratio), D(benefit))]
    assert r.computed_benefit == D(benefit)


# per_year amount 1000.00; local level 2, ratio 0.75.
@pytest.mark.parametrize(
    ("in_scope", "paid", "deductible", "benefit"),
    [
        pytest.param("2000.00", "0.00", "1000.00", "750.00", id="nothing paid yet: 1000 x 0.75"),
        pytest.param("2000.00", "400.00", "600.00", "1050.00", id="400 paid: 600 left, 1400 x 0.75"),
        pytest.param("2000.00", "999.99", "0.01", "1499.99", id="999.99 paid: 0.01 left, 1999.99 x 0.75 = 1499.9925"),
        pytest.param("2000.00", "1000.00", "0.00", "1500.00", id="fully used: 2000 x 0.75"),
        pytest.param("2000.00", "1200.00", "0.00", "1500.00", id="more than the amount recorded: still 0"),
        pytest.param("500.00", "400.00", "500.00", "0.00", id="600 left but only 500 in scope"),
    ],
)
def test_per_year_deductible(in_scope: str, paid: str, deductible: str, benefit: str) -> None:
    rule = Deductible("per_year", amount=D("1000.00"))
    r = run(one_line(in_scope), pol=policy(section(deductible=rule)), ytd=YearToDate(deductible_paid=D(paid)))
    assert r.deductible == D(deductible)
    assert r.yearly_deductible == D(deductible)
    assert r.computed_benefit == D(benefit)


def test_per_year_deductible_ignores_offsite_tables() -> None:
    # per_year has one amount; off-site at level 3 it is still 1000.00. 2000 - 1000 = 1000 x (0.60 - 0.20) = 400.00
    rule = Deductible("per_year", amount=D("1000.00"))
    r = run(bill([line(1, "A1", "1", "2000.00")], region="510105", level=3), pol=policy(section(deductible=rule)))
    assert (r.deductible, r.yearly_deductible, r.computed_benefit) == (D("1000.00"), D("1000.00"), D("400.00"))


# --- rule 6: annual cap ----------------------------------------------------------------


# Annual cap 10000.00; in scope 6300.00 -> deductible 300.00, base 6000.00 x 0.75 = 4500.00 computed.
@pytest.mark.parametrize(
    ("fund_paid", "after_cap"),
    [
        pytest.param("0.00", "4500.00", id="cap untouched"),
        pytest.param("5500.00", "4500.00", id="exactly 4500.00 left"),
        pytest.param("7000.00", "3000.00", id="partly used: 3000.00 left"),
        pytest.param("9999.99", "0.01", id="one fen left"),
        pytest.param("10000.00", "0.00", id="used up"),
        pytest.param("12000.00", "0.00", id="over-used: never negative"),
    ],
)
def test_annual_cap(fund_paid: str, after_cap: str) -> None:
    r = run(one_line("6300.00"), pol=policy(cap="10000.00"), ytd=YearToDate(fund_paid=D(fund_paid)))
    assert r.computed_benefit == D("4500.00")
    assert r.benefit_after_cap == D(after_cap)
    assert r.fund_payment == D(after_cap)
    assert r.coordination_reduction == Z
    # total 6300.00 - fund payment
    assert r.patient_responsibility == D("6300.00") - D(after_cap)


# --- rule 7: coordination ----------------------------------------------------------------


# Bill 10000.00 = A 6300.00 + C 3700.00; benefit_after_cap = (6300 - 300) x 0.75 = 4500.00.
@pytest.mark.parametrize(
    ("mode", "prior", "fund", "reduction", "patient"),
    [
        # repeat_capped: min(4500, 10000 - prior)
        ("repeat_capped", "0.00", "4500.00", "0.00", "5500.00"),
        ("repeat_capped", "3000.00", "4500.00", "0.00", "2500.00"),
        ("repeat_capped", "7000.00", "3000.00", "1500.00", "0.00"),
        ("repeat_capped", "10000.00", "0.00", "4500.00", "0.00"),
        # gap_fill: min(max(0, 4500 - prior), 10000 - prior)
        ("gap_fill", "0.00", "4500.00", "0.00", "5500.00"),
        ("gap_fill", "3000.00", "1500.00", "3000.00", "5500.00"),
        ("gap_fill", "4500.00", "0.00", "4500.00", "5500.00"),
        ("gap_fill", "7000.00", "0.00", "4500.00", "3000.00"),
        ("gap_fill", "10000.00", "0.00", "4500.00", "0.00"),
        # exclusive: 4500 when prior = 0, else 0
        ("exclusive", "0.00", "4500.00", "0.00", "5500.00"),
        ("exclusive", "0.01", "0.00", "4500.00", "9999.99"),
        ("exclusive", "3000.00", "0.00", "4500.00", "7000.00"),
        ("exclusive", "10000.00", "0.00", "4500.00", "0.00"),
    ],
)
def test_coordination(mode: Coordination, prior: str, fund: str, reduction: str, patient: str) -> None:
    b = bill([line(1, "A1", "1", "6300.00"), line(2, "C1", "1", "3700.00")])
    r = run(b, sch=scheme(coordination=mode), prior=prior)
    assert r.medical_total == D("10000.00")
    assert r.benefit_after_cap == D("4500.00")
    assert r.coordination_mode == mode
    assert r.prior_payments == D(prior)
    assert (r.fund_payment, r.coordination_reduction, r.patient_responsibility) == (D(fund), D(reduction), D(patient))


@pytest.mark.parametrize("mode", ["repeat_capped", "gap_fill", "exclusive"])
@pytest.mark.parametrize("prior", ["10000.01", "20000.00"])
def test_prior_above_total_is_refused(mode: Coordination, prior: str) -> None:
    b = bill([line(1, "A1", "1", "6300.00"), line(2, "C1", "1", "3700.00")])
    with pytest.raises(ValidationFailed) as info:
        run(b, sch=scheme(coordination=mode), prior=prior)
    assert locs(info.value) == {("external_payments",)}


def test_prior_refusal_names_each_voucher_already_on_the_bill_then_the_total() -> None:
    pay = [ExternalPayment("PICC", v, D("1000.00")) for v in ("V1", "V2", "V1", "V3")]
    with pytest.raises(ValidationFailed) as info:
        check_prior(D("10000.01"), D("10000.00"), external=pay, recorded_vouchers={"V3"})
    assert [(e.loc, e.msg) for e in info.value.errors] == [
        (("external_payments", 2, "voucher_no"), "voucher V1 is already recorded on this bill"),
        (("external_payments", 3, "voucher_no"), "voucher V3 is already recorded on this bill"),
        (
            ("external_payments",),
            "with these external payments the bill's earlier payments (10000.01) would exceed its total (10000.00)",
        ),
    ]
    check_prior(D("10000.00"), D("10000.00"), external=pay[:2], recorded_vouchers={"V3"})  # up to the total: fine


# --- rule 5: off-site delta clamped ------------------------------------------------------


@pytest.mark.parametrize(
    ("band_ratio", "registered_delta", "unregistered_delta", "registrations", "ratio", "benefit"),
    [
        pytest.param("0.15", "-0.10", "-0.20", [], "0", "0.00", id="0.15 - 0.20 = -0.05 clamped to 0"),
        pytest.param("0.20", "-0.10", "-0.20", [], "0", "0.00", id="0.20 - 0.20 = 0 exactly"),
        pytest.param("0.95", "0.10", "-0.20", [OPEN], "1", "1000.00", id="0.95 + 0.10 = 1.05 clamped to 1"),
        pytest.param("0.95", "0.05", "-0.20", [OPEN], "1", "1000.00", id="0.95 + 0.05 = 1.00 exactly"),
    ],
)
def test_offsite_delta_is_clamped(
    band_ratio: str,
    registered_delta: str,
    unregistered_delta: str,
    registrations: list[Registration],
    ratio: str,
    benefit: str,
) -> None:
    # in_province level 2, in scope 1300.00, deductible 300.00, base 1000.00
    sec = section(bands=[Band(None, {2: D(band_ratio)})], registered=registered_delta, unregistered=unregistered_delta)
    r = run(bill([line(1, "A1", "1", "1300.00")], region="510105"), pol=policy(sec), mem=member(registrations))
    (band,) = r.bands
    assert band.ratio == D(ratio)
    assert 0 <= band.ratio <= 1
    assert (band.base, band.amount) == (D("1000.00"), D(benefit))
    assert r.computed_benefit == D(benefit)
    assert r.fund_payment == D(benefit)


# --- rule 1: eligibility -----------------------------------------------------------------


@pytest.mark.parametrize(
    "coverage",
    [
        pytest.param([Period(date(2025, 1, 1), date(2026, 3, 1))], id="ended the day before admission"),
        pytest.param([Period(date(2026, 3, 3), None)], id="starts the day after admission"),
        pytest.param([], id="no coverage at all"),
        pytest.param(
            [Period(date(2024, 1, 1), date(2024, 12, 31)), Period(date(2026, 4, 1), None)],
            id="gap around admission",
        ),
    ],
)
def test_not_enrolled(coverage: list[Period]) -> None:
    with pytest.raises(NotEnrolled) as info:
        run(one_line("100.00"), mem=member(coverage=coverage))
    assert PATIENT_ID not in str(info.value)


@pytest.mark.parametrize(
    "coverage",
    [
        pytest.param([Period(date(2025, 1, 1), date(2026, 3, 2))], id="ends on admission date"),
        pytest.param([Period(date(2026, 3, 2), None)], id="starts on admission date"),
        # coverage on admission is what counts, even if it ends during the stay
        pytest.param([Period(date(2026, 1, 1), date(2026, 3, 5))], id="ends during the stay"),
    ],
)
def test_enrolled_on_admission_date(coverage: list[Period]) -> None:
    r = run(one_line("100.00"), mem=member(coverage=coverage))
    assert r.in_scope == D("100.00")


def test_member_with_another_id_is_not_enrolled() -> None:
    other = resident_id("51162319851231001")
    with pytest.raises(NotEnrolled) as info:
        run(one_line("100.00"), mem=member(id_number=other))
    assert other not in str(info.value)
    assert PATIENT_ID not in str(info.value)


@pytest.mark.parametrize(
    ("admission", "discharge", "policy_year"),
    [
        pytest.param(ADMISSION, DISCHARGE, 2025, id="policy 2025 for a 2026 bill"),
        pytest.param(ADMISSION, DISCHARGE, 2027, id="policy 2027 for a 2026 bill"),
        pytest.param(date(2025, 12, 28), date(2026, 1, 3), 2025, id="admission year is not the policy year"),
    ],
)
def test_no_policy(admission: date, discharge: date, policy_year: int) -> None:
    cat = CatalogVersion("all", date(2025, 1, 1), None, DEFAULT_ENTRIES)
    b = bill([line(1, "A1", "1", "100.00")], admission=admission, discharge=discharge)
    with pytest.raises(NoPolicy):
        run(b, catalogs=[cat], pol=policy(year=policy_year))


def test_policy_year_is_the_discharge_year() -> None:
    cat = CatalogVersion("all", date(2025, 1, 1), None, DEFAULT_ENTRIES)
    b = bill([line(1, "A1", "1", "400.00")], admission=date(2025, 12, 28), discharge=date(2026, 1, 3))
    r = run(b, catalogs=[cat], pol=policy(year=2026))
    # 400 - 300 = 100 x 0.75
    assert (r.policy_year, r.computed_benefit) == (2026, D("75.00"))


def test_not_covered_setting() -> None:
    b = bill([line(1, "A1", "1", "100.00")], setting="outpatient")
    with pytest.raises(NotCovered):
        run(b, pol=policy())  # inpatient section only


def test_outpatient_covered_when_present() -> None:
    b = bill([line(1, "A1", "1", "400.00")], setting="outpatient")
    r = run(b, pol=policy(outpatient=True))
    assert r.computed_benefit == D("75.00")


# --- validation at the boundary ------------------------------------------------------------

BAD_CHECK_ID = PATIENT_ID[:17] + ("0" if PATIENT_ID[17] != "0" else "1")


def valid_bill(**changes: Any) -> Bill:
    return dataclasses.replace(bill([line(1, "A1", "3", "0.33", "0.99"), line(2, "C1", "2", "5.00")]), **changes)


def with_line(**changes: Any) -> Bill:
    """The valid bill with its first line changed."""
    b = valid_bill()
    return dataclasses.replace(b, items=(dataclasses.replace(b.items[0], **changes), *b.items[1:]))


@pytest.mark.parametrize(
    ("b", "loc"),
    [
        pytest.param(valid_bill(hospital=Hospital("H", "H", 2, "51162")), ("hospital", "region"), id="region 5 digits"),
        pytest.param(valid_bill(hospital=Hospital("H", "H", 2, "051623")), ("hospital", "region"), id="region 0xxxxx"),
        pytest.param(valid_bill(hospital=Hospital("H", "H", 2, "51162a")), ("hospital", "region"), id="region letter"),
        pytest.param(valid_bill(hospital=Hospital("H", "H", 4, "511623")), ("hospital", "level"), id="level 4"),
        pytest.param(valid_bill(patient_id_number=BAD_CHECK_ID), ("patient", "id_number"), id="bad check character"),
        pytest.param(valid_bill(patient_id_number=PATIENT_ID[:17]), ("patient", "id_number"), id="17 characters"),
        pytest.param(
            valid_bill(patient_id_number=resident_id("51162319901332123")), ("patient", "id_number"),
            id="check character right but birth date 1990-13-32",
        ),
        pytest.param(with_line(amount=D("1.01")), ("items", 0, "amount"), id="amount 1.01 vs 3 x 0.33 = 0.99"),
        pytest.param(with_line(amount=D("0.97")), ("items", 0, "amount"), id="amount 0.97 vs 0.99"),
        pytest.param(with_line(unit_price=D("0.333")), ("items", 0, "unit_price"), id="price with 3 decimals"),
        pytest.param(with_line(amount=D("0.991")), ("items", 0, "amount"), id="amount with 3 decimals"),
        pytest.param(with_line(quantity=D("-3")), ("items", 0, "quantity"), id="negative quantity"),
        pytest.param(with_line(unit_price=D("-0.33")), ("items", 0, "unit_price"), id="negative price"),
        pytest.param(with_line(amount=D("-0.99")), ("items", 0, "amount"), id="negative amount"),
        pytest.param(with_line(line_no=0), ("items", 0, "line_no"), id="line number 0"),
        pytest.param(with_line(line_no=2), ("items", 1, "line_no"), id="duplicate line numbers"),
        pytest.param(
            valid_bill(admission_date=date(2026, 3, 12), discharge_date=date(2026, 3, 11)), ("discharge_date",),
            id="discharge before admission",
        ),
        pytest.param(valid_bill(items=()), ("items",), id="no lines"),
    ],
)  # fmt: skip
def test_validation_rejects(b: Bill, loc: tuple[str | int, ...]) -> None:
    with pytest.raises(ValidationFailed) as direct:
        validate_bill(b)
    assert locs(direct.value) == {loc}
    with pytest.raises(ValidationFailed) as through_settle:
        run(b)
    assert locs(through_settle.value) == {loc}
    # no raw resident ID in any message
    for exc in (direct.value, through_settle.value):
        assert b.patient_id_number not in str(exc)
        assert PATIENT_ID not in str(exc)
        for err in errors_of(exc):
            assert b.patient_id_number not in err.msg


@pytest.mark.parametrize(
    "b",
    [
        pytest.param(with_line(amount=D("1.00")), id="amount 1.00 vs 0.99 (within 0.01)"),
        pytest.param(with_line(amount=D("0.98")), id="amount 0.98 vs 0.99 (within 0.01)"),
        pytest.param(with_line(quantity=D("0.5"), unit_price=D("10.01"), amount=D("5.00")), id="5.005 as 5.00"),
        pytest.param(with_line(quantity=D("0.5"), unit_price=D("10.01"), amount=D("5.01")), id="5.005 as 5.01"),
        pytest.param(with_line(unit_price=D("0.330"), amount=D("0.990")), id="trailing zero 0.330 is money"),
        pytest.param(with_line(quantity=D("0"), amount=D("0.00")), id="quantity 0"),
        pytest.param(with_line(unit_price=D("0.00"), amount=D("0.00")), id="price 0"),
        pytest.param(valid_bill(admission_date=DISCHARGE, discharge_date=DISCHARGE), id="same-day discharge"),
        pytest.param(valid_bill(hospital=Hospital("H", "H", 2, "110101")), id="region 110101"),
    ],
)  # fmt: skip
def test_validation_accepts(b: Bill) -> None:
    validate_bill(b)
    assert run(b).medical_total == sum((x.amount for x in b.items), Z)


def test_validation_collects_every_error() -> None:
    b = valid_bill(
        hospital=Hospital("H", "H", 2, "5116"),
        patient_id_number=BAD_CHECK_ID,
        admission_date=date(2026, 3, 12),
        discharge_date=date(2026, 3, 11),
        items=(line(1, "A1", "-1", "1.00", "1.00"), line(1, "A1", "1", "1.005", "1.01")),
    )
    with pytest.raises(ValidationFailed) as info:
        validate_bill(b)
    assert locs(info.value) == {
        ("hospital", "region"),
        ("patient", "id_number"),
        ("discharge_date",),
        ("items", 0, "quantity"),
        ("items", 1, "line_no"),
        ("items", 1, "unit_price"),
    }


def test_validation_runs_before_eligibility() -> None:
    # an invalid bill of a non-member is a validation failure, not not-enrolled
    with pytest.raises(ValidationFailed):
        run(valid_bill(patient_id_number=BAD_CHECK_ID), mem=member(coverage=()))


def test_resident_id_is_masked_in_errors() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_bill(valid_bill(patient_id_number=BAD_CHECK_ID))
    (err,) = errors_of(info.value)
    assert BAD_CHECK_ID not in err.msg
    assert BAD_CHECK_ID not in str(info.value)
    assert BAD_CHECK_ID not in info.value.detail
    assert mask_id(BAD_CHECK_ID) in err.msg
    assert mask_id(BAD_CHECK_ID) == BAD_CHECK_ID[:6] + "********" + BAD_CHECK_ID[-4:]


def test_resident_id_builder_matches_the_example() -> None:
    # the example patient of shared/examples: 511623 19900307 123 + check character 4
    assert PATIENT_ID == "511623199003071234"
    assert ric.calc_check_digit(PATIENT_ID) == "4"


@pytest.mark.parametrize(
    ("changes", "field", "msg"),
    [
        ({"quantity": D("0.00001"), "amount": D("0.00")}, "quantity",
         "quantity may have at most 4 decimals and be at most 9999999999"),
        ({"quantity": D("1E+10"), "amount": D("3300000000.00")}, "quantity",
         "quantity may have at most 4 decimals and be at most 9999999999"),
        ({"quantity": D("1E+40")}, "quantity", "quantity may have at most 4 decimals and be at most 9999999999"),
        ({"quantity": D("-0.5")}, "quantity", "quantity must not be negative (got -0.5)"),
        ({"quantity": D("NaN")}, "quantity", "quantity must not be negative (got NaN)"),
        ({"unit_price": D("Infinity")}, "unit_price", "unit price must be a number"),
        ({"unit_price": D("0.331")}, "unit_price", "unit price must have at most two decimals, yuan.fen (got 0.331)"),
        ({"amount": D("-1E+2")}, "amount", "amount must not be negative (got -1E+2)"),
        ({"amount": D("1E+14")}, "amount", "amount is larger than 99999999999999.99"),
        ({"amount": D("1E+30")}, "amount", "amount is larger than 99999999999999.99"),
        ({"amount": D("0.97")}, "amount", "amount 0.97 is not quantity x unit price (3 x 0.33 = 0.99)"),
        ({"quantity": D("3.00000"), "amount": D("1.1")}, "amount",
         "amount 1.1 is not quantity x unit price (3.00000 x 0.33 = 0.99)"),
    ],
)  # fmt: skip
def test_line_error_messages(changes: dict[str, Decimal], field: str, msg: str) -> None:
    """Each line check says what is wrong in a clerk's words, at the field, whatever the form of
    the number (an exponent, trailing zeros, many places)."""
    with pytest.raises(ValidationFailed) as info:
        validate_bill(with_line(**changes))
    assert [(e.loc, e.msg) for e in info.value.errors] == [(("items", 0, field), msg)]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"quantity": D("3.00000")}, id="quantity 3.00000: zeros past 4 places"),
        pytest.param({"quantity": D("0.0001"), "unit_price": D("1E+2"), "amount": D("0.01")}, id="quantity 0.0001"),
        pytest.param({"quantity": D("9999999999"), "unit_price": D("0"), "amount": D("0")}, id="largest quantity"),
        pytest.param({"unit_price": D("0.3300000"), "amount": D("0.99000")}, id="money with zeros past 2 places"),
        pytest.param({"quantity": D("1E+1"), "unit_price": D("0.1E+1"), "amount": D("10")}, id="exponents"),
        pytest.param({"quantity": D("-0"), "amount": D("0.00")}, id="quantity -0"),
    ],
)
def test_line_forms_accepted(changes: dict[str, Decimal]) -> None:
    validate_bill(with_line(**changes))
