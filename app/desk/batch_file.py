"""A file of returned bills, as an office receives them in a pile: one line per bill to settle.

CSV with a header line naming its columns (in any order; English or Chinese names)::

    hospital_code,bill_no,vouchers
    H511623001,ZY2026-0001,中国人寿|CL-2026-001|1000.00;PICC|P-77|250.00
    H511623001,ZY2026-0002,

``vouchers`` lists the worker's vouchers from earlier payers, each ``payer|voucher number|amount``,
separated by ``;`` (empty: none).  Amounts are read exactly as the API reads money, as the settle
form reads them (:func:`app.desk.forms.amount`; so no thousands separators inside a file).  The
file is UTF-8 (with or without a byte-order mark) or GB 18030, as a spreadsheet saves it.  The
desk (:mod:`app.desk.batch`) and the command line (``python -m app settle-batch``) read it here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from app.desk import forms
from app.desk.i18n import _
from app.desk.labels import field_label
from app.schemas.settlements import ExternalPaymentIn

MAX_BYTES = 512 * 1024
MAX_ROWS = 200
#: Each column's accepted header names (compared without case and surrounding spaces).
COLUMNS = {
    "hospital_code": ("hospital_code", "hospital code", "医院编码", "医院代码"),
    "bill_no": ("bill_no", "bill number", "bill no", "费用单号", "单据号"),
    "vouchers": ("vouchers", "凭证", "前序凭证"),
}
SAMPLE = "hospital_code,bill_no,vouchers\nH511623001,ZY2026-0001,中国人寿|CL-2026-001|1000.00;PICC|P-77|250.00\n"


@dataclass
class FileRow:
    """One line of the file: what it says, the vouchers read from it, and what is wrong with it."""

    line: int
    hospital_code: str
    bill_no: str
    vouchers: str
    payments: list[ExternalPaymentIn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class BatchFile:
    rows: list[FileRow]
    #: What makes the whole file unreadable (then there are no rows).
    errors: list[str]


def decode(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _entries(cell: str) -> list[dict[str, str]]:
    cell = cell.replace("；", ";").replace("｜", "|")
    out = []
    for part in (p.strip() for p in cell.split(";")):
        if not part:
            continue
        pieces = [p.strip() for p in part.split("|")]
        pieces += [""] * (3 - len(pieces))
        out.append({"payer": pieces[0], "voucher_no": pieces[1], "amount": pieces[2] if len(pieces) == 3 else "|"})
    return out


def vouchers_of(cell: str) -> tuple[list[ExternalPaymentIn], list[str]]:
    """A ``vouchers`` cell's payments, or what is wrong with them (each voucher named by its place)."""
    entries = _entries(cell)
    if len(entries) > forms.MAX_ROWS:
        return [], [_("At most %(count)s vouchers per bill.") % {"count": forms.MAX_ROWS}]
    wrong = [i for i, e in enumerate(entries) if e["amount"] == "|"]
    if wrong:
        return [], [_("Voucher %(n)s: write it as payer|voucher number|amount.") % {"n": wrong[0] + 1}]
    parsed = forms.parse(entries)
    errors = []
    for name, message in parsed.errors.items():
        where, _sep, index = name.rpartition("_")
        label = field_label(where) if index.isdigit() else field_label(name)
        n = int(index) + 1 if index.isdigit() else 1
        errors.append(_("Voucher %(n)s, %(field)s: %(message)s") % {"n": n, "field": label, "message": message})
    return ([] if errors else parsed.payments), errors


def _column_of(header: str) -> str | None:
    name = header.strip().lower()
    return next((column for column, names in COLUMNS.items() if name in names), None)


def read(data: bytes) -> BatchFile:
    """The file's rows (each with its problems), or why the file cannot be read at all."""
    if len(data) > MAX_BYTES:
        return BatchFile([], [_("The file is larger than %(kb)s KB.") % {"kb": MAX_BYTES // 1024}])
    text = decode(data)
    if text is None:
        return BatchFile([], [_("The file is neither UTF-8 nor GB 18030 text.")])
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    columns = [_column_of(h) for h in header or []]
    missing = [c for c in COLUMNS if c not in columns]
    if header is None or missing:
        return BatchFile([], [_("The first line must name the columns: hospital_code, bill_no, vouchers.")])
    rows: list[FileRow] = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(rows) == MAX_ROWS:
            return BatchFile([], [_("A file holds at most %(count)s bills.") % {"count": MAX_ROWS}])
        cells = {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(columns) if c is not None}
        row = FileRow(reader.line_num, cells["hospital_code"][:64], cells["bill_no"][:64], cells["vouchers"][:2000])
        if not row.hospital_code:
            row.errors.append(_("Enter the hospital code."))
        if not row.bill_no:
            row.errors.append(_("Enter the bill number."))
        row.payments, errors = vouchers_of(row.vouchers)
        row.errors += errors
        rows.append(row)
    if not rows:
        return BatchFile([], [_("The file lists no bill.")])
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.hospital_code.lower(), row.bill_no)
        if key in seen:
            row.errors.append(_("The same bill is on line %(line)s.") % {"line": seen[key]})
        seen.setdefault(key, row.line)
    return BatchFile(rows, [])
