"""Coordination with the bill's earlier payers (rule 7)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.engine.money import ZERO
from app.engine.types import Coordination
from app.errors import FieldError, ValidationFailed


@dataclass(frozen=True, slots=True)
class Coordinated:
    fund_payment: Decimal
    coordination_reduction: Decimal
    patient_responsibility: Decimal


def coordinate(
    mode: Coordination, *, benefit_after_cap: Decimal, medical_total: Decimal, prior: Decimal
) -> Coordinated:
    """Apply the scheme's coordination mode.

    - ``repeat_capped``: ``min(benefit, remaining)``;
    - ``gap_fill``: ``min(max(0, benefit - prior), remaining)``;
    - ``exclusive``: ``benefit`` when nobody paid before, else 0.

    ``remaining = medical_total - prior`` is never negative here: the ledger refuses prior
    payments above the total before calling the engine.
    """
    remaining = max(ZERO, medical_total - prior)
    if mode == "repeat_capped":
        fund = min(benefit_after_cap, remaining)
    elif mode == "gap_fill":
        fund = min(max(ZERO, benefit_after_cap - prior), remaining)
    else:
        fund = min(benefit_after_cap, remaining) if prior == 0 else ZERO
    return Coordinated(fund, benefit_after_cap - fund, medical_total - prior - fund)


def check_prior(prior: Decimal, medical_total: Decimal) -> None:
    """Earlier payments (with the external ones declared now) never exceed the bill's total."""
    if prior > medical_total:
        raise ValidationFailed(
            [
                FieldError(
                    ("external_payments",), f"earlier payments {prior} would exceed the bill's total {medical_total}"
                )
            ],
        )
