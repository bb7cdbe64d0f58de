"""The desk's home page and finding a bill: by hospital and bill number, or by the patient."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.db import tables as db
from app.db.tx import read_session
from app.desk.i18n import _
from app.desk.labels import ROLES
from app.desk.web import PATH, Desk, Person, checked_form, redirect, render, text
from app.engine import validate
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
        "typed_id": "",
        "roles": ROLES,
        "back": PATH + "/",
    }
    context.update(extra)
    context["problems"] = {**context["find_errors"], **context["patient_errors"]}
    return render(request, "home.html", context, status=status, desk=desk)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, desk: Person) -> Response:
    return _home(request, desk)


def find_one(principal: Principal, hospital_code: str, bill_no: str) -> str | None:
    """The id of the bill the person may read with this number at this hospital, or None."""
    found = _bills(principal, hospital_code=hospital_code, bill_no=bill_no, limit=1)
    return found.rows[0].id if found.rows else None


def registered_code(typed: str) -> str:
    """The registry's spelling of a hospital code typed in any case (``h511623001``), or the code
    as typed when the registry has no such hospital."""
    with read_session() as s:
        found = s.scalars(
            select(col(db.Hospital.code)).where(func.lower(col(db.Hospital.code)) == typed.lower()).limit(1)
        ).first()
    return found or typed


@router.get("/find", response_class=HTMLResponse, operation_id="deskFindBill")
def find_bill(request: Request, desk: Person, hospital_code: str = "", bill_no: str = "") -> Response:
    hospital_code, bill_no = hospital_code.strip()[:64], bill_no.strip()[:64]
    errors: dict[str, str] = {}
    if not hospital_code:
        errors["hospital_code"] = _("Enter the hospital code.")
    if not bill_no:
        errors["bill_no"] = _("Enter the bill number.")
    if not errors:
        hospital_code = registered_code(hospital_code)
        bill_id = find_one(desk.principal, hospital_code, bill_no)
        if bill_id is not None:
            request.state.audit_object_id = bill_id
            return redirect(f"{PATH}/bills/{bill_id}")
        errors["bill_no"] = _("No bill %(bill_no)s of hospital %(hospital)s is open to you.") % {
            "bill_no": bill_no,
            "hospital": hospital_code,
        }
        find = {"hospital_code": hospital_code, "bill_no": bill_no}
        return _home(request, desk, find=find, find_errors=errors, status=404)
    find = {"hospital_code": hospital_code, "bill_no": bill_no}
    return _home(request, desk, find=find, find_errors=errors, status=422)


#: An ID number as typed: spaces around it or between its groups are dropped.
TYPED_ID_LENGTH = 40


def id_number_problem(id_number: str) -> str | None:
    """Why the desk cannot look an ID number up (the engine's checks), in the clerk's words."""
    if ID_NUMBER.fullmatch(id_number) is None:
        return _("An ID number has 18 characters: 17 digits and a digit or X.")
    for error in validate.id_number_errors(id_number, ("id_number",)):
        if "check character" in error.msg:
            return _("The last character (the check character) does not match the other 17: check the number.")
        return _("This ID number does not hold a valid birth date: check the number.")
    return None


@router.post("/find-patient", response_class=HTMLResponse, operation_id="deskFindPatient")
async def find_patient(request: Request, desk: Person) -> Response:
    """By the patient's ID number (posted, so it never appears in a URL, a log or the history)."""
    form = await checked_form(request, desk.csrf_token)
    typed = text(form, "id_number", TYPED_ID_LENGTH)
    id_number = re.sub(r"\s+", "", typed).upper()
    problem = id_number_problem(id_number)
    if problem is not None:
        # The clerk's own entry is shown again to be corrected (it never goes to a URL or a log).
        return _home(request, desk, patient_errors={"id_number": problem}, typed_id=typed, status=422)
    request.state.audit_object_id = mask_id(id_number)

    found = await run_in_threadpool(_bills, desk.principal, patient_id_number=id_number, limit=PATIENT_BILLS)
    results = {
        "id_number": mask_id(id_number),
        "bills": [bill_public(r) for r in found.rows],
        "more": found.next_cursor is not None,
    }
    return _home(request, desk, results=results)
