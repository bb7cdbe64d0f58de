"""The national medical security platform's interface for hospital systems (``nhsa.md``):
``POST /fsi/api/rsfComIfsService/callService``, its envelope, its transactions mapped onto the
visits' use cases (:mod:`app.services.visits`, :mod:`app.services.visit_settlements`,
:mod:`app.services.visit_reconciliation`), and its answers, numbers written as the platform writes
them.  It sits between the HTTP API (which authenticates and reads the body) and the services."""
