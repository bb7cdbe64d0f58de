"""The code systems and identifier systems of the FHIR interface, in one place.

This service's own codes (``urn:settle:cs:adjudication``, ``urn:settle:cs:reason`` as fhir.md names
them, and ``urn:settle:cs:problem`` for an ``OperationOutcome``'s problem names) are listed here
once, with their meaning: the resources use them from here, and ``GET /fhir/R4/CodeSystem/{id}``
publishes them from here (:data:`CODE_SYSTEMS`).  HL7's own systems are named by their canonical
URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from app.engine import types as t

FHIR_VERSION = "4.0.1"
CURRENCY = "CNY"

# Identifier systems (fhir.md, "Transport").
RESIDENT_ID = "urn:settle:sid:resident-id"
HOSPITAL = "urn:settle:sid:hospital"
SCHEME = "urn:settle:sid:scheme"
EMPLOYER = "urn:settle:sid:employer"
BILL_NO = "urn:settle:sid:bill-no"
SETTLEMENT = "urn:settle:sid:settlement"

# HL7's code systems.
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
ADJUDICATION_REASON = "http://terminology.hl7.org/CodeSystem/adjudication-reason"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
BENEFIT_CATEGORY = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory"
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
BENEFIT_TERM = "http://terminology.hl7.org/CodeSystem/benefit-term"
ICD10 = "http://hl7.org/fhir/sid/icd-10"

#: A band's bounds and base on its two header adjudications (``eligpercent`` and ``benefit``).
BAND_EXTENSION = "urn:settle:ext:band"

#: A bill's care setting as a claim's ``type`` (fhir.md: ``institutional`` inpatient,
#: ``professional`` outpatient), and back.
CLAIM_TYPES: dict[str, str] = {"inpatient": "institutional", "outpatient": "professional"}
SETTINGS: dict[str, t.Setting] = {"institutional": "inpatient", "professional": "outpatient"}


@dataclass(frozen=True, slots=True)
class Concept:
    code: str
    display: str
    definition: str


@dataclass(frozen=True, slots=True)
class OwnCodeSystem:
    """One of this service's code systems: served as a ``CodeSystem`` under its ``id``."""

    id: str
    url: str
    name: str
    title: str
    description: str
    concepts: tuple[Concept, ...]

    def codes(self) -> frozenset[str]:
        return frozenset(c.code for c in self.concepts)


OWN_ADJUDICATION = OwnCodeSystem(
    id="adjudication",
    url="urn:settle:cs:adjudication",
    name="SettleAdjudication",
    title="Adjudication categories of this settlement service",
    description="The figures of a settlement that HL7's adjudication codes do not name (api.md's field names).",
    concepts=(
        Concept("excluded", "Excluded", "Not payable under the scheme (api.md `excluded`); `reason` says why."),
        Concept("over-limit", "Over the price limit", "Above the catalog's price cap (api.md `over_limit`)."),
        Concept("b-self-pay", "Class B self-pay", "The class B self-pay share (api.md `b_self_pay`)."),
        Concept("computed-benefit", "Computed benefit", "The benefit before the annual cap (`computed_benefit`)."),
        Concept(
            "benefit-after-cap",
            "Benefit after the cap",
            "The benefit after the annual cap (`benefit_after_cap`); reason ar002 when the cap cut it.",
        ),
        Concept("prior-payer-paid", "Paid by earlier payers", "What earlier payers paid (`prior_payments`)."),
        Concept(
            "coordination-reduction",
            "Coordination reduction",
            "The benefit given up to coordination with earlier payers (`coordination_reduction`).",
        ),
        Concept(
            "patient-responsibility",
            "Patient responsibility",
            "What the patient still owes after this payer (`patient_responsibility`).",
        ),
        Concept(
            "compliant-self-pay",
            "Compliant self-pay",
            "A tier's compliant self-pay (`compliant_self_pay`, settlement-rules v2.3).",
        ),
        Concept("over-cap", "Over the basic cap", "A large-amount tier's over-cap cost (`over_cap`, v3.2)."),
    ),
)

_REASONS: dict[str, tuple[str, str]] = {
    "not_in_catalog": ("Not in the catalog", "The line's code is not in the scheme's catalog in effect."),
    "class_c": ("Class C", "The catalog lists the line as class C (not payable)."),
    "restricted_setting": ("Restricted setting", "The catalog restricts the line to another care setting."),
    "restricted_level": ("Restricted level", "The catalog restricts the line to a higher hospital level."),
    "work_injury": ("Work injury", "The line is the work injury's care, which this scheme does not pay (v3.1)."),
    "not_injury_related": (
        "Not injury-related",
        "The line is not the work injury's care, which alone this scheme pays (v3.1).",
    ),
}
assert set(_REASONS) == set(get_args(t.LineReason)), "every line reason needs its concept"

OWN_REASON = OwnCodeSystem(
    id="reason",
    url="urn:settle:cs:reason",
    name="SettleLineReason",
    title="Why a line is excluded",
    description="A line's `reason` (api.md), on its `excluded` adjudication.",
    concepts=tuple(Concept(code, *_REASONS[code]) for code in get_args(t.LineReason)),
)

OWN_PROBLEM = OwnCodeSystem(
    id="problem",
    url="urn:settle:cs:problem",
    name="SettleProblem",
    title="Problems this service reports",
    description="An OperationOutcome issue's `details`: the problem name of the REST API's RFC 9457 type.",
    concepts=tuple(
        Concept(code, display, display)
        for code, display in (
            ("validation", "The request is not valid"),
            ("malformed", "The request body is not valid JSON"),
            ("not-found", "Not found, or outside the caller's scope"),
            ("unauthorized", "Authentication required"),
            ("forbidden", "This role may not call this operation"),
            ("conflict", "The request conflicts with the current state"),
            ("idempotency-mismatch", "The Idempotency-Key was used with a different request"),
            ("payload-too-large", "The request body is too large"),
            ("not-enrolled", "The patient is not enrolled in this scheme"),
            ("no-policy", "The scheme has no policy for this year"),
            ("not-covered", "The scheme's policy does not cover this care setting"),
            ("no-catalog", "No catalog version of the scheme is in effect on a service date"),
            ("unknown-hospital", "The hospital is not in the designated-hospital registry"),
            ("not-designated", "The hospital was not designated on the admission date"),
            ("basic-not-settled", "The basic scheme this tier supplements has not settled the bill"),
            ("work-injury", "The bill treats a work injury, which this scheme does not pay"),
            ("not-work-injury", "The bill does not treat a determined work injury"),
            ("unknown-route", "No route says which schemes settle this insuring region and insurance type"),
            ("busy", "The service is busy; retry the request"),
            ("unavailable", "The database is unavailable; retry the request"),
            ("not-supported", "The server does not support this request"),
            ("internal", "Internal error"),
        )
    ),
)

#: ``GET /fhir/R4/CodeSystem/{id}``.
CODE_SYSTEMS: dict[str, OwnCodeSystem] = {s.id: s for s in (OWN_ADJUDICATION, OWN_REASON, OWN_PROBLEM)}
