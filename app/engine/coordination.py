"""Coordination with the bill's earlier payers (rule 7)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.engine.money import ZERO
from app.engine.policy import cap_benefit
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


@dataclass(frozen=True, slots=True)
class Paid:
    """Steps 6 and 7: the benefit after the annual cap, and the coordinated payment."""

    benefit_after_cap: Decimal
    coordinated: Coordinated


def cap_and_coordinate(
    mode: Coordination,
    *,
    computed: Decimal,
    annual_cap: Decimal,
    fund_paid: Decimal,
    prior: Decimal,
    medical_total: Decimal,
) -> Paid:
    """v1 steps 6 and 7, shared by the schemes and the tiers (v2.3 step 4)."""
    after_cap = cap_benefit(computed, annual_cap=annual_cap, fund_paid=fund_paid)
    check_prior(prior, medical_total)
    return Paid(after_cap, coordinate(mode, benefit_after_cap=after_cap, medical_total=medical_total, prior=prior))
