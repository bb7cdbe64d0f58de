"""Bills, settlements, reversals, the split sheet and one-shot claims."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request

from app.api import queries
from app.api.answers import bill_reply, claim_reply, reversal_reply, settlement_reply
from app.api.auth import allow
from app.api.links import BILL_ID, SETTLEMENT_ID, bill_links, example, link, sample, settlement_links, with_links
from app.api.observe import audit_in_transaction
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db import tables as db
from app.db.tx import read_session, report_session
from app.errors import DomainError, errors_under
from app.ledger.reads import find_settlement
from app.ledger.records import SettlementRecord
from app.ledger.split import active_payments
from app.metrics import observe_settlement
from app.principal import Principal
from app.schemas.bills import BillCreate
from app.schemas.common import NO_NUL, Code
from app.schemas.hospitals import page_public
from app.schemas.public import BillPage, BillPublic, ClaimPublic, SettlementPage, SplitPublic, bill_public, split_public
from app.schemas.settlements import ClaimCreate, SettlementBody, SettlementCreate, SettlementPublic, settlement_public
from app.services import bills, claims, settlement_list
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest
from app.services.paging import DEFAULT_LIMIT
from app.services.scope import check_bill, check_settlement_read, check_submit

router = APIRouter(prefix="/v1", tags=["bills and settlements"])

Id = Annotated[str, Path(min_length=1, max_length=36, pattern=NO_NUL)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Same key and body from the same client: the first response is returned again.",
    ),
]
Hospital = Annotated[Principal, Depends(allow("hospital"))]
Settler = Annotated[Principal, Depends(allow("hospital", "scheme_office"))]
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)
READ = problem_responses(401, 403, 404, 422)
FIRST = sample("schemes.json")[0]["code"]


def settlement_body(row: db.Settlement) -> SettlementBody:
    """A listed settlement's body."""
    return settlement_public(SettlementRecord.of(row))


def _observe(settlement: Mapping[str, Any], outcome: str) -> None:
    # An employer's liability is counted as a settlement, but it is no fund payment (v2.5).
    if outcome == "preview" or settlement["payer_type"] == "employer":
        observe_settlement(settlement["scheme_code"], outcome)
    else:
        observe_settlement(
            settlement["scheme_code"],
            outcome,
            Decimal(settlement["fund_payment"]),
            Decimal(settlement["coordination_reduction"]),
        )


def canonical_body(body: SettlementCreate | ClaimCreate) -> dict[str, Any]:
    """The body an ``Idempotency-Key`` is compared by: after defaults, but without v2's and v3's
    optional fields while they are null (``employer_liability``, ``advance``, a bill's
    ``work_injury`` and its lines' ``injury_related``), so a request retried across an upgrade
    still matches the record its first attempt left."""
    doc: dict[str, Any] = body.model_dump(mode="json")
    for name in ("employer_liability", "advance"):
        if doc.get(name, False) is None:
            del doc[name]
    bill = doc.get("bill")
    if isinstance(bill, dict):
        if bill.get("work_injury", False) is None:
            del bill["work_injury"]
        for item in bill.get("items", []):
            if item.get("injury_related", False) is None:
                del item["injury_related"]
    return doc


def _idem(key: str | None, request: Request, body: SettlementCreate | ClaimCreate) -> IdemRequest | None:
    if key is None:
        return None
    return IdemRequest.of(key, request.method, request.url.path, canonical_body(body))


@router.post(
    "/bills",
    operation_id="submitBill",
    summary="Submit a hospital bill",
    status_code=201,
    response_model=BillPublic,
    responses={
        201: with_links({"description": "Submitted"}, bill_links()),
        200: with_links({"description": "The same bill was already submitted", "model": BillPublic}, bill_links()),
        **WRITE,
    },
)
def submit_bill(
    body: Annotated[BillCreate, Body(openapi_examples=example("Bill 1 of the sample", sample("bill-1.json")))],
    request: Request,
    principal: Hospital,
) -> JSON:
    check_submit(principal, body.hospital.code)
    with errors_under("body"):
        r = claims.submit_bill(principal=principal, body=body, render=bill_reply, audit=audit_in_transaction(request))
    return reply(r.status, r.body)


@router.get(
    "/bills",
    operation_id="listBills",
    summary="List the bills the caller may read, newest first",
    response_model=BillPage,
    responses={
        200: with_links({"description": "A page of bills"}, bill_links("$response.body#/items/0/bill_id")),
        **problem_responses(401, 403, 422),
    },
)
def list_bills(
    principal: Settler,
    hospital_code: Annotated[Code | None, Query()] = None,
    bill_no: Annotated[Code | None, Query()] = None,
    patient_id_number: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{17}[0-9Xx]$", description="Exact; never logged or shown unmasked."),
    ] = None,
    admitted_from: Annotated[queries.Day | None, Query(description="Admission on or after this day.")] = None,
    admitted_to: Annotated[queries.Day | None, Query(description="Admission on or before this day.")] = None,
    cursor: queries.Cursor = None,
    limit: queries.Limit = DEFAULT_LIMIT,
) -> JSON:
    """A filter naming something outside the caller's scope gives an empty page."""
    with errors_under("query"), report_session() as s:
        page = bills.list_page(
            s,
            principal=principal,
            hospital_code=hospital_code,
            bill_no=bill_no,
            patient_id_number=patient_id_number,
            admitted_from=admitted_from,
            admitted_to=admitted_to,
            cursor=cursor,
            limit=limit,
        )
        return reply(200, page_public(page.rows, page.next_cursor, bill_public))


@router.get(
    "/bills/{bill_id}",
    operation_id="getBill",
    summary="Read a bill",
    response_model=BillPublic,
    responses={200: with_links({"description": "The bill"}, bill_links()), **READ},
)
def get_bill(bill_id: Id, principal: Settler) -> JSON:
    with read_session() as s:
        row = bills.get(s, bill_id)
        check_bill(principal, row, session=s)
        return reply(200, bill_public(row))


@router.get(
    "/bills/{bill_id}/split",
    operation_id="getSplit",
    summary="The bill's expense split sheet",
    response_model=SplitPublic,
    responses=READ,
)
def get_split(bill_id: Id, principal: Settler) -> JSON:
    with read_session() as s:
        row = bills.get(s, bill_id)
        check_bill(principal, row, session=s)
        return reply(200, split_public(row, active_payments(s, row.id)))


@router.post(
    "/bills/{bill_id}/settlements",
    operation_id="createSettlement",
    summary="Settle a bill under one scheme (or preview it with dry_run)",
    status_code=201,
    response_model=SettlementPublic,
    responses={
        201: with_links(
            {"description": "Settled"},
            {**settlement_links(), "GetBill": link("getBill", "Read the bill.", bill_id=BILL_ID)},
        ),
        200: {"description": "Dry run: the preview, nothing written", "model": SettlementPublic},
        **WRITE,
    },
)
def create_settlement(
    bill_id: Id,
    body: Annotated[
        SettlementCreate, Body(openapi_examples=example("Under the sample's first scheme", {"scheme_code": FIRST}))
    ],
    request: Request,
    principal: Settler,
    idempotency_key: IdempotencyKey = None,
) -> JSON:
    idem = _idem(idempotency_key, request, body)
    try:
        with errors_under("body"):
            r = claims.settle(
                principal=principal,
                bill_id=bill_id,
                body=body,
                idem=idem,
                render=settlement_reply,
                audit=audit_in_transaction(request),
            )
    except DomainError as exc:
        observe_settlement(body.scheme_code, exc.problem)
        raise
    _observe(r.body, "preview" if body.dry_run else "settled")
    return reply(r.status, r.body)


@router.get(
    "/settlements",
    operation_id="listSettlements",
    summary="List the settlements the caller may read, newest first",
    response_model=SettlementPage,
    responses={
        200: with_links(
            {"description": "A page of settlements"},
            {
                **settlement_links("$response.body#/items/0/settlement_id"),
                "GetBill": link("getBill", "Read its bill.", bill_id="$response.body#/items/0/bill_id"),
            },
        ),
        **problem_responses(401, 403, 422),
    },
)
def list_settlements(
    principal: Settler,
    bill_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    scheme_code: Annotated[Code | None, Query()] = None,
    status: Literal["settled", "reversed"] | None = None,
    payer_type: Literal["scheme", "employer"] | None = None,
    since: Annotated[queries.Instant | None, Query(description="Created at or after (RFC 3339, or a date).")] = None,
    until: Annotated[queries.Instant | None, Query(description="Created before (RFC 3339, or a date).")] = None,
    cursor: queries.Cursor = None,
    limit: queries.Limit = DEFAULT_LIMIT,
) -> JSON:
    """A date means its 00:00 UTC.  A filter naming something outside the caller's scope gives an
    empty page."""
    with errors_under("query"), report_session() as s:
        page = settlement_list.list_page(
            s,
            principal=principal,
            bill_id=bill_id,
            scheme_code=scheme_code,
            status=status,
            payer_type=payer_type,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
        return reply(200, page_public(page.rows, page.next_cursor, settlement_body))


@router.get(
    "/settlements/{settlement_id}",
    operation_id="getSettlement",
    summary="Read a settlement",
    response_model=SettlementPublic,
    responses={
        200: with_links(
            {"description": "The settlement"}, {"GetBill": link("getBill", "Read its bill.", bill_id=BILL_ID)}
        ),
        **READ,
    },
)
def get_settlement(settlement_id: Id, principal: Settler) -> JSON:
    with read_session() as s:
        record = find_settlement(s, settlement_id)
        check_settlement_read(principal, record)
        return reply(200, settlement_public(record))


@router.post(
    "/settlements/{settlement_id}/reversal",
    operation_id="reverseSettlement",
    summary="Reverse the latest active settlement of a bill",
    response_model=SettlementPublic,
    responses={
        200: with_links(
            {"description": "Reversed"},
            {"GetSettlement": link("getSettlement", "Read the reversed settlement.", settlement_id=SETTLEMENT_ID)},
        ),
        **WRITE,
    },
)
def reverse_settlement(
    settlement_id: Id, request: Request, principal: Settler, idempotency_key: IdempotencyKey = None
) -> JSON:
    idem = None
    if idempotency_key is not None:
        idem = IdemRequest.of(idempotency_key, request.method, request.url.path, None)

    r = claims.reverse(
        principal=principal,
        settlement_id=settlement_id,
        idem=idem,
        render=reversal_reply,
        audit=audit_in_transaction(request),
    )
    return reply(r.status, r.body)


@router.post(
    "/claims",
    operation_id="submitClaim",
    summary="Submit a bill and settle it under the given schemes in order, all or nothing",
    status_code=201,
    response_model=ClaimPublic,
    responses={
        201: with_links(
            {"description": "Submitted and settled"},
            {
                **bill_links("$response.body#/bill/bill_id"),
                **settlement_links("$response.body#/settlements/0/settlement_id"),
            },
        ),
        200: {"description": "Dry run: the preview, nothing written", "model": ClaimPublic},
        **WRITE,
    },
)
def submit_claim(
    body: Annotated[
        ClaimCreate,
        Body(
            openapi_examples=example(
                "Bill 1 under both sample schemes, in order",
                {"bill": sample("bill-1.json"), "schemes": [s["code"] for s in sample("schemes.json")]},
            )
        ),
    ],
    request: Request,
    principal: Hospital,
    idempotency_key: IdempotencyKey = None,
) -> JSON:
    check_submit(principal, body.bill.hospital.code)
    idem = _idem(idempotency_key, request, body)
    with errors_under("body"):
        r = claims.claim(
            principal=principal, body=body, idem=idem, render=claim_reply, audit=audit_in_transaction(request)
        )
    for settlement in r.body["settlements"]:
        _observe(settlement, "preview" if body.dry_run else "settled")
    return reply(r.status, r.body)
