"""Catalog lookup and the line-by-line classification (rule 2), after v3.1's two classifications
of a mixed bill's lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from app.engine.money import ZERO, round_money
from app.engine.types import Bill, BillLine, CatalogVersion, LineReason, LineResult, Part
from app.errors import NoCatalog


def version_in_effect(catalogs: Sequence[CatalogVersion], day: date) -> CatalogVersion | None:
    """The catalog version in effect on ``day``.

    When versions overlap (a new version published without closing the old one), the one
    with the latest ``effective_from`` wins: publishing a new version supersedes the old.
    """
    best: CatalogVersion | None = None
    for version in catalogs:
        if version.in_effect_on(day) and (best is None or version.effective_from > best.effective_from):
            best = version
    return best


def classify_line(line: BillLine, version: CatalogVersion, *, setting: str, hospital_level: int) -> LineResult:
    """Split one line's amount into excluded / over_limit / b_self_pay / in_scope.

    ``over_limit`` is ``round((p - cap) x q)`` but never more than the line's amount: the
    amount may differ from ``q x p`` by up to 0.01, and without that bound rounding could
    leave a negative ``allowed``.
    """
    amount = line.amount
    entry = version.entries.get(line.code)
    if entry is None:
        return LineResult(line.line_no, line.code, None, amount, amount, ZERO, ZERO, ZERO, "not_in_catalog")
    if entry.klass == "C":
        return LineResult(line.line_no, line.code, "C", amount, amount, ZERO, ZERO, ZERO, "class_c")
    if entry.settings is not None and setting not in entry.settings:
        return LineResult(line.line_no, line.code, entry.klass, amount, amount, ZERO, ZERO, ZERO, "restricted_setting")
    if entry.min_hospital_level is not None and hospital_level < entry.min_hospital_level:
        return LineResult(line.line_no, line.code, entry.klass, amount, amount, ZERO, ZERO, ZERO, "restricted_level")
    over_limit = ZERO
    cap = entry.price_cap
    if cap is not None and line.unit_price > cap:
        over_limit = min(round_money((line.unit_price - cap) * line.quantity), amount)
    allowed = amount - over_limit
    b_self_pay = ZERO
    if entry.klass == "B":
        b_self_pay = round_money(allowed * (entry.self_pay_ratio or Decimal(0)))
    return LineResult(
        line.line_no, line.code, entry.klass, amount, ZERO, over_limit, b_self_pay, allowed - b_self_pay, None
    )


def outside_part(line: BillLine, part: Part) -> LineResult | None:
    """v3.1: a line outside the settlement's part of a mixed bill is excluded whole, before any
    catalog lookup (its code need not be in the catalog, nor a version be in effect on its day);
    None for a line of the part."""
    if line.is_injury_line == (part == "injury"):
        return None
    reason: LineReason = "not_injury_related" if part == "injury" else "work_injury"
    return LineResult(line.line_no, line.code, None, line.amount, line.amount, ZERO, ZERO, ZERO, reason)


def classify_lines(bill: Bill, catalogs: Sequence[CatalogVersion], part: Part | None = None) -> tuple[LineResult, ...]:
    """Classify every line against the version in effect on its service date; with a ``part``
    (a bill carrying a work injury), the lines outside it first (:func:`outside_part`)."""
    by_day: dict[date, CatalogVersion] = {}
    setting, level, service_day = bill.setting, bill.hospital.level, bill.service_day
    results = []
    for line in bill.items:
        if part is not None:
            outside = outside_part(line, part)
            if outside is not None:
                results.append(outside)
                continue
        day = service_day(line)
        version = by_day.get(day)
        if version is None:
            found = version_in_effect(catalogs, day)
            if found is None:
                raise NoCatalog(f"no catalog version is in effect on {day.isoformat()} (line {line.line_no})")
            version = by_day[day] = found
        results.append(classify_line(line, version, setting=setting, hospital_level=level))
    return tuple(results)
