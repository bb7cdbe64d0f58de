"""The shapes of the JSON documents stored in rows the ledger reads: a bill's lines and its work
injury, a member's coverage and off-site registrations, a policy's body.

They describe the stored bytes exactly (the keys as written by :func:`app.services.bills.canonical_items`,
:func:`app.ledger.conversions.work_injury_document`, the member and policy writers of
:mod:`app.services.reference`): typing them costs nothing at run time, a row's JSON is used as read.
Dates are ISO strings, money and quantities decimal strings, as JSON holds them.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class StoredLine(TypedDict):
    """A bill's line (:func:`app.services.bills.canonical_items`)."""

    line_no: int
    code: str
    name: str
    category: str
    quantity: str
    unit_price: str
    amount: str
    service_date: str | None
    #: On every line of a bill with a work injury, and only there (v3.1).
    injury_related: NotRequired[bool]


class EmployerDoc(TypedDict):
    code: str
    name: str


class WorkInjuryDoc(TypedDict):
    """A bill's work injury (:func:`app.ledger.conversions.work_injury_document`)."""

    determination_no: str
    injury_date: str
    employer: EmployerDoc


#: A member's coverage period (``from`` is a keyword: the functional form).
CoverageDoc = TypedDict("CoverageDoc", {"from": str, "to": str | None})

#: A member's off-site registration.
RegistrationDoc = TypedDict("RegistrationDoc", {"destination_region": str, "from": str, "to": str | None})


class DeductibleDoc(TypedDict):
    """A care setting's deductible: ``amount`` per year, or ``by_level`` per admission."""

    basis: str
    amount: str | None
    by_level: dict[str, str] | None
    offsite_by_level: dict[str, str] | None


class BandDoc(TypedDict):
    up_to: str | None
    ratio_by_level: dict[str, str]


class OffsiteDeltaDoc(TypedDict):
    registered: str
    unregistered: str


class SettingPolicyDoc(TypedDict):
    deductible: DeductibleDoc
    bands: list[BandDoc]
    offsite_ratio_delta: OffsiteDeltaDoc


class TierBandDoc(TypedDict):
    up_to: str | None
    ratio: str


class PolicyDoc(TypedDict, total=False):
    """A policy's body as accepted (the request model's JSON dump, with its ``year``): a scheme's
    (``inpatient``, ``outpatient``), a tier's (``threshold``, ``bands``) or a large-amount tier's
    (``bands``).  Which keys are there is the scheme's kind's; ``year`` and ``annual_cap`` always."""

    year: int
    annual_cap: str
    inpatient: SettingPolicyDoc | None
    outpatient: SettingPolicyDoc | None
    threshold: str
    bands: list[TierBandDoc]
