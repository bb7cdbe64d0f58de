"""A scheme office's receivables (rules v3.3) at the desk: the list, one receivable with its
recoveries, recording a recovery and writing off what is left.

The writes go through the same entry points as the API's (:mod:`app.services.receivables`, one
write transaction under the receivable's lock, the audit record inside it).  A recovery's form
carries an idempotency key made when the page was shown, so a second click or a reload records
it once; a write-off needs none (a second one finds nothing outstanding: 409).  The scope is the
API's: an office reads its own scheme's receivables, an administrator every one, a hospital none.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.api.observe import audit_in_transaction
from app.db import tables as db
from app.db.tx import read_session
from app.desk import forms
from app.desk.i18n import _
from app.desk.labels import LABELS
from app.desk.web import PATH, Desk, PageError, Person, checked_form, redirect, render, text
from app.errors import DomainError
from app.ledger.receivables import ReceivableRecord
from app.principal import Principal
from app.schemas.receivables import RecoveryCreate, receivable_public
from app.services import receivables
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest, Reply

router = APIRouter(include_in_schema=False)
STATUSES = tuple(LABELS["receivable_status"])
ID = re.compile(r"[A-Za-z0-9-]{1,36}")
PAGE = 50


def _office(desk: Desk) -> None:
    if desk.principal.role not in ("scheme_office", "admin"):
        raise PageError(403, _("Receivables are a scheme office's."))


def _bills_of(bill_ids: list[str]) -> dict[str, dict[str, str]]:
    """Each bill's number, hospital and patient, for the receivables that name them."""
    if not bill_ids:
        return {}
    with read_session() as s:
        found = s.execute(
            select(col(db.Bill.id), col(db.Bill.bill_no), col(db.Bill.hospital_code), col(db.Bill.patient_name)).where(
                col(db.Bill.id).in_(bill_ids)
            )
        )
        return {bid: {"bill_no": no, "hospital_code": code, "patient": name} for bid, no, code, name in found}


def _page(principal: Principal, status: str | None, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    with read_session() as s:
        page = receivables.list_page(
            s, principal=principal, scheme_code=None, status=status, liable_code=None, cursor=cursor, limit=PAGE
        )
    next_cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
    return [receivable_public(r) for r in page.rows], next_cursor


@router.get("/receivables", response_class=HTMLResponse, operation_id="deskReceivables")
def receivables_page(
    request: Request,
    desk: Person,
    status: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    _office(desk)
    chosen = status if status in STATUSES else None
    try:
        items, next_cursor = _page(desk.principal, chosen, cursor)
    except DomainError:  # a cursor that is not this list's: start from its first page
        items, next_cursor = _page(desk.principal, chosen, None)
    bills = _bills_of(sorted({r["bill_id"] for r in items}))
    return render(
        request,
        "receivables.html",
        {"items": items, "bills": bills, "status": chosen, "next_cursor": next_cursor, "labels": LABELS},
        desk=desk,
    )


def _read(principal: Principal, receivable_id: str) -> ReceivableRecord:
    if ID.fullmatch(receivable_id) is None:
        raise PageError(404, _("There is no such receivable."))
    with read_session() as s:
        try:
            return receivables.get(s, principal=principal, receivable_id=receivable_id)
        except DomainError as exc:
            refusal = forms.translate(exc)
            raise PageError(exc.status, refusal.title, refusal.details) from exc


def _blank(reason: str = "") -> dict[str, str]:
    return {"amount": "", "received_on": clock.now().date().isoformat(), "reference": "", "reason": reason}


def receivable_page(
    request: Request,
    desk: Desk,
    receivable_id: str,
    *,
    entry: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    refusal: forms.Refusal | None = None,
    status: int = 200,
) -> HTMLResponse:
    record = _read(desk.principal, receivable_id)
    notice = {"recovered": _("The recovery is recorded."), "written_off": _("What was outstanding is written off.")}
    shown = receivable_public(record)
    return render(
        request,
        "receivable.html",
        {
            "r": shown,
            "bill": _bills_of([record.bill_id]).get(record.bill_id),
            "entry": entry
            or {"amount": "", "received_on": clock.now().date().isoformat(), "reference": "", "reason": ""},
            "errors": errors or {},
            "refusal": refusal,
            "notice": notice.get(request.query_params.get("done", "")),
            "key": str(uuid.uuid4()),
            "labels": LABELS,
            "back": f"{PATH}/receivables/{receivable_id}",
        },
        status=status,
        desk=desk,
    )


@router.get("/receivables/{receivable_id}", response_class=HTMLResponse, operation_id="deskReceivable")
def receivable(request: Request, receivable_id: str, desk: Person) -> Response:
    _office(desk)
    return receivable_page(request, desk, receivable_id)


def _recovery(entry: dict[str, str]) -> tuple[RecoveryCreate | None, dict[str, str]]:
    errors: dict[str, str] = {}
    amount = forms.amount(entry["amount"]) if entry["amount"] else _("Enter the amount.")
    if isinstance(amount, str):
        errors["amount"] = amount
    received_on: date | None = None
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", entry["received_on"]) is None:
            raise ValueError(entry["received_on"])
        received_on = date.fromisoformat(entry["received_on"])
    except ValueError:
        errors["received_on"] = _("Enter a date as YYYY-MM-DD.")
    if not entry["reference"]:
        errors["reference"] = _("Enter the payment's reference (a transfer's or a court order's number).")
    if errors or isinstance(amount, str) or received_on is None:
        return None, errors
    return RecoveryCreate(amount=amount, received_on=received_on, reference=entry["reference"]), {}


def _with(
    request: Request, desk: Desk, receivable_id: str, entry: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    """The receivable's page again, with the entry and its problems (422)."""
    return receivable_page(request, desk, receivable_id, entry=entry, errors=errors, status=422)


def _created(record: ReceivableRecord) -> Reply:
    return Reply(201, receivable_public(record))


def _done(record: ReceivableRecord) -> Reply:
    return Reply(200, receivable_public(record))


@router.post("/receivables/{receivable_id}/recoveries", response_class=HTMLResponse, operation_id="deskRecordRecovery")
async def record_recovery(request: Request, receivable_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    _office(desk)
    entry = {"amount": text(form, "amount", 30), "received_on": text(form, "received_on", 20)}
    entry.update(reference=text(form, "reference", 200), reason="")
    body, errors = _recovery(entry)
    if body is None:
        return await run_in_threadpool(
            receivable_page, request, desk, receivable_id, entry=entry, errors=errors, status=422
        )
    key = text(form, "idempotency_key", MAX_KEY_LENGTH + 1)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise PageError(400, _("This form has no key; open the receivable again."))
    path = f"/v1/receivables/{receivable_id}/recoveries"
    idem = IdemRequest.of("desk:" + key, "POST", path, body.model_dump(mode="json"))
    request.state.audit_object_id = receivable_id

    def write() -> None:
        receivables.recover(
            principal=desk.principal,
            receivable_id=receivable_id,
            request=receivables.RecoveryRequest(body.amount, body.received_on, body.reference),
            idem=idem,
            render=_created,
            audit=audit_in_transaction(request, status=303),
        )

    try:
        await run_in_threadpool(write)
    except DomainError as exc:
        return await _refused(request, desk, receivable_id, entry, exc)
    return redirect(f"{PATH}/receivables/{receivable_id}?done=recovered")


async def _refused(
    request: Request, desk: Desk, receivable_id: str, entry: dict[str, str], exc: DomainError
) -> Response:
    if exc.status == 404:
        refusal = forms.translate(exc)
        raise PageError(404, refusal.title, refusal.details) from exc
    refusal = forms.translate(exc)
    fields = {str(e.loc[-1]): forms.message(e.msg) or e.msg for e in exc.errors if e.loc}
    return await run_in_threadpool(
        receivable_page,
        request,
        desk,
        receivable_id,
        entry=entry,
        errors=fields,
        refusal=refusal,
        status=exc.status,
    )


@router.post("/receivables/{receivable_id}/write-off", response_class=HTMLResponse, operation_id="deskWriteOff")
async def write_off(request: Request, receivable_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    _office(desk)
    reason = text(form, "reason", 500)
    entry = _blank(reason)
    if not reason:
        errors = {"reason": _("Say why what is outstanding will not be recovered.")}
        return await run_in_threadpool(
            receivable_page, request, desk, receivable_id, entry=entry, errors=errors, status=422
        )
    request.state.audit_object_id = receivable_id

    def write() -> None:
        receivables.write_off(
            principal=desk.principal,
            receivable_id=receivable_id,
            reason=reason,
            render=_done,
            audit=audit_in_transaction(request, status=303),
        )

    try:
        await run_in_threadpool(write)
    except DomainError as exc:
        return await _refused(request, desk, receivable_id, entry, exc)
    return redirect(f"{PATH}/receivables/{receivable_id}?done=written_off")
