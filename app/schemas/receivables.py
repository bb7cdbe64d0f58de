"""A fund's receivables (v3.3): the recovery and write-off requests, the receivable's response
and its renderer :func:`receivable_public`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field

from app.engine import types as t
from app.engine.receivables import ReceivableStatus
from app.ledger.receivables import ReceivableRecord
from app.schemas.common import NO_NUL, In, InstantOut, IsoDate, MoneyIn, MoneyOut, Name, Out, json_body
from app.schemas.settlements import LiablePublic


class RecoveryCreate(In):
    amount: MoneyIn = Field(description="More than 0.00 and at most what is outstanding.")
    received_on: IsoDate = Field(description="The day the money was received.")
    reference: Name = Field(description="The payment's reference, e.g. a bank transfer's or a court order's number.")


class WriteOffCreate(In):
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)] = Field(
        description="Why what is outstanding will not be recovered."
    )


class RecoveryPublic(Out):
    recovery_id: str
    amount: MoneyOut
    received_on: date
    reference: str
    created_at: InstantOut


class ReceivablePublic(Out):
    receivable_id: str
    settlement_id: str
    bill_id: str
    scheme_code: str
    reason: t.AdvanceReason
    liable: LiablePublic
    amount: MoneyOut
    recovered: MoneyOut
    written_off: MoneyOut
    outstanding: MoneyOut
    status: ReceivableStatus
    recoveries: list[RecoveryPublic]
    write_off_reason: str | None
    created_at: InstantOut


class ReceivablePage(Out):
    items: list[ReceivablePublic]
    next_cursor: str | None


def receivable_public(r: ReceivableRecord) -> dict[str, Any]:
    """The response body of a receivable, with its recoveries in the order they were recorded."""
    return json_body(
        ReceivablePublic(
            receivable_id=r.id,
            settlement_id=r.settlement_id,
            bill_id=r.bill_id,
            scheme_code=r.scheme_code,
            reason=r.reason,
            liable=LiablePublic(kind=r.liable_kind, code=r.liable_code, name=r.liable_name),
            amount=r.amount,
            recovered=r.recovered,
            written_off=r.written_off,
            outstanding=r.outstanding,
            status=r.status,
            recoveries=[
                RecoveryPublic(
                    recovery_id=x.id,
                    amount=x.amount,
                    received_on=x.received_on,
                    reference=x.reference,
                    created_at=x.created_at,
                )
                for x in r.recoveries
            ],
            write_off_reason=r.write_off_reason,
            created_at=r.created_at,
        )
    )
