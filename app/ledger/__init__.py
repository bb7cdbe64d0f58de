"""The ledger: money movements on a locked bill, each module one job.

- ``work``: the ledger's unit of work (a write transaction with what it locked and read);
- ``lock_order``: the fixed locking order, and a claim's locks taken up front;
- ``bill_state``: the bill under lock (its row, engine form, active payments);
- ``references``: the reference rows read once per transaction, unused ones locked;
- ``mark_ahead`` and ``used_hint``: a claim's reference rows marked used before its transaction;
- ``accumulators``: the person's and employers' yearly totals, locked or created, moved, saved;
- ``inputs``: the engine's inputs from what the transaction holds (parsed policies, catalogs);
- ``conversions``: stored rows in the engine's form;
- ``settle``, ``reverse``: the two money movements; ``statements``: their Core statements;
- ``records``: the settlement as a typed record; ``detail``: its stored detail;
- ``split``: the split sheet; ``reads``: settlements read outside a write;
- ``invariants``: the checks of the ledger's invariants.
"""
