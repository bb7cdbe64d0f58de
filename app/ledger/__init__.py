"""The ledger: settle, reverse, idempotency and locking.  Every write transaction is here.

- ``tx``: the transaction boundary (BEGIN IMMEDIATE on SQLite, row locks on PostgreSQL,
  bounded retries on lock conflicts, 503 ``busy`` past the bound);
- ``locks``: the fixed locking order (bill, then accumulators in scheme order);
- ``loading``: what the engine needs, in a bounded number of queries;
- ``settlements``: settle, reverse, the split sheet, claims;
- ``idempotency``: replay of the first response per client and key.
"""
