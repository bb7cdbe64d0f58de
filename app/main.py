"""The ASGI application: ``uvicorn app.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from app import __version__
from app.api import docs, problems
from app.api.limits import BodyLimit
from app.api.observe import Observe
from app.api.routes_admin import router as admin_router
from app.api.routes_bills import router as bills_router
from app.api.routes_hospitals import router as hospitals_router
from app.api.routes_nhsa import router as nhsa_router
from app.api.routes_ops import router as ops_router
from app.api.routes_receivables import router as receivables_router
from app.api.routes_reconciliation import router as reconciliation_router
from app.api.routes_reference import router as reference_router
from app.api.routes_reports import router as reports_router
from app.desk import routes as desk
from app.fhir import errors as fhir_errors
from app.fhir import routes as fhir
from app.heap import long_lived_heap
from app.logs import configure_logging
from app.schemas.reference import CatalogCreate
from app.settings import get_settings

DESCRIPTION = """Settlement of off-site medical claims across insurance schemes, exact to the cent.

Money is a decimal string with two places in responses; requests accept a string or a number with at
most two decimals.  Errors are RFC 9457 problems.  Request bodies are limited to `SETTLE_MAX_BODY_BYTES`
(8 MiB by default; 413 above), bills to 20,000 lines (422 above).

The same bills and settlements are also served as HL7 FHIR R4 resources under `/fhir/R4` (its
CapabilityStatement: `GET /fhir/R4/metadata`), with the same tokens, roles and scopes; that interface
is described by FHIR's own conformance resources, not in this document.
"""

FHIR_BASE = "/fhir/R4"


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """A worker's thread pool sized to its core (``SETTLE_WORKER_THREADS``), and its heap as
    :mod:`app.heap` keeps it while it serves."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().worker_threads
    with long_lived_heap():
        yield


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings)
    # /docs and /redoc load Swagger UI and ReDoc from the package (no CDN: private networks).
    app: FastAPI = FastAPIOffline(
        title="Off-site claim settlement",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        redoc_url=None,  # app.api.docs serves it, without the bundle's one outside image
        # Swagger UI would otherwise fetch a validity badge from an outside validator.
        swagger_ui_parameters={"validatorUrl": None},
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    problems.install(app)
    # First: hospitals' systems send every message of the national platform's interface to its one
    # URL, and a request is matched against the routers in this order.
    app.include_router(nhsa_router)
    app.include_router(reference_router)
    app.include_router(hospitals_router)
    app.include_router(bills_router)
    app.include_router(admin_router)
    app.include_router(ops_router)
    app.include_router(reports_router)
    app.include_router(reconciliation_router)
    app.include_router(receivables_router)
    desk.install(app)
    docs.install(app)
    # The FHIR interface: its own application (OperationOutcome errors, no OpenAPI document).
    app.mount(FHIR_BASE, fhir.create_app(), name="fhir")
    # Outermost last: request id, then observation (log, metrics, audit), then the body limit.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, answers={FHIR_BASE + "/": fhir_errors.outcome_response}
    )
    app.add_middleware(Observe)
    # The request id is read from its context variable (app.logs, the audit), never from the
    # request's headers: they are not rewritten with a generated one.
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID", update_request_header=False)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        extra = CatalogCreate.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in extra.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault("CatalogCreate", extra)
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


app = create_app()
