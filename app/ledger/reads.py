"""Settlements read outside a write (a settlement's page, a bill's history), and with them what
another interface shows beside a settlement's own figures (:class:`Parties`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from app.db import tables as db
from app.errors import NotFound
from app.ledger.records import SettlementRecord

_SETTLEMENT = db.core_table(db.Settlement)
_BILL = db.core_table(db.Bill)
_POLICY = db.core_table(db.Policy)
_ONE = select(_SETTLEMENT).where(_SETTLEMENT.c.id == bindparam("id"))
_OF_BILL = select(_SETTLEMENT).where(_SETTLEMENT.c.bill_id == bindparam("bill_id")).order_by(_SETTLEMENT.c.sequence)
#: The names a settlement's row does not hold, and its policy's annual cap, joined on their keys.
_PARTY_COLUMNS = (
    _BILL.c.patient_name.label("party_patient_name"),
    _BILL.c.hospital_name.label("party_hospital_name"),
    _POLICY.c.annual_cap.label("party_annual_cap"),
)
_ONE_WITH_PARTIES = (
    select(_SETTLEMENT, *_PARTY_COLUMNS)
    .join(_BILL, _BILL.c.id == _SETTLEMENT.c.bill_id)
    .join(_POLICY, _POLICY.c.id == _SETTLEMENT.c.policy_id)
    .where(_SETTLEMENT.c.id == bindparam("id"))
)
_OF_BILL_WITH_PARTIES = (
    select(_SETTLEMENT, *_PARTY_COLUMNS)
    .join(_BILL, _BILL.c.id == _SETTLEMENT.c.bill_id)
    .join(_POLICY, _POLICY.c.id == _SETTLEMENT.c.policy_id)
    .where(_SETTLEMENT.c.bill_id == bindparam("bill_id"))
    .order_by(_SETTLEMENT.c.sequence)
)


@dataclass(frozen=True, slots=True)
class Parties:
    """Who a settlement is between, by name, and the payer's annual cap under its policy."""

    patient_name: str
    hospital_name: str
    annual_cap: Decimal


def find_settlement(session: Session, settlement_id: str) -> SettlementRecord:
    row = session.execute(_ONE, {"id": settlement_id}).one_or_none()
    if row is None:
        raise NotFound("there is no such settlement")
    return SettlementRecord.of(row)


def bill_settlements(session: Session, bill_id: str) -> list[SettlementRecord]:
    """Every settlement of a bill, active and reversed, in sequence order (one query)."""
    return [SettlementRecord.of(row) for row in session.execute(_OF_BILL, {"bill_id": bill_id})]


def find_settlement_with_parties(session: Session, settlement_id: str) -> tuple[SettlementRecord, Parties]:
    """:func:`find_settlement` and its :class:`Parties`, in one statement."""
    row = session.execute(_ONE_WITH_PARTIES, {"id": settlement_id}).one_or_none()
    if row is None:
        raise NotFound("there is no such settlement")
    return SettlementRecord.of(row), _parties(row)


def bill_settlements_with_parties(session: Session, bill_id: str) -> list[tuple[SettlementRecord, Parties]]:
    """:func:`bill_settlements`, each with its :class:`Parties`, in one statement."""
    return [
        (SettlementRecord.of(row), _parties(row))
        for row in session.execute(_OF_BILL_WITH_PARTIES, {"bill_id": bill_id})
    ]


def _parties(row: Row[Any]) -> Parties:
    return Parties(row.party_patient_name, row.party_hospital_name, row.party_annual_cap)
