"""A bill's pages: the bill, settling it (preview -> confirm), reversing its latest settlement,
and its printable split sheet.

Moving money is preview -> confirm: the preview is the service's dry run; the confirmation form
carries an idempotency key made when the preview was shown, so pressing the button twice or
reloading the result replays the first settlement instead of paying again.  After a write the
browser is redirected (303) to the bill, so a reload there only reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.api.answers import reversal_reply, settlement_reply
from app.api.observe import audit_in_transaction
from app.desk import forms, i18n
from app.desk.bill_view import bill_page_response, bill_view, checked_bill_id, page_error
from app.desk.i18n import _
from app.desk.labels import LABELS
from app.desk.web import PATH, Desk, PageError, Person, checked_form, redirect, render, text
from app.errors import DomainError
from app.metrics import observe_settlement
from app.principal import Principal
from app.schemas.settlements import SettlementCreate
from app.services import claims
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest

router = APIRouter(include_in_schema=False)


# --- the writes: through the same entry points as the API, answered as the API answers ---------
# A write answers the browser with a redirect (303): its audit record says so, and is written in
# the write's own transaction.


def preview_settlement(principal: Principal, bill_id: str, body: SettlementCreate) -> Mapping[str, Any]:
    """The settlement the service would make, rolled back (nothing is kept or remembered)."""
    reply = claims.settle(
        principal=principal, bill_id=checked_bill_id(bill_id), body=body, idem=None, render=settlement_reply
    )
    return reply.body


def settle_bill(
    request: Request, principal: Principal, bill_id: str, body: SettlementCreate, idem: IdemRequest
) -> tuple[int, Mapping[str, Any]]:
    """Settle the bill once: a repeated key replays the first settlement's answer."""
    reply = claims.settle(
        principal=principal,
        bill_id=checked_bill_id(bill_id),
        body=body,
        idem=idem,
        render=settlement_reply,
        audit=audit_in_transaction(request, status=303),
    )
    return reply.status, reply.body


def reverse_settlement(
    request: Request, principal: Principal, bill_id: str, settlement_id: str, idem: IdemRequest
) -> Mapping[str, Any]:
    """Reverse one settlement of this bill (another bill's is not found from this page)."""
    reply = claims.reverse(
        principal=principal,
        settlement_id=settlement_id,
        idem=idem,
        render=reversal_reply,
        audit=audit_in_transaction(request, status=303),
        of_bill=bill_id,
    )
    return reply.body


# --- the pages --------------------------------------------------------------------------------


@router.get("/bills/{bill_id}", response_class=HTMLResponse, operation_id="deskBill")
def bill_page(request: Request, bill_id: str, desk: Person) -> Response:
    return bill_page_response(request, desk, bill_id)


def _body(desk: Desk, vouchers: forms.Vouchers, *, dry_run: bool) -> SettlementCreate:
    return SettlementCreate(
        scheme_code=desk.principal.scheme_code or "", dry_run=dry_run, external_payments=vouchers.payments
    )


def _own_scheme(desk: Desk) -> None:
    if desk.principal.role != "scheme_office":
        raise PageError(403, _("Only a scheme office clerk settles, under the clerk's own scheme."))


@router.post("/bills/{bill_id}/preview", response_class=HTMLResponse, operation_id="deskPreview")
async def preview(request: Request, bill_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    _own_scheme(desk)
    add = "add_row" in form
    rows = forms.rows_of(form, add=add)
    if add:
        return await run_in_threadpool(bill_page_response, request, desk, bill_id, rows=rows)
    vouchers = forms.parse(rows)
    if vouchers.errors:
        return await run_in_threadpool(
            bill_page_response, request, desk, bill_id, rows=rows, errors=vouchers.errors, status=422
        )
    body = _body(desk, vouchers, dry_run=True)
    try:
        result = await run_in_threadpool(preview_settlement, desk.principal, bill_id, body)
    except DomainError as exc:
        if exc.status == 404:
            raise page_error(exc) from exc
        refusal = forms.translate(exc, vouchers.row_of)
        return await run_in_threadpool(
            bill_page_response,
            request,
            desk,
            bill_id,
            rows=rows,
            errors=refusal.fields,
            refusal=refusal,
            status=exc.status,
        )
    observe_settlement(body.scheme_code, "preview")
    view = await run_in_threadpool(bill_view, desk.principal, bill_id)
    return render(
        request,
        "preview.html",
        {**view, "result": result, "rows": rows, "key": str(uuid.uuid4()), "labels": LABELS},
        desk=desk,
    )


def _idem(form_key: str, bill_id: str, body: SettlementCreate) -> IdemRequest:
    if not form_key or len(form_key) > MAX_KEY_LENGTH:
        raise PageError(400, _("This form has no key; start again from the bill."))
    return IdemRequest.of("desk:" + form_key, "POST", f"/v1/bills/{bill_id}/settlements", body.model_dump(mode="json"))


@router.post("/bills/{bill_id}/settle", response_class=HTMLResponse, operation_id="deskSettle")
async def settle(request: Request, bill_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    _own_scheme(desk)
    rows = forms.rows_of(form)
    vouchers = forms.parse(rows)
    if vouchers.errors:
        return await run_in_threadpool(
            bill_page_response, request, desk, bill_id, rows=rows, errors=vouchers.errors, status=422
        )
    body = _body(desk, vouchers, dry_run=False)
    idem = _idem(text(form, "idempotency_key", MAX_KEY_LENGTH + 1), bill_id, body)
    try:
        _status, result = await run_in_threadpool(settle_bill, request, desk.principal, bill_id, body, idem)
    except DomainError as exc:
        if exc.status == 404:
            raise page_error(exc) from exc
        refusal = forms.translate(exc, vouchers.row_of)
        return await run_in_threadpool(
            bill_page_response,
            request,
            desk,
            bill_id,
            rows=rows,
            errors=refusal.fields,
            refusal=refusal,
            status=exc.status,
        )
    observe_settlement(
        result["scheme_code"], "settled", Decimal(result["fund_payment"]), Decimal(result["coordination_reduction"])
    )
    request.state.audit_object_id = result["settlement_id"]
    return redirect(f"{PATH}/bills/{bill_id}?done=settled#settlement-{result['sequence']}")


@router.get("/bills/{bill_id}/reverse", response_class=HTMLResponse, operation_id="deskReverseConfirm")
def reverse_page(request: Request, bill_id: str, desk: Person) -> Response:
    _own_scheme(desk)
    view = bill_view(desk.principal, bill_id)
    if view["reversible"] is None:
        raise PageError(
            409, _("The bill's latest settlement is not one of your scheme's; there is nothing you can reverse.")
        )
    target = next(s for s in view["settlements"] if s["settlement_id"] == view["reversible"])
    return render(
        request,
        "reverse.html",
        {**view, "target": target, "key": str(uuid.uuid4()), "labels": LABELS},
        desk=desk,
    )


@router.post("/bills/{bill_id}/reverse", response_class=HTMLResponse, operation_id="deskReverse")
async def reverse(request: Request, bill_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    _own_scheme(desk)
    settlement_id = text(form, "settlement_id", 36)
    key = text(form, "idempotency_key", MAX_KEY_LENGTH + 1)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise PageError(400, _("This form has no key; start again from the bill."))
    idem = IdemRequest.of("desk:" + key, "POST", f"/v1/settlements/{settlement_id}/reversal", None)
    try:
        await run_in_threadpool(reverse_settlement, request, desk.principal, bill_id, settlement_id, idem)
    except DomainError as exc:
        if exc.status == 404:
            raise page_error(exc) from exc
        refusal = forms.translate(exc)
        return await run_in_threadpool(bill_page_response, request, desk, bill_id, refusal=refusal, status=exc.status)
    request.state.audit_object_id = settlement_id
    return redirect(f"{PATH}/bills/{bill_id}?done=reversed")


@router.get("/bills/{bill_id}/split", response_class=HTMLResponse, operation_id="deskSplit")
def split_page(request: Request, bill_id: str, desk: Person) -> Response:
    """The printable split sheet (费用分割单), labelled in Chinese and English."""
    view = bill_view(desk.principal, bill_id)
    office = None
    if desk.principal.scheme_code:
        office = f"{view['scheme_names'].get(desk.principal.scheme_code, '')} ({desk.principal.scheme_code})"
    elif desk.principal.hospital_code:
        office = f"{view['bill']['hospital']['name']} ({desk.principal.hospital_code})"
    return render(
        request,
        "split.html",
        {
            **view,
            "zh": i18n.in_lang("zh_CN"),
            "en": i18n.in_lang("en"),
            "office": office,
            "printed_on": clock.now().date(),
        },
        desk=desk,
    )
