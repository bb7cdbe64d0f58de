"""Service functions of the settlement endpoints: each is the body of one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.engine import types as t
from app.errors import FieldError, ValidationFailed
from app.ledger.loading import bill_to_engine
from app.ledger.locks import lock_for_settlements, mark_used_ahead, references_known_used
from app.ledger.settlements import (
    active_payments,
    find_settlement,
    lock_bill_or_404,
    new_bill_payments,
    reverse_locked,
    settle_locked_bill,
)
from app.principal import Principal
from app.schemas.public import bill_public, split_public
from app.schemas.settlements import ClaimCreate, SettlementCreate, settlement_public
from app.services import bills, idempotency
from app.services.idempotency import IdemRequest, Reply
from app.services.scope import check_bill, check_scheme


def create_settlement(
    session: Session, *, principal: Principal, bill_id: str, body: SettlementCreate, idem: IdemRequest | None
) -> Reply:
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
        external_payments=body.external_payments,
        created_by=principal.client_id,
        employer=None if body.employer_liability is None else body.employer_liability.employer.to_engine(),
    )
    reply = Reply(200 if body.dry_run else 201, settlement_public(row, preview=body.dry_run))
    if not body.dry_run:
        idempotency.store(session, principal, idem, reply)
    return reply


def reverse(session: Session, *, principal: Principal, settlement_id: str, idem: IdemRequest | None) -> Reply:
    peek = find_settlement(session, settlement_id)
    bill = lock_bill_or_404(session, peek.bill_id)
    check_bill(principal, bill, session=session)
    check_scheme(principal, peek.scheme_code)
    replay = idempotency.lookup(session, principal, idem)
    if replay is not None:
        return replay
    reversed_row = reverse_locked(session, bill=bill, settlement_id=settlement_id, created_by=principal.client_id)
    reply = Reply(200, settlement_public(reversed_row.model_dump()))
    idempotency.store(session, principal, idem, reply)
    return reply


def mark_references_ahead(*, body: ClaimCreate) -> None:
    """Before a claim's transaction (not a dry run, which commits nothing): mark the reference rows
    it is about to use as used, so that its transaction finds them used and needs no lock on them
    (:func:`app.ledger.locks.mark_used_ahead`; nothing to do once this process saw them used)."""
    if body.dry_run or references_known_used(body.schemes):
        return
    dates_only = t.Hospital(body.bill.hospital.code, "", 0, "")  # the days and the year are what count
    mark_used_ahead(body.bill.to_engine(dates_only), body.schemes)


def claim(session: Session, *, principal: Principal, body: ClaimCreate, idem: IdemRequest | None) -> Reply:
    """Submit the bill and settle it under each scheme in order, all or nothing."""
    replay = idempotency.lookup(session, principal, idem)
    if replay is not None:
        return replay
    if len(set(body.schemes)) != len(body.schemes):
        raise ValidationFailed([FieldError(("body", "schemes"), "a scheme may appear only once")])
    bill_reply, row = bills.submit(session, body=body.bill, created_by=principal.client_id, loc_prefix=("body", "bill"))
    # A bill this transaction has just inserted is invisible to every other one until it commits
    # (a concurrent twin waits on the unique key, then retries): it needs no lock, nor a re-read.
    bill = row if bill_reply.status == 201 else lock_bill_or_404(session, row.id)
    if bill_reply.status == 200 and idem is not None:
        # The bill was there already: the same claim with this key, sent at the same moment, may
        # have committed it after the lookup above.  Under the bill's lock its record is visible.
        replay = idempotency.lookup(session, principal, idem)
        if replay is not None:
            return replay
    check_bill(principal, bill, session=session)
    for code in body.schemes:
        check_scheme(principal, code)
    # The schemes are settled in the given order, but locked in the fixed order (app.ledger.locks).
    lock_for_settlements(session, bill_to_engine(bill), body.schemes)
    settlements: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for i, code in enumerate(body.schemes):
        settled = settle_locked_bill(
            session,
            bill=bill,
            scheme_code=code,
            external_payments=(),
            created_by=principal.client_id,
            scheme_loc=("body", "schemes", i),
        )
        rows.append(settled)
        settlements.append(settlement_public(settled, preview=body.dry_run))
    # A bill this transaction created holds exactly the settlements just made: no re-read.
    payments = new_bill_payments(rows) if bill is row and bill_reply.status == 201 else active_payments(session, bill)
    out = {
        "bill": bill_public(bill),
        "settlements": settlements,
        "split": split_public(bill, payments),
    }
    reply = Reply(200 if body.dry_run else 201, out)
    if not body.dry_run:
        idempotency.store(session, principal, idem, reply)
    return reply
