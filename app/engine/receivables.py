"""A fund's receivable on the party liable for what it advanced (``settlement-rules.md`` v3.3), pure.

A receivable is opened by an advanced settlement for its fund payment; it records recoveries
(each more than 0.00 and at most what is outstanding); what is left may be written off; the
settlement's reversal cancels it, and is refused once anything was recovered.  Each change is a
function from one frozen :class:`Receivable` to the next, refusing what the rules refuse; the
ledger stores the result under the receivable's lock, so two changes never start from one state.

``recovered`` is kept as the sum of the recoveries the ledger stored (an invariant it checks);
the status follows from the figures and is never stored apart from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from app.engine.money import ZERO
from app.engine.validate import money_errors
from app.errors import Conflict, FieldError, Loc, ValidationFailed

ReceivableStatus = Literal["open", "partly_recovered", "recovered", "written_off", "cancelled"]
RECEIVABLE_STATUSES: tuple[ReceivableStatus, ...] = (
    "open",
    "partly_recovered",
    "recovered",
    "written_off",
    "cancelled",
)


@dataclass(frozen=True, slots=True)
class Receivable:
    """What the liable party owes the fund: ``amount`` (the advanced fund payment), less what was
    recovered and what was written off."""

    amount: Decimal
    recovered: Decimal = ZERO
    written_off: Decimal = ZERO
    #: The settlement was reversed: nothing is owed any more.
    cancelled: bool = False

    @property
    def outstanding(self) -> Decimal:
        """What is still owed: nothing once cancelled or written off."""
        if self.cancelled:
            return ZERO
        return self.amount - self.recovered - self.written_off

    @property
    def status(self) -> ReceivableStatus:
        if self.cancelled:
            return "cancelled"
        if self.written_off > 0:
            return "written_off"
        if self.recovered == 0:
            return "open"
        return "recovered" if self.outstanding == 0 else "partly_recovered"


def open_receivable(fund_payment: Decimal) -> Receivable | None:
    """An advanced settlement opens a receivable for its fund payment; none for 0.00 (nothing was
    advanced).  A dry run calls nothing: it opens none."""
    return None if fund_payment == 0 else Receivable(fund_payment)


def recover(receivable: Receivable, amount: Decimal, loc: Loc = ("amount",)) -> Receivable:
    """Record a recovery of ``amount``: ``409`` on a written-off or cancelled receivable;
    ``validation`` (at ``loc``) unless it is money, more than 0.00 and at most what is outstanding
    (so a fully recovered receivable takes none)."""
    status = receivable.status
    if status in ("written_off", "cancelled"):
        raise Conflict(f"the receivable is {status.replace('_', ' ')}: it takes no recovery")
    errors = money_errors(amount, loc)
    if not errors:
        outstanding = receivable.outstanding
        if amount == 0:
            errors.append(FieldError(loc, "a recovery is more than 0.00"))
        elif amount > outstanding:
            errors.append(FieldError(loc, f"a recovery of {amount} is more than what is outstanding ({outstanding})"))
    if errors:
        raise ValidationFailed(errors)
    return replace(receivable, recovered=receivable.recovered + amount)


def write_off(receivable: Receivable, reason: str, loc: Loc = ("reason",)) -> Receivable:
    """Write off what is outstanding: ``409`` when it is cancelled or nothing is outstanding
    (recovered in full, or written off already); ``validation`` (at ``loc``) without a reason."""
    if receivable.cancelled:
        raise Conflict("the receivable is cancelled: there is nothing to write off")
    outstanding = receivable.outstanding
    if outstanding == 0:
        raise Conflict(f"nothing is outstanding on the receivable ({receivable.status.replace('_', ' ')})")
    if not reason.strip():
        raise ValidationFailed([FieldError(loc, "a write-off gives its reason")])
    return replace(receivable, written_off=receivable.written_off + outstanding)


def cancel(receivable: Receivable) -> Receivable:
    """The advanced settlement's reversal cancels its receivable: refused (``409``) once anything
    was recovered, since the reversal would undo a payment the fund has been repaid for.  A
    receivable written off with nothing recovered is cancelled too; its write-off stays on record."""
    if receivable.cancelled:
        raise Conflict("the receivable is cancelled already")
    if receivable.recovered > 0:
        raise Conflict(
            f"{receivable.recovered} was recovered on the settlement's receivable: the advanced settlement "
            "can no longer be reversed"
        )
    return replace(receivable, cancelled=True)


def receivable_problems(receivable: Receivable) -> list[str]:
    """The v3 invariants a stored receivable must satisfy on its own (the ledger adds the ones
    across tables: ``recovered`` is the sum of its recoveries, one per advanced settlement)."""
    problems = []
    r = receivable
    if r.amount <= 0:
        problems.append(f"amount {r.amount} is not above 0.00")
    if r.recovered < 0 or r.written_off < 0:
        problems.append(f"recovered {r.recovered} or written off {r.written_off} is negative")
    if r.recovered + r.written_off > r.amount:
        problems.append(f"recovered {r.recovered} + written off {r.written_off} exceed the amount {r.amount}")
    if r.cancelled and r.recovered != 0:
        problems.append(f"cancelled with {r.recovered} recovered")
    return problems
