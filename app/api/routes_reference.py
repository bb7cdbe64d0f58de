"""Reference data: schemes, catalog versions (JSON or CSV), policies, members."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.auth import allow
from app.api.problems import problem_response, problem_responses
from app.api.responses import JSON, reply
from app.errors import FieldError, MalformedRequest, ValidationFailed
from app.ledger.tx import read_session, write_transaction
from app.principal import Principal
from app.schemas.public import MemberPublic, PolicyPublic, TierPolicyPublic
from app.schemas.reference import (
    CatalogCreate,
    CatalogPublic,
    MemberCreate,
    PolicyCreate,
    SchemeCreate,
    SchemePublic,
    TierPolicyCreate,
)
from app.services import reference
from app.services.scope import check_scheme

router = APIRouter(prefix="/v1/schemes", tags=["reference data"])

SchemeCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Version = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Year = Annotated[int, Path(ge=2000, le=2100)]
MemberNo = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]

Admin = Annotated[Principal, Depends(allow())]
AdminOrOffice = Annotated[Principal, Depends(allow("scheme_office"))]
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


def _put_status(created: bool) -> int:
    return 201 if created else 200


@router.get(
    "",
    operation_id="listSchemes",
    summary="List schemes",
    response_model=list[SchemePublic],
    responses=problem_responses(401, 403),
)
def list_schemes(principal: Admin) -> JSON:
    with read_session() as s:
        return reply(200, reference.list_schemes(s))


@router.put(
    "/{scheme_code}",
    operation_id="putScheme",
    summary="Create or replace a scheme",
    response_model=SchemePublic,
    status_code=201,
    responses={200: {"description": "Replaced", "model": SchemePublic}, **WRITE},
)
def put_scheme(scheme_code: SchemeCode, body: SchemeCreate, principal: Admin) -> JSON:
    created, out = write_transaction(
        lambda s: reference.put_scheme(s, code=scheme_code, body=body), operation="put_scheme"
    )
    return reply(_put_status(created), out)


@router.get(
    "/{scheme_code}", operation_id="getScheme", summary="Read a scheme", response_model=SchemePublic, responses=READ
)
def get_scheme(scheme_code: SchemeCode, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    with read_session() as s:
        return reply(200, reference.get_scheme(s, code=scheme_code))


_CATALOG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CatalogCreate"}},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "code,name,category,class,self_pay_ratio,price_cap,settings,min_hospital_level\n"
                "XJ01CRA001,Amoxicillin,drug,A,,,,\n",
            },
        },
    }
}


@router.put(
    "/{scheme_code}/catalogs/{version}",
    operation_id="putCatalogVersion",
    summary="Create or replace a catalog version (JSON, or text/csv with effective dates as query parameters)",
    response_model=CatalogPublic,
    status_code=201,
    responses={200: {"description": "Replaced", "model": CatalogPublic}, **WRITE, **problem_responses(415)},
    openapi_extra=_CATALOG_BODY,
)
async def put_catalog(
    request: Request,
    scheme_code: SchemeCode,
    version: Version,
    principal: Admin,
    effective_from: Annotated[date | None, Query(description="text/csv only")] = None,
    effective_to: Annotated[date | None, Query(description="text/csv only")] = None,
) -> JSON:
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type == "text/csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed([FieldError(("body",), "the CSV must be UTF-8")]) from None
        body = reference.parse_catalog_csv(text, effective_from=effective_from, effective_to=effective_to)
    elif content_type in ("application/json", ""):
        try:
            body = CatalogCreate.model_validate_json(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if any(e["type"] == "json_invalid" for e in errors):
                raise MalformedRequest("the request body is not valid JSON") from None
            raise ValidationFailed([FieldError(("body", *e["loc"]), e["msg"]) for e in errors]) from None
    else:
        return problem_response(  # type: ignore[return-value]
            problem="unsupported-media-type",
            title="Unsupported media type",
            status=415,
            detail="send application/json or text/csv",
            instance=request.url.path,
        )
    created, out = await run_in_threadpool(
        write_transaction,
        lambda s: reference.put_catalog(s, scheme_code=scheme_code, version=version, body=body),
        operation="put_catalog",
    )
    return reply(_put_status(created), out)


@router.get(
    "/{scheme_code}/catalogs/{version}",
    operation_id="getCatalogVersion",
    summary="Read a catalog version",
    response_model=CatalogPublic,
    responses=READ,
)
def get_catalog(scheme_code: SchemeCode, version: Version, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    with read_session() as s:
        return reply(200, reference.get_catalog(s, scheme_code=scheme_code, version=version))


@router.put(
    "/{scheme_code}/policies/{year}",
    operation_id="putPolicy",
    summary="Create or replace a yearly policy (a tier's has the shape {year, annual_cap, threshold, bands})",
    response_model=PolicyPublic | TierPolicyPublic,
    status_code=201,
    responses={200: {"description": "Replaced", "model": PolicyPublic | TierPolicyPublic}, **WRITE},
)
def put_policy(scheme_code: SchemeCode, year: Year, body: PolicyCreate | TierPolicyCreate, principal: Admin) -> JSON:
    created, out = write_transaction(
        lambda s: reference.put_policy(s, scheme_code=scheme_code, year=year, body=body), operation="put_policy"
    )
    return reply(_put_status(created), out)


@router.get(
    "/{scheme_code}/policies/{year}",
    operation_id="getPolicy",
    summary="Read a yearly policy",
    response_model=PolicyPublic | TierPolicyPublic,
    responses=READ,
)
def get_policy(scheme_code: SchemeCode, year: Year, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    with read_session() as s:
        return reply(200, reference.get_policy(s, scheme_code=scheme_code, year=year))


@router.put(
    "/{scheme_code}/members/{member_no}",
    operation_id="putMember",
    summary="Create or replace a member",
    response_model=MemberPublic,
    status_code=201,
    responses={200: {"description": "Replaced", "model": MemberPublic}, **WRITE},
)
def put_member(scheme_code: SchemeCode, member_no: MemberNo, body: MemberCreate, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    created, out = write_transaction(
        lambda s: reference.put_member(s, scheme_code=scheme_code, member_no=member_no, body=body),
        operation="put_member",
    )
    return reply(_put_status(created), out)


@router.get(
    "/{scheme_code}/members/{member_no}",
    operation_id="getMember",
    summary="Read a member",
    response_model=MemberPublic,
    responses=READ,
)
def get_member(scheme_code: SchemeCode, member_no: MemberNo, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    with read_session() as s:
        return reply(200, reference.get_member(s, scheme_code=scheme_code, member_no=member_no))
