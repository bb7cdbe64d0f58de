"""Clearing statements (per month) and hospital reconciliation (per UTC day), aggregated in SQL.

**Netting rule.**  A settlement counts in the period it was made (``settlement.created_at``), with
its amounts, whatever happened to it later.  A reversal counts in the period *it* was made
(``reversal.created_at``), with the reversed settlement's amounts negated.  So a settlement made in
March and reversed in April stays +1 settlement and +amounts in March's statement, and shows as
+1 reversal and -amounts in April's; March's statement never changes once March is over.

**One statement per report.**  The settlements made in the window and the negated reversals made
in it are combined with ``UNION ALL``, grouped by the report's keys, and the totals are one more
aggregate over those groups in the same statement (a final row flagged ``is_total``).  No
individual settlement or reversal is loaded into Python: it only reads the grouped rows into the
typed figures of ``app.schemas.reports`` (``ClearingStatement``, ``Reconciliation``), which the
API and the desk render (JSON, CSV, pages).

Only fund payments count (schemes' and tiers', each tier under its own ``scheme_code``); an
employer's liability (``payer_type = 'employer'``, v2.5) is not a fund payment and is left out.
The report indexes carry ``payer_type`` in their leaves (migration 0006) for that filter.

Windows are half-open, ``[start, end)``, as timezone-aware UTC datetimes compared directly with
the indexed ``created_at`` columns (no function on the column), so the indexes of migration 0004
apply: ``(created_at)`` for a month's clearing, ``(hospital_code, created_at)`` for a
hospital's day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CompoundSelect, Integer, Select, func, literal_column, null, select, union_all
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine.money import ZERO, as_money
from app.errors import FieldError, NotFound, ValidationFailed
from app.principal import Principal
from app.schemas.reports import (
    ClearingLine,
    ClearingStatement,
    Reconciliation,
    ReconciliationLine,
    ReportFigures,
)

#: ``YYYY-MM`` (the query parameter declares the same pattern, so FastAPI refuses others with 422).
#: ``[0-9]``, not ``\d``: the validators' ``\d`` would also take other scripts' digits (``２０２６``).
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
CLEARING_KEYS = ("scheme_code", "insuring_region", "treatment_region")
RECONCILIATION_KEYS = ("scheme_code",)
FIGURES = ("settlements", "reversals", "medical_total", "fund_payment")
#: A report statement (the rows, then the totals row).
ReportQuery = CompoundSelect[*tuple[Any, ...]]
Line = TypeVar("Line")


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in UTC; ``end`` is None only for the last representable period."""

    start: datetime
    end: datetime | None


def month_window(period: str) -> Window:
    """``2026-03`` -> [2026-03-01T00:00Z, 2026-04-01T00:00Z); a field error at ``("period",)``
    for anything else."""
    if re.fullmatch(PERIOD_PATTERN, period) is None:
        raise ValidationFailed([FieldError(("period",), "the period must be a month, YYYY-MM")])
    year, month = int(period[:4]), int(period[5:7])
    if year < 1:
        raise ValidationFailed([FieldError(("period",), "there is no year 0000")])
    start = datetime(year, month, 1, tzinfo=UTC)
    if month < 12:
        return Window(start, datetime(year, month + 1, 1, tzinfo=UTC))
    return Window(start, datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else None)


def day_window(day: date) -> Window:
    """A UTC calendar day: [day 00:00Z, next day 00:00Z)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return Window(start, start + timedelta(days=1) if day < date.max else None)


def clearing_scheme(principal: Principal) -> str | None:
    """Whose settlements a clearing statement covers: every scheme's for an admin (None), only
    its own scheme's for a scheme office (filtered in SQL)."""
    if principal.role == "scheme_office":
        return principal.scheme_code or ""
    return None


def check_reconciliation(principal: Principal, hospital_code: str) -> None:
    """A hospital reconciles only itself: another hospital's code does not exist for it (404)."""
    if principal.role == "hospital" and principal.hospital_code != hospital_code:
        raise NotFound(f"there is no hospital {hospital_code}")


def _in_window(column: Any, window: Window) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [column >= window.start]
    if window.end is not None:
        conditions.append(column < window.end)
    return conditions


def _report_query(
    keys: Sequence[str],
    window: Window,
    *,
    scheme_code: str | None = None,
    hospital_code: str | None = None,
) -> ReportQuery:
    """Grouped rows (``is_total = 0``, ordered by ``keys``), then one totals row (``is_total = 1``)."""
    s, r = db.Settlement, db.Reversal
    one, zero = literal_column("1", Integer), literal_column("0", Integer)

    def filters(table: type[db.Settlement] | type[db.Reversal]) -> list[ColumnElement[bool]]:
        out = _in_window(col(table.created_at), window)
        # Fund payments only: an employer's liability (v2.5) is not cleared between schemes.
        out.append(col(table.payer_type) == "scheme")
        if scheme_code is not None:
            out.append(col(table.scheme_code) == scheme_code)
        if hospital_code is not None:
            out.append(col(table.hospital_code) == hospital_code)
        return out

    made: Select[*tuple[Any, ...]] = select(
        *(col(getattr(s, k)).label(k) for k in keys),
        one.label("settlements"),
        zero.label("reversals"),
        col(s.medical_total).label("medical_total"),
        col(s.fund_payment).label("fund_payment"),
    ).where(*filters(s))
    taken_back: Select[*tuple[Any, ...]] = select(
        *(col(getattr(r, k)).label(k) for k in keys),
        zero.label("settlements"),
        one.label("reversals"),
        (-col(r.medical_total)).label("medical_total"),
        (-col(r.fund_payment)).label("fund_payment"),
    ).where(*filters(r))
    movements = union_all(made, taken_back).cte("movements")
    groups = (
        select(*(movements.c[k] for k in keys), *(func.sum(movements.c[f]).label(f) for f in FIGURES))
        .group_by(*(movements.c[k] for k in keys))
        .cte("report_groups")
    )
    rows = select(zero.label("is_total"), *(groups.c[k] for k in keys), *(groups.c[f] for f in FIGURES))
    totals = select(
        one.label("is_total"), *(null().label(k) for k in keys), *(func.sum(groups.c[f]).label(f) for f in FIGURES)
    )
    return union_all(rows, totals).order_by("is_total", *keys)


def _money(value: Decimal | None) -> Decimal:
    """A sum that SQL returns as NULL for an empty period is 0.00."""
    return as_money(value) if value is not None else ZERO


def _figures(row: Any) -> ReportFigures:
    return ReportFigures(
        settlements=int(row.settlements or 0),
        reversals=int(row.reversals or 0),
        medical_total=_money(row.medical_total),
        fund_payment=_money(row.fund_payment),
    )


def _run(
    session: Session, query: ReportQuery, line: Callable[[Any, ReportFigures], Line]
) -> tuple[tuple[Line, ...], ReportFigures]:
    lines: list[Line] = []
    # An aggregate without GROUP BY always gives its row; its sums are NULL for an empty period.
    totals = ReportFigures(settlements=0, reversals=0, medical_total=ZERO, fund_payment=ZERO)
    for row in session.execute(query):
        if row.is_total:
            totals = _figures(row)
        else:
            lines.append(line(row, _figures(row)))
    return tuple(lines), totals


def clearing_query(*, period: str, scheme_code: str | None = None) -> ReportQuery:
    """The one SQL statement behind a month's clearing statement (see the module: one statement
    per report, so a month's settlements are aggregated where they are stored)."""
    return _report_query(CLEARING_KEYS, month_window(period), scheme_code=scheme_code)


def clearing(session: Session, *, period: str, scheme_code: str | None = None) -> ClearingStatement:
    """The clearing statement of one month.

    ``rows``: one per (scheme, insuring region, treatment region) with any settlement or
    reversal made in the month, in that order; ``settlements`` and ``reversals`` count those made
    in the month, the amounts are the settlements' minus the reversals'.  ``totals``: the same
    figures over all rows (zeros for an empty month).  ``scheme_code`` limits it to one scheme.
    Rendered by ``app.schemas.reports.clearing_public`` (JSON) and ``clearing_csv``.
    """
    rows, totals = _run(
        session,
        clearing_query(period=period, scheme_code=scheme_code),
        lambda row, figures: ClearingLine(row.scheme_code, row.insuring_region, row.treatment_region, figures),
    )
    return ClearingStatement(period=period, rows=rows, totals=totals)


def reconciliation(session: Session, *, hospital_code: str, day: date) -> Reconciliation:
    """What one hospital's bills got on one UTC day, one row per scheme (by scheme code), with the
    netting rule of the clearing statement (reversals made that day, negated), and the totals.
    Rendered by ``app.schemas.reports.reconciliation_public``."""
    rows, totals = _run(
        session,
        _report_query(RECONCILIATION_KEYS, day_window(day), hospital_code=hospital_code),
        lambda row, figures: ReconciliationLine(row.scheme_code, figures),
    )
    return Reconciliation(hospital_code=hospital_code, day=day, rows=rows, totals=totals)


@dataclass(frozen=True, slots=True)
class DayFunds:
    """One UTC day's net fund payments of a month's clearing in one treatment region."""

    day: date
    treatment_region: str
    fund_payment: Decimal


def _utc_day(column: Any, dialect: str) -> ColumnElement[str]:
    """A timestamp's UTC calendar day as ``YYYY-MM-DD`` text (SQLite keeps UTC timestamps as text)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def clearing_days(session: Session, *, period: str, scheme_code: str | None = None) -> tuple[DayFunds, ...]:
    """The month's clearing by day and treatment region, with the clearing statement's netting
    rule (a settlement on the day it was made, a reversal negated on the day it was made; fund
    payments only), ordered by day then region: the desk's chart of the month.  Aggregated in SQL,
    as the statement is."""
    window = month_window(period)
    dialect = session.get_bind().dialect.name
    s, r = db.Settlement, db.Reversal

    def movements(table: type[db.Settlement] | type[db.Reversal], sign: int) -> Select[*tuple[Any, ...]]:
        conditions = [*_in_window(col(table.created_at), window), col(table.payer_type) == "scheme"]
        if scheme_code is not None:
            conditions.append(col(table.scheme_code) == scheme_code)
        amount = col(table.fund_payment) if sign > 0 else -col(table.fund_payment)
        return select(
            _utc_day(col(table.created_at), dialect).label("day"),
            col(table.treatment_region).label("treatment_region"),
            amount.label("fund_payment"),
        ).where(*conditions)

    moved = union_all(movements(s, 1), movements(r, -1)).cte("day_movements")
    query = (
        select(moved.c.day, moved.c.treatment_region, func.sum(moved.c.fund_payment).label("fund_payment"))
        .group_by(moved.c.day, moved.c.treatment_region)
        .order_by(moved.c.day, moved.c.treatment_region)
    )
    return tuple(
        DayFunds(date.fromisoformat(row.day), row.treatment_region, _money(row.fund_payment))
        for row in session.execute(query)
    )
