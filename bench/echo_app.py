"""The ceiling: a bare FastAPI app on the same uvicorn setup, no database, no middleware.

``POST /v1/bills/{bill_id}/settlements`` takes the settlement request body plus the bill
(``{"scheme_code": ..., "bill": <bill-1.json>}``), validates both with the service's own
request models (``SettlementCreate`` and ``BillCreate``) and returns them as JSON.  Like the
service's endpoint it is a sync function (run in the thread pool) answering with orjson.
Serve it with ``python -m uvicorn bench.echo_app:app --workers 2``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path

from app.api.responses import JSON, reply
from app.schemas.bills import BillCreate
from app.schemas.settlements import SettlementCreate

app = FastAPI(title="echo")


class EchoIn(SettlementCreate):
    """The settlement request body, plus the bill the real service would read from its database."""

    bill: dict[str, Any]


@app.get("/healthz")
def healthz() -> JSON:
    return reply(200, {"status": "ok"})


@app.post("/v1/bills/{bill_id}/settlements", status_code=201)
def echo(
    bill_id: Annotated[str, Path(min_length=1, max_length=36)],
    body: EchoIn,
) -> JSON:
    bill = BillCreate.model_validate(body.bill)
    settlement = body.model_dump(mode="json", exclude={"bill"})
    return reply(201, {"bill_id": bill_id, "settlement": settlement, "bill": bill.model_dump(mode="json")})
