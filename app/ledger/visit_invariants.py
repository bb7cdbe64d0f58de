"""The invariants of visits settled through the national platform's interface (``nhsa.md``),
checked directly in the database with the ledger's (:func:`app.ledger.invariants.check`):

- a visit settlement in force is its visit's ``active_setl_id``, and its bill is the visit's net
  lines (one item per line, in ``feedetl_sn`` order: code, quantity, unit price, amount, day) and
  their total: no upload ever changed a settled visit's lines;
- a visit settlement cancelled (2305, 2601) has no active scheme settlement left.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.db.visit_tables import NhsaFeeLine, NhsaSettlement, NhsaVisit
from app.engine.validate import plain
from app.engine.visit_lines import FeeLine, net_lines, net_total


class Findings(Protocol):
    checks: int
    violations: list[str]


def _line(row: NhsaFeeLine) -> FeeLine:
    return FeeLine(
        row.feedetl_sn,
        row.init_feedetl_sn,
        row.med_list_codg,
        row.medins_list_codg,
        row.fee_ocur_time,
        row.service_date,
        row.cnt,
        row.pric,
        row.det_item_fee_sumamt,
    )


def check_visits(session: Session, report: Findings) -> None:
    settlements = list(session.scalars(select(NhsaSettlement)))
    if not settlements:
        return
    status = dict(session.execute(select(col(db.Settlement.id), col(db.Settlement.status))).all())
    active = {v.id: v.active_setl_id for v in session.scalars(select(NhsaVisit))}
    lines: dict[str, list[FeeLine]] = defaultdict(list)
    for row in session.scalars(select(NhsaFeeLine)):
        lines[row.visit_id].append(_line(row))
    for s in settlements:
        ids = [str(p["settlement_id"]) for p in s.payments]
        report.checks += 1
        if s.status == "cancelled":
            still = [i for i in ids if status.get(i) == "settled"]
            if still:
                report.violations.append(
                    f"visit settlement {s.id} is cancelled but {len(still)} settlements stay active"
                )
            continue
        report.checks += 2
        if active.get(s.visit_id) != s.id:
            report.violations.append(
                f"visit settlement {s.id} is in force but its visit names {active.get(s.visit_id)}"
            )
        bill = session.get(db.Bill, s.bill_id)
        assert bill is not None  # a foreign key
        net = net_lines(lines[s.visit_id])
        items = [
            (i["code"], Decimal(i["quantity"]), Decimal(i["unit_price"]), Decimal(i["amount"])) for i in bill.items
        ]
        want = [(n.code, Decimal(plain(n.cnt.normalize())), n.pric, n.amount) for n in net]
        if items != want or bill.medical_total != net_total(net) or bill.medical_total != s.medfee_sumamt:
            report.violations.append(
                f"visit settlement {s.id}: bill {bill.bill_no} ({bill.medical_total}) differs from the visit's "
                f"lines ({net_total(net)})"
            )
