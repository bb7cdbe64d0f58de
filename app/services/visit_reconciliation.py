"""The reconciliation of the national platform's interface (``nhsa.md``): 3201 is
``POST /v1/reconciliation/checks`` for the hospital over its route's schemes (the route of
``setl_optins`` and ``insutype``), each scheme's figures netted by the daily reconciliation's rule
(:func:`app.services.reconciliation_checks.check`); 3202 adds the visit settlements made through
this interface in the span.  It changes nothing; its answer is kept under the message's ``msgid``
(in a write transaction of its own, with its audit record)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.visit_tables import NhsaSettlement, NhsaVisit
from app.engine import reconciliation as rules
from app.engine.money import ZERO
from app.engine.visit_statements import (
    Statement,
    StatementRow,
    StatementTotals,
    compare_rows,
    route_totals,
    row_errors,
)
from app.errors import ValidationFailed
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.services import idempotency, nhsa_routes, reconciliation_checks
from app.services.idempotency import IdemRequest, Replayed, Reply
from app.services.reconciliation_checks import CheckRequest
from app.services.writes import Audit, run_write


@dataclass(frozen=True, slots=True)
class StatementAsk:
    """A 3201 (``detail`` None) or 3202 in the services' terms."""

    hospital_code: str
    setl_optins: str
    insutype: str
    start: date
    end: date
    totals: StatementTotals
    detail: tuple[StatementRow, ...] | None


@dataclass(frozen=True, slots=True)
class Reconciled:
    setl_optins: str
    statement: Statement


def reconcile(
    *,
    principal: Principal,
    ask: StatementAsk,
    idem: IdemRequest,
    render: Callable[[Reconciled], Reply],
    audit: Audit | None,
) -> Reply:
    def use_case(work: LedgerWork) -> Reconciled | Replayed:
        replay = idempotency.lookup(work, principal, idem)
        if replay is not None:
            return replay
        return Reconciled(ask.setl_optins, statement(work.session, principal=principal, ask=ask))

    return run_write("nhsa_reconcile", use_case, render, principal=principal, idem=idem, audit=audit)


def statement(session: Session, *, principal: Principal, ask: StatementAsk) -> Statement:
    if ask.detail is not None:
        errors = row_errors(ask.detail)
        if errors:
            raise ValidationFailed(errors)
    route = nhsa_routes.route_for(session, ask.setl_optins, ask.insutype)
    figures = [
        reconciliation_checks.check(
            session,
            principal=principal,
            request=CheckRequest(ask.hospital_code, ask.start, ask.end, s.scheme_code, rules.Totals(), None),
        ).ours
        for s in route.schemes
    ]
    ours = route_totals(figures[0], figures)
    if ask.detail is None:
        return Statement(ours, ask.totals)
    return Statement(ours, ask.totals, True, compare_rows(_our_rows(session, ask), ask.detail))


def _our_rows(session: Session, ask: StatementAsk) -> Sequence[StatementRow]:
    """The visit settlements of the hospital on the route made in the span (UTC days), each with
    whether it was cancelled since."""
    window = reconciliation_checks.span(ask.start, ask.end)
    s, v = NhsaSettlement, NhsaVisit
    stmt = (
        select(s, col(v.psn_no))
        .join(v, col(v.id) == col(s.visit_id))
        .where(
            col(s.hospital_code) == ask.hospital_code,
            col(s.insuplc_admdvs) == ask.setl_optins,
            col(s.insutype) == ask.insutype,
            col(s.created_at) >= window.start,
        )
    )
    if window.end is not None:
        stmt = stmt.where(col(s.created_at) < window.end)
    return [
        StatementRow(
            row.id,
            row.visit_id,
            psn_no,
            row.medfee_sumamt,
            row.fund_pay_sumamt,
            ZERO,
            "1" if row.status == "cancelled" else "0",
        )
        for row, psn_no in session.execute(stmt)
    ]
