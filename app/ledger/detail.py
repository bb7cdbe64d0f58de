"""A settlement's stored ``detail``: its bands, classified lines, external payments and the
catalog versions it used, as JSON (money with two decimals, ratios as decimal strings).

Written here, read back by :func:`app.ledger.conversions.line_from_detail` (a tier's basis), and
shown as stored by :func:`app.schemas.settlements.settlement_public`.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.engine import types as t
from app.engine.money import format_money, format_ratio
from app.ledger.records import BandDoc, ExternalPaymentDoc, LineDoc, SettlementDetail


def bands(result: t.SettlementResult) -> list[BandDoc]:
    return [
        {
            "lower": format_money(b.lower),
            "upper": None if b.upper is None else format_money(b.upper),
            "ratio": format_ratio(b.ratio),
            "base": format_money(b.base),
            "amount": format_money(b.amount),
        }
        for b in result.bands
    ]


def lines(result: t.SettlementResult) -> list[LineDoc]:
    return [
        {
            "line_no": line.line_no,
            "code": line.code,
            "class": line.klass,
            "excluded": format_money(line.excluded),
            "over_limit": format_money(line.over_limit),
            "b_self_pay": format_money(line.b_self_pay),
            "in_scope": format_money(line.in_scope),
            "reason": line.reason,
        }
        for line in result.lines
    ]


def external_payments(payments: Sequence[t.ExternalPayment]) -> list[ExternalPaymentDoc]:
    return [{"payer": e.payer, "voucher_no": e.voucher_no, "amount": format_money(e.amount)} for e in payments]


def settlement_detail(
    result: t.SettlementResult, payments: Sequence[t.ExternalPayment], catalog_versions: list[str]
) -> SettlementDetail:
    return {
        "bands": bands(result),
        "lines": lines(result),
        "external_payments": external_payments(payments),
        "catalog_versions": catalog_versions,
    }
