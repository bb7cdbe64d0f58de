"""A fund's receivables (api.md v3): the list, one receivable, recoveries and write-offs.

The admin and the scheme office of the receivable's scheme; a hospital may not call these (403):
it reads the ``advance`` on its bills' settlements.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from app.api import queries
from app.api.auth import allow
from app.api.links import link, with_links
from app.api.observe import audit_in_transaction
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db.tx import read_session, report_session
from app.engine.receivables import ReceivableStatus
from app.errors import errors_under
from app.ledger.receivables import ReceivableRecord
from app.principal import Principal
from app.schemas.common import NO_NUL, Code
from app.schemas.hospitals import page_public
from app.schemas.receivables import (
    ReceivablePage,
    ReceivablePublic,
    RecoveryCreate,
    WriteOffCreate,
    receivable_public,
)
from app.services import receivables
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest, Reply
from app.services.paging import DEFAULT_LIMIT

router = APIRouter(prefix="/v1/receivables", tags=["receivables"])

Id = Annotated[str, Path(min_length=1, max_length=36, pattern=NO_NUL)]
Office = Annotated[Principal, Depends(allow("scheme_office"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Same key and body from the same client: the first response is returned again.",
    ),
]
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)
READ = problem_responses(401, 403, 404, 422)


def receivable_links(receivable_id: str = "$response.body#/receivable_id") -> dict[str, dict[str, Any]]:
    """From a receivable: read it, record a recovery on it, write it off."""
    return {
        "GetReceivable": link("getReceivable", "Read the receivable.", receivable_id=receivable_id),
        "RecordRecovery": link("recordRecovery", "Record a recovery on it.", receivable_id=receivable_id),
        "WriteOffReceivable": link("writeOffReceivable", "Write off what is outstanding.", receivable_id=receivable_id),
    }


def _created(record: ReceivableRecord) -> Reply:
    return Reply(201, receivable_public(record))


def _done(record: ReceivableRecord) -> Reply:
    return Reply(200, receivable_public(record))


@router.get(
    "",
    operation_id="listReceivables",
    summary="List the receivables the caller may read, newest first",
    response_model=ReceivablePage,
    responses={
        200: with_links(
            {"description": "A page of receivables"}, receivable_links("$response.body#/items/0/receivable_id")
        ),
        **problem_responses(401, 403, 422),
    },
)
def list_receivables(
    principal: Office,
    scheme_code: Annotated[Code | None, Query()] = None,
    status: ReceivableStatus | None = None,
    liable_code: Annotated[str | None, Query(min_length=1, max_length=32, pattern=NO_NUL)] = None,
    cursor: queries.Cursor = None,
    limit: queries.Limit = DEFAULT_LIMIT,
) -> JSON:
    with errors_under("query"), report_session() as s:
        page = receivables.list_page(
            s,
            principal=principal,
            scheme_code=scheme_code,
            status=status,
            liable_code=liable_code,
            cursor=cursor,
            limit=limit,
        )
        return reply(200, page_public(page.rows, page.next_cursor, receivable_public))


@router.get(
    "/{receivable_id}",
    operation_id="getReceivable",
    summary="Read a receivable with its recoveries",
    response_model=ReceivablePublic,
    responses={200: with_links({"description": "The receivable"}, receivable_links()), **READ},
)
def get_receivable(receivable_id: Id, principal: Office) -> JSON:
    with read_session() as s:
        return reply(200, receivable_public(receivables.get(s, principal=principal, receivable_id=receivable_id)))


@router.post(
    "/{receivable_id}/recoveries",
    operation_id="recordRecovery",
    summary="Record money recovered from the liable party",
    status_code=201,
    response_model=ReceivablePublic,
    responses={201: with_links({"description": "Recorded: the receivable after it"}, receivable_links()), **WRITE},
)
def record_recovery(
    receivable_id: Id,
    body: RecoveryCreate,
    request: Request,
    principal: Office,
    idempotency_key: IdempotencyKey = None,
) -> JSON:
    request.state.audit_object_id = receivable_id
    idem = None
    if idempotency_key is not None:
        idem = IdemRequest.of(idempotency_key, request.method, request.url.path, body.model_dump(mode="json"))
    with errors_under("body"):
        r = receivables.recover(
            principal=principal,
            receivable_id=receivable_id,
            request=receivables.RecoveryRequest(body.amount, body.received_on, body.reference),
            idem=idem,
            render=_created,
            audit=audit_in_transaction(request),
        )
    return reply(r.status, r.body)


@router.post(
    "/{receivable_id}/write-off",
    operation_id="writeOffReceivable",
    summary="Write off what is outstanding on a receivable",
    response_model=ReceivablePublic,
    responses={200: {"description": "Written off: the receivable after it"}, **WRITE},
)
def write_off_receivable(receivable_id: Id, body: WriteOffCreate, request: Request, principal: Office) -> JSON:
    request.state.audit_object_id = receivable_id
    with errors_under("body"):
        r = receivables.write_off(
            principal=principal,
            receivable_id=receivable_id,
            reason=body.reason,
            render=_done,
            audit=audit_in_transaction(request),
        )
    return reply(r.status, r.body)
