"""Response shapes of the clearing statement and the hospital reconciliation, the figures the
service computes for them, and their renderers (JSON and the clearing statement's CSV).

``app.services.reports`` returns the typed figures below (money as ``Decimal``, counts as
``int``, the day as a ``date``); the API and the desk render them with ``clearing_public``,
``clearing_csv`` and ``reconciliation_public``.  The figures live here, not in the service,
because the renderers beside the models read them and this layer is below the services.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field

from app.schemas.common import MoneyOut, Out, money

# --- the figures (what the service returns) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """The four figures of a report's row or of its totals (money with exactly two places)."""

    settlements: int
    reversals: int
    medical_total: Decimal
    fund_payment: Decimal


@dataclass(frozen=True, slots=True)
class ClearingLine:
    scheme_code: str
    insuring_region: str
    treatment_region: str
    figures: ReportFigures


@dataclass(frozen=True, slots=True)
class ClearingStatement:
    """One month's clearing statement: its rows (ordered by their three keys) and the totals."""

    period: str
    rows: tuple[ClearingLine, ...]
    totals: ReportFigures


@dataclass(frozen=True, slots=True)
class ReconciliationLine:
    scheme_code: str
    figures: ReportFigures


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One hospital's UTC day: its rows (one per scheme, by scheme code) and the totals."""

    hospital_code: str
    day: dt.date
    rows: tuple[ReconciliationLine, ...]
    totals: ReportFigures


# --- the response models ----------------------------------------------------------------------


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


# --- the renderers ----------------------------------------------------------------------------

#: The clearing statement's CSV columns, in order (its header line).
CLEARING_CSV_HEADER = (
    "scheme_code",
    "insuring_region",
    "treatment_region",
    "settlements",
    "reversals",
    "medical_total",
    "fund_payment",
)


def _figures_public(figures: ReportFigures) -> dict[str, Any]:
    return {
        "settlements": figures.settlements,
        "reversals": figures.reversals,
        "medical_total": money(figures.medical_total),
        "fund_payment": money(figures.fund_payment),
    }


def _clearing_row(line: ClearingLine) -> dict[str, Any]:
    return {
        "scheme_code": line.scheme_code,
        "insuring_region": line.insuring_region,
        "treatment_region": line.treatment_region,
        **_figures_public(line.figures),
    }


def clearing_public(statement: ClearingStatement) -> dict[str, Any]:
    """The body of :class:`ClearingPublic`."""
    return {
        "period": statement.period,
        "rows": [_clearing_row(line) for line in statement.rows],
        "totals": _figures_public(statement.totals),
    }


def clearing_csv(statement: ClearingStatement) -> str:
    """The same statement as CSV (RFC 4180, CRLF line ends): the header ``CLEARING_CSV_HEADER``
    and one line per row, money with two decimals.  The totals are not a line (sum the rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CLEARING_CSV_HEADER)
    for line in statement.rows:
        row = _clearing_row(line)
        writer.writerow([row[k] for k in CLEARING_CSV_HEADER])
    return out.getvalue()


def reconciliation_public(reconciliation: Reconciliation) -> dict[str, Any]:
    """The body of :class:`ReconciliationPublic`."""
    return {
        "hospital_code": reconciliation.hospital_code,
        "date": reconciliation.day.isoformat(),
        "rows": [{"scheme_code": line.scheme_code, **_figures_public(line.figures)} for line in reconciliation.rows],
        "totals": _figures_public(reconciliation.totals),
    }
