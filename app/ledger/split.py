"""The split sheet (费用分割单): a bill's active payments in order, per settlement its external
payments first, then the scheme's (or the employer's) own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.db import tables as db
from app.ledger.records import SettlementRecord


@dataclass(frozen=True, slots=True)
class Payment:
    """One active payment on a bill: a scheme's, an employer's liability, or an external payer's."""

    sequence: int
    payer_type: str
    payer: str | None
    scheme_code: str | None
    scheme_kind: str | None
    employer_code: str | None
    voucher_no: str | None
    amount: Decimal
    settlement_id: str


@dataclass(frozen=True, slots=True)
class _Paid:
    """An active settlement as the split sheet shows it."""

    id: str
    sequence: int
    scheme_code: str
    fund_payment: Decimal
    scheme_kind: str
    payer_type: str
    employer_code: str | None
    employer_name: str | None


_SETTLEMENT = db.core_table(db.Settlement)
_EXTERNAL = db.core_table(db.ExternalPayment)
_ACTIVE = (
    select(
        _SETTLEMENT.c.id,
        _SETTLEMENT.c.sequence,
        _SETTLEMENT.c.scheme_code,
        _SETTLEMENT.c.fund_payment,
        _SETTLEMENT.c.scheme_kind,
        _SETTLEMENT.c.payer_type,
        _SETTLEMENT.c.employer_code,
        _SETTLEMENT.c.employer_name,
    )
    .where(_SETTLEMENT.c.bill_id == bindparam("bill_id"), _SETTLEMENT.c.status == "settled")
    .order_by(_SETTLEMENT.c.sequence)
)
_EXTERNALS = (
    select(_EXTERNAL.c.settlement_id, _EXTERNAL.c.payer, _EXTERNAL.c.voucher_no, _EXTERNAL.c.amount)
    .where(_EXTERNAL.c.bill_id == bindparam("bill_id"), _EXTERNAL.c.active)
    .order_by(_EXTERNAL.c.id)
)


def active_payments(session: Session, bill_id: str) -> list[Payment]:
    """The bill's active payments in order (the split sheet), read."""
    params = {"bill_id": bill_id}
    settlements = [_Paid(*row) for row in session.execute(_ACTIVE, params)]
    externals: dict[str, list[tuple[str, str, Decimal]]] = {}
    for sid, payer, voucher, amount in session.execute(_EXTERNALS, params):
        externals.setdefault(sid, []).append((payer, voucher, amount))
    return _payments(settlements, externals)


def new_bill_payments(records: Sequence[SettlementRecord]) -> list[Payment]:
    """The split sheet of a bill this transaction created, without reading it back: its active
    payments are exactly the settlements it just made (in any order) and their external payments,
    since no other transaction can see the bill before this one commits."""
    settlements = [
        _Paid(
            r.id,
            r.sequence,
            r.scheme_code,
            r.fund_payment,
            r.scheme_kind,
            r.payer_type,
            r.employer_code,
            r.employer_name,
        )
        for r in sorted(records, key=lambda r: r.sequence)
    ]
    externals = {
        r.id: [(e["payer"], e["voucher_no"], Decimal(e["amount"])) for e in r.detail["external_payments"]]
        for r in records
    }
    return _payments(settlements, externals)


def _payments(settlements: Sequence[_Paid], externals: dict[str, list[tuple[str, str, Decimal]]]) -> list[Payment]:
    payments: list[Payment] = []
    for s in settlements:
        payments += [
            Payment(s.sequence, "external", payer, None, None, None, voucher, amount, s.id)
            for payer, voucher, amount in externals.get(s.id, [])
        ]
        # An employer's liability is paid by the employer, under the scheme's rules (v2.5).
        payer_name = s.employer_name if s.payer_type == "employer" else s.scheme_code
        payments.append(
            Payment(
                s.sequence,
                s.payer_type,
                payer_name,
                s.scheme_code,
                s.scheme_kind,
                s.employer_code,
                None,
                s.fund_payment,
                s.id,
            )
        )
    return payments
