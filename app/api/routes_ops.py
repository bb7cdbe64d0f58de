"""Operations: liveness, readiness, metrics.

Liveness (``/healthz``) never touches the database, so an outage does not get every pod
restarted; readiness (``/readyz``) answers 503 ``unavailable`` with ``Retry-After`` while the
database cannot be reached, within the connect (or pool) timeout of ``app.db.session``.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from app.api.problems import domain_problem, problem_responses
from app.api.responses import JSON, reply
from app.db.session import get_engine, unavailable_reason
from app.errors import Unavailable
from app.metrics import exposition
from app.schemas.public import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="Liveness: the process is up", response_model=Health)
async def healthz() -> JSON:
    # On the event loop, not a worker thread: it answers while every thread waits on the database.
    return reply(200, {"status": "ok"})


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: the database is reachable",
    response_model=Readiness,
    responses=problem_responses(503),
)
def readyz() -> JSON:
    engine = get_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        fields = {"event": "db_unavailable", "operation": "readyz", "reason": unavailable_reason(exc)}
        return domain_problem(Unavailable(fields, "the database did not answer"), "/readyz")  # type: ignore[return-value]
    return reply(200, {"status": "ready", "database": engine.dialect.name})


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics (text format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
