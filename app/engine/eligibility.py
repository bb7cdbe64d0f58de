"""Who may settle which bill (rule 1 and v2.2-v2.5): the kind of bill a scheme settles, membership
on the eligibility date, an employer's liability, the policy year and the care setting.

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
    Bill,
    Employer,
    Member,
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

P = TypeVar("P", Policy, TierPolicy)


def eligibility_date(scheme: Scheme, bill: Bill) -> date:
    """The admission date; for an injury scheme the injury date (the worker was insured when
    injured)."""
    if scheme.kind in INJURY_KINDS and bill.work_injury is not None:
        return bill.work_injury.injury_date
    return bill.admission_date


def check_bill_kind(scheme: Scheme, bill: Bill) -> None:
    """v2.4: medical insurance (basic schemes and tiers) never pays a work injury; an injury scheme
    pays nothing else."""
    if scheme.kind in INJURY_KINDS:
        if bill.work_injury is None:
            raise NotWorkInjury(f"{scheme.code} settles only bills of a determined work injury; this bill has none")
    elif bill.work_injury is not None and (scheme.kind in BASIC_KINDS or scheme.kind in TIER_KINDS):
        raise WorkInjuryRefused(
            f"the bill treats a determined work injury ({bill.work_injury.determination_no}): "
            f"its costs are not paid by medical insurance ({scheme.code}); settle it under the work-injury fund"
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


def check_request(scheme: Scheme, bill: Bill, employer: Employer | None, loc: Loc) -> None:
    """Whether this scheme may settle this kind of bill, in the documented order: the
    ``employer_liability`` field itself (``validation``), then ``work-injury`` /
    ``not-work-injury``, then the liable employer against the bill's work injury
    (``validation``).  ``loc`` locates the ``employer_liability`` field."""
    if employer is not None:
        errors = employer_liability_errors(scheme, employer, loc)
        if errors:
            raise ValidationFailed(errors)
    check_bill_kind(scheme, bill)
    if employer is not None:
        errors = employer_match_errors(scheme, bill, employer, loc)
        if errors:
            raise ValidationFailed(errors)


def covers(member: Member | None, bill: Bill, day: date) -> bool:
    return (
        member is not None
        and member.id_number == bill.patient_id_number
        and any(p.covers(day) for p in member.coverage)
    )


def check_member(scheme: Scheme, member: Member | None, bill: Bill, employer: Employer | None, loc: Loc) -> None:
    """A member covered on the eligibility date (else ``not-enrolled``); for an employer's
    liability the opposite: the patient must not be a member then (else ``validation``)."""
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
