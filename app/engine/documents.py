"""Policy documents (the shape of ``shared/examples/policies.json``) in their engine form.

The one conversion: the request models' ``to_engine`` (``app.schemas.reference``) hands their
validated document here, and the ledger parses a stored policy (the document as accepted) with
the same function.  A document is trusted: it was validated when it was accepted.  Money is
normalised to two places and ratios kept as written, as the request models read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.engine import types as t
from app.engine.money import as_money

Document = Mapping[str, Any]


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _money(value: Any) -> Decimal:
    return as_money(_decimal(value))


def _by_level(values: Mapping[str, Any] | None, convert: Any = _money) -> dict[int, Decimal] | None:
    return None if values is None else {int(level): convert(v) for level, v in values.items()}


def _deductible(doc: Document) -> t.Deductible:
    if doc["basis"] == "per_year":
        return t.Deductible(basis="per_year", by_level={}, offsite_by_level=None, amount=_money(doc["amount"]))
    return t.Deductible(
        basis="per_admission",
        by_level=_by_level(doc["by_level"]) or {},
        offsite_by_level=_by_level(doc.get("offsite_by_level")),
    )


def _up_to(value: Any) -> Decimal | None:
    return None if value is None else _money(value)


def _setting(doc: Document) -> t.SettingPolicy:
    delta = doc.get("offsite_ratio_delta") or {}
    return t.SettingPolicy(
        deductible=_deductible(doc["deductible"]),
        bands=tuple(t.Band(_up_to(b["up_to"]), _by_level(b["ratio_by_level"], _decimal) or {}) for b in doc["bands"]),
        delta_registered=_decimal(delta.get("registered", "0")),
        delta_unregistered=_decimal(delta.get("unregistered", "0")),
    )


def policy_from_document(doc: Document, year: int) -> t.Policy:
    """A scheme's yearly policy: the annual cap and a section per care setting it covers."""
    settings = {name: _setting(doc[name]) for name in ("inpatient", "outpatient") if doc.get(name) is not None}
    return t.Policy(year, _money(doc["annual_cap"]), settings)


def tier_policy_from_document(doc: Document, year: int) -> t.TierPolicy:
    """A tier's yearly policy (v2.3): the cap, the threshold and one ratio per band."""
    return t.TierPolicy(
        year,
        _money(doc["annual_cap"]),
        _money(doc["threshold"]),
        tuple(t.TierBand(_up_to(b["up_to"]), _decimal(b["ratio"])) for b in doc["bands"]),
    )


def large_amount_policy_from_document(doc: Document, year: int) -> t.LargeAmountPolicy:
    """A large-amount tier's yearly policy (v3.2): the cap and one ratio per band, no threshold."""
    return t.LargeAmountPolicy(
        year,
        _money(doc["annual_cap"]),
        tuple(t.TierBand(_up_to(b["up_to"]), _decimal(b["ratio"])) for b in doc["bands"]),
    )
