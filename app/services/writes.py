"""The one way a request's write is carried out, whoever asks (the API, the desk, and any
interface to come): :func:`run_write`.  The ledger's writes use all of it; the other writes (the
reference data, hospitals, clients, users: :mod:`app.api.audited`) take no Idempotency-Key and
use only the plain unit of work the ledger's extends.

It opens the write transaction (:func:`app.db.tx.write_transaction`, with the ledger's unit of
work), runs the use case, turns its outcome into the interface's answer (``render``: status and
body) or replays the answer stored under its ``Idempotency-Key``, stores the answer under the key,
and adds the request's audit record (``audit``), all in that one transaction: the database never
holds a write that its idempotency record or its audit trail misses.  A dry run is rolled back
with everything it wrote, and stores and audits nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from app.db.tx import write_transaction
from app.db.unit_of_work import UnitOfWork
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.services.idempotency import IdemRequest, Replayed, Reply, answer

R = TypeVar("R")

#: Adds a request's audit record to the write's transaction, given its answer
#: (:meth:`app.db.unit_of_work.UnitOfWork.defer_insert`).
Audit = Callable[[UnitOfWork, Reply], None]


def run_write(
    operation: str,
    use_case: Callable[[LedgerWork], R | Replayed],
    render: Callable[[R], Reply],
    *,
    principal: Principal,
    idem: IdemRequest | None,
    dry_run: bool = False,
    audit: Audit | None = None,
) -> Reply:
    """Carry out ``use_case`` in one write transaction and return its answer (see the module)."""

    def transaction(work: LedgerWork) -> Reply:
        outcome = use_case(work)
        reply = answer(work, principal=principal, idem=idem, outcome=outcome, render=render, remember=not dry_run)
        if audit is not None and not dry_run:
            work.before_commit(lambda: audit(work, reply))
        return reply

    return write_transaction(transaction, operation=operation, unit=LedgerWork, commit=not dry_run)
