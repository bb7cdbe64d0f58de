"""A visit's fee lines (``nhsa.md``, "Lines" and "The bill"), pure: the checks of an upload (2301),
the net lines a bill is made of, and a line classified for the upload's answer.

A line is an original line (``cnt`` above 0) or a refund of part of one (``init_feedetl_sn``,
negative ``cnt`` and amount, at the original's unit price).  What a bill holds of a line is its
net: the original with its refunds, left out when refunded to zero.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from app.engine.catalog import classify_line
from app.engine.money import ZERO
from app.engine.types import BillLine, CatalogEntry, CatalogVersion, LineResult, Setting
from app.engine.validate import AMOUNT_TOLERANCE, plain
from app.errors import Conflict, FieldError, Loc, ValidationFailed

#: Where an upload's lines are in its input (``feedetail``).
FEEDETAIL: Loc = ("feedetail",)


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One fee line as the hospital sent it (the fields this service uses)."""

    feedetl_sn: str
    #: The line a refund refunds part of; None for an original line.
    init_feedetl_sn: str | None
    #: ``med_list_codg``: the code the schemes' catalogs know.
    code: str
    #: ``medins_list_codg``: the hospital's own code.
    own_code: str
    #: ``fee_ocur_time`` as sent (``yyyy-MM-dd HH:mm:ss``), and its day.
    occurred: str
    day: date
    cnt: Decimal
    pric: Decimal
    amount: Decimal

    @property
    def is_refund(self) -> bool:
        return self.init_feedetl_sn is not None


def content_hash(line: FeeLine) -> str:
    """What makes a line sent again the same line: every field above, numbers compared as numbers."""
    doc = [
        line.feedetl_sn,
        line.init_feedetl_sn,
        line.code,
        line.own_code,
        line.occurred,
        plain(line.cnt.normalize()),
        plain(line.pric.normalize()),
        plain(line.amount.normalize()),
    ]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def setting_of(med_type: str) -> Setting | None:
    """The bill's care setting: ``inpatient`` for a ``med_type`` 2x, ``outpatient`` for 1x."""
    if len(med_type) == 2 and med_type.isdigit():
        if med_type[0] == "2":
            return "inpatient"
        if med_type[0] == "1":
            return "outpatient"
    return None


def line_errors(line: FeeLine, loc: Loc) -> list[FieldError]:
    """One line's own checks: the sign of an original line and of a refund, and the amount being
    ``cnt x pric`` within 0.01 (the bill's rule)."""
    errors: list[FieldError] = []
    if line.is_refund:
        if line.cnt >= 0 or line.amount > 0:
            errors.append(FieldError((*loc, "cnt"), "a refund line (init_feedetl_sn) has a negative cnt and amount"))
    elif line.cnt <= 0 or line.amount < 0:
        errors.append(FieldError((*loc, "cnt"), "a fee line has a cnt above 0 and an amount not below 0"))
    if line.init_feedetl_sn == line.feedetl_sn:
        errors.append(FieldError((*loc, "init_feedetl_sn"), "a line cannot refund itself"))
    expected = line.cnt * line.pric
    if abs(expected - line.amount) > AMOUNT_TOLERANCE:
        errors.append(
            FieldError(
                (*loc, "det_item_fee_sumamt"),
                f"det_item_fee_sumamt {line.amount} is not cnt x pric ({plain(line.cnt)} x {line.pric})",
            )
        )
    return errors


@dataclass(frozen=True, slots=True)
class Upload:
    """What an upload changes: the lines to add (in the order sent), and every line it sent with
    the line each refunds (itself for an original line), for the answer."""

    new: tuple[FeeLine, ...]
    answered: tuple[tuple[FeeLine, FeeLine], ...]


def plan_upload(existing: Mapping[str, tuple[FeeLine, str]], sent: Sequence[FeeLine]) -> Upload:
    """Check an upload against the visit's lines (by ``feedetl_sn``: each line and its content
    hash), all or nothing: every bad line at once (``validation``: a line's own checks, a refund of
    a line that is not there or is itself a refund, at another price or of another code, or beyond
    its line), then a ``feedetl_sn`` already there with other content (``conflict``).  A line sent
    again with the same content changes nothing."""
    errors: list[FieldError] = []
    conflicts: list[str] = []
    lines: dict[str, FeeLine] = {sn: line for sn, (line, _) in existing.items()}
    new: list[FeeLine] = []
    seen: dict[str, int] = {}
    for i, line in enumerate(sent):
        loc: Loc = (*FEEDETAIL, i)
        errors += line_errors(line, loc)
        first = seen.setdefault(line.feedetl_sn, i)
        if first != i:
            errors.append(
                FieldError((*loc, "feedetl_sn"), f"feedetl_sn {line.feedetl_sn} is sent twice (also {first})")
            )
            continue
        there = existing.get(line.feedetl_sn)
        if there is not None:
            if there[1] != content_hash(line):
                conflicts.append(line.feedetl_sn)
            continue
        if line.is_refund:
            errors += _refund_errors(line, lines.get(line.init_feedetl_sn or ""), loc)
        lines[line.feedetl_sn] = line
        new.append(line)
    if not errors:
        errors = _net_errors(lines.values(), {line.feedetl_sn: i for i, line in enumerate(sent)})
    if errors:
        raise ValidationFailed(errors)
    if conflicts:
        raise Conflict(
            f"feedetl_sn {', '.join(conflicts)} was uploaded before with other content; cancel it (2302) first"
        )
    answered = tuple((line, lines[line.init_feedetl_sn] if line.init_feedetl_sn else line) for line in sent)
    return Upload(tuple(new), answered)


def _refund_errors(refund: FeeLine, original: FeeLine | None, loc: Loc) -> list[FieldError]:
    where = (*loc, "init_feedetl_sn")
    if original is None:
        return [FieldError(where, f"there is no line {refund.init_feedetl_sn} on this visit to refund")]
    if original.is_refund:
        return [FieldError(where, f"line {original.feedetl_sn} is itself a refund; refund the original line")]
    errors = []
    if refund.code != original.code:
        errors.append(FieldError((*loc, "med_list_codg"), f"a refund has its line's med_list_codg {original.code}"))
    if refund.pric != original.pric:
        errors.append(FieldError((*loc, "pric"), f"a refund is at its line's unit price {original.pric}"))
    return errors


@dataclass(frozen=True, slots=True)
class NetLine:
    """An original line with its refunds: what the bill holds of it."""

    feedetl_sn: str
    code: str
    day: date
    cnt: Decimal
    pric: Decimal
    amount: Decimal


def _nets(lines: Iterable[FeeLine]) -> tuple[dict[str, NetLine], dict[str, list[FeeLine]]]:
    originals: dict[str, NetLine] = {}
    refunds: dict[str, list[FeeLine]] = {}
    for line in lines:
        if line.is_refund:
            refunds.setdefault(line.init_feedetl_sn or "", []).append(line)
        else:
            originals[line.feedetl_sn] = NetLine(line.feedetl_sn, line.code, line.day, line.cnt, line.pric, line.amount)
    for sn, taken in refunds.items():
        net = originals.get(sn)
        if net is not None:
            cnt = net.cnt + sum((r.cnt for r in taken), Decimal(0))
            originals[sn] = replace(net, cnt=cnt, amount=net.amount + sum((r.amount for r in taken), ZERO))
    return originals, refunds


def _net_errors(lines: Iterable[FeeLine], sent_at: Mapping[str, int]) -> list[FieldError]:
    """A refund beyond its line (the net below zero, or no longer ``cnt x pric`` within 0.01),
    located at the upload's last refund of that line."""
    originals, refunds = _nets(lines)
    errors = []
    for sn, taken in refunds.items():
        net = originals.get(sn)
        if net is None:
            continue
        beyond = net.cnt < 0 or net.amount < 0 or (net.cnt == 0) != (net.amount == 0)
        if beyond or abs(net.cnt * net.pric - net.amount) > AMOUNT_TOLERANCE:
            mine = [sent_at[r.feedetl_sn] for r in taken if r.feedetl_sn in sent_at]
            loc: Loc = (*FEEDETAIL, max(mine), "cnt") if mine else FEEDETAIL
            errors.append(
                FieldError(
                    loc,
                    f"the refunds of line {sn} go beyond it (it would be left at cnt {plain(net.cnt)}, "
                    f"amount {net.amount})",
                )
            )
    return errors


def sn_order(sns: Iterable[str]) -> Callable[[str], tuple[int, str]]:
    """``feedetl_sn`` order: numeric when every one is digits, else as text."""
    numeric = all(sn.isdigit() for sn in sns)
    return (lambda sn: (int(sn), sn)) if numeric else (lambda sn: (0, sn))


def net_lines(lines: Iterable[FeeLine]) -> tuple[NetLine, ...]:
    """The visit's net lines in ``feedetl_sn`` order, those refunded to zero left out."""
    originals, _ = _nets(lines)
    key = sn_order(originals)
    return tuple(originals[sn] for sn in sorted(originals, key=key) if originals[sn].cnt != 0)


def net_total(lines: Iterable[NetLine]) -> Decimal:
    return sum((n.amount for n in lines), ZERO)


def bill_items(lines: Sequence[NetLine], entry_of: Callable[[str, date], CatalogEntry | None]) -> tuple[BillLine, ...]:
    """One bill line per net line, numbered 1, 2, ...: its code, quantity, unit price and amount,
    served on its day, named and categorised by the basic scheme's catalog entry (``entry_of``),
    else by its code, as a ``service``."""
    items = []
    for i, n in enumerate(lines, 1):
        entry = entry_of(n.code, n.day)
        name = entry.name if entry is not None else n.code
        category = entry.category if entry is not None else "service"
        cnt = Decimal(plain(n.cnt.normalize()))
        items.append(BillLine(i, n.code, name, category, cnt, n.pric, n.amount, n.day))
    return tuple(items)


@dataclass(frozen=True, slots=True)
class ClassifiedLine:
    """A line of an upload classified for its answer: its catalog entry (None: not in the catalog)
    and its amounts split as its original line's (negative for a refund)."""

    line: FeeLine
    entry: CatalogEntry | None
    result: LineResult


def classify_fee_line(
    line: FeeLine, original: FeeLine, version: CatalogVersion, *, setting: str, hospital_level: int
) -> ClassifiedLine:
    """Rule 2 of v1 for one line on its original line's day and code; a refund is classified as
    the same quantity of its line would be, and answered negated."""
    mirror = BillLine(0, original.code, original.code, "service", abs(line.cnt), line.pric, abs(line.amount))
    r = classify_line(mirror, version, setting=setting, hospital_level=hospital_level)
    if line.is_refund:
        r = replace(
            r,
            amount=line.amount,
            excluded=ZERO - r.excluded,  # never -0.00
            over_limit=ZERO - r.over_limit,
            b_self_pay=ZERO - r.b_self_pay,
            in_scope=ZERO - r.in_scope,
        )
    return ClassifiedLine(line, version.entries.get(original.code), r)
