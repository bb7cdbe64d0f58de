"""The API's writes outside the ledger (reference data, hospitals, clients, users): carried out
through the one write entry point (:func:`app.services.writes.run_write`), so that each commits
with its audit record, as the ledger's writes do.  A write that is refused or fails commits
nothing and is audited after its response (:class:`app.api.observe.Observe`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request

from app.api.observe import audit_in_transaction
from app.api.responses import JSON, reply
from app.db.unit_of_work import UnitOfWork
from app.principal import Principal
from app.services.idempotency import Reply
from app.services.writes import run_write

R = TypeVar("R")


def audited_write(
    request: Request,
    principal: Principal,
    operation: str,
    use_case: Callable[[UnitOfWork], R],
    render: Callable[[R], Reply],
) -> JSON:
    """Run ``use_case`` in one write transaction with the request's audit record, and answer
    ``render`` of its outcome."""
    answer = run_write(operation, use_case, render, principal=principal, idem=None, audit=audit_in_transaction(request))
    return reply(answer.status, answer.body)
