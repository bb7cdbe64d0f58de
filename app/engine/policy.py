"""Where the care happened, the deductible, the ratio bands and the annual cap (rules 3-6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from app.engine.money import ONE, ZERO, round_money
from app.engine.types import BandResult, Deductible, Offsite, Registration, SettingPolicy


def offsite_of(hospital_region: str, pooling_region: str) -> Offsite:
    """Same prefecture: local; same province: in_province; else out_of_province."""
    if hospital_region[:4] == pooling_region[:4]:
        return "local"
    if hospital_region[:2] == pooling_region[:2]:
        return "in_province"
    return "out_of_province"


def region_prefix(container: str) -> str:
    """What the regions a region contains start with: ``51`` for ``510000``, ``5116`` for
    ``511600``, ``511623`` for ``511623``."""
    if container.endswith("0000"):
        return container[:2]
    if container.endswith("00"):
        return container[:4]
    return container


def region_contains(container: str, region: str) -> bool:
    """``510000`` contains every ``51xxxx``, ``511600`` every ``5116xx``, ``511623`` itself."""
    return len(region) == len(container) and region.startswith(region_prefix(container))


def is_registered(registrations: Sequence[Registration], *, hospital_region: str, admission: date) -> bool:
    return any(r.covers(admission) and region_contains(r.destination_region, hospital_region) for r in registrations)


def deductible_amount(
    rule: Deductible, *, level: int, offsite: Offsite, in_scope: Decimal, already_paid: Decimal
) -> Decimal:
    """``min(in_scope, threshold)`` where the threshold depends on the basis.

    ``per_admission``: the level's amount, from ``offsite_by_level`` when off-site and given.
    ``per_year``: the year's amount less what the person already paid toward it.
    """
    if rule.basis == "per_admission":
        table = rule.by_level
        if offsite != "local" and rule.offsite_by_level:
            table = rule.offsite_by_level
        threshold = table.get(level, ZERO)
    else:
        threshold = max(ZERO, (rule.amount or ZERO) - already_paid)
    return min(in_scope, threshold)


def apply_bands(section: SettingPolicy, *, base: Decimal, level: int, delta: Decimal) -> tuple[BandResult, ...]:
    """Cut ``base`` at the band limits; each band pays ``round(part x ratio)``.

    Band k covers ``[up_to(k-1), up_to(k))``.  The ratio is the band's ratio for the level plus
    the off-site delta, clamped to [0, 1].  Only bands the base reaches are listed (a base of
    0 lists none).
    """
    results = []
    lower = ZERO
    for band in section.bands:
        if base <= lower:
            break
        upper = band.up_to
        top = base if upper is None else min(base, upper)
        part = top - lower
        ratio = min(ONE, max(Decimal(0), band.ratio_by_level.get(level, Decimal(0)) + delta))
        results.append(BandResult(lower, upper, ratio, part, round_money(part * ratio)))
        if upper is None:
            break
        lower = upper
    return tuple(results)


def cap_benefit(computed: Decimal, *, annual_cap: Decimal, fund_paid: Decimal) -> Decimal:
    return max(ZERO, min(computed, annual_cap - fund_paid))


def cap_remaining(annual_cap: Decimal, *, fund_paid: Decimal, fund_payment: Decimal) -> Decimal:
    """v3.2: the annual cap less what counts toward it, this payment included (never below 0.00)."""
    return max(ZERO, annual_cap - fund_paid - fund_payment)
