"""Response shapes of the clearing statement and the hospital reconciliation (for OpenAPI).

The handlers build plain dicts (``app.services.reports``); these models document them.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from app.schemas.common import MoneyOut, Out


class ReportTotals(Out):
    """The sums over every row of the report (computed by the database, like the rows)."""

    settlements: int = Field(ge=0, description="Settlements made in the period.")
    reversals: int = Field(ge=0, description="Reversals made in the period.")
    medical_total: MoneyOut = Field(description="Settlements' medical totals minus reversed ones (net).")
    fund_payment: MoneyOut = Field(description="Settlements' fund payments minus reversed ones (net).")


class ClearingRow(Out):
    scheme_code: str
    insuring_region: str
    treatment_region: str
    settlements: int = Field(ge=0, description="Settlements made in the month (reversed later or not).")
    reversals: int = Field(ge=0, description="Reversals made in the month (of settlements of any month).")
    medical_total: MoneyOut = Field(description="Net: settlements made in the month minus reversals made in it.")
    fund_payment: MoneyOut = Field(description="Net: settlements made in the month minus reversals made in it.")


class ClearingPublic(Out):
    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])
    rows: list[ClearingRow] = Field(
        description="One row per (scheme, insuring region, treatment region) with activity in the month, "
        "ordered by those three."
    )
    totals: ReportTotals


class ReconciliationRow(Out):
    scheme_code: str
    settlements: int = Field(ge=0, description="Settlements the hospital's bills got that day.")
    reversals: int = Field(ge=0, description="Reversals made that day (of settlements of any day).")
    medical_total: MoneyOut = Field(description="Net: settlements made that day minus reversals made that day.")
    fund_payment: MoneyOut = Field(description="Net: settlements made that day minus reversals made that day.")


class ReconciliationPublic(Out):
    hospital_code: str
    date: dt.date = Field(description="The UTC calendar day reconciled.")
    rows: list[ReconciliationRow] = Field(description="One row per scheme with activity that day, by scheme code.")
    totals: ReportTotals
