"""``POST /v1/reconciliation/checks`` (api.md v3): a hospital (for itself) or the admin compares
the hospital's own figures for a span of days with ours.  Nothing is written but the request's
audit record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.auth import allow
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db.tx import read_session
from app.errors import errors_under
from app.principal import Principal
from app.schemas.reconciliation import ReconciliationCheckCreate, ReconciliationCheckPublic, check_public
from app.services import reconciliation_checks
from app.services.reconciliation_checks import CheckRequest

router = APIRouter(prefix="/v1", tags=["clearing and reconciliation"])
Hospital = Annotated[Principal, Depends(allow("hospital"))]


@router.post(
    "/reconciliation/checks",
    operation_id="checkReconciliation",
    summary="Compare a hospital's own totals (and list of settlements) for a span of days with ours",
    response_model=ReconciliationCheckPublic,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
def check_reconciliation(body: ReconciliationCheckCreate, principal: Hospital) -> JSON:
    """Ours by the daily reconciliation's netting over the days from ``from`` to ``to`` (both
    included, at most 31): fund settlements on the day they were made, reversals (negated) on the
    day they were made.  ``differences`` compares the hospital's list, when given, with the fund
    settlements made on its bills in the span, by ``settlement_id``.  A hospital checks only its
    own code (another: 404)."""
    request = CheckRequest(
        hospital_code=body.hospital_code,
        start=body.from_,
        end=body.to,
        scheme_code=body.scheme_code,
        totals=body.totals.to_engine(),
        listed=None if body.settlements is None else [e.to_engine() for e in body.settlements],
    )
    with errors_under("body"), read_session() as s:
        result = reconciliation_checks.check(s, principal=principal, request=request)
    return reply(200, check_public(body, result))
