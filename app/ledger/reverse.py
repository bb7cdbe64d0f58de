"""Reverse a settlement: undo exactly what it did (its status and reversal record, its external
payments, the bill's paid total, the accumulator, an advance's receivable), in the bill's
transaction under the bill's lock.  Only the latest active settlement of a bill may be reversed,
so a tier is reversed before the settlement it was computed from."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, or_, select

from app import clock
from app.db.direct import execute
from app.db.params import Params
from app.errors import Conflict, NotFound
from app.ledger import receivables
from app.ledger.accumulators import employer_year_total, save_totals, totals_params, year_total
from app.ledger.bill_state import forget_payments, moved
from app.ledger.records import SettlementRecord
from app.ledger.rows import EmployerYearKey, Totals, YearKey
from app.ledger.statements import REVERSAL_PARTS, SETTLEMENT, reverse_in_one
from app.ledger.work import LedgerWork

#: The settlement to reverse, read again under the bill's lock, with the bill's active ones.
_REVERSING = select(SETTLEMENT).where(
    SETTLEMENT.c.bill_id == bindparam("bill_id"),
    or_(SETTLEMENT.c.status == "settled", SETTLEMENT.c.id == bindparam("id")),
)

#: The reversal's record repeats these of the settlement's.
_REVERSED_FIGURES = (
    "bill_id",
    "scheme_code",
    "payer_type",
    "hospital_code",
    "insuring_region",
    "treatment_region",
    "medical_total",
    "fund_payment",
    "external_total",
)


def reverse_locked(work: LedgerWork, *, bill_id: str, settlement_id: str, created_by: str) -> SettlementRecord:
    """Reverse the bill's (held locked) latest active settlement; undo exactly what it did.
    Returns the settlement as reversed (rendered by :func:`app.schemas.settlements.settlement_public`)."""
    bill = work.bills[bill_id].row
    forget_payments(work, bill_id)
    rows = execute(work.connection, _REVERSING, {"bill_id": bill_id, "id": settlement_id})
    target = next((r for r in rows if r.id == settlement_id), None)
    assert target is not None, "the settlement's bill is the one locked"  # a settlement keeps its bill
    s = SettlementRecord.of(target)
    if s.status != "settled":
        raise Conflict("this settlement is already reversed")
    active = [r for r in rows if r.status == "settled"]
    latest = max(r.sequence for r in active)
    if s.sequence != latest:
        tiers = [f"{r.scheme_code} (sequence {r.sequence})" for r in active if r.basis_settlement_id == s.id]
        if tiers:
            raise Conflict(
                f"a tier settled on this settlement is active: {', '.join(tiers)}; reverse it first "
                f"(only the latest active settlement of a bill, sequence {latest}, may be reversed)"
            )
        raise Conflict(f"only the latest active settlement of a bill may be reversed; reverse sequence {latest} first")
    if s.receivable_id is not None:
        # Step 1b of the lock order, after the bill: refused (409) once anything was recovered.
        receivables.cancel_for_reversal(work, s.receivable_id)
    totals: Totals
    # An advance for an employer that did not enrol its worker moved that employer's accumulator.
    owner = s.employer_code if s.payer_type == "employer" else None
    if s.advance_reason == "employer_not_enrolled":
        owner = s.liable_code
    if owner is not None:
        totals = employer_year_total(work, EmployerYearKey(s.scheme_code, owner, s.patient_id_number, s.policy_year))
    else:
        totals = year_total(work, YearKey(s.scheme_code, s.patient_id_number, s.policy_year))
        if s.compliant_self_pay is not None:
            totals.compliant_self_pay -= s.compliant_self_pay
        if s.over_cap is not None:
            totals.over_cap -= s.over_cap
    totals.add(setting=s.setting, fund_paid=-s.fund_payment, yearly_deductible=-s.yearly_deductible)
    paid_total = bill.paid_total - s.fund_payment - s.external_total
    now = clock.now()
    params: Params = {
        "s_id": s.id,
        "s_status": "reversed",
        "s_reversed_at": now,
        "e_active": False,
        "b_id": bill_id,
        "b_paid_total": paid_total,
        **{f"r_{k}": getattr(s, k) for k in _REVERSED_FIGURES},
        "r_id": str(uuid.uuid4()),
        "r_settlement_id": s.id,
        "r_created_by": created_by,
        "r_created_at": now,
    }
    if work.postgresql:
        params.update(totals_params(totals))
        execute(work.connection, reverse_in_one(totals.table), params)
    else:
        save_totals(work, totals)
        for statement in REVERSAL_PARTS:
            execute(work.connection, statement, params)
    moved(work, bill_id, paid_total=paid_total)
    return s.reversed(now)


_PEEK = select(SETTLEMENT.c.bill_id, SETTLEMENT.c.scheme_code).where(SETTLEMENT.c.id == bindparam("id"))


def peek_settlement(work: LedgerWork, settlement_id: str) -> tuple[str, str]:
    """The settlement's bill and scheme, read before its bill is locked (a reversal then reads the
    settlement again under the lock)."""
    rows = execute(work.connection, _PEEK, {"id": settlement_id})
    if not rows:
        raise NotFound("there is no such settlement")
    return rows[0].bill_id, rows[0].scheme_code
