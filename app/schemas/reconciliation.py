"""``POST /v1/reconciliation/checks`` (api.md v3): the hospital's own figures for a span of days,
and the answer comparing them with ours (:func:`check_public`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema

from app.engine import reconciliation as rules
from app.engine.money import MONEY_MAX, is_money
from app.schemas.common import NO_NUL, Code, DecimalForm, In, IsoDate, Lax, MoneyIn, MoneyOut, Out, json_body

#: Netted totals are negative when reversals outweigh settlements: a signed amount of money.
SIGNED_MONEY_PATTERN = r"^-?0*[0-9]{1,14}(\.[0-9]{1,2}0*)?$"


def _signed_money(value: Decimal) -> Decimal:
    if not is_money(value) or abs(value) > MONEY_MAX:
        raise ValueError(f"must be an amount of money with at most two decimals, at most {MONEY_MAX} either way")
    return value


SignedMoneyIn = Annotated[
    Decimal,
    Lax,
    DecimalForm,
    AfterValidator(_signed_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": SIGNED_MONEY_PATTERN},
                {"type": "number", "minimum": -float(MONEY_MAX), "maximum": float(MONEY_MAX), "multipleOf": 0.01},
            ],
            "examples": ["1234.50"],
        }
    ),
]
Status = Literal["settled", "reversed"]


class TotalsIn(In):
    settlements: int = Field(ge=0, le=10_000_000)
    reversals: int = Field(ge=0, le=10_000_000)
    medical_total: SignedMoneyIn
    fund_payment: SignedMoneyIn

    def to_engine(self) -> rules.Totals:
        return rules.Totals(self.settlements, self.reversals, self.medical_total, self.fund_payment)


class ListedIn(In):
    settlement_id: Annotated[str, Field(min_length=1, max_length=36, pattern=NO_NUL)]
    status: Status
    fund_payment: MoneyIn

    def to_engine(self) -> rules.Listed:
        return rules.Listed(self.settlement_id, self.status, self.fund_payment)


class ReconciliationCheckCreate(In):
    hospital_code: Code
    from_: IsoDate = Field(alias="from")
    to: IsoDate = Field(description="Included; at most 31 days after from, counting both.")
    scheme_code: Code | None = None
    totals: TotalsIn
    settlements: list[ListedIn] | None = Field(None, max_length=20_000)


class TotalsPublic(Out):
    settlements: int
    reversals: int
    medical_total: MoneyOut
    fund_payment: MoneyOut


class ListedPublic(Out):
    status: Status
    fund_payment: MoneyOut


class DifferencePublic(Out):
    settlement_id: str
    problem: rules.Problem
    ours: ListedPublic | None
    theirs: ListedPublic | None


class ReconciliationCheckPublic(Out):
    hospital_code: str
    from_: date = Field(alias="from")
    to: date
    scheme_code: str | None
    result: Literal["match", "mismatch"]
    ours: TotalsPublic
    theirs: TotalsPublic
    differences: list[DifferencePublic]


def _totals(t: rules.Totals) -> TotalsPublic:
    return TotalsPublic(
        settlements=t.settlements, reversals=t.reversals, medical_total=t.medical_total, fund_payment=t.fund_payment
    )


def _listed(entry: rules.Listed | None) -> ListedPublic | None:
    return None if entry is None else ListedPublic(status=entry.status, fund_payment=entry.fund_payment)


def check_public(body: ReconciliationCheckCreate, result: rules.CheckResult) -> dict[str, Any]:
    return json_body(
        ReconciliationCheckPublic(
            hospital_code=body.hospital_code,
            from_=body.from_,
            to=body.to,
            scheme_code=body.scheme_code,
            result="match" if result.match else "mismatch",
            ours=_totals(result.ours),
            theirs=_totals(result.theirs),
            differences=[
                DifferencePublic(
                    settlement_id=d.settlement_id, problem=d.problem, ours=_listed(d.ours), theirs=_listed(d.theirs)
                )
                for d in result.differences
            ],
        )
    )
