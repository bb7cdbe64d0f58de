"""A fund's receivables (``settlement-rules.md`` v3.3): recoveries and write-offs, each one
write transaction that locks only the receivable's row (:mod:`app.ledger.receivables`), and the
reads.

Scope (api.md v3): the admin, and the scheme office of the receivable's scheme; to any other
office a receivable does not exist (404).  A hospital reads the ``advance`` on its bills'
settlements but not the receivables (the API refuses the role, 403).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.receivable_tables import Receivable, Recovery
from app.errors import NotFound
from app.ledger import receivables as ledger
from app.ledger.receivables import ReceivableRecord, RecoveryRecord
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.services import idempotency, paging
from app.services.idempotency import IdemRequest, Replayed, Reply
from app.services.writes import Audit, run_write


@dataclass(frozen=True, slots=True)
class RecoveryRequest:
    amount: Decimal
    received_on: date
    reference: str


def receivable_scope(principal: Principal) -> ColumnElement[bool]:
    if principal.role == "scheme_office":
        return col(Receivable.scheme_code) == principal.scheme_code
    return true()


def _check(principal: Principal, record: ReceivableRecord) -> None:
    if principal.role == "scheme_office" and record.scheme_code != principal.scheme_code:
        raise NotFound("there is no such receivable")


def _locked(work: LedgerWork, principal: Principal, receivable_id: str) -> ReceivableRecord:
    record = ledger.lock_or_404(work, receivable_id)
    _check(principal, record)
    return record


def _after(work: LedgerWork, receivable_id: str) -> ReceivableRecord:
    found = ledger.read(work.connection, receivable_id)
    assert found is not None  # locked by this transaction
    return found


def recover(
    *,
    principal: Principal,
    receivable_id: str,
    request: RecoveryRequest,
    idem: IdemRequest | None,
    render: Callable[[ReceivableRecord], Reply],
    audit: Audit | None = None,
) -> Reply:
    """Record a recovery (one transaction: the receivable's lock, the recovery, the receivable)."""

    def use_case(work: LedgerWork) -> ReceivableRecord | Replayed:
        record = _locked(work, principal, receivable_id)
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        ledger.recover(
            work,
            record,
            amount=request.amount,
            received_on=request.received_on,
            reference=request.reference,
            created_by=principal.client_id,
        )
        return _after(work, receivable_id)

    return run_write("recover", use_case, render, principal=principal, idem=idem, audit=audit)


def write_off(
    *,
    principal: Principal,
    receivable_id: str,
    reason: str,
    render: Callable[[ReceivableRecord], Reply],
    audit: Audit | None = None,
) -> Reply:
    """Write off what is outstanding (409 when nothing is, or the receivable is cancelled)."""

    def use_case(work: LedgerWork) -> ReceivableRecord:
        record = _locked(work, principal, receivable_id)
        ledger.write_off(work, record, reason=reason)
        return _after(work, receivable_id)

    return run_write("write_off", use_case, render, principal=principal, idem=None, audit=audit)


def get(session: Session, *, principal: Principal, receivable_id: str) -> ReceivableRecord:
    record = ledger.read(session.connection(), receivable_id)
    if record is None:
        raise NotFound("there is no such receivable")
    _check(principal, record)
    return record


def list_page(
    session: Session,
    *,
    principal: Principal,
    scheme_code: str | None,
    status: str | None,
    liable_code: str | None,
    cursor: str | None,
    limit: int,
) -> paging.Page[ReceivableRecord]:
    """The receivables the caller may read, newest first (a filter outside its scope: an empty page)."""
    filters: dict[str, Any] = {"scheme_code": scheme_code, "status": status, "liable_code": liable_code}
    r = Receivable
    stmt = select(r).where(receivable_scope(principal))
    for column, value in ((r.scheme_code, scheme_code), (r.status, status), (r.liable_code, liable_code)):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    page = paging.newest_first(
        session,
        stmt,
        model=r,
        list_name="receivables",
        principal=principal,
        filters=filters,
        cursor=cursor,
        limit=limit,
    )
    return paging.Page(_with_recoveries(session, page.rows), page.next_cursor)


def _with_recoveries(session: Session, rows: Sequence[Receivable]) -> list[ReceivableRecord]:
    """The page's receivables with their recoveries, read in one statement."""
    by_receivable: dict[str, list[RecoveryRecord]] = {}
    if rows:
        found = session.scalars(
            select(Recovery)
            .where(col(Recovery.receivable_id).in_([row.id for row in rows]))
            .order_by(col(Recovery.created_at), col(Recovery.id))
        )
        for x in found:
            by_receivable.setdefault(x.receivable_id, []).append(
                RecoveryRecord(x.id, x.receivable_id, x.amount, x.received_on, x.reference, x.created_by, x.created_at)
            )
    return [
        ReceivableRecord(
            id=row.id,
            settlement_id=row.settlement_id,
            bill_id=row.bill_id,
            scheme_code=row.scheme_code,
            reason=row.reason,  # type: ignore[arg-type]  # stored from the engine's literal
            liable_kind=row.liable_kind,  # type: ignore[arg-type]
            liable_code=row.liable_code,
            liable_name=row.liable_name,
            amount=row.amount,
            recovered=row.recovered,
            written_off=row.written_off,
            status=row.status,  # type: ignore[arg-type]
            write_off_reason=row.write_off_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            recoveries=tuple(by_receivable.get(row.id, ())),
        )
        for row in rows
    ]
