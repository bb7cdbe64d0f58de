"""A reconciliation check against a hospital's own figures (``settlement-rules.md`` v3.4), pure.

Ours are the daily reconciliation's figures over a span of days, by its netting rule: a fund
settlement counts (+1, its amounts) on the UTC day it was made, a reversal (+1 reversal, the
settlement's amounts negated) on the day *it* was made, whatever happened before or after the
span.  The ledger reads the movements of the span; this module nets them, compares them with the
hospital's totals, and compares the hospital's list of settlements with ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from app.engine.money import ZERO
from app.errors import FieldError, Loc, ValidationFailed

#: The longest span one check covers, both ends included.
MAX_SPAN_DAYS = 31

SettlementStatus = Literal["settled", "reversed"]
Problem = Literal["missing_here", "missing_there", "status", "amount"]


@dataclass(frozen=True, slots=True)
class Totals:
    settlements: int = 0
    reversals: int = 0
    medical_total: Decimal = ZERO
    fund_payment: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Movement:
    """A fund settlement made in the span (``reversal=False``) or a reversal made in it, with the
    reversed settlement's amounts (as stored, not negated)."""

    reversal: bool
    medical_total: Decimal
    fund_payment: Decimal


@dataclass(frozen=True, slots=True)
class Listed:
    """A settlement in a list: ours (its status now) or the hospital's."""

    settlement_id: str
    status: SettlementStatus
    fund_payment: Decimal


@dataclass(frozen=True, slots=True)
class Difference:
    settlement_id: str
    problem: Problem
    ours: Listed | None
    theirs: Listed | None


@dataclass(frozen=True, slots=True)
class CheckResult:
    ours: Totals
    theirs: Totals
    differences: tuple[Difference, ...]

    @property
    def match(self) -> bool:
        return self.ours == self.theirs and not self.differences


def span_errors(start: date, end: date, loc: Loc = ()) -> list[FieldError]:
    """``to`` not before ``from``, and at most :data:`MAX_SPAN_DAYS` days, both included."""
    if end < start:
        return [FieldError((*loc, "to"), f"to ({end.isoformat()}) is before from ({start.isoformat()})")]
    days = (end - start).days + 1
    if days > MAX_SPAN_DAYS:
        return [FieldError((*loc, "to"), f"a check covers at most {MAX_SPAN_DAYS} days ({days} asked)")]
    return []


def net_totals(movements: Iterable[Movement]) -> Totals:
    """The daily reconciliation's netting over the span's movements."""
    settlements = reversals = 0
    medical_total = fund_payment = ZERO
    for m in movements:
        if m.reversal:
            reversals += 1
            medical_total -= m.medical_total
            fund_payment -= m.fund_payment
        else:
            settlements += 1
            medical_total += m.medical_total
            fund_payment += m.fund_payment
    return Totals(settlements, reversals, medical_total, fund_payment)


def listed_errors(theirs: Sequence[Listed], loc: Loc = ("settlements",)) -> list[FieldError]:
    """A settlement is listed once: a second entry for it could not be compared."""
    errors = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(theirs):
        first = seen.setdefault(entry.settlement_id, i)
        if first != i:
            errors.append(
                FieldError(
                    (*loc, i, "settlement_id"), f"settlement {entry.settlement_id} is listed twice (also {first})"
                )
            )
    return errors


def compare_lists(ours: Sequence[Listed], theirs: Sequence[Listed]) -> tuple[Difference, ...]:
    """Each settlement that differs, by ``settlement_id``: ``missing_here`` (theirs lists one ours
    does not hold, or one the hospital may not read: the ledger leaves those out of ``ours``),
    ``missing_there``, else ``status``, else ``amount``: one difference per settlement, so a
    settlement whose status differs is not also reported for its amount."""
    by_id = {o.settlement_id: o for o in ours}
    their_ids = {t.settlement_id: t for t in theirs}
    differences = []
    for sid in sorted(by_id.keys() | their_ids.keys()):
        o, t = by_id.get(sid), their_ids.get(sid)
        if o is None:
            differences.append(Difference(sid, "missing_here", None, t))
        elif t is None:
            differences.append(Difference(sid, "missing_there", o, None))
        elif o.status != t.status:
            differences.append(Difference(sid, "status", o, t))
        elif o.fund_payment != t.fund_payment:
            differences.append(Difference(sid, "amount", o, t))
    return tuple(differences)


def check(
    movements: Iterable[Movement],
    theirs: Totals,
    *,
    ours_listed: Sequence[Listed] = (),
    theirs_listed: Sequence[Listed] | None = None,
) -> CheckResult:
    """Our totals against theirs and, when the hospital sent its list, the lists; ``validation``
    when its list names a settlement twice."""
    differences: tuple[Difference, ...] = ()
    if theirs_listed is not None:
        errors = listed_errors(theirs_listed)
        if errors:
            raise ValidationFailed(errors)
        differences = compare_lists(ours_listed, theirs_listed)
    return CheckResult(net_totals(movements), theirs, differences)
