"""Settlements read outside a write (a settlement's page, a bill's history)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.db import tables as db
from app.errors import NotFound
from app.ledger.records import SettlementRecord

_SETTLEMENT = db.core_table(db.Settlement)
_ONE = select(_SETTLEMENT).where(_SETTLEMENT.c.id == bindparam("id"))
_OF_BILL = select(_SETTLEMENT).where(_SETTLEMENT.c.bill_id == bindparam("bill_id")).order_by(_SETTLEMENT.c.sequence)


def find_settlement(session: Session, settlement_id: str) -> SettlementRecord:
    row = session.execute(_ONE, {"id": settlement_id}).one_or_none()
    if row is None:
        raise NotFound("there is no such settlement")
    return SettlementRecord.of(row)


def bill_settlements(session: Session, bill_id: str) -> list[SettlementRecord]:
    """Every settlement of a bill, active and reversed, in sequence order (one query)."""
    return [SettlementRecord.of(row) for row in session.execute(_OF_BILL, {"bill_id": bill_id})]
