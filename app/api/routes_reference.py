"""Reference data: schemes, catalog versions (JSON or CSV), policies, members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.api import queries
from app.api.audited import audited_write
from app.api.auth import allow
from app.api.links import example, link, sample, with_links
from app.api.located import errors_in
from app.api.problems import problem_response, problem_responses
from app.api.responses import JSON, reply
from app.db.tx import read_session
from app.errors import FieldError, MalformedRequest, ValidationFailed, errors_under
from app.principal import Principal
from app.schemas.common import CODE_PATTERN
from app.schemas.public import (
    LargeAmountPolicyPublic,
    MemberPublic,
    PolicyPublic,
    TierPolicyPublic,
    member_public,
    policy_public,
)
from app.schemas.reference import (
    AnyPolicyCreate,
    CatalogCreate,
    CatalogPublic,
    MemberCreate,
    SchemeCreate,
    SchemePublic,
    catalog_public,
    scheme_public,
)
from app.services import reference
from app.services.idempotency import Reply
from app.services.reference import Catalog, Put
from app.services.scope import check_scheme

router = APIRouter(prefix="/v1/schemes", tags=["reference data"])
Row = TypeVar("Row")

_SCHEME = sample("schemes.json")[0]
_CODE = _SCHEME["code"]
_CATALOG = sample("catalogs.json")[_CODE]
_POLICY = sample("policies.json")[_CODE]
_MEMBER = sample("members.json")[_CODE][0]
_KEY = CODE_PATTERN

SchemeCode = Annotated[str, Path(min_length=1, max_length=64, pattern=_KEY, examples=[_CODE])]
Version = Annotated[str, Path(min_length=1, max_length=64, pattern=_KEY, examples=[_CATALOG["version"]])]
Year = Annotated[int, Path(ge=2000, le=2100, examples=[_POLICY["year"]])]
MemberNo = Annotated[str, Path(min_length=1, max_length=64, pattern=_KEY, examples=[_MEMBER["member_no"]])]

#: From a scheme: read it, and put its catalog versions, policies and members.
_SCHEME_LINKS = {
    "GetScheme": link("getScheme", "Read the scheme.", scheme_code="$response.body#/code"),
    "PutCatalogVersion": link("putCatalogVersion", "Publish a catalog version.", scheme_code="$response.body#/code"),
    "PutPolicy": link("putPolicy", "Put a yearly policy.", scheme_code="$response.body#/code"),
    "PutMember": link("putMember", "Put a member.", scheme_code="$response.body#/code"),
}
_SCHEME_OF_BODY = "$response.body#/scheme_code"
_CATALOG_LINKS = {
    "GetCatalogVersion": link(
        "getCatalogVersion", "Read the version.", scheme_code=_SCHEME_OF_BODY, version="$response.body#/version"
    )
}
_POLICY_LINKS = {
    "GetPolicy": link("getPolicy", "Read the policy.", scheme_code=_SCHEME_OF_BODY, year="$response.body#/year")
}
_MEMBER_LINKS = {
    "GetMember": link(
        "getMember", "Read the member.", scheme_code=_SCHEME_OF_BODY, member_no="$response.body#/member_no"
    )
}


def _put_responses(model: object, links: dict[str, dict[str, object]]) -> dict[int | str, dict[str, object]]:
    return {
        201: with_links({"description": "Created"}, links),
        200: with_links({"description": "Replaced", "model": model}, links),
        **WRITE,
    }


Admin = Annotated[Principal, Depends(allow())]
AdminOrOffice = Annotated[Principal, Depends(allow("scheme_office"))]
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


def _put_answer(render: Callable[[Row], dict[str, Any]]) -> Callable[[Put[Row]], Reply]:
    """201 with what a put created, 200 with what it replaced."""
    return lambda put: Reply(201 if put.created else 200, render(put.row))


def _catalog_public(catalog: Catalog) -> dict[str, Any]:
    return catalog_public(catalog.version, catalog.entries)


#: A key of the path a service names in a field error (the rest of its errors are the body's).
_IN_PATH = {"scheme_code": ("path", "scheme_code")}
#: A CSV catalog's: the query's effective_from, and the CSV and the catalog it makes (the body).
_IN_CSV_REQUEST = {"effective_from": ("query", "effective_from"), "csv": ("body",), "catalog": ("body",)}


@router.get(
    "",
    operation_id="listSchemes",
    summary="List schemes",
    response_model=list[SchemePublic],
    responses={
        200: with_links(
            {"description": "Every scheme, by code"},
            {
                name: {**target, "parameters": {"scheme_code": "$response.body#/0/code"}}
                for name, target in {
                    **_SCHEME_LINKS,
                    "PutScheme": link("putScheme", "Replace the scheme.", scheme_code=""),
                }.items()
            },
        ),
        **problem_responses(401, 403),
    },
)
def list_schemes(principal: Admin) -> JSON:
    with read_session() as s:
        return reply(200, [scheme_public(r) for r in reference.list_schemes(s)])


@router.put(
    "/{scheme_code}",
    operation_id="putScheme",
    summary="Create or replace a scheme",
    response_model=SchemePublic,
    status_code=201,
    responses=_put_responses(SchemePublic, _SCHEME_LINKS),
)
def put_scheme(
    request: Request,
    scheme_code: SchemeCode,
    body: Annotated[SchemeCreate, Body(openapi_examples=example("The sample's first scheme", _SCHEME))],
    principal: Admin,
) -> JSON:
    with errors_under("body"):
        return audited_write(
            request,
            principal,
            "put_scheme",
            lambda w: reference.put_scheme(w.session, code=scheme_code, body=body),
            _put_answer(scheme_public),
        )


@router.get(
    "/{scheme_code}", operation_id="getScheme", summary="Read a scheme", response_model=SchemePublic, responses=READ
)
def get_scheme(scheme_code: SchemeCode, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    with read_session() as s:
        return reply(200, scheme_public(reference.get_scheme(s, code=scheme_code)))


_CATALOG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/CatalogCreate"},
                "examples": example("The sample's first scheme's catalog", _CATALOG),
            },
            "text/csv": {
                # Bytes (UTF-8 text): the form generators (openapi-python-client, openapi-generator)
                # know as an upload body.
                "schema": {"type": "string", "format": "binary"},
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
    responses={**_put_responses(CatalogPublic, _CATALOG_LINKS), **problem_responses(415)},
    openapi_extra=_CATALOG_BODY,
)
async def put_catalog(
    request: Request,
    scheme_code: SchemeCode,
    version: Version,
    principal: Admin,
    effective_from: Annotated[
        queries.Day | None, Query(description="text/csv only: the first day, `YYYY-MM-DD`")
    ] = None,
    effective_to: Annotated[queries.Day | None, Query(description="text/csv only: the last day, `YYYY-MM-DD`")] = None,
) -> JSON:
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type == "text/csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed([FieldError(("body",), "the CSV must be UTF-8")]) from None
        with errors_in(_IN_CSV_REQUEST):
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
    with errors_in(_IN_PATH):
        return await run_in_threadpool(
            audited_write,
            request,
            principal,
            "put_catalog",
            lambda w: reference.put_catalog(w.session, scheme_code=scheme_code, version=version, body=body),
            _put_answer(_catalog_public),
        )


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
        return reply(200, _catalog_public(reference.get_catalog(s, scheme_code=scheme_code, version=version)))


@router.put(
    "/{scheme_code}/policies/{year}",
    operation_id="putPolicy",
    summary="Create or replace a yearly policy (a tier's has the shape {year, annual_cap, threshold, bands})",
    response_model=PolicyPublic | TierPolicyPublic | LargeAmountPolicyPublic,
    status_code=201,
    responses=_put_responses(PolicyPublic | TierPolicyPublic | LargeAmountPolicyPublic, _POLICY_LINKS),
)
def put_policy(
    request: Request,
    scheme_code: SchemeCode,
    year: Year,
    body: Annotated[
        AnyPolicyCreate,
        Body(openapi_examples=example("The sample's first scheme's policy", _POLICY)),
    ],
    principal: Admin,
) -> JSON:
    with errors_under("body"):
        return audited_write(
            request,
            principal,
            "put_policy",
            lambda w: reference.put_policy(w.session, scheme_code=scheme_code, year=year, body=body),
            _put_answer(policy_public),
        )


@router.get(
    "/{scheme_code}/policies/{year}",
    operation_id="getPolicy",
    summary="Read a yearly policy",
    response_model=PolicyPublic | TierPolicyPublic | LargeAmountPolicyPublic,
    responses=READ,
)
def get_policy(scheme_code: SchemeCode, year: Year, principal: AdminOrOffice) -> JSON:
    check_scheme(principal, scheme_code)
    with read_session() as s:
        return reply(200, policy_public(reference.get_policy(s, scheme_code=scheme_code, year=year)))


@router.put(
    "/{scheme_code}/members/{member_no}",
    operation_id="putMember",
    summary="Create or replace a member",
    response_model=MemberPublic,
    status_code=201,
    responses=_put_responses(MemberPublic, _MEMBER_LINKS),
)
def put_member(
    request: Request,
    scheme_code: SchemeCode,
    member_no: MemberNo,
    body: Annotated[MemberCreate, Body(openapi_examples=example("The sample's first member", _MEMBER))],
    principal: AdminOrOffice,
) -> JSON:
    check_scheme(principal, scheme_code)
    with errors_in(_IN_PATH):
        return audited_write(
            request,
            principal,
            "put_member",
            lambda w: reference.put_member(w.session, scheme_code=scheme_code, member_no=member_no, body=body),
            _put_answer(member_public),
        )


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
        return reply(200, member_public(reference.get_member(s, scheme_code=scheme_code, member_no=member_no)))
