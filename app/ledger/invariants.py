"""The ledger's invariants, checked directly in the database (stress and crash tests, ops).

- a bill's ledger (``paid_total``) equals its active scheme and external payments, and they
  never exceed its total;
- a scheme holds at most one active settlement per bill;
- each person/scheme/year accumulator equals the sum of the active settlements behind it and
  stays within the annual cap; no active settlement lacks its accumulator: ``year_total`` for
  fund payments (schemes and tiers, a tier's compliant self-pay and a large-amount tier's
  over-cap axis included), ``employer_year_total`` for employers' liabilities and the advances
  for an employer that did not enrol its worker, per employer (v2, v3);
- a receivable's ``recovered`` is the sum of its recoveries, ``recovered + written_off`` stays
  within its amount, its status is what its figures say; an active advanced settlement with a
  fund payment has exactly one receivable, not cancelled, for exactly that payment; a reversed
  one's receivable is cancelled with nothing recovered (v3);
- an active tier's basis is an active settlement of the same bill;
- a settlement is reversed exactly when it has a reversal record, and the record's amounts are
  the settlement's;
- external payments are active exactly while their settlement is, and sum to its
  ``external_total``;
- no settlement's sequence is above its bill's ``last_sequence`` (sequences are never reused);
- a visit settled through the national platform's interface holds a bill equal to its lines, and
  a cancelled one no active settlement (:mod:`app.ledger.visit_invariants`).

Each check is one aggregate query; :func:`check` returns the violations found (empty: all hold)
and how many individual facts were checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.db.receivable_tables import Receivable, Recovery
from app.engine.money import ZERO
from app.engine.receivables import Receivable as ReceivableState
from app.engine.receivables import receivable_problems
from app.ledger.visit_invariants import check_visits


@dataclass
class Report:
    checks: int = 0
    violations: list[str] = field(default_factory=list)


def check_database(engine: Engine) -> Report:
    """:func:`check` on one snapshot of the database, so that settlements committed meanwhile
    never show as a half-written ledger: PostgreSQL at REPEATABLE READ, read only; SQLite's read
    transaction is a snapshot already (WAL).  ``python -m app check-ledger`` runs it."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with Session(engine) as session, session.begin():
        return check(session)


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

    # Accumulators = sums of the active settlements behind them, and within the annual cap:
    # year_total for fund payments (schemes and tiers, with a tier's compliant self-pay axis),
    # employer_year_total for employers' liabilities (per employer).
    caps = {
        (code, year): cap
        for code, year, cap in session.execute(
            select(col(db.Policy.scheme_code), col(db.Policy.year), col(db.Policy.annual_cap))
        )
    }
    # An advance for an employer that did not enrol its worker is a fund payment on that
    # employer's accumulator (v3.3).
    # (advance_reason is null on every other settlement: coalesced so that NOT keeps them.)
    for_employer = or_(
        col(s.payer_type) == "employer", func.coalesce(col(s.advance_reason), "") == "employer_not_enrolled"
    )
    person_year: tuple[Any, ...] = (
        col(s.patient_id_number),
        col(s.scheme_code),
        col(s.policy_year),
    )
    _check_accumulators(
        session,
        report,
        table=db.YearTotal,
        which=~for_employer,
        keys=person_year,
        row_keys=("id_number", "scheme_code", "year"),
        caps=caps,
    )
    _check_accumulators(
        session,
        report,
        table=db.EmployerYearTotal,
        which=for_employer,
        keys=(*person_year, func.coalesce(col(s.employer_code), col(s.liable_code))),
        row_keys=("id_number", "scheme_code", "year", "employer_code"),
        caps=caps,
    )
    _check_receivables(session, report)

    # A tier's basis is an active settlement of the same bill while the tier is active.
    basis = db.Settlement.__table__.alias("basis")  # type: ignore[attr-defined]
    orphans = session.execute(
        select(func.count())
        .select_from(s)
        .outerjoin(basis, basis.c.id == col(s.basis_settlement_id))
        .where(
            col(s.status) == "settled",
            col(s.basis_settlement_id).is_not(None),
            or_(basis.c.id.is_(None), basis.c.status != "settled", basis.c.bill_id != col(s.bill_id)),
        )
    ).scalar_one()
    report.checks += 1
    if orphans:
        report.violations.append(f"{orphans} active tier settlements whose basis is not active on their bill")

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

    # A reversal takes back exactly what its settlement paid, on the same bill and scheme.
    r = db.Reversal
    unequal = session.execute(
        select(func.count())
        .select_from(r)
        .join(s, col(s.id) == col(r.settlement_id))
        .where(
            or_(
                col(r.bill_id) != col(s.bill_id),
                col(r.scheme_code) != col(s.scheme_code),
                col(r.fund_payment) != col(s.fund_payment),
                col(r.external_total) != col(s.external_total),
            )
        )
    ).scalar_one()
    report.checks += 1
    if unequal:
        report.violations.append(f"{unequal} reversal records whose amounts differ from their settlement's")

    # External payments belong to their settlement: active exactly while it is, summing to its
    # external_total, on its bill.
    astray = session.execute(
        select(func.count())
        .select_from(e)
        .join(s, col(s.id) == col(e.settlement_id))
        .where(or_(col(e.active) != (col(s.status) == "settled"), col(e.bill_id) != col(s.bill_id)))
    ).scalar_one()
    report.checks += 1
    if astray:
        report.violations.append(f"{astray} external payments active or inactive against their settlement's status")
    declared = dict(
        session.execute(select(col(e.settlement_id), func.sum(col(e.amount))).group_by(col(e.settlement_id))).all()
    )
    for sid, external_total in session.execute(select(col(s.id), col(s.external_total))):
        report.checks += 1
        if (declared.get(sid) or ZERO) != external_total:
            report.violations.append(
                f"settlement {sid}: external_total {external_total} != its external payments {declared.get(sid)}"
            )

    # Sequence numbers are handed out by the bill and never reused.
    highest = dict(session.execute(select(col(s.bill_id), func.max(col(s.sequence))).group_by(col(s.bill_id))).all())
    for bill_id, last in session.execute(select(col(b.id), col(b.last_sequence))):
        report.checks += 1
        if highest.get(bill_id, 0) > last:
            report.violations.append(f"bill {bill_id}: sequence {highest[bill_id]} above its last_sequence {last}")
    check_visits(session, report)
    return report


def _check_accumulators(
    session: Session,
    report: Report,
    *,
    table: type[db.YearTotal] | type[db.EmployerYearTotal],
    which: ColumnElement[bool],
    keys: tuple[Any, ...],
    row_keys: tuple[str, ...],
    caps: dict[tuple[str, int], Decimal],
) -> None:
    """Each accumulator row equals the sums of its active settlements (``which`` of them: fund
    payments, yearly deductibles per setting, and for ``year_total`` the tiers' compliant
    self-pay and the large-amount tiers' over-cap cost), stays within the scheme's annual cap, and
    every active settlement has its row."""
    s = db.Settlement
    Sums = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
    sums: dict[tuple[Any, ...], Sums] = {}
    for values in session.execute(
        select(
            *keys,
            col(s.setting),
            func.sum(col(s.fund_payment)),
            func.sum(col(s.yearly_deductible)),
            func.sum(col(s.compliant_self_pay)),
            func.sum(col(s.over_cap)),
        )
        .where(col(s.status) == "settled", which)
        .group_by(*keys, col(s.setting))
    ):
        group = tuple(values[: len(keys)])
        setting, paid, deductible, compliant, over_cap = values[len(keys) :]
        f, di, do, c, o = sums.get(group, (ZERO, ZERO, ZERO, ZERO, ZERO))
        f += paid
        if setting == "inpatient":
            di += deductible
        else:
            do += deductible
        sums[group] = (f, di, do, c + (compliant or ZERO), o + (over_cap or ZERO))
    seen = set()
    name = table.__tablename__
    row: Any
    for row in session.scalars(select(table)):
        key = tuple(getattr(row, k) for k in row_keys)
        seen.add(key)
        report.checks += 2
        want = sums.get(key, (ZERO, ZERO, ZERO, ZERO, ZERO))
        axes = (row.compliant_self_pay, row.over_cap) if isinstance(row, db.YearTotal) else (ZERO, ZERO)
        have = (row.fund_paid, row.deductible_inpatient, row.deductible_outpatient, *axes)
        if have != want:
            report.violations.append(
                f"{name} {row.scheme_code}/{row.year}: {'/'.join(map(str, have))} != active settlements "
                f"{'/'.join(map(str, want))}"
            )
        cap = caps.get((row.scheme_code, row.year))
        if cap is not None and row.fund_paid > cap:
            report.violations.append(f"{name} {row.scheme_code}/{row.year}: {row.fund_paid} above the cap {cap}")
    for group in sums.keys() - seen:
        report.checks += 1
        report.violations.append(f"active settlements of {group[1]}/{group[2]} have no {name} accumulator")


def _check_receivables(session: Session, report: Report) -> None:
    """v3.3: each receivable against its recoveries and its settlement, and each advanced
    settlement against its receivable."""
    s = db.Settlement
    recovered = dict(
        session.execute(
            select(col(Recovery.receivable_id), func.sum(col(Recovery.amount))).group_by(col(Recovery.receivable_id))
        ).all()
    )
    by_settlement: dict[str, Receivable] = {}
    for r in session.scalars(select(Receivable)):
        report.checks += 3
        by_settlement[r.settlement_id] = r
        state = ReceivableState(r.amount, r.recovered, r.written_off, cancelled=r.status == "cancelled")
        problems = receivable_problems(state)
        if r.recovered != (recovered.get(r.id) or ZERO):
            problems.append(f"recovered {r.recovered} != its recoveries {recovered.get(r.id) or ZERO}")
        if state.status != r.status:
            problems.append(f"status {r.status} where its figures say {state.status}")
        report.violations += [f"receivable {r.id}: {p}" for p in problems]
    advanced = select(col(s.id), col(s.status), col(s.fund_payment), col(s.receivable_id)).where(
        col(s.advance_reason).is_not(None)
    )
    for sid, status, fund_payment, receivable_id in session.execute(advanced):
        report.checks += 1
        found = by_settlement.pop(sid, None)
        if fund_payment == 0:
            if found is not None:
                report.violations.append(f"advanced settlement {sid} paid nothing but has a receivable")
            continue
        if found is None or found.id != receivable_id:
            report.violations.append(f"advanced settlement {sid} lacks its receivable {receivable_id}")
        elif found.amount != fund_payment:
            report.violations.append(f"receivable {found.id}: amount {found.amount} != its settlement's {fund_payment}")
        elif (status == "settled") == (found.status == "cancelled"):
            report.violations.append(f"receivable {found.id} is {found.status} while its settlement is {status}")
    for sid, left in by_settlement.items():
        report.checks += 1
        report.violations.append(f"receivable {left.id} belongs to no advanced settlement ({sid})")
