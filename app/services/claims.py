"""Service functions of the settlement endpoints: each is the body of one transaction.

Each returns its domain result (the stored rows) or, when its ``Idempotency-Key`` was already
carried out, :class:`~app.services.idempotency.Replayed`; the API renders the result and stores
it under the key in the same transaction (:func:`app.services.idempotency.answer`).  Field errors
are located in the request each function is given (a settlement's ``("scheme_code",)``, a
claim's ``("bill", "items", 0, "amount")``, ``("schemes", 1)``); the API puts them under ``body``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db import tables as db
from app.engine import types as t
from app.errors import FieldError, Loc, ValidationFailed, errors_under
from app.ledger.loading import engine_bill
from app.ledger.locks import lock_for_settlements, mark_used_ahead, references_known_used
from app.ledger.settlements import (
    Payment,
    active_payments,
    lock_bill_or_404,
    new_bill_payments,
    peek_settlement,
    reverse_locked,
    settle_locked_bill,
)
from app.principal import Principal
from app.schemas.settlements import ClaimCreate, SettlementCreate
from app.services import bills, idempotency
from app.services.idempotency import IdemRequest, Replayed
from app.services.scope import check_bill, check_scheme


@dataclass(frozen=True, slots=True)
class Settled:
    """A settlement as stored (a preview's too: its transaction is rolled back)."""

    row: dict[str, Any]
    preview: bool


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claim carried out (or previewed): the bill, its new settlements in the order given, and
    the bill's active payments after them (the split sheet)."""

    bill: db.Bill
    settlements: list[dict[str, Any]]
    payments: list[Payment]
    preview: bool


def create_settlement(
    session: Session, *, principal: Principal, bill_id: str, body: SettlementCreate, idem: IdemRequest | None
) -> Settled | Replayed:
    bill = lock_bill_or_404(session, bill_id)
    check_bill(principal, bill, session=session)
    check_scheme(principal, body.scheme_code)
    replay = idempotency.lookup(session, principal, idem)
    if replay is not None:
        return replay
    row = settle_locked_bill(
        session,
        bill=bill,
        scheme_code=body.scheme_code,
        external_payments=tuple(e.to_engine() for e in body.external_payments),
        created_by=principal.client_id,
        employer=None if body.employer_liability is None else body.employer_liability.employer.to_engine(),
    )
    return Settled(row, preview=body.dry_run)


def reverse(
    session: Session, *, principal: Principal, settlement_id: str, idem: IdemRequest | None
) -> dict[str, Any] | Replayed:
    """The reversed settlement's row."""
    bill_id, scheme_code = peek_settlement(session, settlement_id)
    bill = lock_bill_or_404(session, bill_id)
    check_bill(principal, bill, session=session)
    check_scheme(principal, scheme_code)
    replay = idempotency.lookup(session, principal, idem)
    if replay is not None:
        return replay
    return reverse_locked(session, bill=bill, settlement_id=settlement_id, created_by=principal.client_id)


def mark_references_ahead(*, body: ClaimCreate) -> None:
    """Before a claim's transaction (not a dry run, which commits nothing): mark the reference rows
    it is about to use as used, so that its transaction finds them used and needs no lock on them
    (:func:`app.ledger.locks.mark_used_ahead`; nothing to do once this process saw them used)."""
    if body.dry_run or references_known_used(body.schemes):
        return
    dates_only = t.Hospital(body.bill.hospital.code, "", 0, "")  # the days and the year are what count
    mark_used_ahead(body.bill.to_engine(dates_only), body.schemes)


def _in_claim(i: int) -> Callable[[Loc], Loc]:
    """A field error of the claim's ``i``-th settlement: the scheme code is ``("schemes", i)``."""
    return lambda loc: ("schemes", i, *(loc[1:] if loc[:1] == ("scheme_code",) else loc))


def claim(session: Session, *, principal: Principal, body: ClaimCreate, idem: IdemRequest | None) -> Claimed | Replayed:
    """Submit the bill and settle it under each scheme in order, all or nothing."""
    replay = idempotency.lookup(session, principal, idem)
    if replay is not None:
        return replay
    if len(set(body.schemes)) != len(body.schemes):
        raise ValidationFailed([FieldError(("schemes",), "a scheme may appear only once")])
    with errors_under("bill"):
        submitted = bills.submit(session, body=body.bill, created_by=principal.client_id)
    # A bill this transaction has just inserted is invisible to every other one until it commits
    # (a concurrent twin waits on the unique key, then retries): it needs no lock, nor a re-read.
    bill = submitted.bill if submitted.created else lock_bill_or_404(session, submitted.bill.id)
    if not submitted.created and idem is not None:
        # The bill was there already: the same claim with this key, sent at the same moment, may
        # have committed it after the lookup above.  Under the bill's lock its record is visible.
        replay = idempotency.lookup(session, principal, idem)
        if replay is not None:
            return replay
    check_bill(principal, bill, session=session)
    for code in body.schemes:
        check_scheme(principal, code)
    # The schemes are settled in the given order, but locked in the fixed order (app.ledger.locks).
    lock_for_settlements(session, engine_bill(session, bill), body.schemes)
    settlements: list[dict[str, Any]] = []
    for i, code in enumerate(body.schemes):
        try:
            settled = settle_locked_bill(
                session, bill=bill, scheme_code=code, external_payments=(), created_by=principal.client_id
            )
        except ValidationFailed as exc:
            raise exc.relocated(_in_claim(i)) from exc
        settlements.append(settled)
    # A bill this transaction created holds exactly the settlements just made: no re-read.
    payments = new_bill_payments(settlements) if submitted.created else active_payments(session, bill)
    return Claimed(bill, settlements, payments, preview=body.dry_run)
