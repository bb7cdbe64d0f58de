"""The use cases.  The ledger's writes go through one entry point (``writes.run_write``, called by
the entries of ``claims``); the others take keyword-only arguments and run inside a transaction
their caller opened (``app.db.tx.write_transaction``, handing its unit of work) or a read session."""
