"""``POST /v1/reconciliation/checks`` (``settlement-rules.md`` v3.4): a hospital's own figures for
a span of days against ours, by the daily reconciliation's netting rule (fund payments only: a
settlement on the UTC day it was made, a reversal, negated, on the day it was made).  It reads,
and writes nothing but the request's audit record (the API's observer adds it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine import reconciliation as rules
from app.errors import ValidationFailed
from app.principal import Principal
from app.services.reports import Window, check_reconciliation, day_window


@dataclass(frozen=True, slots=True)
class CheckRequest:
    hospital_code: str
    start: date
    end: date
    scheme_code: str | None
    totals: rules.Totals
    listed: Sequence[rules.Listed] | None


def span(start: date, end: date) -> Window:
    """``[from 00:00Z, the day after to 00:00Z)``; ``validation`` at ``to`` for a bad span."""
    errors = rules.span_errors(start, end)
    if errors:
        raise ValidationFailed(errors)
    return Window(day_window(start).start, day_window(end).end)


def check(session: Session, *, principal: Principal, request: CheckRequest) -> rules.CheckResult:
    """Ours against theirs.  A hospital checks only itself (another code: 404)."""
    check_reconciliation(principal, request.hospital_code)
    window = span(request.start, request.end)
    s, r = db.Settlement, db.Reversal

    def where(table: type[db.Settlement] | type[db.Reversal]) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            col(table.hospital_code) == request.hospital_code,
            col(table.created_at) >= window.start,
            col(table.payer_type) == "scheme",  # fund payments only (v2.5)
        ]
        if window.end is not None:
            conditions.append(col(table.created_at) < window.end)
        if request.scheme_code is not None:
            conditions.append(col(table.scheme_code) == request.scheme_code)
        return conditions

    made = session.execute(
        select(col(s.id), col(s.status), col(s.medical_total), col(s.fund_payment)).where(*where(s))
    ).all()
    taken_back = session.execute(select(col(r.medical_total), col(r.fund_payment)).where(*where(r))).all()
    movements = [rules.Movement(False, m.medical_total, m.fund_payment) for m in made]
    movements += [rules.Movement(True, m.medical_total, m.fund_payment) for m in taken_back]
    ours = [rules.Listed(m.id, m.status, m.fund_payment) for m in made]
    return rules.check(movements, request.totals, ours_listed=ours, theirs_listed=request.listed)
