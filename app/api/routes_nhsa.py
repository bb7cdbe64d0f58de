"""The national medical security platform's interface for hospital systems (``nhsa.md``): one
URL for every transaction, and the routes that say which schemes settle a visit.

The body is read exactly (its decimals as written, :func:`app.nhsa.numbers.parse_body`): an
unparseable body is 400, a missing or unknown token 401, a scheme office 403; any parsed envelope
is answered 200, a refusal with ``infcode`` -1.  Each message is audited as its transaction
(``nhsa:2304``), a refusal with the status its REST counterpart would have answered."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from app import clock
from app.api.audited import audited_write
from app.api.auth import BEARER_SECURITY, allow, authorized
from app.api.links import link, with_links
from app.api.observe import audit_in_transaction
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db.tx import read_session
from app.errors import errors_under
from app.nhsa import transactions
from app.nhsa.inputs import Envelope
from app.nhsa.numbers import parse_body
from app.principal import Principal
from app.schemas.nhsa_envelope import EnvelopePublic
from app.schemas.nhsa_routes import INSUPLC_PATTERN, INSUTYPE_PATTERN, RouteCreate, RoutePublic, route_public
from app.services import nhsa_routes
from app.services.idempotency import Reply

router = APIRouter(tags=["national platform interface"])

Admin = Annotated[Principal, Depends(allow())]
Anyone = Annotated[Principal, Depends(allow("hospital", "scheme_office"))]
Insuplc = Annotated[str, Path(pattern=INSUPLC_PATTERN, examples=["511623"], description="Insuring region, 6 digits.")]
Insutype = Annotated[str, Path(pattern=INSUTYPE_PATTERN, examples=["390"], description="Insurance type, 3 digits.")]

_ADMISSION_EXAMPLE = {
    "infno": "2401",
    "msgid": "H51010700120260901080000001",
    "mdtrtarea_admvs": "510107",
    "insuplc_admdvs": "511623",
    "recer_sys_code": "FSI",
    "infver": "V1.0",
    "opter_type": "1",
    "opter": "001",
    "opter_name": "Billing clerk",
    "inf_time": "2026-09-01 08:00:00",
    "fixmedins_code": "H510107001",
    "fixmedins_name": "Sichuan provincial cancer hospital (sample)",
    "input": {
        "mdtrtinfo": {
            "psn_no": "NC5116230001",
            "insutype": "390",
            "begntime": "2026-09-01 08:00:00",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": "511623199003071234",
            "med_type": "21",
            "ipt_no": "ZY2026090118",
        },
        "diseinfo": [{"diag_code": "C34.1", "diag_name": "Malignant neoplasm of upper lobe, bronchus or lung"}],
    },
}


@router.post(
    transactions.PATH,
    operation_id="nhsaCallService",
    summary="The national platform's interface: one message (infno) in, its answer out",
    response_model=EnvelopePublic,
    responses={
        200: {"description": "The answer: infcode 0 (carried out) or -1 (refused, with err_msg)"},
        **problem_responses(400, 401, 403, 413),
    },
    openapi_extra={
        **BEARER_SECURITY,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": Envelope.model_json_schema(),
                    "examples": {"admission": {"summary": "An admission (2401)", "value": _ADMISSION_EXAMPLE}},
                }
            },
        },
    },
)
async def call_service(request: Request) -> JSON:
    """Transactions 2401/2404, 2301/2302, 2402/2405, 2303/2304/2305, 2601, 3201/3202 of
    ``nhsa.md``.  ``msgid`` is the idempotency key per client: the same message again answers
    the first answer again."""
    # A hospital's client (or the admin) only, checked here rather than by a dependency: a visit
    # is four of these requests (app.api.auth.authorized).
    principal = await authorized(request, "hospital")
    received = clock.now()
    doc = parse_body(await request.body())
    request.state.audit_operation = transactions.operation_name(doc)
    request.state.audit_object_id = transactions.object_id(doc)

    def created(object_id: str) -> None:
        request.state.audit_object_id = object_id

    answer = await run_in_threadpool(
        partial(
            transactions.answer,
            principal,
            doc,
            received=received,
            audit=audit_in_transaction(request),
            created=created,
        )
    )
    if answer.refused is not None:
        request.state.audit_status = answer.refused.status
    return reply(200, answer.body)


def _route_links(insuplc: str, insutype: str) -> dict[str, dict[str, Any]]:
    return {
        "GetNhsaRoute": link("getNhsaRoute", "Read the route.", insuplc_admdvs=insuplc, insutype=insutype),
        "PutNhsaRoute": link("putNhsaRoute", "Replace the route.", insuplc_admdvs=insuplc, insutype=insutype),
    }


_ROUTE_EXAMPLE = {
    "schemes": [{"scheme_code": "NRCMS-511623"}, {"scheme_code": "SI-511623"}, {"scheme_code": "MA-511623"}]
}


@router.put(
    "/v1/nhsa/routes/{insuplc_admdvs}/{insutype}",
    operation_id="putNhsaRoute",
    summary="Say which schemes settle a visit of this insurance type insured in this region",
    status_code=201,
    response_model=RoutePublic,
    responses={
        201: with_links(
            {"description": "Created"},
            _route_links("$response.body#/insuplc_admdvs", "$response.body#/insutype"),
        ),
        200: with_links(
            {"description": "Replaced", "model": RoutePublic},
            _route_links("$response.body#/insuplc_admdvs", "$response.body#/insutype"),
        ),
        **problem_responses(400, 401, 403, 413, 422, 503),
    },
)
def put_route(
    request: Request,
    insuplc_admdvs: Insuplc,
    insutype: Insutype,
    body: Annotated[
        RouteCreate, Body(openapi_examples={"sample": {"summary": "Linshui's residents", "value": _ROUTE_EXAMPLE}})
    ],
    principal: Admin,
) -> JSON:
    """In settlement order: the basic scheme, then the tiers supplementing it.  A left-out
    ``fund_pay_type`` or ``setlinfo_field`` is the default of the scheme's kind."""
    with errors_under("body"):
        return audited_write(
            request,
            principal,
            "put_nhsa_route",
            lambda w: nhsa_routes.put(w.session, insuplc_admdvs=insuplc_admdvs, insutype=insutype, body=body),
            lambda put: Reply(201 if put.created else 200, route_public(put.row)),
        )


@router.get(
    "/v1/nhsa/routes/{insuplc_admdvs}/{insutype}",
    operation_id="getNhsaRoute",
    summary="Read a route, with the defaults filled in",
    response_model=RoutePublic,
    responses={
        200: with_links(
            {"description": "The route"}, _route_links("$response.body#/insuplc_admdvs", "$response.body#/insutype")
        ),
        **problem_responses(401, 403, 404, 422),
    },
)
def get_route(insuplc_admdvs: Insuplc, insutype: Insutype, principal: Anyone) -> JSON:
    with read_session() as s:
        return reply(200, route_public(nhsa_routes.get(s, insuplc_admdvs=insuplc_admdvs, insutype=insutype)))
