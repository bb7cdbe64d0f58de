"""What the writes of bills and settlements answer: a status and a body, from the use case's
result.  The API alone decides statuses; the bodies come from the renderers beside the
``*Public`` models.  These are the ``render`` callables of :func:`app.services.idempotency.answer`
(the desk stores its settlements' and reversals' answers with them too)."""

from __future__ import annotations

from typing import Any

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
    return Reply(200 if settled.preview else 201, settlement_public(settled.row, preview=settled.preview))


def reversal_reply(row: dict[str, Any]) -> Reply:
    """200 with the reversed settlement."""
    return Reply(200, settlement_public(row))


def claim_reply(claimed: Claimed) -> Reply:
    """201 with the bill, its settlements and the split sheet; a dry run 200 with the previews."""
    body = {
        "bill": bill_public(claimed.bill),
        "settlements": [settlement_public(row, preview=claimed.preview) for row in claimed.settlements],
        "split": split_public(claimed.bill, claimed.payments),
    }
    return Reply(200 if claimed.preview else 201, body)
