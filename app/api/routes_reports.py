"""Clearing statements (scheme offices, admin) and hospital reconciliation (hospitals, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from app.api import queries
from app.api.auth import allow
from app.api.problems import problem_responses
from app.api.responses import JSON, reply
from app.db.tx import report_session
from app.errors import errors_under
from app.principal import Principal
from app.schemas.common import CODE_PATTERN
from app.schemas.reports import (
    ClearingPublic,
    ReconciliationPublic,
    clearing_csv,
    clearing_public,
    reconciliation_public,
)
from app.services import reports

router = APIRouter(prefix="/v1", tags=["clearing and reconciliation"])

Office = Annotated[Principal, Depends(allow("scheme_office"))]
Hospital = Annotated[Principal, Depends(allow("hospital"))]
Period = Annotated[
    str,
    Query(pattern=reports.PERIOD_PATTERN, description="The calendar month, `YYYY-MM` (UTC).", examples=["2026-03"]),
]
HospitalCode = Annotated[str, Query(min_length=1, max_length=64, pattern=CODE_PATTERN)]


Day = Annotated[queries.Day, Query(alias="date", description="The UTC calendar day, `YYYY-MM-DD`.")]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_CSV_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The statement; with `Accept: text/csv`, the rows as CSV (header line first, no totals line)",
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "scheme_code,insuring_region,treatment_region,settlements,reversals,medical_total,"
                "fund_payment\r\nNRCMS-511623,511623,511623,2,0,23400.00,9630.00\r\n",
            }
        },
    }
}
VARY = {"Vary": "Accept"}


def _quality(accept: str, wanted: tuple[str, ...]) -> tuple[float, int]:
    """The best q-value the Accept header gives any of ``wanted`` (ranges included), and the
    position where it was given (earlier wins a tie)."""
    best: tuple[float, int] = (0.0, 1_000)
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() not in wanted:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best[0]:
            best = (q, position)
    return best


def wants_csv(request: Request) -> bool:
    """CSV only when the client prefers ``text/csv`` to JSON; anything else gets JSON."""
    accept = request.headers.get("accept")
    if not accept:
        return False
    csv_q, csv_at = _quality(accept, ("text/csv",))
    json_q, json_at = _quality(accept, ("application/json", "application/*", "*/*"))
    return csv_q > 0 and (csv_q > json_q or (csv_q == json_q and csv_at < json_at))


@router.get(
    "/clearing",
    operation_id="getClearing",
    summary="Monthly clearing statement per scheme, insuring region and treatment region (JSON or CSV)",
    response_model=ClearingPublic,
    responses={**_CSV_200, **problem_responses(401, 403, 422)},
)
def get_clearing(period: Period, request: Request, principal: Office) -> Response:
    """Settlements count in the month they were made, reversals (negated) in the month they were
    made.  JSON: `{period, rows: [...], totals: {settlements, reversals, medical_total,
    fund_payment}}`, the totals over all rows.  `Accept: text/csv`: the rows as UTF-8 CSV with the
    header `scheme_code,insuring_region,treatment_region,settlements,reversals,medical_total,fund_payment`
    (no totals line).  A scheme office sees only its own scheme."""
    scheme_code = reports.clearing_scheme(principal)
    with errors_under("query"), report_session() as s:
        statement = reports.clearing(s, period=period, scheme_code=scheme_code)
    if wants_csv(request):
        headers = {**VARY, "Content-Disposition": f'attachment; filename="clearing-{period}.csv"'}
        return Response(clearing_csv(statement).encode("utf-8"), media_type=CSV_MEDIA_TYPE, headers=headers)
    return reply(200, clearing_public(statement), headers=VARY)


@router.get(
    "/reconciliation",
    operation_id="getReconciliation",
    summary="A hospital's settlements and reversals of one day, per scheme",
    response_model=ReconciliationPublic,
    responses=problem_responses(401, 403, 404, 422),
)
def get_reconciliation(hospital_code: HospitalCode, day: Day, principal: Hospital) -> JSON:
    """Settlements and reversals of the hospital's bills made on that UTC day, netted per scheme
    as in the clearing statement.  A hospital may reconcile only its own code (another -> 404)."""
    reports.check_reconciliation(principal, hospital_code)
    with report_session() as s:
        figures = reports.reconciliation(s, hospital_code=hospital_code, day=day)
    return reply(200, reconciliation_public(figures))
