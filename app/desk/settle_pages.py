"""Settling a bill at the desk: preview, then confirm exactly what the preview showed.

The preview is the service's dry run, with the split sheet the settlement would leave.  The
confirmation form carries an idempotency key made when the preview was shown, so pressing the
button twice or reloading the result replays the first settlement instead of paying again; and
it carries the preview's figures (:mod:`app.desk.previewed`), checked inside the settlement's
transaction: when another office's write changed the result since, nothing is paid and the
clerk sees the new preview, with what changed.  After a write the browser is redirected (303)
to the bill, so a reload there only reads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.api.answers import settlement_reply
from app.api.observe import audit_in_transaction
from app.desk import forms
from app.desk.bill_view import bill_page_response, bill_view, checked_bill_id, own_scheme, page_error
from app.desk.i18n import _
from app.desk.labels import LABELS
from app.desk.previewed import MAX_TEXT, Change, Expect, Figures, Keep, PreviewChanged, SplitAfter, label
from app.desk.web import PATH, Desk, PageError, Person, checked_form, redirect, render, text
from app.errors import DomainError
from app.metrics import observe_settlement
from app.principal import Principal
from app.schemas.settlements import SettlementBody, SettlementCreate
from app.services import claims
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest

router = APIRouter(include_in_schema=False)


def preview_settlement(principal: Principal, bill_id: str, body: SettlementCreate) -> tuple[SettlementBody, SplitAfter]:
    """The settlement the service would make and the split sheet it would leave, rolled back
    (nothing is kept or remembered)."""
    keep = Keep()
    reply = claims.settle(
        principal=principal,
        bill_id=checked_bill_id(bill_id),
        body=body,
        idem=None,
        render=settlement_reply,
        check=keep,
    )
    assert keep.split is not None
    return reply.body, keep.split  # type: ignore[return-value]  # settlement_reply's body is a SettlementBody


def settle_bill(
    request: Request, principal: Principal, bill_id: str, body: SettlementCreate, idem: IdemRequest, expect: Figures
) -> SettlementBody:
    """Settle the bill once, only as previewed: a repeated key replays the first settlement's
    answer; a result that differs from ``expect`` is refused (:class:`PreviewChanged`)."""
    reply = claims.settle(
        principal=principal,
        bill_id=checked_bill_id(bill_id),
        body=body,
        idem=idem,
        render=settlement_reply,
        audit=audit_in_transaction(request, status=303),
        check=Expect(expect),
    )
    return reply.body  # type: ignore[return-value]


@dataclass(frozen=True)
class Entry:
    """What the settle form holds: its voucher rows and the advance, read and checked."""

    rows: list[dict[str, str]]
    vouchers: forms.Vouchers
    advance: forms.AdvanceEntry

    @classmethod
    def of(cls, form: FormData, *, add: bool = False) -> Entry:
        rows = forms.rows_of(form, add=add)
        return cls(rows, forms.parse(rows), forms.advance_of(form))

    @property
    def errors(self) -> dict[str, str]:
        return {**self.vouchers.errors, **self.advance.errors}

    def body(self, desk: Desk, *, dry_run: bool) -> SettlementCreate:
        return SettlementCreate(
            scheme_code=desk.principal.scheme_code or "",
            dry_run=dry_run,
            external_payments=self.vouchers.payments,
            advance=self.advance.advance,
        )

    def page(
        self, request: Request, desk: Desk, bill_id: str, *, refusal: forms.Refusal | None = None, status: int = 200
    ) -> HTMLResponse:
        """The bill page with this entry in its form (and its problems)."""
        errors = {**self.errors, **(refusal.fields if refusal else {})}
        return bill_page_response(
            request,
            desk,
            bill_id,
            rows=self.rows,
            advance=self.advance.fields,
            errors=errors,
            refusal=refusal,
            status=status,
        )


def _preview_page(
    request: Request,
    desk: Desk,
    bill_id: str,
    entry: Entry,
    result: SettlementBody,
    split: SplitAfter,
    *,
    changes: list[Change] | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = bill_view(desk.principal, bill_id)
    figures = Figures.of(result, split)
    return render(
        request,
        "preview.html",
        {
            **view,
            "result": result,
            "split_after": split.body,
            "previewed": figures.encode(),
            "changes": changes,
            "amount_label": label,
            "rows": entry.rows,
            "advance": entry.advance.fields,
            "key": str(uuid.uuid4()),
            "labels": LABELS,
            "back": f"{PATH}/bills/{bill_id}",
        },
        status=status,
        desk=desk,
    )


async def _refused(request: Request, desk: Desk, bill_id: str, entry: Entry, exc: DomainError) -> Response:
    if exc.status == 404:
        raise page_error(exc) from exc
    refusal = forms.translate(exc, entry.vouchers.row_of)
    return await run_in_threadpool(entry.page, request, desk, bill_id, refusal=refusal, status=exc.status)


@router.post("/bills/{bill_id}/preview", response_class=HTMLResponse, operation_id="deskPreview")
async def preview(request: Request, bill_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    own_scheme(desk)
    add = "add_row" in form
    entry = Entry.of(form, add=add)
    if add:
        return await run_in_threadpool(
            bill_page_response, request, desk, bill_id, rows=entry.rows, advance=entry.advance.fields
        )
    if entry.errors:
        return await run_in_threadpool(entry.page, request, desk, bill_id, status=422)
    body = entry.body(desk, dry_run=True)
    try:
        result, split = await run_in_threadpool(preview_settlement, desk.principal, bill_id, body)
    except DomainError as exc:
        return await _refused(request, desk, bill_id, entry, exc)
    observe_settlement(body.scheme_code, "preview")
    return await run_in_threadpool(_preview_page, request, desk, bill_id, entry, result, split)


def _idem(form_key: str, bill_id: str, body: SettlementCreate) -> IdemRequest:
    if not form_key or len(form_key) > MAX_KEY_LENGTH:
        raise PageError(400, _("This form has no key; start again from the bill."))
    return IdemRequest.of("desk:" + form_key, "POST", f"/v1/bills/{bill_id}/settlements", body.model_dump(mode="json"))


@router.post("/bills/{bill_id}/settle", response_class=HTMLResponse, operation_id="deskSettle")
async def settle(request: Request, bill_id: str, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    own_scheme(desk)
    entry = Entry.of(form)
    if entry.errors:
        return await run_in_threadpool(entry.page, request, desk, bill_id, status=422)
    body = entry.body(desk, dry_run=False)
    idem = _idem(text(form, "idempotency_key", MAX_KEY_LENGTH + 1), bill_id, body)
    expect = Figures.decode(text(form, "previewed", MAX_TEXT + 1))
    if expect is None:
        raise PageError(400, _("This form does not say what its preview showed; start again from the bill."))
    try:
        result = await run_in_threadpool(settle_bill, request, desk.principal, bill_id, body, idem, expect)
    except PreviewChanged as changed:
        changes = expect.changes(changed.figures)
        return await run_in_threadpool(
            _preview_page, request, desk, bill_id, entry, changed.body, changed.split, changes=changes, status=409
        )
    except DomainError as exc:
        return await _refused(request, desk, bill_id, entry, exc)
    observe_settlement(
        result["scheme_code"], "settled", Decimal(result["fund_payment"]), Decimal(result["coordination_reduction"])
    )
    request.state.audit_object_id = result["settlement_id"]
    return redirect(f"{PATH}/bills/{bill_id}?done=settled#settlement-{result['sequence']}")
