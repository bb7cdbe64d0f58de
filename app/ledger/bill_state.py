"""A bill under this transaction's lock: its row as a value (:class:`BillRow`), its engine form
built once, and its active payments read once and then kept up to date by the transaction's own
settlements (:class:`app.ledger.work.HeldBill`).

The bill is the first lock of the fixed order (:mod:`app.ledger.lock_order`): while this
transaction holds it (or has just inserted it, invisible to every other one until the commit),
nothing else moves the bill's payments, so what was read of them stays true.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sqlalchemy import bindparam, select

from app.db import tables as db
from app.db.direct import execute, execute_one
from app.engine import types as t
from app.errors import NotFound
from app.ledger.conversions import bill_to_engine
from app.ledger.rows import BILL_COLUMNS, Active, BillRow
from app.ledger.work import HeldBill, LedgerWork

_BILL = db.core_table(db.Bill)
_SELECT_BILL = select(*(_BILL.c[name] for name in BILL_COLUMNS))
_LOCK_BILL = _SELECT_BILL.where(_BILL.c.id == bindparam("id")).with_for_update()
_BILL_BY_NUMBER = _SELECT_BILL.where(
    _BILL.c.hospital_code == bindparam("code"), _BILL.c.bill_no == bindparam("bill_no")
)


def lock_bill(work: LedgerWork, bill_id: str) -> BillRow | None:
    """Step 1 of the fixed order: the bill's row, ``FOR UPDATE``."""
    held = work.bills.get(bill_id)
    if held is not None:
        return held.row
    found = execute_one(work.connection, _LOCK_BILL, {"id": bill_id})
    if found is None:
        return None
    row = BillRow(*found)
    work.bills[bill_id] = HeldBill(row)
    return row


def lock_bill_or_404(work: LedgerWork, bill_id: str) -> BillRow:
    row = lock_bill(work, bill_id)
    if row is None:
        raise NotFound("there is no such bill")
    return row


def bill_by_number(work: LedgerWork, hospital_code: str, bill_no: str) -> BillRow | None:
    """A bill already accepted under this number (read, not locked)."""
    found = execute_one(work.connection, _BILL_BY_NUMBER, {"code": hospital_code, "bill_no": bill_no})
    return None if found is None else BillRow(*found)


def hold_new_bill(work: LedgerWork, row: BillRow, form: t.Bill) -> None:
    """A bill this transaction has just inserted: it needs no lock (no other transaction sees it
    before the commit) and has no payments yet; ``form`` is its engine form, exactly what
    :func:`app.ledger.conversions.bill_to_engine` would read back from its row
    (:func:`app.services.bills.stored_form`)."""
    work.bills[row.id] = HeldBill(row, active=[], vouchers={})
    work.engine_bills[row.id] = form


def held(work: LedgerWork, bill_id: str) -> HeldBill:
    """The bill's state in this transaction (locked first), its payments read on first use."""
    state = work.bills[bill_id]
    if state.active is None or state.vouchers is None:
        if state.row.last_sequence:
            state.active = _active(work, bill_id)
            state.vouchers = _active_vouchers(work, bill_id)
        else:
            state.active, state.vouchers = [], {}
    return state


def engine_bill(work: LedgerWork, bill_id: str) -> t.Bill:
    """The held bill's engine form, built once per transaction (a claim needs it for its locks
    and for each settlement): what it is built from never changes once the bill is stored."""
    form = work.engine_bills.get(bill_id)
    if form is None:
        form = work.engine_bills[bill_id] = bill_to_engine(work.bills[bill_id].row)
    return form


def moved(work: LedgerWork, bill_id: str, *, paid_total: Decimal, last_sequence: int | None = None) -> None:
    """The held bill's row after a write of this transaction moved it."""
    state = work.bills[bill_id]
    state.row = replace(
        state.row,
        paid_total=paid_total,
        last_sequence=state.row.last_sequence if last_sequence is None else last_sequence,
    )


def forget_payments(work: LedgerWork, bill_id: str) -> None:
    """A reversal changes the bill's payments otherwise than a settlement records them: read them
    again when next needed."""
    state = work.bills[bill_id]
    state.active = state.vouchers = None
    state.made.clear()


_SETTLEMENT = db.core_table(db.Settlement)
_EXTERNAL = db.core_table(db.ExternalPayment)
_ACTIVE = select(
    _SETTLEMENT.c.id,
    _SETTLEMENT.c.scheme_code,
    _SETTLEMENT.c.fund_payment,
    _SETTLEMENT.c.sequence,
    _SETTLEMENT.c.payer_type,
    _SETTLEMENT.c.basis_settlement_id,
    _SETTLEMENT.c.scheme_kind,
    _SETTLEMENT.c.external_total,
).where(_SETTLEMENT.c.bill_id == bindparam("bill_id"), _SETTLEMENT.c.status == "settled")
_VOUCHERS = select(_EXTERNAL.c.voucher_no, _EXTERNAL.c.amount).where(
    _EXTERNAL.c.bill_id == bindparam("bill_id"), _EXTERNAL.c.active
)


def _active(work: LedgerWork, bill_id: str) -> list[Active]:
    return [Active(*row) for row in execute(work.connection, _ACTIVE, {"bill_id": bill_id})]


def _active_vouchers(work: LedgerWork, bill_id: str) -> dict[str, Decimal]:
    """The bill's active external payments: voucher number -> amount."""
    return dict(execute(work.connection, _VOUCHERS, {"bill_id": bill_id}))
