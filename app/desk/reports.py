"""The desk's statements: a scheme office's monthly clearing (page and CSV) and a hospital's
day of reconciliation."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.db.tx import read_session
from app.desk import chart
from app.desk.i18n import _
from app.desk.web import SECURITY_HEADERS, Desk, PageError, Person, render
from app.schemas.reports import clearing_csv as clearing_csv_text
from app.schemas.reports import clearing_public, reconciliation_public
from app.services import reports

router = APIRouter(include_in_schema=False)


def _period(value: str | None) -> tuple[str, dict[str, str]]:
    if not value:
        return clock.now().strftime("%Y-%m"), {}
    if re.fullmatch(reports.PERIOD_PATTERN, value) is None:
        return value[:7], {"period": _("Enter a month as YYYY-MM.")}
    return value, {}


def _office(desk: Desk) -> None:
    if desk.principal.role not in ("scheme_office", "admin"):
        raise PageError(403, _("The clearing statement is a scheme office's."))


@router.get("/clearing", response_class=HTMLResponse, operation_id="deskClearing")
def clearing_page(
    request: Request, desk: Person, period: Annotated[str | None, Query(max_length=20)] = None
) -> Response:
    _office(desk)
    month, errors = _period(period)
    report = picture = None
    if not errors:
        scheme = reports.clearing_scheme(desk.principal)
        with read_session() as s:
            statement = reports.clearing(s, period=month, scheme_code=scheme)
            days = reports.clearing_days(s, period=month, scheme_code=scheme)
        report = clearing_public(statement)
        picture = chart.draw(month, days)
    return render(
        request,
        "clearing.html",
        {"period": month, "errors": errors, "report": report, "chart": picture},
        status=422 if errors else 200,
        desk=desk,
    )


@router.get("/clearing.csv", operation_id="deskClearingCsv")
def clearing_csv(
    request: Request, desk: Person, period: Annotated[str | None, Query(max_length=20)] = None
) -> Response:
    _office(desk)
    month, errors = _period(period)
    if errors:
        raise PageError(422, errors["period"])
    with read_session() as s:
        statement = reports.clearing(s, period=month, scheme_code=reports.clearing_scheme(desk.principal))
    body = clearing_csv_text(statement)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="clearing-{month}.csv"'}
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/reconciliation", response_class=HTMLResponse, operation_id="deskReconciliation")
def reconciliation_page(
    request: Request,
    desk: Person,
    day: Annotated[str | None, Query(alias="date", max_length=20)] = None,
    hospital_code: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    p = desk.principal
    if p.role not in ("hospital", "admin"):
        raise PageError(403, _("The day's reconciliation is a hospital's."))
    code = p.hospital_code if p.role == "hospital" else (hospital_code or "").strip()
    errors: dict[str, str] = {}
    the_day = clock.now().date()
    if day:
        try:
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) is None:
                raise ValueError(day)
            the_day = date.fromisoformat(day)
        except ValueError:
            errors["date"] = _("Enter a date as YYYY-MM-DD.")
    if not code:
        errors["hospital_code"] = _("Enter the hospital code.")
    report = None
    if not errors:
        assert code is not None
        with read_session() as s:
            figures = reports.reconciliation(s, hospital_code=code, day=the_day)
        report = reconciliation_public(figures)
    return render(
        request,
        "reconciliation.html",
        {"day": day or the_day.isoformat(), "hospital_code": code or "", "errors": errors, "report": report},
        status=422 if errors else 200,
        desk=desk,
    )
