"""What the clients were told about receivables, checked against the database (v3.3).

The stress, crash and fault tests record every answer; :func:`tests.stress.harness.verify` calls
:func:`check` for the recoveries and write-offs among them:

- every recovery acknowledged (201) is stored, on its receivable, for its amount, and exactly
  once: its ``reference`` is unique to the request (one per planned job, resends included), so a
  second recovery made by a resend of the same key would show as a second row with it;
- every write-off acknowledged (200) is stored: the receivable has what the answer said written
  off, with its reason (it may have been cancelled since by its settlement's reversal, which keeps
  the write-off on record);
- with ``complete`` (no request left without an outcome), nothing else: no recovery and no
  write-off that no client was told about, except one whose own answer was lost (no answer, or a
  503 "outcome unknown") and that has no ``Idempotency-Key`` to be resent with.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.receivable_tables import Receivable, Recovery
from app.errors import OutcomeUnknown

if TYPE_CHECKING:
    from tests.stress.harness import Answer, Call


def receivable_of(call: Call) -> str:
    """The receivable a recovery or a write-off is sent to (``/v1/receivables/{id}/...``)."""
    return call.path.split("/")[3]


def recovery_in(a: Answer) -> dict[str, Any] | None:
    """The recovery a 201 answer to a recovery made: the one with the request's reference."""
    if a.call.op != "recover" or a.status != 201 or not isinstance(a.body, dict):
        return None
    reference = a.call.body["reference"]
    found = [r for r in a.body.get("recoveries", ()) if r.get("reference") == reference]
    return found[0] if len(found) == 1 else None


def maybe_done(a: Answer) -> bool:
    """The client cannot know whether the request was carried out: no answer, or a commit cut off."""
    return a.status is None or (
        a.status == 503 and isinstance(a.body, dict) and a.body.get("title") == OutcomeUnknown.title
    )


def check(session: Session, answers: Iterable[Answer], *, complete: bool) -> tuple[int, list[str]]:
    """(checks, violations) of the acknowledged recoveries and write-offs in ``answers``."""
    answers = [a for a in answers if a.call.op in ("recover", "write_off")]
    recoveries = {
        rid: (receivable_id, amount, reference)
        for rid, receivable_id, amount, reference in session.execute(
            select(col(Recovery.id), col(Recovery.receivable_id), col(Recovery.amount), col(Recovery.reference))
        )
    }
    by_reference: dict[str, list[str]] = {}
    for rid, (_receivable, _amount, reference) in recoveries.items():
        by_reference.setdefault(reference, []).append(rid)
    r = Receivable
    receivables = {
        rid: (status, written_off, reason)
        for rid, status, written_off, reason in session.execute(
            select(col(r.id), col(r.status), col(r.written_off), col(r.write_off_reason))
        )
    }
    checks, violations = 0, []
    acked_recoveries: set[str] = set()
    acked_write_offs: set[str] = set()
    unknown_recovery_refs: set[str] = set()
    unknown_write_offs: set[str] = set()
    for a in answers:
        target = receivable_of(a.call)
        if a.call.op == "recover":
            if maybe_done(a) and a.call.key is None:
                unknown_recovery_refs.add(a.call.body["reference"])
            if a.status != 201:
                continue
            checks += 1
            made = recovery_in(a)
            if made is None:
                violations.append(f"recovery {a.call.key} on {target}: its 201 answer names no recovery of its own")
                continue
            rid = str(made["recovery_id"])
            acked_recoveries.add(rid)
            stored = recoveries.get(rid)
            if stored is None:
                violations.append(f"recovery {rid} on {target} was acknowledged (201) but is not in the database")
            elif stored[0] != target or stored[1] != Decimal(made["amount"]):
                told = f"acknowledged on {target} for {made['amount']}"
                violations.append(f"recovery {rid} is stored as {stored[:2]}, {told}")
            n = len(by_reference.get(made["reference"], ()))
            if n != 1:
                violations.append(f"recovery {rid} ({a.call.key}): {n} recoveries with its reference, not one")
        else:
            if maybe_done(a):
                unknown_write_offs.add(target)
            if a.status != 200 or not isinstance(a.body, dict):
                continue
            checks += 1
            acked_write_offs.add(target)
            status, written_off, reason = receivables.get(target, (None, None, None))
            said = (Decimal(a.body["written_off"]), a.body["write_off_reason"])
            if status not in ("written_off", "cancelled") or (written_off, reason) != said:
                violations.append(
                    f"write-off of {target} was acknowledged ({said[0]}) but the receivable is {status}"
                    f" with {written_off} written off"
                )
    if complete:
        for rid, (receivable_id, _amount, reference) in sorted(recoveries.items()):
            checks += 1
            if rid not in acked_recoveries and reference not in unknown_recovery_refs:
                violations.append(f"recovery {rid} on {receivable_id} in the database was never acknowledged")
        for receivable_id, (status, written_off, _reason) in sorted(receivables.items()):
            checks += 1
            if written_off > 0 and receivable_id not in acked_write_offs | unknown_write_offs:
                violations.append(f"receivable {receivable_id} ({status}) has {written_off} written off unacknowledged")
    return checks, violations
