"""What the bill's pages show: the bill, its settlements and its split, read in one session under
the caller's scope, and the bill page itself (also shown again, with the form's errors, when a
preview, a settlement or a reversal is refused)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.db import tables as db
from app.db.tx import read_session
from app.desk import forms
from app.desk.i18n import _
from app.desk.labels import CATEGORIES, LABELS
from app.desk.web import PATH, Desk, PageError, render
from app.errors import DomainError, NotFound
from app.ledger.reads import bill_settlements
from app.ledger.split import active_payments
from app.principal import Principal
from app.schemas.public import bill_public, split_public
from app.schemas.receivables import receivable_public
from app.schemas.settlements import SettlementBody, settlement_public
from app.services import bills
from app.services import receivables as receivables_service
from app.services.scope import basis_scheme, check_bill, check_settlement_read

BILL_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


def page_error(exc: DomainError) -> PageError:
    refusal = forms.translate(exc)
    return PageError(exc.status, refusal.title, refusal.details)


def own_scheme(desk: Desk) -> None:
    """Only a scheme office clerk settles and reverses, under the clerk's own scheme."""
    if desk.principal.role != "scheme_office":
        raise PageError(403, _("Only a scheme office clerk settles, under the clerk's own scheme."))


def checked_bill_id(bill_id: str) -> str:
    if BILL_ID.fullmatch(bill_id) is None:
        raise PageError(404, _("There is no such bill."))
    return bill_id


def bill_view(principal: Principal, bill_id: str) -> dict[str, Any]:
    """Everything the bill page shows, read in one session under the caller's scope."""
    with read_session() as s:
        try:
            bill = bills.get(s, checked_bill_id(bill_id))
            check_bill(principal, bill, session=s)
        except NotFound as exc:
            raise page_error(exc) from exc
        rows = bill_settlements(s, bill.id)
        basis = basis_scheme(s, principal)
        visible: list[SettlementBody] = []
        as_basis: set[str] = set()
        for row in rows:
            try:
                check_settlement_read(principal, row)
            except NotFound:
                if row.scheme_code != basis or row.payer_type != "scheme":
                    continue
                as_basis.add(row.id)
            visible.append(settlement_public(row))
        receivables = _receivables(s, principal, visible)
        split = split_public(bill, active_payments(s, bill.id))
        names = {sc.code: sc.name for sc in s.query(db.Scheme).all()}
        active = [r for r in rows if r.status == "settled"]
        latest = active[-1] if active else None
        own = principal.scheme_code
        return {
            "bill": bill_public(bill),
            "settlements": visible,
            # Each settlement of the bill by id, as another one names it (a tier its basis).
            "sequences": {r.id: (r.sequence, r.scheme_code) for r in rows},
            "as_basis": as_basis,
            "receivables": receivables,
            "classified": [v for v in visible if v["status"] == "settled"],
            "split": split,
            "scheme_names": names,
            "may_settle": principal.role == "scheme_office",
            "own_active": next((r.sequence for r in active if r.scheme_code == own), None),
            "reversible": latest.id if latest is not None and own and latest.scheme_code == own else None,
            "remaining": bill.medical_total - bill.paid_total,
        }


def _receivables(s: Session, principal: Principal, visible: list[SettlementBody]) -> dict[str, dict[str, Any]]:
    """The receivables of the advances shown, by id, that the person may read (a hospital reads
    an advance but not its receivable)."""
    out: dict[str, dict[str, Any]] = {}
    if principal.role == "hospital":
        return out
    for v in visible:
        advance = v["advance"]
        if advance is None or advance["receivable_id"] is None:
            continue
        try:
            record = receivables_service.get(s, principal=principal, receivable_id=advance["receivable_id"])
        except NotFound:
            continue
        out[record.id] = receivable_public(record)
    return out


def bill_page_response(
    request: Request,
    desk: Desk,
    bill_id: str,
    *,
    rows: list[dict[str, str]] | None = None,
    advance: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    refusal: forms.Refusal | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = bill_view(desk.principal, bill_id)
    notice = {"settled": _("Settled."), "reversed": _("The settlement was reversed.")}.get(
        request.query_params.get("done", "")
    )
    return render(
        request,
        "bill.html",
        {
            **view,
            "rows": rows or forms.empty_rows(),
            "advance": advance or dict.fromkeys(forms.ADVANCE_FIELDS, ""),
            "errors": errors or {},
            "refusal": refusal,
            "notice": notice,
            "labels": LABELS,
            "categories": CATEGORIES,
            "back": f"{PATH}/bills/{bill_id}",
        },
        status=status,
        desk=desk,
    )
