"""A fund's receivables (``settlement-rules.md`` v3.3) in the ledger: opened by an advanced
settlement in its transaction, moved by recoveries and write-offs, cancelled by the settlement's
reversal.  Every change reads the receivable's row under its lock (``FOR UPDATE``: step 1b of
:mod:`app.ledger.lock_order`, after the bill's when a reversal takes both), asks the engine's
rule (:mod:`app.engine.receivables`) for the next state and writes it back, so two changes never
start from the same state: two recoveries racing for the last yuan are serialised, and a
recovery racing the reversal finds the receivable cancelled, or the reversal finds it recovered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, insert, select, update

from app import clock
from app.db.direct import execute, execute_one
from app.db.receivable_tables import Receivable, Recovery
from app.db.tables import core_table
from app.engine import receivables as rules
from app.engine import types as t
from app.engine.money import ZERO
from app.errors import NotFound
from app.ledger.records import SettlementRecord
from app.ledger.work import LedgerWork

RECEIVABLE = core_table(Receivable)
RECOVERY = core_table(Recovery)


@dataclass(frozen=True, slots=True)
class RecoveryRecord:
    id: str
    receivable_id: str
    amount: Decimal
    received_on: date
    reference: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReceivableRecord:
    """A receivable's row, with its recoveries in the order they were recorded."""

    id: str
    settlement_id: str
    bill_id: str
    scheme_code: str
    reason: t.AdvanceReason
    liable_kind: t.LiableKind
    liable_code: str | None
    liable_name: str
    amount: Decimal
    recovered: Decimal
    written_off: Decimal
    status: rules.ReceivableStatus
    write_off_reason: str | None
    created_at: datetime
    updated_at: datetime
    recoveries: tuple[RecoveryRecord, ...] = ()

    @property
    def state(self) -> rules.Receivable:
        """The engine's form of its figures."""
        return rules.Receivable(self.amount, self.recovered, self.written_off, cancelled=self.status == "cancelled")

    @property
    def outstanding(self) -> Decimal:
        return self.state.outstanding


_COLUMNS = tuple(c.name for c in RECEIVABLE.columns)
_SELECT = select(RECEIVABLE).where(RECEIVABLE.c.id == bindparam("id"))
_LOCK = _SELECT.with_for_update()
_RECOVERIES = (
    select(RECOVERY).where(RECOVERY.c.receivable_id == bindparam("id")).order_by(RECOVERY.c.created_at, RECOVERY.c.id)
)
_MOVE = (
    update(RECEIVABLE)
    .where(RECEIVABLE.c.id == bindparam("r_id"))
    .values(
        recovered=bindparam("recovered"),
        written_off=bindparam("written_off"),
        status=bindparam("status"),
        write_off_reason=bindparam("write_off_reason"),
        updated_at=bindparam("updated_at"),
    )
)
_INSERT = insert(RECEIVABLE)
_INSERT_RECOVERY = insert(RECOVERY)


def new_receivable_id(fund_payment: Decimal, advance: t.Advance | None) -> str | None:
    """The id an advanced settlement's receivable will have: none without an advance, or when the
    fund paid 0.00 (nothing was advanced, :func:`app.engine.receivables.open_receivable`)."""
    if advance is None or rules.open_receivable(fund_payment) is None:
        return None
    return str(uuid.uuid4())


def open_for(work: LedgerWork, record: SettlementRecord) -> None:
    """The receivable of an advanced settlement, opened in the settlement's transaction."""
    advance = record.advance
    if record.receivable_id is None or advance is None:
        return
    opened = rules.open_receivable(record.fund_payment)
    assert opened is not None
    execute(
        work.connection,
        _INSERT,
        {
            "id": record.receivable_id,
            "settlement_id": record.id,
            "bill_id": record.bill_id,
            "scheme_code": record.scheme_code,
            "reason": advance.reason,
            "liable_kind": advance.liable.kind,
            "liable_code": advance.liable.code,
            "liable_name": advance.liable.name,
            "amount": opened.amount,
            "recovered": ZERO,
            "written_off": ZERO,
            "status": opened.status,
            "write_off_reason": None,
            "created_at": record.created_at,
            "updated_at": record.created_at,
        },
    )


def _record(row: object, recoveries: tuple[RecoveryRecord, ...] = ()) -> ReceivableRecord:
    return ReceivableRecord(**{name: getattr(row, name) for name in _COLUMNS}, recoveries=recoveries)


def read(conn: Connection, receivable_id: str, *, lock: bool = False) -> ReceivableRecord | None:
    """A receivable with its recoveries (locked ``FOR UPDATE`` when ``lock``)."""
    row = execute_one(conn, _LOCK if lock else _SELECT, {"id": receivable_id})
    if row is None:
        return None
    recoveries = tuple(RecoveryRecord(*r) for r in execute(conn, _RECOVERIES, {"id": receivable_id}))
    return _record(row, recoveries)


def lock_or_404(work: LedgerWork, receivable_id: str) -> ReceivableRecord:
    found = read(work.connection, receivable_id, lock=True)
    if found is None:
        raise NotFound("there is no such receivable")
    return found


def _save(work: LedgerWork, r: ReceivableRecord, state: rules.Receivable, *, write_off_reason: str | None) -> None:
    execute(
        work.connection,
        _MOVE,
        {
            "r_id": r.id,
            "recovered": state.recovered,
            "written_off": state.written_off,
            "status": state.status,
            "write_off_reason": write_off_reason,
            "updated_at": clock.now(),
        },
    )


def recover(
    work: LedgerWork, r: ReceivableRecord, *, amount: Decimal, received_on: date, reference: str, created_by: str
) -> None:
    """Record a recovery on the (locked) receivable, as the engine's rule allows."""
    state = rules.recover(r.state, amount)
    execute(
        work.connection,
        _INSERT_RECOVERY,
        {
            "id": str(uuid.uuid4()),
            "receivable_id": r.id,
            "amount": amount,
            "received_on": received_on,
            "reference": reference,
            "created_by": created_by,
            "created_at": clock.now(),
        },
    )
    _save(work, r, state, write_off_reason=r.write_off_reason)


def write_off(work: LedgerWork, r: ReceivableRecord, *, reason: str) -> None:
    """Write off what is outstanding on the (locked) receivable."""
    state = rules.write_off(r.state, reason)
    _save(work, r, state, write_off_reason=reason)


def cancel_for_reversal(work: LedgerWork, receivable_id: str) -> None:
    """The advanced settlement's reversal (under its bill's lock) cancels its receivable, or is
    refused (409) once anything was recovered on it."""
    r = lock_or_404(work, receivable_id)
    state = rules.cancel(r.state)
    _save(work, r, state, write_off_reason=r.write_off_reason)
