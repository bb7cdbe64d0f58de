"""The scheme office desk: server-rendered pages under ``/desk`` for the people who settle
returned vouchers (scheme office clerks) and reconcile (hospital billing clerks).

Every step that moves money is a plain HTML form (no script needed); the pages load nothing
from outside the service.  The desk calls the service layer (``app.services``,
``app.ledger``) directly, in the same transactions as the API, never HTTP to itself.
"""
