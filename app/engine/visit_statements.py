"""The reconciliation of the national platform's interface (``nhsa.md``, 3201 and 3202), pure:
a hospital's totals of a route's settlements against ours, and its list of visit settlements
against ours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal

from app.engine.money import ZERO
from app.engine.reconciliation import Totals
from app.errors import FieldError, Loc


@dataclass(frozen=True, slots=True)
class StatementTotals:
    """``fixmedins_setl_cnt`` (the basic scheme's settlements less its reversals),
    ``medfee_sumamt`` (its medical totals, netted) and ``fund_pay_sumamt`` (every route scheme's
    fund payments, netted)."""

    fixmedins_setl_cnt: int
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal


def route_totals(basic: Totals, schemes: Sequence[Totals]) -> StatementTotals:
    """Ours, from the daily reconciliation's netting of each of the route's schemes (the basic
    one first)."""
    return StatementTotals(
        basic.settlements - basic.reversals,
        basic.medical_total,
        sum((s.fund_payment for s in schemes), ZERO),
    )


@dataclass(frozen=True, slots=True)
class StatementRow:
    """A visit settlement in a list: ours or the hospital's."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    refd_setl_flag: str


@dataclass(frozen=True, slots=True)
class RowDifference:
    setl_id: str
    memo: str


@dataclass(frozen=True, slots=True)
class Statement:
    ours: StatementTotals
    theirs: StatementTotals
    #: A detail reconciliation (3202): the visit settlements that differ.
    detailed: bool = False
    differences: tuple[RowDifference, ...] = ()

    @property
    def match(self) -> bool:
        return self.ours == self.theirs and not self.differences

    def description(self) -> str:
        """``stmt_rslt_dscr``: what differs, or that nothing does."""
        parts = [
            f"{f.name} {getattr(self.ours, f.name)} here, {getattr(self.theirs, f.name)} there"
            for f in fields(StatementTotals)
            if getattr(self.ours, f.name) != getattr(self.theirs, f.name)
        ]
        if self.differences:
            parts.append(f"{len(self.differences)} settlement(s) differ")
        if parts:
            return "; ".join(parts)
        return "the totals and every settlement match" if self.detailed else "the totals match"


def row_errors(rows: Sequence[StatementRow], loc: Loc = ("data", "detail")) -> list[FieldError]:
    """A settlement is listed once."""
    seen: dict[str, int] = {}
    return [
        FieldError((*loc, i, "setl_id"), f"settlement {row.setl_id} is listed twice (also {seen[row.setl_id]})")
        for i, row in enumerate(rows)
        if seen.setdefault(row.setl_id, i) != i
    ]


_COMPARED = ("mdtrt_id", "psn_no", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "refd_setl_flag")


def compare_rows(ours: Sequence[StatementRow], theirs: Sequence[StatementRow]) -> tuple[RowDifference, ...]:
    """Each visit settlement missing on either side, or with a field that differs, by ``setl_id``."""
    mine = {r.setl_id: r for r in ours}
    yours = {r.setl_id: r for r in theirs}
    differences = []
    for sid in sorted(mine.keys() | yours.keys()):
        o, t = mine.get(sid), yours.get(sid)
        if o is None:
            differences.append(RowDifference(sid, "missing here: no such settlement of this hospital in the span"))
        elif t is None:
            differences.append(RowDifference(sid, "missing there: settled here in the span"))
        else:
            differ = [
                f"{n} {getattr(o, n)} here, {getattr(t, n)} there" for n in _COMPARED if getattr(o, n) != getattr(t, n)
            ]
            if differ:
                differences.append(RowDifference(sid, "; ".join(differ)))
    return tuple(differences)
