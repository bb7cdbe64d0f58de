"""The FHIR R4 interface (fhir.md): its own application, mounted at ``/fhir/R4`` by :mod:`app.main`.

Every interaction goes through what the REST API uses: the bearer tokens and roles of
:mod:`app.api.auth` (``allow``), the scoping rules of :mod:`app.services.scope`, the settlement
reads of :mod:`app.ledger.reads`, and for ``Claim/$submit`` the claim's write entry point
(:func:`app.services.claims.claim`, one transaction with its ``Idempotency-Key`` record and audit
record).  The request observer of the application around it (:class:`app.api.observe.Observe`)
logs, measures and audits these requests like the REST API's (reads of settlements included).
Its own exception handlers (:mod:`app.fhir.errors`) answer every refusal as an ``OperationOutcome``.
The application has no OpenAPI document: a FHIR client reads the ``CapabilityStatement``
(docs/decisions/0014).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.api.auth import allow
from app.api.observe import audit_in_transaction
from app.api.routes_bills import canonical_body
from app.db.tx import read_session
from app.db.unit_of_work import UnitOfWork
from app.errors import FieldError, MalformedRequest, NotFound, ValidationFailed
from app.fhir import conformance, errors, resources
from app.fhir.mapping import parse_claim, read_claim
from app.fhir.serialize import FHIR_JSON, FhirResponse, fhir_document, fhir_json, fhir_reply
from app.ledger.reads import bill_settlements, bill_settlements_with_parties, find_settlement_with_parties
from app.metrics import observe_settlement
from app.principal import Principal
from app.schemas.common import NO_NUL
from app.services import bills, claims
from app.services.claims import Claimed
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest, Reply
from app.services.scope import check_bill, check_settlement_read, check_submit, may_read_settlement

router = APIRouter()

Id = Annotated[str, Path(min_length=1, max_length=36, pattern=NO_NUL)]
Settler = Annotated[Principal, Depends(allow("hospital", "scheme_office"))]
Hospital = Annotated[Principal, Depends(allow("hospital"))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH)]
#: The media types a submitted Claim may come as.
ACCEPTED_TYPES = (FHIR_JSON, "application/json")


def create_app() -> FastAPI:
    """The FHIR application (no OpenAPI document or docs pages of its own)."""
    fhir = FastAPI(title="FHIR R4", openapi_url=None, docs_url=None, redoc_url=None)
    errors.install(fhir)
    fhir.include_router(router)
    return fhir


def _base(request: Request) -> str:
    """The FHIR base URL the request came to (``http://host/fhir/R4``): the application's base
    URL and the path this application is mounted at."""
    root: str = request.scope.get("root_path", "")
    mounted = root[len(request.scope.get("app_root_path", "")) :]
    return str(request.base_url).rstrip("/") + mounted


@cache
def _capability_statement() -> bytes:
    return fhir_json(conformance.capability_statement())


@router.get("/metadata", operation_id="fhirCapabilities")
async def metadata() -> Response:
    """The CapabilityStatement; like the REST API's OpenAPI document, it needs no token."""
    return Response(_capability_statement(), media_type=FHIR_JSON)


@router.get("/CodeSystem/{system_id}", operation_id="fhirReadCodeSystem")
async def read_code_system(system_id: Annotated[str, Path(max_length=64)]) -> FhirResponse:
    """This service's own codes (``adjudication``, ``reason``, ``problem``); no token needed."""
    found = conformance.code_system(system_id)
    if found is None:
        raise NotFound(f"there is no CodeSystem {system_id}")
    return fhir_reply(200, found)


@router.get("/ClaimResponse/{settlement_id}", operation_id="fhirReadClaimResponse")
def read_claim_response(settlement_id: Id, principal: Settler) -> FhirResponse:
    with read_session() as s:
        record, parties = find_settlement_with_parties(s, settlement_id)
    check_settlement_read(principal, record)
    return fhir_reply(200, resources.claim_response(record, parties.patient_name))


@router.get("/ExplanationOfBenefit/{settlement_id}", operation_id="fhirReadExplanationOfBenefit")
def read_explanation_of_benefit(settlement_id: Id, principal: Settler) -> FhirResponse:
    with read_session() as s:
        record, parties = find_settlement_with_parties(s, settlement_id)
    check_settlement_read(principal, record)
    return fhir_reply(200, resources.explanation_of_benefit(record, parties))


def _bill_searched(value: str | None, name: str) -> str:
    """The bill a search names: ``Claim/{bill_id}`` (also as an absolute URL, or the bare id)."""
    if value is not None:
        parts = value.split("/")
        bill_id = parts[-1] if len(parts) == 1 or parts[-2] == "Claim" else ""
        if 0 < len(bill_id) <= 36 and "\x00" not in bill_id:
            return bill_id
    raise ValidationFailed([FieldError(("query", name), f"search by {name}=Claim/{{bill_id}}")])


@router.get("/ClaimResponse", operation_id="fhirSearchClaimResponse")
def search_claim_responses(
    request: Request,
    principal: Settler,
    bill: Annotated[str | None, Query(alias="request", max_length=2048)] = None,
) -> FhirResponse:
    """A bill's settlements the caller may read, in sequence order, reversed ones included."""
    bill_id = _bill_searched(bill, "request")
    with read_session() as s:
        found = bill_settlements_with_parties(s, bill_id)
    matches = [resources.claim_response(r, p.patient_name) for r, p in found if may_read_settlement(principal, r)]
    self_link = f"{_base(request)}/ClaimResponse?request=Claim/{bill_id}"
    return fhir_reply(200, resources.searchset(_base(request), matches, self_link))


@router.get("/ExplanationOfBenefit", operation_id="fhirSearchExplanationOfBenefit")
def search_explanations_of_benefit(
    request: Request, principal: Settler, claim: Annotated[str | None, Query(max_length=2048)] = None
) -> FhirResponse:
    """One per settlement of the bill the caller may read, in sequence order, reversed ones included."""
    bill_id = _bill_searched(claim, "claim")
    with read_session() as s:
        found = bill_settlements_with_parties(s, bill_id)
    matches = [resources.explanation_of_benefit(r, p) for r, p in found if may_read_settlement(principal, r)]
    self_link = f"{_base(request)}/ExplanationOfBenefit?claim=Claim/{bill_id}"
    return fhir_reply(200, resources.searchset(_base(request), matches, self_link))


@router.get("/Claim/{bill_id}", operation_id="fhirReadClaim")
def read_claim_resource(bill_id: Id, principal: Settler) -> FhirResponse:
    """The bill with an insurance per settlement; a bill nobody settled yet has no Claim."""
    with read_session() as s:
        bill = bills.get(s, bill_id)
        check_bill(principal, bill, session=s)
        settlements = bill_settlements(s, bill_id)
        if not settlements:
            raise NotFound("the bill has no settlement yet, so no Claim (FHIR's Claim needs an insurance)")
        resource = resources.claim(bill, settlements)
    return fhir_reply(200, resource)


@router.post("/Claim/$submit", operation_id="fhirSubmitClaim", status_code=201)
async def submit_claim(request: Request, principal: Hospital, idempotency_key: IdempotencyKey = None) -> Response:
    """Settle the Claim's bill under its insurances in ``sequence`` order, as ``POST /v1/claims``."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise HTTPException(415, f"send the Claim as {FHIR_JSON} (or application/json)")
    raw = await request.body()
    return await run_in_threadpool(_submit, request, principal, raw, idempotency_key)


def _refuse_constant(name: str) -> Decimal:
    raise ValueError(f"{name} is not a JSON number")


def _submit(request: Request, principal: Principal, raw: bytes, key: str | None) -> Response:
    try:
        document = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise MalformedRequest("the request body is not valid JSON") from exc
    submitted = read_claim(parse_claim(document))
    body = submitted.body
    check_submit(principal, body.bill.hospital.code)
    idem = None if key is None else IdemRequest.of(key, request.method, request.url.path, canonical_body(body))
    base, made = _base(request), list[Claimed]()

    def render(claimed: Claimed) -> Reply:
        made.append(claimed)
        name = claimed.bill.patient_name
        responses = [resources.claim_response(r, name, preview=claimed.preview) for r in claimed.settlements]
        return Reply(200 if claimed.preview else 201, fhir_document(resources.collection(base, responses)))

    in_transaction = audit_in_transaction(request)

    def audit(work: UnitOfWork, reply: Reply) -> None:
        if made:
            request.state.audit_object_id = made[-1].bill.id
        in_transaction(work, reply)

    try:
        r = claims.claim(principal=principal, body=body, idem=idem, render=render, audit=audit)
    except ValidationFailed as exc:
        raise exc.relocated(lambda loc: (submitted.fhirpath(loc),)) from exc
    _observe(made[-1:])  # a transaction retried renders again: its last attempt committed
    return fhir_reply(r.status, r.body)


def _observe(made: list[Claimed]) -> None:
    """The settlement metrics, as for the REST API's claims (an employer's liability is no fund payment)."""
    for claimed in made:
        outcome = "preview" if claimed.preview else "settled"
        for record in claimed.settlements:
            if claimed.preview or record.payer_type == "employer":
                observe_settlement(record.scheme_code, outcome)
            else:
                observe_settlement(record.scheme_code, outcome, record.fund_payment, record.coordination_reduction)
