"""The designated-hospital registry (admin writes; every authenticated role reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from app.api import queries
from app.api.audited import audited_write
from app.api.auth import allow
from app.api.links import example, link, sample, with_links
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db.tx import read_session
from app.errors import errors_under
from app.principal import Principal
from app.schemas.common import CODE_PATTERN, RegionCode
from app.schemas.hospitals import (
    HospitalCreate,
    HospitalPage,
    RegisteredHospitalPublic,
    hospital_public,
    page_public,
)
from app.services import hospitals
from app.services.idempotency import Reply
from app.services.paging import DEFAULT_LIMIT

router = APIRouter(prefix="/v1/hospitals", tags=["designated hospitals"])

_HOSPITAL = sample("v2/hospitals.json")[0]
HospitalCode = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN, examples=[_HOSPITAL["code"]])]


def _hospital_links(code: str) -> dict[str, dict[str, object]]:
    return {
        "GetHospital": link("getHospital", "Read the hospital.", hospital_code=code),
        "PutHospital": link("putHospital", "Replace the hospital.", hospital_code=code),
    }


Admin = Annotated[Principal, Depends(allow())]
Anyone = Annotated[Principal, Depends(allow("hospital", "scheme_office"))]


@router.put(
    "/{hospital_code}",
    operation_id="putHospital",
    summary="Register or replace a designated hospital",
    response_model=RegisteredHospitalPublic,
    status_code=201,
    responses={
        201: with_links({"description": "Registered"}, _hospital_links("$response.body#/code")),
        200: with_links(
            {"description": "Replaced", "model": RegisteredHospitalPublic}, _hospital_links("$response.body#/code")
        ),
        **problem_responses(400, 401, 403, 413, 422, 503),
    },
)
def put_hospital(
    request: Request,
    hospital_code: HospitalCode,
    body: Annotated[HospitalCreate, Body(openapi_examples=example("The sample's first hospital", _HOSPITAL))],
    principal: Admin,
) -> JSON:
    """Replacing an entry changes only bills accepted afterwards."""
    with errors_under("body"):
        return audited_write(
            request,
            principal,
            "put_hospital",
            lambda w: hospitals.put(w.session, code=hospital_code, body=body),
            lambda put: Reply(201 if put.created else 200, hospital_public(put.row)),
        )


@router.get(
    "/{hospital_code}",
    operation_id="getHospital",
    summary="Read a designated hospital",
    response_model=RegisteredHospitalPublic,
    responses=problem_responses(401, 403, 404, 422),
)
def get_hospital(hospital_code: HospitalCode, principal: Anyone) -> JSON:
    with read_session() as s:
        return reply(200, hospital_public(hospitals.get(s, code=hospital_code)))


@router.get(
    "",
    operation_id="listHospitals",
    summary="List the designated hospitals by code",
    response_model=HospitalPage,
    responses={
        200: with_links({"description": "A page of hospitals"}, _hospital_links("$response.body#/items/0/code")),
        **problem_responses(401, 403, 422),
    },
)
def list_hospitals(
    principal: Anyone,
    region: Annotated[
        RegionCode | None,
        Query(description="A region and what it contains: 510000 the province, 511600 the prefecture."),
    ] = None,
    cursor: queries.Cursor = None,
    limit: queries.Limit = DEFAULT_LIMIT,
) -> JSON:
    with errors_under("query"), read_session() as s:
        page = hospitals.list_page(s, principal=principal, region=region, cursor=cursor, limit=limit)
        return reply(200, page_public(page.rows, page.next_cursor, hospital_public))
