"""One middleware observes every request: an access log line, the latency histogram, and the
audit record of every write and every read of a settlement (refusals included).

A write that commits (a bill, a claim, a settlement, a reversal, from the API or the desk; the
reference data's, the hospitals', the clients' and the users' writes: :mod:`app.api.audited`) has
its audit record inserted in that same transaction, just before the commit: the route hands
:func:`audit_in_transaction` to the write entry point (:func:`app.services.writes.run_write`),
which adds the record through the transaction's unit of work.  The database never holds a write
the audit trail misses, and the record costs no transaction of its own.  Every other audited
request (refusals, errors, dry runs, reads of settlements, the desk's other requests, among them
signing in and out) gets its record after the response, in a transaction of its own.  When the
database cannot take that one
(down, restarting: the very outage that made the write fail), it is not lost silently and not
retried for long (that would hold the client's connection): the whole record goes to the log as
one ``audit_unwritten`` line, from which it can be restored."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from asgi_correlation_id import correlation_id
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import clock
from app.db.tx import write_transaction
from app.db.unit_of_work import UnitOfWork
from app.errors import DomainError, Unavailable
from app.metrics import REQUESTS
from app.privacy import mask_id, mask_ids_in
from app.services import audit
from app.services.idempotency import Reply
from app.services.writes import Audit

log = logging.getLogger("app.request")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
AUDITED_READS = {
    "getSettlement",
    "listSettlements",
    # The FHIR interface's reads of settlements (app.fhir.routes).
    "fhirReadClaimResponse",
    "fhirSearchClaimResponse",
    "fhirReadExplanationOfBenefit",
    "fhirSearchExplanationOfBenefit",
}
#: Query parameters whose value is a resident ID number, masked whatever it looks like.
ID_PARAMS = {"patient_id_number"}
#: Most specific first: the object a request is about.
OBJECT_KEYS = ("settlement_id", "bill_id", "client_id", "member_no", "version", "year", "scheme_code")
#: Where a created object's id is found in the response body.
CREATED_KEYS = ("settlement_id", "client_id", "user_id", "bill_id")
#: Every request a signed-in person makes at the desk is audited (reads included).
DESK_PREFIX = "desk"


def _object_id(path_params: dict[str, Any], body: Any) -> str | None:
    if isinstance(body, dict):
        for key in CREATED_KEYS:
            if isinstance(body.get(key), str):
                return str(body[key])
        bill = body.get("bill")
        if isinstance(bill, dict) and isinstance(bill.get("bill_id"), str):
            return str(bill["bill_id"])
    for key in OBJECT_KEYS:
        if key in path_params:
            value = path_params[key]
            if key == "member_no" or key in ("version", "year"):
                return f"{path_params.get('scheme_code')}/{value}"
            return str(value)
    return None


def _template(scope: Scope, route: object) -> str:
    """The route's path template, whole: a route of a mounted application (the FHIR interface)
    has its path under the mount's (``/fhir/R4`` + ``/Claim/{bill_id}``)."""
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    root: str = scope.get("root_path", "")
    app_root: str | None = scope.get("app_root_path", None)
    if app_root is None or isinstance(route, Mount) or not root.startswith(app_root):
        return str(path)
    return root[len(app_root) :] + str(path)


def safe_query(raw: bytes) -> str:
    """The query string for a log line or an audit record: ID numbers masked."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return mask_ids_in("&".join(f"{k}={mask_id(v) if k in ID_PARAMS else v}" for k, v in pairs))


class Observe:
    def __init__(self, app: ASGIApp, audit: bool = True) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[_OBSERVED] = self.audit
        start = time.perf_counter()
        status = 500
        captured: list[bytes] = []
        capture = False

        async def observing_send(message: Message) -> None:
            nonlocal status, capture
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", ()))
                capture = headers.get(b"content-type", b"").startswith(b"application/json") and status < 300
            elif message["type"] == "http.response.body" and capture:
                captured.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = _template(scope, route)
            operation = getattr(route, "operation_id", None)
            method = scope["method"]
            REQUESTS.labels(template, method, str(status)).observe(elapsed)
            if log.isEnabledFor(logging.INFO):  # the masking is not done for a line not written
                principal = scope.get("state", {}).get("principal")
                query = safe_query(scope.get("query_string", b""))
                log.info(
                    "request",
                    extra={
                        "event": "request",
                        "method": method,
                        "route": template,
                        "path": mask_ids_in(scope.get("path", "")),
                        "query": query or None,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_id": getattr(principal, "client_id", None),
                    },
                )
            audited = method in WRITE_METHODS or operation in AUDITED_READS
            needed = audited or (operation or "").startswith(DESK_PREFIX)
            written_in_transaction = scope.get("state", {}).get(_AUDITED, False)
            if self.audit and operation and needed and not written_in_transaction:
                body: Any = None
                if captured and method == "POST":
                    try:
                        body = orjson.loads(b"".join(captured))
                    except orjson.JSONDecodeError:
                        body = None
                await run_in_threadpool(_write_audit, self.entry(scope, operation, status, body))

    @staticmethod
    def entry(scope: Scope, operation: str, status: int, body: Any) -> dict[str, Any]:
        """The record of a request.  One endpoint that carries several operations (the national
        platform's, one URL for every transaction, answering its refusals with 200) names the
        operation on the request's state (``audit_operation``), and the status its refusal stands
        for (``audit_status``: what the REST counterpart would answer)."""
        state = scope.get("state", {})
        principal = state.get("principal")
        query = safe_query(scope.get("query_string", b""))
        return {
            "at": clock.now(),
            "request_id": correlation_id.get(),
            "client_id": getattr(principal, "client_id", None),
            "role": getattr(principal, "role", None),
            "operation": state.get("audit_operation") or operation,
            "method": scope["method"],
            "path": scope.get("path", "") + (f"?{query}" if query else ""),
            "object_id": state.get("audit_object_id") or _object_id(scope.get("path_params", {}), body),
            "status_code": state.get("audit_status") or status,
        }


#: Set on the request's state once its audit record was committed with its write.
_AUDITED = "audit_written"


def audit_in_transaction(request: Request, *, status: int | None = None) -> Audit:
    """The request's audit record, added to its write's transaction (see the module): the
    record of the answer's status (``status``: what the request answers instead, e.g. the desk's
    303 after a write), its object the one the answer names.  Once the write committed, the
    request needs no record after its response."""

    def add(work: UnitOfWork, reply: Reply) -> None:
        scope = request.scope
        operation = getattr(scope.get("route"), "operation_id", None)
        if operation is None or not _observed(request):
            return
        entry = Observe.entry(scope, operation, reply.status if status is None else status, reply.body)
        entry["outcome"] = audit.outcome_of(entry["status_code"])
        audit.record(work, entry=entry, own_transaction=False)
        work.after_commit(lambda: setattr(request.state, _AUDITED, True))

    return add


def _observed(request: Request) -> bool:
    """Whether the request passes through an auditing :class:`Observe` (not when it is off)."""
    return bool(request.scope.get("state", {}).get(_OBSERVED, False))


#: Set on the request's state by an auditing :class:`Observe`.
_OBSERVED = "audit_observed"


def _write_audit(entry: dict[str, Any]) -> None:
    entry["outcome"] = audit.outcome_of(entry["status_code"])
    try:
        write_transaction(lambda w: audit.record(w, entry=entry), operation="audit", log_unavailable=False)
    except DomainError as exc:  # the database is unavailable or stayed busy
        record = {**entry, "at": entry["at"].isoformat(), "path": mask_ids_in(entry["path"])}
        reason = exc.log_fields.get("reason") if isinstance(exc, Unavailable) else exc.problem
        log.warning(
            "audit record not written; it is in this line",
            extra={"event": "audit_unwritten", "reason": reason, "audit": record},
        )
    except Exception:
        log.exception("could not write the audit record of %s", entry["operation"])
