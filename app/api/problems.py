"""RFC 9457 problem responses, in one place.

Every refusal leaves the service as ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail`` and, for validation, ``errors: [{loc, msg}]``.  No resident ID number
appears raw in a detail or an error message (they are masked here as a last guard too).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from app.db.session import unavailable_reason
from app.errors import PROBLEM_BASE, DomainError, MalformedRequest, NotFound, Unavailable
from app.privacy import mask_ids_in

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemError] | None = None


def problem_response(
    *,
    problem: str,
    title: str,
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": problem if problem.startswith(("http", "about:")) else PROBLEM_BASE + problem,
        "title": title,
        "status": status,
        "detail": mask_ids_in(detail),
    }
    if instance:
        body["instance"] = mask_ids_in(instance)
    if errors is not None:
        body["errors"] = [{"loc": e["loc"], "msg": mask_ids_in(str(e["msg"]))} for e in errors]
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_problem(exc: DomainError, instance: str | None = None) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return problem_response(
        problem=exc.problem,
        title=exc.title,
        status=exc.status,
        detail=exc.detail,
        errors=[e.as_dict() for e in exc.errors] if exc.errors or exc.problem == "validation" else None,
        instance=instance,
        headers=headers,
    )


def _loc(loc: Any) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_problem(exc, request.url.path)


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        m = MalformedRequest("the request body is not valid JSON")
        return domain_problem(m, request.url.path)
    errors = [{"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))} for e in raw]
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        problem="validation",
        title="The request is not valid",
        status=422,
        detail=detail,
        errors=errors,
        instance=request.url.path,
    )


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method the path answers, over all of its routes.

    Starlette answers 405 from the first route whose path matches, so its ``Allow`` names only that
    route's methods (``PUT`` on ``/v1/schemes/{scheme_code}``, not the ``GET`` of the next route).
    Each method is tried against the router's routes (``matches`` is public; FastAPI nests
    included routers, so the routes are not walked directly).
    """
    routes = request.app.router.routes
    return ", ".join(
        m for m in _METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    if exc.status_code == 404:
        return domain_problem(NotFound("there is no such resource"), request.url.path)
    titles = {405: "Method not allowed", 415: "Unsupported media type", 406: "Not acceptable"}
    return problem_response(
        problem="about:blank" if exc.status_code not in titles else titles[exc.status_code].lower().replace(" ", "-"),
        title=titles.get(exc.status_code, "Error"),
        status=exc.status_code,
        detail=str(exc.detail),
        instance=request.url.path,
        headers=headers,
    )


def database_unavailable(request: Request, exc: Exception) -> Unavailable | None:
    """A database error outside ``write_transaction`` (reads, token lookups) as the 503
    ``unavailable`` to answer, logged as one line; None: not the database being away (a bug).
    Every interface answers it in its own shape (a problem here, an ``OperationOutcome`` in FHIR)."""
    reason = unavailable_reason(exc)
    if reason is None:
        return None
    route = request.scope.get("route")
    fields = {
        "event": "db_unavailable",
        "operation": getattr(route, "operation_id", None) or request.url.path,
        "reason": reason,
        "phase": "read",
    }
    log.warning("database unavailable", extra=fields)
    return Unavailable(fields, "the database could not be reached; retry the request")


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """The database being away is a 503 ``unavailable``; any other database error a bug (500)."""
    unavailable = database_unavailable(request, exc)
    if unavailable is None:
        return await _on_unexpected(request, exc)
    return domain_problem(unavailable, request.url.path)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(
        problem="internal",
        title="Internal error",
        status=500,
        detail="the request failed unexpectedly; nothing was written",
        instance=request.url.path,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    # A handler of its own keeps these out of Starlette's last-resort handler, which would log
    # them a second time with a traceback (uvicorn) after the app's 500.
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these problem statuses."""
    descriptions = {
        400: "Malformed JSON",
        401: "No token, or an unknown or revoked one",
        403: "The caller's role may not call this operation",
        404: "Not found, or outside the caller's scope",
        409: "Conflict with the current state",
        413: "Request body too large",
        415: "Unsupported media type",
        422: "Validation failed, or a domain refusal (not-enrolled, no-policy, not-covered, no-catalog, "
        "idempotency-mismatch, unknown-hospital, not-designated, basic-not-settled, work-injury, not-work-injury)",
        503: "The ledger stayed contended or the database is unreachable; retry",
    }
    return {
        s: {
            "description": descriptions[s],
            "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }
