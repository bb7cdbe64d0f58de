"""Returned vouchers in batches, at the desk: upload a file of bills (:mod:`app.desk.batch_file`),
see every row previewed, confirm the rows chosen, watch the progress (the page reloads itself
while rows are waiting; no script), download the result as CSV.  How the rows are settled, each on
its own and never twice: :mod:`app.desk.batch_rows`.  A scheme office clerk's, under the clerk's
scheme; a batch is its uploader's alone (to anyone else it does not exist).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import clock
from app.db.batch_tables import DeskBatch, DeskBatchRow
from app.desk import batch_file, batch_rows, i18n
from app.desk.bill_view import own_scheme
from app.desk.i18n import N_, _
from app.desk.web import PATH, SECURITY_HEADERS, Desk, PageError, Person, checked_form, redirect, render

router = APIRouter(include_in_schema=False)
STATES = {
    "ready": N_("ready to settle"),
    "refused": N_("cannot be settled"),
    "queued": N_("waiting"),
    "settled": N_("settled"),
    "failed": N_("refused when settled"),
    "skipped": N_("not chosen"),
}
#: Seconds between two reloads of a batch's page while rows are waiting.
REFRESH = 2


def _upload_page(request: Request, desk: Desk, *, errors: list[str] | None = None, status: int = 200) -> HTMLResponse:
    return render(
        request,
        "batches.html",
        {"file_errors": errors or [], "max_rows": batch_file.MAX_ROWS, "back": PATH + "/batches"},
        status=status,
        desk=desk,
    )


@router.get("/batches", response_class=HTMLResponse, operation_id="deskBatches")
def batches(request: Request, desk: Person) -> Response:
    own_scheme(desk)
    return _upload_page(request, desk)


@router.get("/batches/sample.csv", operation_id="deskBatchSample")
def sample(desk: Person) -> Response:
    headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="returned-vouchers.csv"'}
    return Response(batch_file.SAMPLE.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/batches", response_class=HTMLResponse, operation_id="deskBatchUpload")
async def upload(request: Request, desk: Person) -> Response:
    form = await checked_form(request, desk.csrf_token)
    own_scheme(desk)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _upload_page(request, desk, errors=[_("Choose the file to upload.")], status=422)
    data = await upload.read(batch_file.MAX_BYTES + 1)
    parsed = batch_file.read(data)
    if parsed.errors:
        return _upload_page(request, desk, errors=parsed.errors, status=422)
    batch_id = await run_in_threadpool(batch_rows.create, desk.user.id, desk.principal, upload.filename, parsed)
    request.state.audit_object_id = batch_id
    return redirect(f"{PATH}/batches/{batch_id}")


def _read(desk: Desk, batch_id: str) -> tuple[DeskBatch, list[DeskBatchRow]]:
    found = batch_rows.read(batch_id[:36], desk.user.id)
    if found is None:
        raise PageError(404, _("There is no such batch."))
    return found


@router.get("/batches/{batch_id}", response_class=HTMLResponse, operation_id="deskBatch")
def batch_page(request: Request, batch_id: str, desk: Person) -> Response:
    own_scheme(desk)
    batch, rows = _read(desk, batch_id)
    progress = batch_rows.progress(rows)
    stopped = batch_rows.stopped(batch, clock.now())
    context: dict[str, Any] = {
        "batch": batch,
        "rows": rows,
        "progress": progress,
        "states": STATES,
        "stopped": stopped,
        "refresh": REFRESH if batch.status in ("queued", "running") and not stopped else None,
    }
    return render(request, "batch.html", context, desk=desk)


@router.post("/batches/{batch_id}/confirm", operation_id="deskBatchConfirm")
async def confirm(request: Request, batch_id: str, desk: Person) -> Response:
    """Queue the chosen rows (once) and start settling them; a second click, or a click after a
    stop, only (re)starts the runner, which settles each row once."""
    form = await checked_form(request, desk.csrf_token)
    own_scheme(desk)
    batch, _rows = await run_in_threadpool(_read, desk, batch_id)
    chosen = {int(v) for v in form.getlist("row") if isinstance(v, str) and v.isdigit()}
    await run_in_threadpool(batch_rows.choose, batch.id, desk.user.id, chosen)
    request.state.audit_object_id = batch.id
    done = redirect(f"{PATH}/batches/{batch.id}")
    done.background = BackgroundTask(batch_rows.run, request, desk.principal, batch.id)
    return done


@router.get("/batches/{batch_id}/result.csv", operation_id="deskBatchResult")
def result_csv(request: Request, batch_id: str, desk: Person) -> Response:
    own_scheme(desk)
    batch, rows = _read(desk, batch_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["line", "hospital_code", "bill_no", "vouchers", "state", "fund_payment", "settlement_id", "message"]
    )
    for r in rows:
        paid = (
            "" if r.fund_payment is None or r.state not in ("settled", "ready", "queued") else f"{r.fund_payment:.2f}"
        )
        state = f"{r.state} ({_(STATES[r.state])})" if i18n.current() != "en" else r.state
        writer.writerow(
            [r.row_no, r.hospital_code, r.bill_no, r.vouchers, state, paid, r.settlement_id or "", r.detail or ""]
        )
    name = f"batch-{batch.created_at:%Y%m%d-%H%M}-result.csv"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    # With a byte-order mark: a spreadsheet then reads the Chinese right.
    return Response(("\ufeff" + out.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)
