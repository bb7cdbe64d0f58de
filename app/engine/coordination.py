"""Coordination with the bill's earlier payers (rule 7)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.engine.money import ZERO
from app.engine.policy import cap_benefit, cap_remaining
from app.engine.types import Coordination, ExternalPayment
from app.errors import FieldError, ValidationFailed


@dataclass(frozen=True, slots=True)
class Coordinated:
    fund_payment: Decimal
    coordination_reduction: Decimal
    patient_responsibility: Decimal


def coordinate(
    mode: Coordination,
    *,
    benefit_after_cap: Decimal,
    medical_total: Decimal,
    prior: Decimal,
    same_part_prior: Decimal | None = None,
) -> Coordinated:
    """Apply the scheme's coordination mode.

    - ``repeat_capped``: ``min(benefit, remaining)``;
    - ``gap_fill``: ``min(max(0, benefit - prior), remaining)``;
    - ``exclusive``: ``benefit`` (within ``remaining``) when nobody paid before, else 0.

    On a mixed bill (v3.1) ``gap_fill`` and ``exclusive`` ask what was paid for the same care:
    ``same_part_prior`` then stands for ``prior`` in them (None: the whole ``prior``).
    ``remaining = medical_total - prior`` counts every payment whatever its part, and is never
    negative here: the ledger refuses prior payments above the total before calling the engine.
    """
    remaining = max(ZERO, medical_total - prior)
    same_care = prior if same_part_prior is None else same_part_prior
    if mode == "repeat_capped":
        fund = min(benefit_after_cap, remaining)
    elif mode == "gap_fill":
        fund = min(max(ZERO, benefit_after_cap - same_care), remaining)
    else:
        fund = min(benefit_after_cap, remaining) if same_care == 0 else ZERO
    return Coordinated(fund, benefit_after_cap - fund, medical_total - prior - fund)


def check_prior(
    prior: Decimal,
    medical_total: Decimal,
    *,
    external: Sequence[ExternalPayment] = (),
    recorded_vouchers: Collection[str] = (),
) -> None:
    """The bill's earlier payments (``prior``, with the ``external`` ones declared now) never exceed
    its total, and a voucher is recorded on a bill once (none of ``recorded_vouchers``, none twice).

    Refused with ``validation``, every problem at once, located in the request that declares the
    external payments.  The ledger calls this with the figures it loaded under the bill's lock,
    before it loads the rest (the order of problems in ``docs/contract.md``); the engine checks ``prior`` again.
    """
    errors: list[FieldError] = []
    seen = set(recorded_vouchers)
    for i, ext in enumerate(external):
        if ext.voucher_no in seen:
            errors.append(
                FieldError(
                    ("external_payments", i, "voucher_no"), f"voucher {ext.voucher_no} is already recorded on this bill"
                )
            )
        seen.add(ext.voucher_no)
    if prior > medical_total:
        errors.append(
            FieldError(
                ("external_payments",),
                f"with these external payments the bill's earlier payments ({prior}) would exceed its total "
                f"({medical_total})",
            )
        )
    if errors:
        raise ValidationFailed(errors)


@dataclass(frozen=True, slots=True)
class Paid:
    """Steps 6 and 7: the benefit after the annual cap, and the coordinated payment."""

    benefit_after_cap: Decimal
    coordinated: Coordinated
    #: v3.2: what is left of the annual cap after this payment.
    cap_remaining: Decimal


def cap_and_coordinate(
    mode: Coordination,
    *,
    computed: Decimal,
    annual_cap: Decimal,
    fund_paid: Decimal,
    prior: Decimal,
    medical_total: Decimal,
    same_part_prior: Decimal | None = None,
) -> Paid:
    """v1 steps 6 and 7, shared by the schemes and the tiers (v2.3 step 4, v3.2 step 3)."""
    after_cap = cap_benefit(computed, annual_cap=annual_cap, fund_paid=fund_paid)
    check_prior(prior, medical_total)
    if same_part_prior is not None and not ZERO <= same_part_prior <= prior:
        raise ValueError(f"the same part's prior payments ({same_part_prior}) are not part of the prior ({prior})")
    c = coordinate(
        mode, benefit_after_cap=after_cap, medical_total=medical_total, prior=prior, same_part_prior=same_part_prior
    )
    return Paid(after_cap, c, cap_remaining(annual_cap, fund_paid=fund_paid, fund_payment=c.fund_payment))
