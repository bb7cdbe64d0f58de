"""Every refusal of the FHIR interface as an ``OperationOutcome``, in one place.

The same domain errors as the REST API's (:mod:`app.errors`), with the same HTTP statuses; only the
shape differs.  Each issue carries FHIR's ``code`` for the kind of problem, this service's problem
name in ``details.coding[0]`` (``urn:settle:cs:problem``: ``not-enrolled``, ``validation``, ...), the
detail in ``diagnostics`` (resident ID numbers masked, as everywhere), and for a field error the
FHIRPath of the element at fault in ``expression`` (the FHIR routes locate their field errors as
one FHIRPath string: :mod:`app.fhir.mapping`).  :func:`install` puts the handlers on the FHIR
application, so nothing under ``/fhir/R4`` answers an RFC 9457 problem.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.api.problems import database_unavailable
from app.errors import DomainError, FieldError, NotFound, ValidationFailed
from app.fhir.codes import OWN_PROBLEM
from app.fhir.serialize import fhir_reply
from app.privacy import mask_ids_in

log = logging.getLogger(__name__)

#: FHIR's issue type (http://hl7.org/fhir/issue-type) of each problem; any other is ``processing``.
ISSUE_CODES: dict[str, str] = {
    "validation": "invalid",
    "malformed": "structure",
    "not-found": "not-found",
    "unauthorized": "login",
    "forbidden": "forbidden",
    "conflict": "conflict",
    "idempotency-mismatch": "conflict",
    "payload-too-large": "too-long",
    "busy": "transient",
    "unavailable": "transient",
    "not-supported": "not-supported",
    "internal": "exception",
    **dict.fromkeys(
        (
            "not-enrolled",
            "no-policy",
            "not-covered",
            "no-catalog",
            "unknown-hospital",
            "not-designated",
            "basic-not-settled",
            "work-injury",
            "not-work-injury",
        ),
        "business-rule",
    ),
}


def _details(problem: str, title: str) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=OWN_PROBLEM.url, code=problem)], text=title)


def _expression(error: FieldError) -> list[str] | None:
    """A field error located as FHIRPath (one string naming a resource's element), else none."""
    if len(error.loc) == 1 and isinstance(error.loc[0], str) and error.loc[0][:1].isupper():
        return [error.loc[0]]
    return None


def outcome(
    problem: str, title: str, status: int, detail: str, errors: tuple[FieldError, ...] = ()
) -> OperationOutcome:
    """The ``OperationOutcome`` of one problem: an issue per field error, or one for the problem."""
    code = ISSUE_CODES.get(problem, "processing")
    severity = "fatal" if status >= 500 and problem == "internal" else "error"
    details = _details(problem, title)
    if not errors:
        issues = [OperationOutcomeIssue(severity=severity, code=code, details=details, diagnostics=mask_ids_in(detail))]
    else:
        issues = [
            OperationOutcomeIssue(
                severity=severity,
                code=code,
                details=details,
                diagnostics=mask_ids_in(e.msg if _expression(e) else f"{'.'.join(map(str, e.loc))}: {e.msg}"),
                expression=_expression(e),
            )
            for e in errors
        ]
    return OperationOutcome(issue=issues)


def outcome_response(exc: DomainError, path: str | None = None) -> Response:
    """A domain error as its ``OperationOutcome``, with the REST API's status and headers."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    body = outcome(exc.problem, exc.title, exc.status, exc.detail, exc.errors)
    return fhir_reply(exc.status, body, headers)


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return outcome_response(exc)


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    """A malformed path, query or header: 422 ``validation`` (the JSON bodies are read by the routes)."""
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(tuple(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in exc.errors()]
    return outcome_response(ValidationFailed(errors))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return outcome_response(NotFound(f"this server has no FHIR interaction at {request.url.path}"))
    headers = dict(getattr(exc, "headers", None) or {})
    title = {405: "Method not allowed", 415: "Unsupported media type"}.get(exc.status_code, "Not supported")
    body = outcome("not-supported", title, exc.status_code, str(exc.detail))
    return fhir_reply(exc.status_code, body, headers or None)


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """The database away: 503 ``unavailable``, logged as the REST interface logs it."""
    unavailable = database_unavailable(request, exc)
    if unavailable is None:
        return await _on_unexpected(request, exc)
    return outcome_response(unavailable)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    body = outcome("internal", "Internal error", 500, "the request failed unexpectedly; nothing was written")
    return fhir_reply(500, body)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)
