"""A settlement as the ledger writes, reads and hands up: :class:`SettlementRecord`, one frozen
value per settlement row, from the ledger to its renderer
(:func:`app.schemas.settlements.settlement_public`).

Its ``detail`` is the stored JSON document (:mod:`app.ledger.detail`): bands, classified lines,
external payments and catalog versions, written out once, as the response shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict

from app.engine import types as t

SettlementStatus = Literal["settled", "reversed"]


class BandDoc(TypedDict):
    lower: str
    upper: str | None
    ratio: str
    base: str
    amount: str


#: A classified line as stored ("class" is no Python name, hence the functional form).
LineDoc = TypedDict(
    "LineDoc",
    {
        "line_no": int,
        "code": str,
        "class": t.CatalogClass | None,
        "excluded": str,
        "over_limit": str,
        "b_self_pay": str,
        "in_scope": str,
        "reason": t.LineReason | None,
    },
)


class ExternalPaymentDoc(TypedDict):
    payer: str
    voucher_no: str
    amount: str


class SettlementDetail(TypedDict):
    bands: list[BandDoc]
    lines: list[LineDoc]
    external_payments: list[ExternalPaymentDoc]
    catalog_versions: list[str]


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """A settlement's row: the bill's and scheme's identity, the engine's figures, the detail."""

    id: str
    bill_id: str
    scheme_code: str
    scheme_kind: t.SchemeKind
    payer_type: t.PayerType
    employer_code: str | None
    employer_name: str | None
    basis_settlement_id: str | None
    compliant_self_pay: Decimal | None
    #: v3.2: the payer's annual cap left after this settlement (None on rows made before v3);
    #: a large-amount tier's over-cap cost.
    cap_remaining: Decimal | None
    over_cap: Decimal | None
    #: v3.3: a fund's advance: its reason, the liable party, and the receivable it opened (None
    #: when the fund paid 0.00).
    advance_reason: t.AdvanceReason | None
    liable_kind: t.LiableKind | None
    liable_code: str | None
    liable_name: str | None
    receivable_id: str | None
    sequence: int
    status: SettlementStatus
    policy_year: int
    policy_id: int
    patient_id_number: str
    hospital_code: str
    insuring_region: str
    treatment_region: str
    offsite: t.Offsite
    registered: bool
    setting: str
    medical_total: Decimal
    excluded: Decimal
    over_limit: Decimal
    b_self_pay: Decimal
    in_scope: Decimal
    deductible: Decimal
    yearly_deductible: Decimal
    computed_benefit: Decimal
    benefit_after_cap: Decimal
    prior_payments: Decimal
    coordination_mode: t.Coordination
    fund_payment: Decimal
    coordination_reduction: Decimal
    patient_responsibility: Decimal
    external_total: Decimal
    detail: SettlementDetail
    created_by: str
    created_at: datetime
    reversed_at: datetime | None

    def columns(self) -> dict[str, object]:
        """The row's values by column name (an insert's parameters)."""
        return {name: getattr(self, name) for name in COLUMNS}

    @property
    def advance(self) -> t.Advance | None:
        if self.advance_reason is None:
            return None
        assert self.liable_kind is not None and self.liable_name is not None
        return t.Advance(self.advance_reason, t.Liable(self.liable_kind, self.liable_name, self.liable_code))

    def reversed(self, at: datetime) -> SettlementRecord:
        return replace(self, status="reversed", reversed_at=at)

    @classmethod
    def of(cls, row: Any) -> SettlementRecord:
        """The record of a settlement row as read: an ORM ``Settlement`` or a Core row (anything
        with the columns as attributes).  The stored strings are the literals they were written as."""
        values = {name: getattr(row, name) for name in COLUMNS}
        return cls(**values)


#: The settlement table's columns, in the record's order.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SettlementRecord))
