"""OpenAPI links and request examples: what a client (or schemathesis's stateful phase) does next.

Every operation that creates something links to the operations that take its id, with the id
taken from the response body (so the link proves the created object is reachable).  The examples
are the shipped sample (``app/sample``), so a client can try the documented calls in order on a
server loaded with ``python -m app load-sample``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from app.sample import SAMPLE_DIR


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI Link object: call ``operation_id`` with these runtime expressions."""
    return {"operationId": operation_id, "description": description, "parameters": parameters}


def with_links(response: dict[str, Any], links: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {**response, "links": links}


BILL_ID = "$response.body#/bill_id"
SETTLEMENT_ID = "$response.body#/settlement_id"


def bill_links(bill_id: str = BILL_ID) -> dict[str, dict[str, Any]]:
    """From anything that answers with a bill: read it, its split sheet, settle it."""
    return {
        "GetBill": link("getBill", "Read the bill.", bill_id=bill_id),
        "GetSplit": link("getSplit", "The bill's expense split sheet.", bill_id=bill_id),
        "CreateSettlement": link("createSettlement", "Settle the bill under a scheme.", bill_id=bill_id),
    }


def settlement_links(settlement_id: str = SETTLEMENT_ID) -> dict[str, dict[str, Any]]:
    """From a created settlement: read it, reverse it."""
    return {
        "GetSettlement": link("getSettlement", "Read the settlement.", settlement_id=settlement_id),
        "ReverseSettlement": link(
            "reverseSettlement", "Reverse it (while it is its bill's latest).", settlement_id=settlement_id
        ),
    }


@cache
def sample(name: str) -> Any:
    """A file of the shipped sample data, parsed."""
    return json.loads((SAMPLE_DIR / name).read_text(encoding="utf-8"))


def example(summary: str, value: Any) -> dict[str, dict[str, Any]]:
    """``openapi_examples`` with one named example."""
    return {"sample": {"summary": summary, "value": value}}
