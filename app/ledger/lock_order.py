"""The fixed locking order of the ledger.

Every write that moves money locks, in this order and nowhere else:

0. a visit's row (the national platform's interface, ``FOR UPDATE``,
   :func:`app.services.visit_state.lock_visit`): every transaction on a visit takes it first, so its
   fee lines change only one transaction at a time and never under its settlement, which then
   inserts (or, cancelling, locks) the visit's bill;
1. the bill's row (``SELECT ... FOR UPDATE``, :func:`app.ledger.bill_state.lock_bill`):
   serialises everything that touches one bill;
1b. a receivable's row (v3.3, ``FOR UPDATE``, :mod:`app.ledger.receivables`): the reversal of an
   advanced settlement takes it after the bill's, to cancel it; a recovery or a write-off takes
   only this row (no bill, no accumulator), so it cannot wait for anything while holding it.  A
   settlement opening a receivable inserts a new row and locks none;
2. the reference rows of each scheme it settles under, scheme by scheme in code order: the
   policy, then the catalog versions in id order, ``FOR NO KEY UPDATE`` while they are not yet
   marked used (:mod:`app.ledger.references`; a claim marks them used ahead, in a short
   transaction of its own that takes only these locks: :mod:`app.ledger.mark_ahead`);
3. the person/scheme/year accumulator rows (``year_total``: schemes' and tiers' alike), sorted by
   scheme code (each locked if it exists, else created with an insert that ignores a concurrent
   creator, then locked: :mod:`app.ledger.accumulators`);
4. the employers' accumulator rows (``employer_year_total``, v2.5), sorted by scheme code and
   employer code, in the same way.

A single settlement needs one scheme, a reversal only the bill, one accumulator and, for an
advance, its receivable.  A tier
(v2.3) reads its basis from the bill's settlements, which the bill's lock already protects,
and takes its own policy and ``year_total`` row like any scheme.  A claim settles several
schemes in the order it was given (the order matters for coordination), so it first takes the
locks of all of them in the order above (:func:`lock_for_settlements`).  Since every transaction
takes its locks in the same global order, two transactions cannot wait for each other in a cycle.
On SQLite ``BEGIN IMMEDIATE`` already serialises writers and the ``FOR`` clauses are no-ops.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.ledger.accumulators import lock_year_totals
from app.ledger.bill_state import engine_bill
from app.ledger.references import read_references
from app.ledger.rows import YearKey
from app.ledger.work import LedgerWork


def lock_for_settlements(work: LedgerWork, bill_id: str, scheme_codes: Iterable[str]) -> None:
    """Take every lock that settling the bill (already held) under these schemes needs, in the
    fixed order, before the first of them is settled.

    Without this, two claims naming the same person's schemes in different orders would lock
    the accumulators (and unused reference rows) in different orders and deadlock.  Rows of a
    scheme that does not exist, or has no policy, are simply not there to lock; the settlement
    itself then refuses the request, and the transaction is rolled back with what it created.
    """
    bill = engine_bill(work, bill_id)
    codes = sorted(set(scheme_codes))
    read_references(work, bill, codes)
    lock_year_totals(work, [YearKey(code, bill.patient_id_number, bill.policy_year) for code in codes])
