"""What a preview showed, carried by its confirmation, and checked when the settlement is made.

A preview is the service's dry run; between it and the clerk's confirmation another office may
settle or reverse on the same bill, and the same request would then pay another amount.  So the
confirmation form carries every figure the preview showed (:class:`Figures`: each amount of the
computation, its bands and vouchers, a digest of its lines, and every row of the split sheet the
settlement would leave), and the settlement is checked against them inside its own transaction,
under the bill's lock (:func:`app.services.claims.settle`'s ``check``): when any figure differs
the settlement is refused (:class:`PreviewChanged`, nothing is written) and the clerk is shown
the new preview with what changed.

The figures travel in a hidden field as plain text.  They are not a secret and need no
signature: they only say what the clerk agreed to; a form altered by hand can only make its own
confirmation refused, never make the service pay anything but what it computes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.desk.i18n import N_, _
from app.errors import Conflict
from app.ledger.records import SettlementRecord
from app.ledger.split import active_payments
from app.ledger.work import LedgerWork
from app.schemas.public import split_public
from app.schemas.settlements import SettlementBody, settlement_public

#: The hidden field's largest accepted size: far above any preview's figures (the lines are one
#: digest, the split sheet a few rows per payer).
MAX_TEXT = 64_000

#: The computation's amounts, in the order the page shows them, with their labels.
AMOUNTS: tuple[tuple[str, str], ...] = (
    ("medical_total", N_("Medical total")),
    ("excluded", N_("Excluded (not paid by the scheme)")),
    ("over_limit", N_("Above the price caps")),
    ("b_self_pay", N_("Class B self-pay")),
    ("in_scope", N_("In scope")),
    ("compliant_self_pay", N_("Compliant self-pay")),
    ("over_cap", N_("In-scope cost above the basic fund's cap")),
    ("deductible", N_("Deductible")),
    ("computed_benefit", N_("Computed benefit")),
    ("benefit_after_cap", N_("Benefit after the annual cap")),
    ("prior_payments", N_("Paid before by others")),
    ("coordination_reduction", N_("Coordination reduction")),
    ("fund_payment", N_("The fund pays")),
    ("patient_responsibility", N_("The patient's share after this settlement")),
    ("cap_remaining", N_("Annual cap left after this settlement")),
)
_LABELS = dict(AMOUNTS)
BAND_FIELDS = ("lower", "upper", "ratio", "base", "amount")


class PreviewChanged(Conflict):
    """The settlement would differ from its preview: refused, nothing written."""

    def __init__(self, figures: Figures, body: SettlementBody, split: SplitAfter) -> None:
        super().__init__("the settlement would differ from the preview it was confirmed from")
        self.figures = figures
        self.body = body
        self.split = split


@dataclass(frozen=True, slots=True)
class SplitAfter:
    """The split sheet as the settlement leaves the bill (``split_public``'s body)."""

    body: dict[str, object]


@dataclass(frozen=True, slots=True)
class Change:
    kind: Literal["amount", "band", "voucher", "split", "lines"]
    label: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class Figures:
    """Every figure of a preview, as ``(key, value)`` text pairs in the page's order."""

    items: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, body: SettlementBody, split: SplitAfter) -> Figures:
        items: list[tuple[str, str]] = []
        for key, _label in AMOUNTS:
            value = body[key]  # type: ignore[literal-required]  # the keys above are the body's money fields
            if value is not None:
                items.append((key, str(value)))
        for i, band in enumerate(body["bands"]):
            items += [(f"band.{i}.{f}", str(band[f])) for f in BAND_FIELDS]  # type: ignore[literal-required]
        items += [(f"voucher.{e['voucher_no']}", e["amount"]) for e in body["external_payments"]]
        lines = json.dumps(body["lines"], sort_keys=True, separators=(",", ":"))
        items.append(("lines", hashlib.sha256(lines.encode()).hexdigest()[:32]))
        for i, p in enumerate(_payments(split)):
            who = p.get("scheme_code") or p.get("payer") or ""
            items.append((f"split.{i}", f"{p['payer_type']}|{who}|{p.get('voucher_no') or ''}|{p['amount']}"))
        return cls(tuple(items))

    def without(self, keys: frozenset[str]) -> Figures:
        return Figures(tuple((k, v) for k, v in self.items if k not in keys))

    def encode(self) -> str:
        return json.dumps([list(pair) for pair in self.items], ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Figures | None:
        """The figures a form carried, or None when it carried none that can be read."""
        if not text or len(text) > MAX_TEXT:
            return None
        try:
            raw = json.loads(text)
        except ValueError:
            return None
        if not isinstance(raw, list):
            return None
        items: list[tuple[str, str]] = []
        for pair in raw:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                return None
            items.append((pair[0], pair[1]))
        return cls(tuple(items))

    def changes(self, now: Figures) -> list[Change]:
        """What differs from ``now``, in the page's order (each split row and band once)."""
        before, after = dict(self.items), dict(now.items)
        keys = list(dict.fromkeys([k for k, _v in now.items] + [k for k, _v in self.items]))
        out: list[Change] = []
        seen: set[str] = set()
        for key in keys:
            if before.get(key) == after.get(key):
                continue
            group, _, rest = key.partition(".")
            if key in _LABELS:
                out.append(Change("amount", key, before.get(key), after.get(key)))
            elif group == "band":
                index = rest.split(".")[0]
                if f"band.{index}" not in seen:
                    seen.add(f"band.{index}")
                    amount = f"band.{index}.amount"
                    out.append(Change("band", str(int(index) + 1), before.get(amount), after.get(amount)))
            elif group == "voucher":
                out.append(Change("voucher", rest, before.get(key), after.get(key)))
            elif group == "split":
                if "split" not in seen:
                    seen.add("split")
                    out.append(Change("split", "", None, None))
            else:
                out.append(Change("lines", "", None, None))
        return out


def label(key: str) -> str:
    return _(_LABELS[key])


def _payments(split: SplitAfter) -> Sequence[dict[str, str]]:
    payments = split.body["payments"]
    assert isinstance(payments, list)
    return payments


def split_after(work: LedgerWork, record: SettlementRecord) -> SplitAfter:
    """The bill's split sheet with ``record`` settled (read in its transaction)."""
    return SplitAfter(split_public(work.bills[record.bill_id].row, active_payments(work.session, record.bill_id)))


class Keep:
    """A preview's check: keeps the split sheet the settlement would leave."""

    def __init__(self) -> None:
        self.split: SplitAfter | None = None

    def __call__(self, work: LedgerWork, record: SettlementRecord) -> None:
        self.split = split_after(work, record)


class Expect:
    """A confirmation's check: refuses the settlement unless it is exactly what was previewed
    (but for the figures ``ignore`` names)."""

    def __init__(self, previewed: Figures, ignore: frozenset[str] = frozenset()) -> None:
        self.previewed = previewed
        self.ignore = ignore

    def __call__(self, work: LedgerWork, record: SettlementRecord) -> None:
        split = split_after(work, record)
        body = settlement_public(record, preview=True)
        now = Figures.of(body, split)
        if now.without(self.ignore) != self.previewed.without(self.ignore):
            raise PreviewChanged(now, body, split)
