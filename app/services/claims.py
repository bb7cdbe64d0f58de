"""The writes of bills and settlements: submit a bill, settle it under one scheme, reverse a
settlement, and a claim (a bill submitted and settled under several schemes, all or nothing).

Each entry (:func:`submit_bill`, :func:`settle`, :func:`reverse`, :func:`claim`) is what every
interface calls: it converts the request into the engine's form once, and carries the use case out
through :func:`app.services.writes.run_write` (one transaction with its idempotency record and
audit record), answering with the interface's ``render``.  The use cases themselves (the
``_``-prefixed bodies) return their domain result (a :class:`Settled`, a :class:`Claimed`, a
settlement's record) or, when their ``Idempotency-Key`` was already carried out,
:class:`~app.services.idempotency.Replayed`.  Field errors are located in the request each entry
is given (a settlement's ``("scheme_code",)``, a claim's ``("bill", "items", 0, "amount")``,
``("schemes", 1)``); the API puts them under ``body``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.engine import types as t
from app.errors import FieldError, Loc, NotFound, ValidationFailed, errors_under
from app.ledger.bill_state import lock_bill_or_404
from app.ledger.lock_order import lock_for_settlements
from app.ledger.mark_ahead import mark_used_ahead
from app.ledger.records import SettlementRecord
from app.ledger.reverse import peek_settlement, reverse_locked
from app.ledger.rows import BillRow
from app.ledger.settle import settle_locked_bill
from app.ledger.split import Payment, active_payments, new_bill_payments
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.schemas.bills import BillCreate
from app.schemas.settlements import ClaimCreate, SettlementCreate
from app.services import bills, idempotency
from app.services.bills import BillForm, Submitted
from app.services.idempotency import IdemRequest, Replayed, Reply
from app.services.scope import check_bill, check_scheme
from app.services.writes import Audit, run_write


@dataclass(frozen=True, slots=True)
class Settled:
    """A settlement as stored (a preview's too: its transaction is rolled back)."""

    record: SettlementRecord
    preview: bool


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claim carried out (or previewed): the bill, its new settlements in the order given, and
    the bill's active payments after them (the split sheet)."""

    bill: BillRow
    settlements: list[SettlementRecord]
    payments: list[Payment]
    preview: bool


#: Called in a settlement's transaction with the new settlement, before it commits (a dry run's:
#: before its rollback), so it may read the bill as the settlement leaves it; raising refuses the
#: settlement (nothing is written).  Not called when the request's key replays an earlier answer.
Check = Callable[[LedgerWork, SettlementRecord], None]


@dataclass(frozen=True, slots=True)
class SettlementRequest:
    """A settlement request in the engine's form."""

    scheme_code: str
    external_payments: tuple[t.ExternalPayment, ...]
    employer: t.Employer | None
    dry_run: bool
    advance: t.Advance | None = None

    @classmethod
    def of(cls, body: SettlementCreate) -> SettlementRequest:
        employer = None if body.employer_liability is None else body.employer_liability.employer.to_engine()
        advance = None if body.advance is None else body.advance.to_engine()
        externals = tuple(e.to_engine() for e in body.external_payments)
        return cls(body.scheme_code, externals, employer, body.dry_run, advance)


def submit_bill(
    *, principal: Principal, body: BillCreate, render: Callable[[Submitted], Reply], audit: Audit | None = None
) -> Reply:
    """Record a bill (:func:`app.services.bills.submit`); no key: the bill's number is its own."""
    form = BillForm.of(body)

    def use_case(work: LedgerWork) -> Submitted:
        return bills.submit(work, form=form, created_by=principal.client_id)

    return run_write("submit_bill", use_case, render, principal=principal, idem=None, audit=audit)


def settle(
    *,
    principal: Principal,
    bill_id: str,
    body: SettlementCreate,
    idem: IdemRequest | None,
    render: Callable[[Settled], Reply],
    audit: Audit | None = None,
    check: Check | None = None,
) -> Reply:
    """Settle a bill under one scheme (a dry run: its preview, rolled back); ``check``: see
    :data:`Check` (the desk's confirmation pays only what its preview showed)."""
    request = SettlementRequest.of(body)
    return run_write(
        "settle",
        lambda work: _settle(work, principal=principal, bill_id=bill_id, request=request, idem=idem, check=check),
        render,
        principal=principal,
        idem=idem,
        dry_run=request.dry_run,
        audit=audit,
    )


def _settle(
    work: LedgerWork,
    *,
    principal: Principal,
    bill_id: str,
    request: SettlementRequest,
    idem: IdemRequest | None,
    check: Check | None = None,
) -> Settled | Replayed:
    bill = lock_bill_or_404(work, bill_id)
    check_bill(principal, bill, session=work.session)
    check_scheme(principal, request.scheme_code)
    replay = idempotency.lookup(work, principal, idem)
    if replay is not None:
        return replay
    record = settle_locked_bill(
        work,
        bill_id=bill.id,
        scheme_code=request.scheme_code,
        external_payments=request.external_payments,
        created_by=principal.client_id,
        employer=request.employer,
        advance=request.advance,
    )
    if check is not None:
        check(work, record)
    return Settled(record, preview=request.dry_run)


def reverse(
    *,
    principal: Principal,
    settlement_id: str,
    idem: IdemRequest | None,
    render: Callable[[SettlementRecord], Reply],
    audit: Audit | None = None,
    of_bill: str | None = None,
) -> Reply:
    """Reverse a settlement (the latest active one of its bill).  ``of_bill``: the settlement must
    be of this bill, else there is no such settlement (the desk's page of one bill)."""
    return run_write(
        "reverse",
        lambda work: _reverse(work, principal=principal, settlement_id=settlement_id, idem=idem, of_bill=of_bill),
        render,
        principal=principal,
        idem=idem,
        audit=audit,
    )


def _reverse(
    work: LedgerWork, *, principal: Principal, settlement_id: str, idem: IdemRequest | None, of_bill: str | None
) -> SettlementRecord | Replayed:
    bill_id, scheme_code = peek_settlement(work, settlement_id)
    if of_bill is not None and bill_id != of_bill:
        raise NotFound("there is no such settlement")
    bill = lock_bill_or_404(work, bill_id)
    check_bill(principal, bill, session=work.session)
    check_scheme(principal, scheme_code)
    replay = idempotency.lookup(work, principal, idem)
    if replay is not None:
        return replay
    return reverse_locked(work, bill_id=bill_id, settlement_id=settlement_id, created_by=principal.client_id)


def _in_claim(i: int) -> Callable[[Loc], Loc]:
    """A field error of the claim's ``i``-th settlement: the scheme code is ``("schemes", i)``."""
    return lambda loc: ("schemes", i, *(loc[1:] if loc[:1] == ("scheme_code",) else loc))


def claim(
    *,
    principal: Principal,
    body: ClaimCreate,
    idem: IdemRequest | None,
    render: Callable[[Claimed], Reply],
    audit: Audit | None = None,
) -> Reply:
    """Submit the bill and settle it under each scheme in order, all or nothing.

    Before the claim's transaction (not a dry run, which commits nothing) the reference rows it is
    about to use are marked used, so that its transaction finds them used and needs no lock on
    them (:mod:`app.ledger.mark_ahead`; nothing to do once this process found them used)."""
    form = BillForm.of(body.bill)
    if not body.dry_run:
        mark_used_ahead(form.bill, body.schemes)  # only the bill's days, year and patient count
    return run_write(
        "claim",
        lambda work: _claim(
            work, principal=principal, form=form, schemes=body.schemes, idem=idem, dry_run=body.dry_run
        ),
        render,
        principal=principal,
        idem=idem,
        dry_run=body.dry_run,
        audit=audit,
    )


def _claim(
    work: LedgerWork,
    *,
    principal: Principal,
    form: BillForm,
    schemes: Sequence[str],
    idem: IdemRequest | None,
    dry_run: bool,
) -> Claimed | Replayed:
    replay = idempotency.lookup(work, principal, idem)
    if replay is not None:
        return replay
    if len(set(schemes)) != len(schemes):
        raise ValidationFailed([FieldError(("schemes",), "a scheme may appear only once")])
    with errors_under("bill"):
        submitted = bills.submit(work, form=form, created_by=principal.client_id)
    # A bill this transaction has just inserted is invisible to every other one until it commits
    # (a concurrent twin waits on the unique key, then retries): it needs no lock, nor a re-read.
    bill = submitted.bill if submitted.created else lock_bill_or_404(work, submitted.bill.id)
    if not submitted.created and idem is not None:
        # The bill was there already: the same claim with this key, sent at the same moment, may
        # have committed it after the lookup above.  Under the bill's lock its record is visible.
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
    check_bill(principal, bill, session=work.session)
    for code in schemes:
        check_scheme(principal, code)
    # The schemes are settled in the given order, but locked in the fixed order (app.ledger.lock_order).
    lock_for_settlements(work, bill.id, schemes)
    settlements: list[SettlementRecord] = []
    for i, code in enumerate(schemes):
        try:
            settled = settle_locked_bill(
                work, bill_id=bill.id, scheme_code=code, external_payments=(), created_by=principal.client_id
            )
        except ValidationFailed as exc:
            raise exc.relocated(_in_claim(i)) from exc
        settlements.append(settled)
    # A bill this transaction created holds exactly the settlements just made: no re-read.
    payments = new_bill_payments(settlements) if submitted.created else active_payments(work.session, bill.id)
    return Claimed(work.bills[bill.id].row, settlements, payments, preview=dry_run)
