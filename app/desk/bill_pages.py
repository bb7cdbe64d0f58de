"""A bill's pages: the bill, reversing its latest settlement, and its printable split sheet
(settling it: :mod:`app.desk.settle_pages`).

A reversal is confirmed on a page of its own; its form carries an idempotency key made when that
page was shown, so pressing the button twice replays the first reversal.  After a write the
browser is redirected (303) to the bill, so a reload there only reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.api.answers import reversal_reply
from app.api.observe import audit_in_transaction
from app.desk import forms, i18n
from app.desk.bill_view import bill_page_response, bill_view, own_scheme, page_error
from app.desk.i18n import _
from app.desk.labels import LABELS
from app.desk.web import PATH, PageError, Person, checked_form, redirect, render, text
from app.errors import DomainError
from app.principal import Principal
from app.services import claims
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest

router = APIRouter(include_in_schema=False)


# --- the writes: through the same entry points as the API, answered as the API answers ---------
# A write answers the browser with a redirect (303): its audit record says so, and is written in
# the write's own transaction.


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


@router.get("/bills/{bill_id}/reverse", response_class=HTMLResponse, operation_id="deskReverseConfirm")
def reverse_page(request: Request, bill_id: str, desk: Person) -> Response:
    own_scheme(desk)
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
    own_scheme(desk)
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
            "labels": LABELS,
            "printed_on": clock.now().date(),
        },
        desk=desk,
    )
