"""The ledger's invariants, checked directly in the database (stress and crash tests, ops).

Each check is one aggregate query; :func:`check` returns the violations found (empty: all hold)
and how many individual facts were checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine.money import ZERO


@dataclass
class Report:
    checks: int = 0
    violations: list[str] = field(default_factory=list)


def check(session: Session) -> Report:
    report = Report()
    s, e, b = db.Settlement, db.ExternalPayment, db.Bill

    # Bill ledger = active scheme payments + active external payments, and <= medical_total.
    fund = dict(
        session.execute(
            select(col(s.bill_id), func.sum(col(s.fund_payment)))
            .where(col(s.status) == "settled")
            .group_by(col(s.bill_id))
        ).all()
    )
    ext = dict(
        session.execute(
            select(col(e.bill_id), func.sum(col(e.amount))).where(col(e.active)).group_by(col(e.bill_id))
        ).all()
    )
    for bill_id, paid, total in session.execute(select(col(b.id), col(b.paid_total), col(b.medical_total))):
        report.checks += 2
        active = (fund.get(bill_id) or ZERO) + (ext.get(bill_id) or ZERO)
        if paid != active:
            report.violations.append(f"bill {bill_id}: ledger {paid} != active payments {active}")
        if active > total:
            report.violations.append(f"bill {bill_id}: active payments {active} exceed the total {total}")

    # One active settlement per scheme and bill.
    for bill_id, scheme, n in session.execute(
        select(col(s.bill_id), col(s.scheme_code), func.count())
        .where(col(s.status) == "settled")
        .group_by(col(s.bill_id), col(s.scheme_code))
    ):
        report.checks += 1
        if n > 1:
            report.violations.append(f"bill {bill_id}: {n} active settlements of {scheme}")

    # Accumulators = sums of the active settlements behind them, and within the annual cap.
    sums: dict[tuple[str, str, int], tuple[Decimal, Decimal, Decimal]] = {}
    for id_number, scheme, year, setting, paid, deductible in session.execute(
        select(
            col(s.patient_id_number),
            col(s.scheme_code),
            col(s.policy_year),
            col(s.setting),
            func.sum(col(s.fund_payment)),
            func.sum(col(s.yearly_deductible)),
        )
        .where(col(s.status) == "settled")
        .group_by(col(s.patient_id_number), col(s.scheme_code), col(s.policy_year), col(s.setting))
    ):
        f, di, do = sums.get((id_number, scheme, year), (ZERO, ZERO, ZERO))
        f += paid
        if setting == "inpatient":
            di += deductible
        else:
            do += deductible
        sums[(id_number, scheme, year)] = (f, di, do)
    caps = {
        (code, year): cap
        for code, year, cap in session.execute(
            select(col(db.Policy.scheme_code), col(db.Policy.year), col(db.Policy.annual_cap))
        )
    }
    seen = set()
    for t in session.scalars(select(db.YearTotal)):
        key = (t.id_number, t.scheme_code, t.year)
        seen.add(key)
        report.checks += 2
        want = sums.get(key, (ZERO, ZERO, ZERO))
        if (t.fund_paid, t.deductible_inpatient, t.deductible_outpatient) != want:
            report.violations.append(
                f"accumulator {t.scheme_code}/{t.year}: {t.fund_paid}/{t.deductible_inpatient}/"
                f"{t.deductible_outpatient} != active settlements {want}"
            )
        cap = caps.get((t.scheme_code, t.year))
        if cap is not None and t.fund_paid > cap:
            report.violations.append(f"accumulator {t.scheme_code}/{t.year}: {t.fund_paid} above the cap {cap}")
    for key in sums.keys() - seen:
        report.checks += 1
        report.violations.append(f"active settlements of {key[1]}/{key[2]} have no accumulator")

    # Every reversed settlement has exactly one reversal record, and only those.
    mismatched = session.execute(
        select(func.count())
        .select_from(s)
        .outerjoin(db.Reversal, and_(col(db.Reversal.settlement_id) == col(s.id)))
        .where((col(s.status) == "reversed") != (col(db.Reversal.id).is_not(None)))
    ).scalar_one()
    report.checks += 1
    if mismatched:
        report.violations.append(f"{mismatched} settlements whose status disagrees with their reversal records")
    return report
