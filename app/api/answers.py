"""What the writes of bills and settlements answer: a status and a body, from the use case's
result.  The API alone decides statuses; the bodies come from the renderers beside the
``*Public`` models.  These are the ``render`` callables the write entry points take
(:mod:`app.services.claims`); the desk answers its settlements and reversals with them too, so a
key's stored answer is the same whichever interface carried it out."""

from __future__ import annotations

from app.ledger.records import SettlementRecord
from app.schemas.public import bill_public, split_public
from app.schemas.settlements import settlement_public
from app.services.bills import Submitted
from app.services.claims import Claimed, Settled
from app.services.idempotency import Reply


def bill_reply(submitted: Submitted) -> Reply:
    """201 with the new bill; 200 with the bill as first submitted."""
    return Reply(201 if submitted.created else 200, bill_public(submitted.bill))


def settlement_reply(settled: Settled) -> Reply:
    """201 with the settlement; a dry run 200 with its preview."""
    return Reply(200 if settled.preview else 201, settlement_public(settled.record, preview=settled.preview))


def reversal_reply(record: SettlementRecord) -> Reply:
    """200 with the reversed settlement."""
    return Reply(200, settlement_public(record))


def claim_reply(claimed: Claimed) -> Reply:
    """201 with the bill, its settlements and the split sheet; a dry run 200 with the previews."""
    body = {
        "bill": bill_public(claimed.bill),
        "settlements": [settlement_public(r, preview=claimed.preview) for r in claimed.settlements],
        "split": split_public(claimed.bill, claimed.payments),
    }
    return Reply(200 if claimed.preview else 201, body)
