"""What the FHIR interface says about itself: the ``CapabilityStatement`` (``GET /fhir/R4/metadata``)
and this service's ``CodeSystem`` resources (``GET /fhir/R4/CodeSystem/{id}``), each built once,
with validation, from the routes' own list of interactions and from :mod:`app.fhir.codes`."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from fhir.resources.R4B.capabilitystatement import (
    CapabilityStatement,
    CapabilityStatementRest,
    CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceOperation,
    CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
)
from fhir.resources.R4B.codesystem import CodeSystem, CodeSystemConcept

from app import __version__
from app.fhir import codes as c

#: When the capabilities below last changed.
CAPABILITIES_CHANGED = datetime(2026, 12, 6, tzinfo=UTC)
#: FHIR's own definition of ``Claim/$submit``.
SUBMIT_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Claim-submit"

#: Each resource type: its interactions, and its search parameter (a reference to the bill).
RESOURCES: dict[str, tuple[tuple[str, ...], tuple[str, str] | None]] = {
    "Claim": (("read",), None),
    "ClaimResponse": (
        ("read", "search-type"),
        ("request", "The bill: Claim/{bill_id}; its settlements in sequence order."),
    ),
    "ExplanationOfBenefit": (("read", "search-type"), ("claim", "The bill: Claim/{bill_id}; one per settlement.")),
    "CodeSystem": (("read",), None),
}


@cache
def capability_statement() -> CapabilityStatement:
    resources = []
    for kind, (interactions, search) in RESOURCES.items():
        resources.append(
            CapabilityStatementRestResource(
                type=kind,
                interaction=[CapabilityStatementRestResourceInteraction(code=code) for code in interactions],
                searchParam=None
                if search is None
                else [
                    CapabilityStatementRestResourceSearchParam(
                        name=search[0], type="reference", documentation=search[1]
                    )
                ],
                operation=[
                    CapabilityStatementRestResourceOperation(
                        name="submit",
                        definition=SUBMIT_DEFINITION,
                        documentation="Settle a bill under its insurances in sequence order (POST /v1/claims); "
                        "use predetermination is a dry run.  Accepts Idempotency-Key.",
                    )
                ]
                if kind == "Claim"
                else None,
            )
        )
    return CapabilityStatement(
        status="active",
        date=CAPABILITIES_CHANGED,
        publisher="Off-site claim settlement",
        kind="instance",
        software=CapabilityStatementSoftware(name="settle", version=__version__),
        fhirVersion=c.FHIR_VERSION,
        format=["json"],
        rest=[
            CapabilityStatementRest(
                mode="server",
                documentation="Settlements as ClaimResponse and ExplanationOfBenefit; a bill as a Claim.",
                security=CapabilityStatementRestSecurity(
                    description="Authorization: Bearer <token>, the REST API's tokens, roles and scopes (api.md). "
                    "Outside the caller's scope an object does not exist (404); a search answers what it may read."
                ),
                resource=resources,
            )
        ],
    )


@cache
def code_system(system_id: str) -> CodeSystem | None:
    own = c.CODE_SYSTEMS.get(system_id)
    if own is None:
        return None
    return CodeSystem(
        id=own.id,
        url=own.url,
        name=own.name,
        title=own.title,
        status="active",
        date=CAPABILITIES_CHANGED,
        description=own.description,
        caseSensitive=True,
        content="complete",
        count=len(own.concepts),
        concept=[CodeSystemConcept(code=x.code, display=x.display, definition=x.definition) for x in own.concepts],
    )
