"""The settle form's voucher rows, and refusals put into the clerk's language.

A row is ``payer_i``, ``voucher_no_i``, ``amount_i``; a row left wholly empty is ignored.  The
amount is read as the API reads money (:func:`amount`), with the locale's thousands separators
(``1,200.50``); the checks are the API's own (``ExternalPaymentIn``) plus a voucher of more than 0.

The service's refusals carry English details.  :func:`translate` puts the known ones into the
catalog's words (matching their wording); an unknown one keeps its English detail under a
translated title, so nothing is ever hidden from the clerk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.desk import i18n
from app.desk.i18n import N_, _
from app.desk.web import text
from app.engine.money import MONEY_MAX, is_money
from app.errors import DomainError
from app.schemas.common import DECIMAL_FORM
from app.schemas.settlements import AdvanceIn, ExternalPaymentIn, LiableIn

DEFAULT_ROWS = 3
MAX_ROWS = 10
FIELDS = ("payer", "voucher_no", "amount")


@dataclass
class Vouchers:
    rows: list[dict[str, str]]
    #: The valid payments, and for each its row's index.
    payments: list[ExternalPaymentIn] = field(default_factory=list)
    row_of: list[int] = field(default_factory=list)
    #: ``field_i`` (or ``vouchers``) -> message, in the clerk's language.
    errors: dict[str, str] = field(default_factory=dict)


def rows_of(form: FormData, *, add: bool = False) -> list[dict[str, str]]:
    try:
        count = int(text(form, "rows", 3))
    except ValueError:
        count = DEFAULT_ROWS
    count = max(1, min(MAX_ROWS, count + (1 if add else 0)))
    return [{f: text(form, f"{f}_{i}") for f in FIELDS} for i in range(count)]


def empty_rows(count: int = DEFAULT_ROWS) -> list[dict[str, str]]:
    return [dict.fromkeys(FIELDS, "") for _ in range(count)]


#: Digits grouped by thousands with the locale's separator (both desk locales write ``,``).
GROUPED = re.compile(r"[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")


def amount(raw: str) -> Decimal | str:
    """An amount as the clerk typed it, read exactly as the API reads a money string
    (``DECIMAL_FORM``: digits, an optional point and fraction; no exponent, sign, bare point or
    space), after removing the locale's thousands separators when they group correctly
    (``1,200.50``); else the message saying why it is refused."""
    text = raw.replace(",", "") if GROUPED.fullmatch(raw) else raw
    if DECIMAL_FORM.fullmatch(text) is None:
        return _("Enter an amount in yuan, such as 1,200.50.")
    value = Decimal(text)
    if value <= 0:
        return _("The amount must be more than 0.")
    if not is_money(value):
        return _("An amount has at most two decimals (yuan and fen).")
    if value > MONEY_MAX:
        return _("The amount is too large.")
    return value


def parse(rows: list[dict[str, str]]) -> Vouchers:
    out = Vouchers(rows)
    for i, row in enumerate(rows):
        if not any(row.values()):
            continue
        errors: dict[str, str] = {}
        if not row["payer"]:
            errors[f"payer_{i}"] = _("Enter who paid this voucher.")
        if not row["voucher_no"]:
            errors[f"voucher_no_{i}"] = _("Enter the voucher number.")
        elif re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", row["voucher_no"]) is None:
            errors[f"voucher_no_{i}"] = _("A voucher number has letters, digits, '.', '_' and '-' only.")
        value = amount(row["amount"]) if row["amount"] else _("Enter the amount.")
        if isinstance(value, str):
            errors[f"amount_{i}"] = value
        if errors:
            out.errors.update(errors)
            continue
        assert not isinstance(value, str)  # a refused amount is an error above (request models are typed strictly)
        try:
            payment = ExternalPaymentIn(payer=row["payer"], voucher_no=row["voucher_no"], amount=value)
        except ValidationError as exc:
            for e in exc.errors():
                name = str(e["loc"][0]) if e["loc"] else "payer"
                out.errors[f"{name}_{i}"] = _("This value is not accepted.")
            continue
        out.payments.append(payment)
        out.row_of.append(i)
    seen: dict[str, int] = {}
    for payment, i in zip(out.payments, out.row_of, strict=True):
        if payment.voucher_no in seen:
            out.errors[f"voucher_no_{i}"] = _("This voucher number is entered twice.")
        seen[payment.voucher_no] = i
    return out


#: The settle form's advance: the fund advances what a third party who caused the injury does
#: not pay, and recovers it (v3.3); ``advance_name`` empty: no advance.
ADVANCE_FIELDS = ("advance_name", "advance_code")


@dataclass(frozen=True)
class AdvanceEntry:
    fields: dict[str, str]
    advance: AdvanceIn | None
    errors: dict[str, str]


def advance_of(form: FormData) -> AdvanceEntry:
    fields = {f: text(form, f) for f in ADVANCE_FIELDS}
    name, code = fields["advance_name"], fields["advance_code"]
    if not name:
        errors = {"advance_name": _("Enter who is liable, or leave the code empty too.")} if code else {}
        return AdvanceEntry(fields, None, errors)
    try:
        liable = LiableIn(kind="third_party", name=name, code=code or None)
    except ValidationError:
        return AdvanceEntry(fields, None, {"advance_name": _("This value is not accepted.")})
    return AdvanceEntry(fields, AdvanceIn(reason="third_party", liable=liable), {})


TITLES = {
    "validation": N_("The entries are not valid."),
    "not-enrolled": N_("The patient is not a member of this scheme."),
    "no-policy": N_("The scheme has no policy for the year of this bill."),
    "not-covered": N_("The scheme's policy does not cover this care setting."),
    "no-catalog": N_("No catalog of the scheme is in effect on a service date of this bill."),
    "conflict": N_("This cannot be done in the bill's current state."),
    "idempotency-mismatch": N_("This form was already used for a different entry; start again from the bill."),
    "not-found": N_("Not found."),
    "busy": N_("The service is busy; nothing was written. Press the button again."),
    "forbidden": N_("Your role may not do this."),
}

#: Known service details, in their English wording, and the catalog's message for each.
DETAILS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"voucher (?P<voucher>\S+) is already recorded on this bill"),
        N_("Voucher %(voucher)s is already recorded on this bill."),
    ),
    (
        re.compile(
            r"with these external payments the bill's earlier payments \((?P<prior>[\d.]+)\) would exceed its "
            r"total \((?P<total>[\d.]+)\)"
        ),
        N_("With these vouchers the bill's payments (%(prior)s) would exceed its total (%(total)s)."),
    ),
    (
        re.compile(r"(?P<scheme>\S+) already holds an active settlement \(sequence (?P<sequence>\d+)\) on this bill"),
        N_("%(scheme)s already settled this bill (settlement %(sequence)s); reverse it before settling again."),
    ),
    (
        re.compile(r"only the latest active settlement of a bill may be reversed; reverse sequence (?P<sequence>\d+)"),
        N_("Only the bill's latest settlement can be reversed; settlement %(sequence)s must be reversed first."),
    ),
    (re.compile(r"this settlement is already reversed"), N_("This settlement is already reversed.")),
    (re.compile(r"there is no such bill"), N_("There is no such bill.")),
    (re.compile(r"there is no such receivable"), N_("There is no such receivable.")),
    (
        re.compile(r"a recovery of (?P<amount>[\d.]+) is more than what is outstanding \((?P<outstanding>[\d.]+)\)"),
        N_("A recovery of %(amount)s is more than what is outstanding (%(outstanding)s)."),
    ),
    (re.compile(r"the receivable is written off: it takes no recovery"), N_("The receivable is written off.")),
    (re.compile(r"the receivable is cancelled"), N_("The receivable is cancelled: its settlement was reversed.")),
    (re.compile(r"nothing is outstanding on the receivable"), N_("Nothing is outstanding on the receivable.")),
    (
        re.compile(r"(?P<recovered>[\d.]+) was recovered on the settlement's receivable"),
        N_("%(recovered)s was recovered on this settlement's receivable: it can no longer be reversed."),
    ),
    (re.compile(r"a password has \d+ to \d+ characters"), N_("A password has 12 to 200 characters.")),
    (re.compile(r"the password must not be the username"), N_("The password must not be the username.")),
    (re.compile(r"there is no such person"), N_("There is no such person.")),
    (
        re.compile(r"an administrator cannot disable their own account"),
        N_("An administrator cannot disable their own account."),
    ),
    (
        re.compile(r"unified social credit code .* (must have 18 characters|is not valid)"),
        N_("A unified social credit code has 18 characters and a valid check character."),
    ),
)

_AMOUNTS = ("prior", "total", "amount", "outstanding", "recovered")


def message(detail: str) -> str | None:
    for pattern, msgid in DETAILS:
        m = pattern.search(detail)
        if m is not None:
            values = {k: (i18n.amount(v) if k in _AMOUNTS else v) for k, v in m.groupdict().items()}
            return _(msgid) % values
    return None


@dataclass(frozen=True)
class Refusal:
    title: str
    details: list[str]
    #: ``field_i`` -> message, for errors that belong next to a field.
    fields: dict[str, str]


def translate(exc: DomainError, row_of: list[int] | None = None) -> Refusal:
    """A refusal of the service, in the clerk's language; field errors of the voucher list are
    mapped back to the form's rows."""
    title = _(TITLES.get(exc.problem, N_("The request was refused.")))
    fields: dict[str, str] = {}
    details: list[str] = []
    for e in exc.errors:
        loc = list(e.loc)
        said = message(e.msg) or e.msg
        if loc[:1] == ["advance"]:
            fields["advance_code" if "code" in loc else "advance_name"] = said
            continue
        if "external_payments" in loc:
            at = loc.index("external_payments")
            rest = loc[at + 1 :]
            if rest and isinstance(rest[0], int) and row_of is not None and rest[0] < len(row_of):
                name = str(rest[1]) if len(rest) > 1 else "payer"
                fields[f"{name}_{row_of[rest[0]]}"] = said
                continue
            fields["vouchers"] = said
            continue
        details.append(said)
    if not exc.errors:
        details.append(message(exc.detail) or exc.detail)
    return Refusal(title, details, fields)
