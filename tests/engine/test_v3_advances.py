"""Table tests of v3.3 in the pure engine: a settlement request's ``advance`` (its refusals, an
employer's advance computed as its liability, a third party's as the usual settlement) and the
receivable's every state change and every refused change."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal as D

import pytest

from app.engine import settle
from app.engine import types as t
from app.engine.eligibility import check_request
from app.engine.receivables import (
    RECEIVABLE_STATUSES,
    Receivable,
    cancel,
    open_receivable,
    receivable_problems,
    recover,
    write_off,
)
from app.errors import Conflict, DomainError, NotEnrolled, NotWorkInjury, ValidationFailed

PATIENT = "513031197911020715"
EMPLOYER = t.Employer("91321111MA20EJ5B05", "Xinda Logistics (sample)")
OTHER_CODE = "91321102MA1N7D4Q8W"
INJURY = t.WorkInjury("GS-2", date(2026, 8, 3), EMPLOYER)
WI = t.Scheme("WI-X", "work injury", "work_injury", "321100")
UEBMI = t.Scheme("UEBMI-X", "employees", "uebmi", "321100")
NRCMS = t.Scheme("NRCMS-X", "rural", "nrcms", "321100")
SI = t.Scheme("SI-X", "serious illness", "serious_illness", "321100", "repeat_capped", "UEBMI-X")
CATALOG = t.CatalogVersion("1", date(2026, 1, 1), None, {"X": t.CatalogEntry("X", "x", "service", "A")})
SECTION = t.SettingPolicy(
    t.Deductible("per_admission", {3: D("500.00")}),
    (t.Band(None, {3: D("0.90")}),),
    delta_registered=D("-0.05"),
    delta_unregistered=D("-0.20"),
)
POLICY = t.Policy(2026, D("20000.00"), {"inpatient": SECTION})
MEMBER = t.Member(
    "M1", PATIENT, "Luo Bin", (t.Period(date(2026, 1, 1), None),), (t.Registration("110000", date(2026, 1, 1), None),)
)
TO_EMPLOYER = t.Advance("employer_not_enrolled", t.Liable("employer", EMPLOYER.name, EMPLOYER.code))
TO_RIDER = t.Advance("third_party", t.Liable("third_party", "Zhang Peng (rider)"))


def bill(injury: t.WorkInjury | None = INJURY, region: str = "321102") -> t.Bill:
    return t.Bill(
        hospital=t.Hospital("H1", "First hospital", 3, region),
        bill_no="B1",
        patient_id_number=PATIENT,
        patient_name="Luo Bin",
        setting="inpatient",
        admission_date=date(2026, 8, 3),
        discharge_date=date(2026, 8, 17),
        diagnoses=("S42.2",),
        items=(t.BillLine(1, "X", "x", "service", D("1"), D("10500.00"), D("10500.00")),),
        work_injury=injury,
    )


def inp(
    scheme: t.Scheme = WI,
    *,
    b: t.Bill | None = None,
    member: t.Member | None = None,
    advance: t.Advance | None = TO_EMPLOYER,
    employer: t.Employer | None = None,
    fund_paid: str = "0.00",
) -> t.SettlementInput:
    return t.SettlementInput(
        bill=b or bill(),
        scheme=scheme,
        member=member,
        catalogs=(CATALOG,),
        policy=POLICY,
        year_to_date=t.YearToDate(D(fund_paid)),
        employer=employer,
        advance=advance,
    )


def refusal(x: t.SettlementInput) -> tuple[str, list[tuple[str | int, ...]]]:
    with pytest.raises(DomainError) as info:
        settle(x)
    return info.value.problem, [e.loc for e in info.value.errors]


# --- the request ------------------------------------------------------------------------------


def liable(kind: str = "employer", name: str = EMPLOYER.name, code: str | None = EMPLOYER.code) -> t.Liable:
    return t.Liable(kind, name, code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scheme", "advance", "locs"),
    [
        (UEBMI, TO_EMPLOYER, [("advance", "reason")]),
        (WI, t.Advance("employer_not_enrolled", liable(kind="third_party")), [("advance", "liable", "kind")]),
        (WI, t.Advance("employer_not_enrolled", liable(code=None)), [("advance", "liable", "code")]),
        (WI, t.Advance("employer_not_enrolled", liable(code="91321111MA20EJ5B0X")), [("advance", "liable", "code")]),
        (WI, t.Advance("employer_not_enrolled", liable(name="  ")), [("advance", "liable", "name")]),
        (SI, TO_RIDER, [("advance", "reason")]),
        (
            NRCMS,
            t.Advance("third_party", liable(kind="employer", name="Rider", code=None)),
            [("advance", "liable", "kind")],
        ),
        (NRCMS, t.Advance("third_party", liable(kind="third_party", name="")), [("advance", "liable", "name")]),
        (NRCMS, t.Advance("third_party", liable(kind="third_party", code="12345")), [("advance", "liable", "code")]),
    ],
    ids=[
        "employer-not-under-injury-scheme",
        "employer-liable-kind",
        "employer-code-missing",
        "employer-code-check-character",
        "employer-name-blank",
        "third-party-under-a-tier",
        "third-party-liable-kind",
        "third-party-name-blank",
        "third-party-code-invalid",
    ],
)
def test_the_advance_field_is_refused(scheme: t.Scheme, advance: t.Advance, locs: list[tuple[str, ...]]) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_request(
            scheme, bill(None if scheme is not WI else INJURY), None, ("employer_liability",), advance=advance
        )
    assert [e.loc for e in info.value.errors] == locs


def test_advance_beside_an_employers_liability() -> None:
    assert refusal(inp(employer=EMPLOYER)) == ("validation", [("advance",)])


def test_another_employers_code_is_refused_after_the_kind_of_bill() -> None:
    other = t.Advance("employer_not_enrolled", liable(code=OTHER_CODE))
    assert refusal(inp(advance=other)) == ("validation", [("advance", "liable", "code")])
    # On a bill that is no work injury the kind of bill is reported first.
    assert refusal(inp(advance=other, b=bill(None)))[0] == NotWorkInjury.problem


def test_an_employers_advance_for_a_member_is_refused() -> None:
    assert refusal(inp(member=MEMBER)) == ("validation", [("advance",)])


def test_an_employers_advance_is_computed_as_its_liability() -> None:
    # Off-site (Beijing) and the patient has no membership: no registration counts, so the
    # unregistered delta applies, exactly as for the employer's liability.
    offsite = bill(region="110101")
    advanced = settle(inp(b=offsite, fund_paid="12000.00"))
    liability = settle(inp(b=offsite, advance=None, employer=EMPLOYER, fund_paid="12000.00"))
    assert advanced == liability
    assert (advanced.registered, advanced.bands[0].ratio) == (False, D("0.70"))
    assert (advanced.fund_payment, advanced.cap_remaining) == (D("7000.00"), D("1000.00"))
    # Without the advance the patient is simply not enrolled.
    assert refusal(inp(advance=None))[0] == NotEnrolled.problem


def test_a_third_party_advance_is_settled_as_usual() -> None:
    plain = bill(None)
    with_code = t.Advance("third_party", t.Liable("third_party", "Rider's insurer", "91321111MA20EJ5B05"))
    usual = settle(inp(NRCMS, b=plain, member=MEMBER, advance=None))
    assert settle(inp(NRCMS, b=plain, member=MEMBER, advance=TO_RIDER)) == usual
    assert settle(inp(NRCMS, b=plain, member=MEMBER, advance=with_code)) == usual
    assert settle(inp(WI, member=MEMBER, advance=TO_RIDER)).fund_payment == D("9000.00")
    assert refusal(inp(NRCMS, b=plain, member=None, advance=TO_RIDER))[0] == NotEnrolled.problem
    member_elsewhere = dataclasses.replace(MEMBER, id_number="11010519491231002X")
    assert refusal(inp(NRCMS, b=plain, member=member_elsewhere, advance=TO_RIDER))[0] == NotEnrolled.problem


# --- the receivable ---------------------------------------------------------------------------


def state(r: Receivable) -> tuple[str, str, str, str, str]:
    return (str(r.amount), str(r.recovered), str(r.written_off), str(r.outstanding), r.status)


def test_opened_for_the_fund_payment_only_when_something_was_advanced() -> None:
    assert open_receivable(D("0.00")) is None
    opened = open_receivable(D("16375.00"))
    assert opened is not None
    assert state(opened) == ("16375.00", "0.00", "0.00", "16375.00", "open")


OPEN = Receivable(D("1000.00"))
PARTLY = Receivable(D("1000.00"), recovered=D("400.00"))
RECOVERED = Receivable(D("1000.00"), recovered=D("1000.00"))
WRITTEN_OFF = Receivable(D("1000.00"), recovered=D("400.00"), written_off=D("600.00"))
WRITTEN_OFF_WHOLE = Receivable(D("1000.00"), written_off=D("1000.00"))
CANCELLED = Receivable(D("1000.00"), cancelled=True)


def test_every_status_is_reached() -> None:
    reached = {r.status for r in (OPEN, PARTLY, RECOVERED, WRITTEN_OFF, WRITTEN_OFF_WHOLE, CANCELLED)}
    assert reached == set(RECEIVABLE_STATUSES)


@pytest.mark.parametrize(
    ("before", "change", "after"),
    [
        (OPEN, lambda r: recover(r, D("400.00")), ("1000.00", "400.00", "0.00", "600.00", "partly_recovered")),
        (OPEN, lambda r: recover(r, D("1000.00")), ("1000.00", "1000.00", "0.00", "0.00", "recovered")),
        (PARTLY, lambda r: recover(r, D("0.01")), ("1000.00", "400.01", "0.00", "599.99", "partly_recovered")),
        (PARTLY, lambda r: recover(r, D("600.00")), ("1000.00", "1000.00", "0.00", "0.00", "recovered")),
        (OPEN, lambda r: write_off(r, "deregistered"), ("1000.00", "0.00", "1000.00", "0.00", "written_off")),
        (PARTLY, lambda r: write_off(r, "bankrupt"), ("1000.00", "400.00", "600.00", "0.00", "written_off")),
        (OPEN, cancel, ("1000.00", "0.00", "0.00", "0.00", "cancelled")),
        (WRITTEN_OFF_WHOLE, cancel, ("1000.00", "0.00", "1000.00", "0.00", "cancelled")),
    ],
    ids=[
        "open-partly",
        "open-recovered",
        "partly-partly",
        "partly-recovered",
        "open-written-off",
        "partly-written-off",
        "open-cancelled",
        "written-off-cancelled",
    ],
)
def test_state_changes(before: Receivable, change: object, after: tuple[str, ...]) -> None:
    assert callable(change)
    changed = change(before)
    assert state(changed) == after
    assert receivable_problems(changed) == []


@pytest.mark.parametrize(
    ("before", "change", "problem", "loc"),
    [
        (OPEN, lambda r: recover(r, D("0.00")), ValidationFailed, ("amount",)),
        (OPEN, lambda r: recover(r, D("-1.00")), ValidationFailed, ("amount",)),
        (OPEN, lambda r: recover(r, D("0.001")), ValidationFailed, ("amount",)),
        (PARTLY, lambda r: recover(r, D("600.01")), ValidationFailed, ("amount",)),
        (RECOVERED, lambda r: recover(r, D("0.01")), ValidationFailed, ("amount",)),
        (WRITTEN_OFF, lambda r: recover(r, D("100.00")), Conflict, None),
        (CANCELLED, lambda r: recover(r, D("100.00")), Conflict, None),
        (RECOVERED, lambda r: write_off(r, "nothing"), Conflict, None),
        (WRITTEN_OFF, lambda r: write_off(r, "again"), Conflict, None),
        (CANCELLED, lambda r: write_off(r, "cancelled"), Conflict, None),
        (OPEN, lambda r: write_off(r, " "), ValidationFailed, ("reason",)),
        (PARTLY, cancel, Conflict, None),
        (RECOVERED, cancel, Conflict, None),
        (WRITTEN_OFF, cancel, Conflict, None),
        (CANCELLED, cancel, Conflict, None),
    ],
    ids=[
        "recover-zero",
        "recover-negative",
        "recover-three-decimals",
        "recover-over-outstanding",
        "recover-when-recovered",
        "recover-when-written-off",
        "recover-when-cancelled",
        "write-off-when-recovered",
        "write-off-twice",
        "write-off-when-cancelled",
        "write-off-without-reason",
        "cancel-partly-recovered",
        "cancel-recovered",
        "cancel-written-off-after-recovery",
        "cancel-twice",
    ],
)
def test_refused_changes(before: Receivable, change: object, problem: type[DomainError], loc: tuple[str, ...]) -> None:
    assert callable(change)
    with pytest.raises(problem) as info:
        change(before)
    if loc is not None:
        assert [e.loc for e in info.value.errors] == [loc]


def test_invariants_of_a_stored_receivable() -> None:
    assert receivable_problems(Receivable(D("10.00"), recovered=D("6.00"), written_off=D("5.00")))
    assert receivable_problems(Receivable(D("10.00"), recovered=D("1.00"), cancelled=True))
    assert receivable_problems(Receivable(D("0.00")))
    assert receivable_problems(WRITTEN_OFF) == []
