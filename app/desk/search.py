"""The desk's home page and finding a bill: by hospital and bill number, or by the patient."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.db import tables as db
from app.db.tx import read_session
from app.desk.i18n import _
from app.desk.labels import ROLES
from app.desk.web import PATH, Desk, Person, checked_form, redirect, render, text
from app.principal import Principal
from app.privacy import mask_id
from app.schemas.public import bill_public
from app.services import bills
from app.services.paging import Page

router = APIRouter(include_in_schema=False)
ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")

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
