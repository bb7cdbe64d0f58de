"""Who may settle which bill (rule 1, v2.2-v2.5 and v3.1, v3.3): the kind of bill a scheme settles
and the part of a mixed bill it pays for, membership on the eligibility date, an employer's
liability, a fund's advance, the policy year and the care setting.

Each function raises the problem the rules name (or returns field errors for ``validation``);
the ledger calls them in the order documented in ``docs/contract.md`` ("Several problems in one
request") before it loads more, and the engine's ``settle`` calls them again, so the engine
alone refuses what the rules refuse.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from app.engine.types import (
    BASIC_KINDS,
    EMPLOYER_LIABLE_KINDS,
    INJURY_KINDS,
    TIER_KINDS,
    Advance,
    Bill,
    Employer,
    LargeAmountPolicy,
    Member,
    Part,
    Policy,
    Scheme,
    SettingPolicy,
    TierPolicy,
)
from app.engine.validate import uscc_errors
from app.errors import (
    FieldError,
    Loc,
    NoPolicy,
    NotCovered,
    NotEnrolled,
    NotWorkInjury,
    ValidationFailed,
    WorkInjuryRefused,
)

P = TypeVar("P", Policy, TierPolicy, LargeAmountPolicy)
#: Where a request's ``advance`` is, as the ledger locates ``employer_liability``.
ADVANCE: Loc = ("advance",)


def eligibility_date(scheme: Scheme, bill: Bill) -> date:
    """The admission date; for an injury scheme the injury date (the worker was insured when
    injured)."""
    if scheme.kind in INJURY_KINDS and bill.work_injury is not None:
        return bill.work_injury.injury_date
    return bill.admission_date


def supplements_problem(kind: str, basic_kind: str | None) -> str | None:
    """Reference data: a tier supplements a basic scheme, and a large-amount subsidy (v3.2) only
    an employees' one (uebmi); why the scheme named in ``supplements`` does not fit, or None.
    ``basic_kind`` is None when no such scheme exists."""
    if basic_kind is None:
        return "the scheme it supplements does not exist"
    if kind == "large_amount" and basic_kind != "uebmi":
        return f"a large_amount scheme supplements a uebmi scheme, not a {basic_kind} one"
    if basic_kind not in BASIC_KINDS:
        return f"a {kind} scheme supplements a basic scheme (uebmi, urrbmi, nrcms), not a {basic_kind} one"
    return None


def part_of_kind(kind: str) -> Part:
    """v3.1: the part of a mixed bill a payment of this kind of scheme is for: an injury scheme's
    (its fund's, an employer's liability or an advance under it) the injury's, every other kind's
    (basic schemes, tiers, an employer's liability under uebmi) the other care.  External vouchers
    belong to the part of the settlement they were declared with."""
    return "injury" if kind in INJURY_KINDS else "other"


def settled_part(scheme: Scheme, bill: Bill) -> Part | None:
    """The part of the bill this scheme settles: None (the whole bill) when it carries no work
    injury."""
    return None if bill.work_injury is None else part_of_kind(scheme.kind)


def check_bill_kind(scheme: Scheme, bill: Bill) -> None:
    """v2.4 and v3.1: medical insurance (basic schemes and tiers) never pays a work injury's care,
    so it settles a work-injury bill only when some line is not the injury's; an injury scheme
    pays nothing else, so it settles only a work-injury bill with some line that is."""
    injury = bill.work_injury
    if scheme.kind in INJURY_KINDS:
        if injury is None:
            raise NotWorkInjury(f"{scheme.code} settles only bills of a determined work injury; this bill has none")
        if not any(line.is_injury_line for line in bill.items):
            raise NotWorkInjury(
                f"every line of the bill is marked as not related to the work injury ({injury.determination_no}): "
                f"{scheme.code} has nothing to settle; settle it under medical insurance"
            )
    elif (
        injury is not None
        and (scheme.kind in BASIC_KINDS or scheme.kind in TIER_KINDS)
        and all(line.is_injury_line for line in bill.items)
    ):
        raise WorkInjuryRefused(
            f"the bill treats a determined work injury ({injury.determination_no}) and no line is marked as "
            f"other care: its costs are not paid by medical insurance ({scheme.code}); settle it under the "
            "work-injury fund"
        )


def employer_liability_errors(scheme: Scheme, employer: Employer, loc: Loc) -> list[FieldError]:
    """v2.5, the request itself: allowed under uebmi and the injury schemes; a valid USCC."""
    errors: list[FieldError] = []
    if scheme.kind not in EMPLOYER_LIABLE_KINDS:
        errors.append(
            FieldError(
                loc,
                f"an employer's liability is settled under a uebmi, work_injury or occupational_injury scheme, "
                f"not under {scheme.code} ({scheme.kind})",
            )
        )
    errors += uscc_errors(employer.code, (*loc, "employer", "code"))
    return errors


def employer_match_errors(scheme: Scheme, bill: Bill, employer: Employer, loc: Loc) -> list[FieldError]:
    """v2.5: under an injury scheme the liable employer is the one of the bill's work injury."""
    injury = bill.work_injury
    if scheme.kind in INJURY_KINDS and injury is not None and injury.employer.code != employer.code:
        return [
            FieldError(
                (*loc, "employer", "code"),
                f"the liable employer {employer.code} is not the employer of the bill's work injury "
                f"({injury.employer.code})",
            )
        ]
    return []


def advance_errors(scheme: Scheme, advance: Advance, employer: Employer | None, loc: Loc) -> list[FieldError]:
    """v3.3, the request itself: not beside an employer's liability; ``employer_not_enrolled``
    under an injury scheme with the employer's valid code; ``third_party`` under a basic or an
    injury scheme, naming the party, with a valid code when one is given.  The liable party is
    always named: the receivable is a claim on someone."""
    errors: list[FieldError] = []
    if employer is not None:
        errors.append(FieldError(loc, "an advance and an employer's liability cannot be requested together"))
    liable = advance.liable
    if advance.reason == "employer_not_enrolled":
        if scheme.kind not in INJURY_KINDS:
            errors.append(
                FieldError(
                    (*loc, "reason"),
                    f"the fund advances for an employer that did not enrol its worker under a work_injury or "
                    f"occupational_injury scheme, not under {scheme.code} ({scheme.kind})",
                )
            )
        if liable.kind != "employer":
            errors.append(
                FieldError((*loc, "liable", "kind"), "for employer_not_enrolled the liable party is the employer")
            )
    else:
        if scheme.kind not in BASIC_KINDS and scheme.kind not in INJURY_KINDS:
            errors.append(
                FieldError(
                    (*loc, "reason"),
                    f"the fund advances for a third party under a basic or an injury scheme, not under {scheme.code} "
                    f"({scheme.kind})",
                )
            )
        if liable.kind != "third_party":
            errors.append(FieldError((*loc, "liable", "kind"), "for third_party the liable party is the third party"))
    if not liable.name.strip():
        errors.append(FieldError((*loc, "liable", "name"), "the liable party's name is required"))
    if liable.code is not None:
        errors += uscc_errors(liable.code, (*loc, "liable", "code"))
    elif advance.reason == "employer_not_enrolled":
        errors.append(FieldError((*loc, "liable", "code"), "the employer's unified social credit code is required"))
    return errors


def advance_match_errors(bill: Bill, advance: Advance, loc: Loc) -> list[FieldError]:
    """v3.3: the employer that did not enrol its worker is the employer of the bill's work injury."""
    injury = bill.work_injury
    code = advance.liable.code
    if advance.reason == "employer_not_enrolled" and injury is not None and injury.employer.code != code:
        return [
            FieldError(
                (*loc, "liable", "code"),
                f"the liable employer {code} is not the employer of the bill's work injury ({injury.employer.code})",
            )
        ]
    return []


def advance_employer(advance: Advance | None) -> Employer | None:
    """The employer an ``employer_not_enrolled`` advance is computed for, as its liability would be."""
    if advance is None or advance.reason != "employer_not_enrolled" or advance.liable.code is None:
        return None
    return Employer(advance.liable.code, advance.liable.name)


def check_request(
    scheme: Scheme,
    bill: Bill,
    employer: Employer | None,
    loc: Loc,
    *,
    advance: Advance | None = None,
    advance_loc: Loc = ADVANCE,
) -> None:
    """Whether this scheme may settle this kind of bill, in the documented order: the
    ``employer_liability`` and ``advance`` fields themselves (``validation``, together), then
    ``work-injury`` / ``not-work-injury``, then the liable employer against the bill's work
    injury (``validation``).  ``loc`` locates the ``employer_liability`` field, ``advance_loc``
    the ``advance`` field."""
    errors: list[FieldError] = []
    if employer is not None:
        errors += employer_liability_errors(scheme, employer, loc)
    if advance is not None:
        errors += advance_errors(scheme, advance, employer, advance_loc)
    if errors:
        raise ValidationFailed(errors)
    check_bill_kind(scheme, bill)
    if employer is not None:
        errors += employer_match_errors(scheme, bill, employer, loc)
    if advance is not None:
        errors += advance_match_errors(bill, advance, advance_loc)
    if errors:
        raise ValidationFailed(errors)


def covers(member: Member | None, bill: Bill, day: date) -> bool:
    return (
        member is not None
        and member.id_number == bill.patient_id_number
        and any(p.covers(day) for p in member.coverage)
    )


def check_member(
    scheme: Scheme,
    member: Member | None,
    bill: Bill,
    employer: Employer | None,
    loc: Loc,
    *,
    advance: Advance | None = None,
    advance_loc: Loc = ADVANCE,
) -> None:
    """A member covered on the eligibility date (else ``not-enrolled``); for an employer's
    liability, and an advance for an employer that did not enrol its worker, the opposite: the
    patient must not be a member then (else ``validation``)."""
    if employer is None and advance_employer(advance) is not None:
        employer, loc = advance_employer(advance), advance_loc
    day = eligibility_date(scheme, bill)
    what = "injury date" if scheme.kind in INJURY_KINDS else "admission date"
    if employer is not None:
        if covers(member, bill, day):
            raise ValidationFailed(
                [
                    FieldError(
                        loc,
                        f"the patient is enrolled in {scheme.code} on the {what} {day.isoformat()}: "
                        "settle under the scheme",
                    )
                ]
            )
        return
    if not covers(member, bill, day):
        raise NotEnrolled(f"the patient has no coverage under {scheme.code} on the {what} {day.isoformat()}")


def check_policy_year(scheme: Scheme, policy: P | None, bill: Bill) -> P:
    """The policy of the year of the discharge date (else ``no-policy``)."""
    year = bill.policy_year
    if policy is None or policy.year != year:
        raise NoPolicy(f"{scheme.code} has no policy for {year}, the year of the discharge date")
    return policy


def policy_section(scheme: Scheme, policy: Policy, bill: Bill) -> SettingPolicy:
    """The policy's section for the bill's care setting (else ``not-covered``)."""
    check_policy_year(scheme, policy, bill)
    section = policy.settings.get(bill.setting)
    if section is None:
        raise NotCovered(f"the {policy.year} policy of {scheme.code} does not cover {bill.setting} care")
    return section
