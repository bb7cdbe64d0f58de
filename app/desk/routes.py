"""The desk's pages (``/desk``).  Each route reads or writes through the service layer, in the
same transactions and with the same scope rules as the API; a person's principal is set on the
request, so the audit trail (``app.api.observe``) records every desk request under them.

Moving money is preview -> confirm: the preview is the service's dry run; the confirmation form
carries an idempotency key made when the preview was shown, so pressing the button twice or
reloading the result replays the first settlement instead of paying again.  After a write the
browser is redirected (303) to the bill, so a reload there only reads.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.api.answers import reversal_reply, settlement_reply
from app.db import tables as db
from app.db.tx import read_session, write_transaction
from app.desk import forms, i18n
from app.desk.i18n import N_, _
from app.desk.web import (
    HERE,
    LANG_COOKIE,
    PATH,
    PRE_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    CsrfRefused,
    Desk,
    PageError,
    SignInRequired,
    checked_form,
    current_desk,
    lang_of,
    new_pre_token,
    redirect,
    render,
    safe_next,
    set_cookie,
    text,
)
from app.errors import DomainError, NotFound
from app.ledger.settlements import active_payments, bill_settlements, find_settlement
from app.metrics import observe_settlement
from app.principal import Principal
from app.privacy import mask_id
from app.schemas.public import bill_public, split_public
from app.schemas.reports import clearing_csv as clearing_csv_text
from app.schemas.reports import clearing_public, reconciliation_public
from app.schemas.settlements import SettlementCreate, settlement_public
from app.services import bills, claims, reports, users
from app.services.idempotency import MAX_KEY_LENGTH, IdemRequest, Reply, answer
from app.services.paging import Page
from app.services.scope import check_bill, check_settlement_read
from app.settings import get_settings


async def _use_lang(request: Request) -> None:
    """The clerk's language for everything this request says (set in the request's own task,
    so the handler and the threads it starts inherit it)."""
    i18n.set_lang(lang_of(request))


router = APIRouter(prefix=PATH, include_in_schema=False, dependencies=[Depends(_use_lang)])
Person = Annotated[Desk, Depends(current_desk)]
ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")
BILL_ID = re.compile(r"[A-Za-z0-9-]{1,36}")

REASONS = {
    "not_in_catalog": N_("not in the catalog"),
    "class_c": N_("class C (not covered)"),
    "restricted_setting": N_("restricted to another care setting"),
    "restricted_level": N_("restricted to a higher hospital level"),
}
OFFSITE = {"local": N_("local"), "in_province": N_("in province"), "out_of_province": N_("out of province")}
COORDINATION = {
    "repeat_capped": N_("pays again, capped by the bill's remainder"),
    "gap_fill": N_("fills the gap left by earlier payers"),
    "exclusive": N_("pays only when no one else paid"),
}
SETTINGS = {"inpatient": N_("inpatient"), "outpatient": N_("outpatient")}
CATEGORIES = {"drug": N_("drug"), "service": N_("service"), "material": N_("material"), "facility": N_("facility")}
ROLES = {
    "scheme_office": N_("scheme office clerk"),
    "hospital": N_("hospital billing clerk"),
    "admin": N_("administrator"),
}
LABELS = {"reasons": REASONS, "offsite": OFFSITE, "coordination": COORDINATION, "settings": SETTINGS}


def _page_error(exc: DomainError) -> PageError:
    refusal = forms.translate(exc)
    return PageError(exc.status, refusal.title, refusal.details)


# --- signing in and out ------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    token = new_pre_token()
    response = render(request, "sign_in.html", {"csrf": token, "next": safe_next(next), "username": "", "error": None})
    set_cookie(response, PRE_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-in", response_class=HTMLResponse, operation_id="deskSignIn")
async def sign_in(request: Request) -> Response:
    form = await checked_form(request, request.cookies.get(PRE_COOKIE))
    username = text(form, "username", 64).lower()
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    next_path = safe_next(text(form, "next", 500))
    settings = get_settings()
    now = clock.now()

    def check() -> users.SignIn:
        with read_session() as s:
            user, ok = users.check_password(s, username=username, password=password, now=now)
        return write_transaction(
            lambda s: users.record_sign_in(
                s,
                user_id=user.id if user else None,
                password_ok=ok,
                now=now,
                max_failures=settings.signin_max_failures,
                lock_minutes=settings.signin_lock_minutes,
                password=password,
            ),
            operation="sign_in",
        )

    result = await run_in_threadpool(check)
    if result.user is not None:
        request.state.principal = users.principal_of(result.user)
    if result.outcome == "ok":
        assert result.token is not None
        done = redirect(next_path)
        set_cookie(done, SESSION_COOKIE, result.token)
        done.delete_cookie(PRE_COOKIE, path=PATH)
        return done
    # Slow the next guess: each consecutive failure is answered later.
    await asyncio.sleep(settings.signin_delay_ms * min(result.failures, 10) / 1000)
    if result.outcome == "locked":
        until = result.locked_until.strftime("%Y-%m-%d %H:%M UTC") if result.locked_until else ""
        error = _("Too many failed sign-ins: this account is locked until %(until)s.") % {"until": until}
        status = 423
    else:
        error = _("The username or password is wrong.")
        status = 401
    token = new_pre_token()
    response = render(
        request, "sign_in.html", {"csrf": token, "next": next_path, "username": username, "error": error}, status=status
    )
    set_cookie(response, PRE_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-out", operation_id="deskSignOut")
async def sign_out(request: Request, desk: Person) -> Response:
    await checked_form(request, desk.csrf_token)
    now = clock.now()
    await run_in_threadpool(
        write_transaction, lambda s: users.sign_out(s, token_hash=desk.token_hash, now=now), operation="sign_out"
    )
    response = redirect(PATH + "/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str | None = None) -> Response:
    response = redirect(safe_next(next))
    if lang in i18n.LANGS:
        set_cookie(response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    return response


# --- finding a bill ---------------------------------------------------------------------------

#: The bills of one patient listed at once (newest first); the API's list pages through more.
PATIENT_BILLS = 50


def _bills(
    principal: Principal,
    *,
    hospital_code: str | None = None,
    bill_no: str | None = None,
    patient_id_number: str | None = None,
    limit: int,
) -> Page[db.Bill]:
    """The bills the person may read that match (the API's list, scoped in SQL)."""
    with read_session() as s:
        return bills.list_page(
            s,
            principal=principal,
            hospital_code=hospital_code,
            bill_no=bill_no,
            patient_id_number=patient_id_number,
            admitted_from=None,
            admitted_to=None,
            cursor=None,
            limit=limit,
        )


def _home(request: Request, desk: Desk, **extra: Any) -> HTMLResponse:
    status = extra.pop("status", 200)
    context: dict[str, Any] = {
        "find": {"hospital_code": desk.principal.hospital_code or "", "bill_no": ""},
        "find_errors": {},
        "patient_errors": {},
        "results": None,
        "roles": ROLES,
    }
    context.update(extra)
    return render(request, "home.html", context, status=status, desk=desk)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, desk: Person) -> Response:
    return _home(request, desk)


@router.get("/find", response_class=HTMLResponse, operation_id="deskFindBill")
def find_bill(request: Request, desk: Person, hospital_code: str = "", bill_no: str = "") -> Response:
    hospital_code, bill_no = hospital_code.strip()[:64], bill_no.strip()[:64]
    errors: dict[str, str] = {}
    if not hospital_code:
        errors["hospital_code"] = _("Enter the hospital code.")
    if not bill_no:
        errors["bill_no"] = _("Enter the bill number.")
    if not errors:
        found = _bills(desk.principal, hospital_code=hospital_code, bill_no=bill_no, limit=1)
        if found.rows:
            bill_id = found.rows[0].id
            request.state.audit_object_id = bill_id
            return redirect(f"{PATH}/bills/{bill_id}")
        errors["bill_no"] = _("No bill %(bill_no)s of hospital %(hospital)s is open to you.") % {
            "bill_no": bill_no,
            "hospital": hospital_code,
        }
    find = {"hospital_code": hospital_code, "bill_no": bill_no}
    return _home(request, desk, find=find, find_errors=errors, status=404 if "bill_no" in errors else 422)


@router.post("/find-patient", response_class=HTMLResponse, operation_id="deskFindPatient")
async def find_patient(request: Request, desk: Person) -> Response:
    """By the patient's ID number (posted, so it never appears in a URL, a log or the history)."""
    form = await checked_form(request, desk.csrf_token)
    id_number = text(form, "id_number", 18).upper()
    if ID_NUMBER.fullmatch(id_number) is None:
        errors = {"id_number": _("An ID number has 18 characters: 17 digits and a digit or X.")}
        return _home(request, desk, patient_errors=errors, status=422)
    request.state.audit_object_id = mask_id(id_number)

    found = await run_in_threadpool(_bills, desk.principal, patient_id_number=id_number, limit=PATIENT_BILLS)
    results = {
        "id_number": mask_id(id_number),
        "bills": [bill_public(r) for r in found.rows],
        "more": found.next_cursor is not None,
    }
    return _home(request, desk, results=results)


# --- a bill -----------------------------------------------------------------------------------


def _bill_id(bill_id: str) -> str:
    if BILL_ID.fullmatch(bill_id) is None:
        raise PageError(404, _("There is no such bill."))
    return bill_id


def bill_view(principal: Principal, bill_id: str) -> dict[str, Any]:
    """Everything the bill page shows, read in one session under the caller's scope."""
    with read_session() as s:
        try:
            bill = bills.get(s, _bill_id(bill_id))
            check_bill(principal, bill, session=s)
        except NotFound as exc:
            raise _page_error(exc) from exc
        rows = bill_settlements(s, bill.id)
        visible: list[dict[str, Any]] = []
        for row in rows:
            try:
                check_settlement_read(principal, row)
            except NotFound:
                continue
            visible.append(settlement_public(row.model_dump()))
        split = split_public(bill, active_payments(s, bill))
        names = {sc.code: sc.name for sc in s.query(db.Scheme).all()}
        active = [r for r in rows if r.status == "settled"]
        latest = active[-1] if active else None
        own = principal.scheme_code
        return {
            "bill": bill_public(bill),
            "settlements": visible,
            "classified": [v for v in visible if v["status"] == "settled"],
            "split": split,
            "scheme_names": names,
            "may_settle": principal.role == "scheme_office",
            "own_active": next((r.sequence for r in active if r.scheme_code == own), None),
            "reversible": latest.id if latest is not None and own and latest.scheme_code == own else None,
            "remaining": bill.medical_total - bill.paid_total,
        }


def _bill_page(
    request: Request,
    desk: Desk,
    bill_id: str,
    *,
    rows: list[dict[str, str]] | None = None,
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
            "errors": errors or {},
            "refusal": refusal,
            "notice": notice,
            "labels": LABELS,
            "categories": CATEGORIES,
        },
        status=status,
        desk=desk,
    )


@router.get("/bills/{bill_id}", response_class=HTMLResponse, operation_id="deskBill")
def bill_page(request: Request, bill_id: str, desk: Person) -> Response:
    return _bill_page(request, desk, bill_id)


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
        return await run_in_threadpool(_bill_page, request, desk, bill_id, rows=rows)
    vouchers = forms.parse(rows)
    if vouchers.errors:
        return await run_in_threadpool(
            _bill_page, request, desk, bill_id, rows=rows, errors=vouchers.errors, status=422
        )
    body = _body(desk, vouchers, dry_run=True)

    def preview_of(s: Session) -> Reply:
        outcome = claims.create_settlement(s, principal=desk.principal, bill_id=_bill_id(bill_id), body=body, idem=None)
        return answer(s, principal=desk.principal, idem=None, outcome=outcome, render=settlement_reply, remember=False)

    def dry_run() -> dict[str, Any]:
        return write_transaction(preview_of, operation="settle", commit=False).body

    try:
        result = await run_in_threadpool(dry_run)
    except DomainError as exc:
        if exc.status == 404:
            raise _page_error(exc) from exc
        refusal = forms.translate(exc, vouchers.row_of)
        return await run_in_threadpool(
            _bill_page, request, desk, bill_id, rows=rows, errors=refusal.fields, refusal=refusal, status=exc.status
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
            _bill_page, request, desk, bill_id, rows=rows, errors=vouchers.errors, status=422
        )
    body = _body(desk, vouchers, dry_run=False)
    idem = _idem(text(form, "idempotency_key", MAX_KEY_LENGTH + 1), bill_id, body)

    def settle_once(s: Session) -> Reply:
        outcome = claims.create_settlement(s, principal=desk.principal, bill_id=_bill_id(bill_id), body=body, idem=idem)
        return answer(s, principal=desk.principal, idem=idem, outcome=outcome, render=settlement_reply)

    def write() -> tuple[int, dict[str, Any]]:
        reply = write_transaction(settle_once, operation="settle")
        return reply.status, reply.body

    try:
        _status, result = await run_in_threadpool(write)
    except DomainError as exc:
        if exc.status == 404:
            raise _page_error(exc) from exc
        refusal = forms.translate(exc, vouchers.row_of)
        return await run_in_threadpool(
            _bill_page, request, desk, bill_id, rows=rows, errors=refusal.fields, refusal=refusal, status=exc.status
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

    def reverse_on_this_bill(s: Session) -> dict[str, Any]:
        if find_settlement(s, settlement_id).bill_id != bill_id:
            raise NotFound("there is no such settlement")
        outcome = claims.reverse(s, principal=desk.principal, settlement_id=settlement_id, idem=idem)
        return answer(s, principal=desk.principal, idem=idem, outcome=outcome, render=reversal_reply).body

    def write() -> dict[str, Any]:
        return write_transaction(reverse_on_this_bill, operation="reverse")

    try:
        await run_in_threadpool(write)
    except DomainError as exc:
        if exc.status == 404:
            raise _page_error(exc) from exc
        refusal = forms.translate(exc)
        return await run_in_threadpool(_bill_page, request, desk, bill_id, refusal=refusal, status=exc.status)
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


# --- statements -------------------------------------------------------------------------------


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
    report = None
    if not errors:
        with read_session() as s:
            statement = reports.clearing(s, period=month, scheme_code=reports.clearing_scheme(desk.principal))
        report = clearing_public(statement)
    return render(
        request,
        "clearing.html",
        {"period": month, "errors": errors, "report": report},
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


# --- installation -----------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(PATH + "/static", StaticFiles(directory=HERE / "static"), name="desk-static")

    @app.get(PATH, include_in_schema=False)
    def desk_root() -> Response:
        return redirect(PATH + "/")

    async def on_sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        from urllib.parse import quote

        return redirect(f"{PATH}/sign-in?next={quote(safe_next(exc.next_path), safe='/')}")

    async def on_csrf(request: Request, exc: Exception) -> Response:
        await _use_lang(request)
        return render(
            request,
            "error.html",
            {
                "title": _("This form cannot be accepted"),
                "message": _(
                    "The form was not sent from this desk, or it has expired. Nothing was done; open the page again."
                ),
                "details": [],
            },
            status=403,
        )

    async def on_page_error(request: Request, exc: Exception) -> Response:
        await _use_lang(request)
        assert isinstance(exc, PageError)
        titles = {404: N_("Not found"), 403: N_("Not allowed"), 409: N_("Not possible now")}
        return render(
            request,
            "error.html",
            {"title": _(titles.get(exc.status, N_("Refused"))), "message": exc.message, "details": exc.details},
            status=exc.status,
        )

    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(CsrfRefused, on_csrf)
    app.add_exception_handler(PageError, on_page_error)
