"""Operations: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from app.api.problems import problem_response, problem_responses
from app.api.responses import JSON, reply
from app.db.session import get_engine
from app.metrics import exposition
from app.schemas.public import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="Liveness: the process is up", response_model=Health)
def healthz() -> JSON:
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
    except Exception:
        return problem_response(  # type: ignore[return-value]
            problem="busy",
            title="The database is not reachable",
            status=503,
            detail="the database did not answer",
            instance="/readyz",
        )
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
