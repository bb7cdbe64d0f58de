"""Services for reference data and bills.  Each takes keyword-only arguments and runs inside
a transaction its caller opened (``app.db.tx.write_transaction``) or a read session."""
