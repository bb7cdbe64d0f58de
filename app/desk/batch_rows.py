"""A batch of returned vouchers, carried out: every row previewed when the file is uploaded,
then each chosen row settled on its own.

**Each row is its own settlement**, with its own idempotency key made when the file was read
(``desk-batch:<batch>:<line>``), through the same write entry point as every settlement
(:func:`app.services.claims.settle`), checked against the row's preview exactly as the desk's
confirmation is (:mod:`app.desk.previewed`), its audit record in its own transaction.  The row's
state is written in that same transaction, so the ledger never holds a row's settlement that the
batch does not know of; a row that is refused or fails is written as such and the next row goes
on.

**One runner at a time.**  A confirmation queues the chosen rows, then a runner claims the batch
(a conditional update: one claim wins) and settles the queued rows in order, writing a heartbeat
as it goes.  A second click, a reload or a second worker finds the batch claimed and only shows
its progress.  A runner that stopped (the process ended) leaves its rows queued; confirming again
claims the batch once its heartbeat is old and goes on: a row that was settled before the stop
is answered by its key's stored answer, never paid twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import col
from starlette.requests import Request

from app import clock
from app.api.answers import settlement_reply
from app.api.observe import Observe
from app.db.batch_tables import DeskBatch, DeskBatchRow
from app.db.tx import read_session, write_transaction
from app.db.unit_of_work import UnitOfWork
from app.desk import forms, i18n
from app.desk.batch_file import BatchFile, vouchers_of
from app.desk.i18n import _
from app.desk.previewed import Expect, Figures, PreviewChanged
from app.desk.search import find_one, registered_code
from app.desk.settle_pages import preview_settlement
from app.errors import DomainError
from app.ledger.records import SettlementRecord
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.schemas.settlements import SettlementCreate
from app.services import audit, claims
from app.services.idempotency import IdemRequest, Reply
from app.services.writes import Audit

log = logging.getLogger("app.desk")
#: A runner whose heartbeat is older than this has stopped; confirming again takes over.
STALE = timedelta(seconds=30)
ROW_OPERATION = "deskBatchRow"


@dataclass(frozen=True)
class Progress:
    total: int
    chosen: int
    settled: int
    failed: int
    waiting: int


def _refusal_text(exc: DomainError) -> str:
    refusal = forms.translate(exc)
    return " ".join([refusal.title, *refusal.details, *refusal.fields.values()])


def _preview_row(principal: Principal, row_no: int, file_row: Any, batch_id: str) -> DeskBatchRow:
    """The row as read and previewed: ``ready`` with its figures, or ``refused`` with why."""
    now = clock.now()
    out = DeskBatchRow(
        batch_id=batch_id,
        row_no=row_no,
        hospital_code=file_row.hospital_code,
        bill_no=file_row.bill_no,
        vouchers=file_row.vouchers,
        state="refused",
        idempotency_key=f"desk-batch:{batch_id}:{row_no}",
        updated_at=now,
    )
    if file_row.errors:
        out.problem, out.detail = "entry", " ".join(file_row.errors)[:1000]
        return out
    code = registered_code(file_row.hospital_code)
    bill_id = find_one(principal, code, file_row.bill_no)
    if bill_id is None:
        out.problem = "not-found"
        out.detail = _("No bill %(bill_no)s of hospital %(hospital)s is open to you.") % {
            "bill_no": file_row.bill_no,
            "hospital": file_row.hospital_code,
        }
        return out
    out.hospital_code, out.bill_id = code, bill_id
    body = SettlementCreate(scheme_code=principal.scheme_code or "", dry_run=True, external_payments=file_row.payments)
    try:
        result, split = preview_settlement(principal, bill_id, body)
    except DomainError as exc:
        out.problem, out.detail = exc.problem, _refusal_text(exc)[:1000]
        return out
    out.state, out.previewed = "ready", Figures.of(result, split).encode()
    out.fund_payment = Decimal(result["fund_payment"])
    return out


def create(user_id: str, principal: Principal, file_name: str, parsed: BatchFile) -> str:
    """Read and preview every row of an uploaded file, and keep the batch (its id)."""
    batch_id = str(uuid.uuid4())
    rows = [_preview_row(principal, r.line, r, batch_id) for r in parsed.rows]
    now = clock.now()
    batch = DeskBatch(
        id=batch_id,
        user_id=user_id,
        client_id=principal.client_id,
        scheme_code=principal.scheme_code or "",
        file_name=file_name[:200],
        status="previewed",
        created_at=now,
        updated_at=now,
    )

    def keep(work: UnitOfWork) -> None:
        work.session.add(batch)
        work.session.flush()
        work.session.add_all(rows)

    write_transaction(keep, operation="desk_batch_create")
    return batch_id


def read(batch_id: str, user_id: str) -> tuple[DeskBatch, list[DeskBatchRow]] | None:
    """A person's own batch and its rows (another's does not exist for them)."""
    with read_session() as s:
        batch = s.get(DeskBatch, batch_id)
        if batch is None or batch.user_id != user_id:
            return None
        rows = list(s.scalars(select(DeskBatchRow).where(col(DeskBatchRow.batch_id) == batch_id).order_by("row_no")))
        return batch, rows


def progress(rows: Sequence[DeskBatchRow]) -> Progress:
    count = {state: sum(1 for r in rows if r.state == state) for state in ("settled", "failed", "queued")}
    chosen = count["settled"] + count["failed"] + count["queued"]
    return Progress(len(rows), chosen, count["settled"], count["failed"], count["queued"])


def choose(batch_id: str, user_id: str, chosen: set[int]) -> None:
    """Queue the chosen ``ready`` rows and skip the others, once: a batch already confirmed keeps
    its choice (a second click changes nothing)."""
    now = clock.now()

    def queue(work: UnitOfWork) -> None:
        s = work.session
        claimed = s.execute(
            update(DeskBatch)
            .where(
                col(DeskBatch.id) == batch_id, col(DeskBatch.user_id) == user_id, col(DeskBatch.status) == "previewed"
            )
            .values(status="queued", updated_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # a DML result has a row count
            return
        for row in s.scalars(select(DeskBatchRow).where(col(DeskBatchRow.batch_id) == batch_id)):
            if row.state == "ready":
                row.state = "queued" if row.row_no in chosen else "skipped"
                row.updated_at = now

    write_transaction(queue, operation="desk_batch_choose")


def _claim(batch_id: str, token: str) -> bool:
    now = clock.now()

    def claim(work: UnitOfWork) -> bool:
        stale = now - STALE
        won = work.session.execute(
            update(DeskBatch)
            .where(
                col(DeskBatch.id) == batch_id,
                or_(
                    col(DeskBatch.status) == "queued",
                    (col(DeskBatch.status) == "running") & (col(DeskBatch.heartbeat_at) < stale),
                ),
            )
            .values(status="running", runner=token, heartbeat_at=now, updated_at=now)
        )
        return bool(won.rowcount == 1)  # type: ignore[attr-defined]

    return write_transaction(claim, operation="desk_batch_claim")


def _beat(batch_id: str, token: str, *, done: bool = False) -> None:
    now = clock.now()
    values: dict[str, Any] = {"heartbeat_at": now, "updated_at": now}
    if done:
        values.update(status="done", runner=None)
    write_transaction(
        lambda w: w.session.execute(
            update(DeskBatch).where(col(DeskBatch.id) == batch_id, col(DeskBatch.runner) == token).values(**values)
        ),
        operation="desk_batch_beat",
    )


def _mark(work: UnitOfWork, batch_id: str, row_no: int, **values: Any) -> None:
    work.session.execute(
        update(DeskBatchRow)
        .where(
            col(DeskBatchRow.batch_id) == batch_id,
            col(DeskBatchRow.row_no) == row_no,
            col(DeskBatchRow.state) == "queued",
        )
        .values(updated_at=clock.now(), **values)
    )


#: What a row's settlement may show otherwise than its preview: the annual cap left after it,
#: which the batch's earlier rows of the same person (settled after the preview) count toward.
#: Every amount paid, of the computation and of the split sheet, must be what the clerk saw.
MAY_DIFFER = frozenset({"cap_remaining"})


class _SettledAsPreviewed(Expect):
    """The row's settlement, checked against its preview, marks the row settled in its own
    transaction."""

    def __init__(self, previewed: Figures, batch_id: str, row_no: int) -> None:
        super().__init__(previewed, ignore=MAY_DIFFER)
        self.batch_id, self.row_no = batch_id, row_no

    def __call__(self, work: LedgerWork, record: SettlementRecord) -> None:
        super().__call__(work, record)
        _mark(
            work, self.batch_id, self.row_no, state="settled", settlement_id=record.id, fund_payment=record.fund_payment
        )


def _row_audit(request: Request, batch_id: str, row_no: int) -> Audit:
    """The row's settlement's audit record, in its transaction: the person, the row's address,
    the settlement it made."""

    def add(work: UnitOfWork, reply: Reply) -> None:
        entry = Observe.entry(request.scope, ROW_OPERATION, reply.status, reply.body)
        entry.update(method="POST", path=f"/desk/batches/{batch_id}/rows/{row_no}")
        entry["object_id"] = reply.body.get("settlement_id")
        entry["outcome"] = audit.outcome_of(reply.status)
        audit.record(work, entry=entry, own_transaction=False)

    return add


def _settle_row(request: Request, principal: Principal, batch_id: str, row: DeskBatchRow) -> None:
    expect = Figures.decode(row.previewed or "")
    payments, errors = vouchers_of(row.vouchers)
    if expect is None or row.bill_id is None or errors:
        _fail(batch_id, row.row_no, "entry", _("This row was not previewed; upload the file again."))
        return
    body = SettlementCreate(scheme_code=principal.scheme_code or "", dry_run=False, external_payments=payments)
    idem = IdemRequest.of(
        row.idempotency_key, "POST", f"/v1/bills/{row.bill_id}/settlements", body.model_dump(mode="json")
    )
    try:
        reply = claims.settle(
            principal=principal,
            bill_id=row.bill_id,
            body=body,
            idem=idem,
            render=settlement_reply,
            audit=_row_audit(request, batch_id, row.row_no),
            check=_SettledAsPreviewed(expect, batch_id, row.row_no),
        )
    except PreviewChanged as changed:
        detail = _("The result changed since its preview: the fund would pay %(now)s. Nothing was paid.") % {
            "now": i18n.amount(changed.body["fund_payment"])
        }
        _fail(batch_id, row.row_no, "changed", detail)
        return
    except DomainError as exc:
        _fail(batch_id, row.row_no, exc.problem, _refusal_text(exc))
        return
    # A replayed key (the row was settled before a stop): the stored answer says what was paid.
    sid, paid = reply.body["settlement_id"], Decimal(reply.body["fund_payment"])
    write_transaction(
        lambda w: _mark(w, batch_id, row.row_no, state="settled", settlement_id=sid, fund_payment=paid),
        operation="desk_batch_row",
    )


def _fail(batch_id: str, row_no: int, problem: str, detail: str) -> None:
    write_transaction(
        lambda w: _mark(w, batch_id, row_no, state="failed", problem=problem[:64], detail=detail[:1000]),
        operation="desk_batch_row",
    )


def run(request: Request, principal: Principal, batch_id: str) -> None:
    """Settle the batch's queued rows, one by one, unless another runner holds it."""
    token = str(uuid.uuid4())
    if not _claim(batch_id, token):
        return
    while True:
        with read_session() as s:
            row = s.scalars(
                select(DeskBatchRow)
                .where(col(DeskBatchRow.batch_id) == batch_id, col(DeskBatchRow.state) == "queued")
                .order_by("row_no")
                .limit(1)
            ).first()
        if row is None:
            break
        try:
            _settle_row(request, principal, batch_id, row)
        except Exception:  # a failed row never blocks the others
            log.exception("batch %s: row %s failed unexpectedly", batch_id, row.row_no)
            _fail(batch_id, row.row_no, "internal", _("The row could not be settled; nothing was paid for it."))
        _beat(batch_id, token)
    _beat(batch_id, token, done=True)


def stopped(batch: DeskBatch, now: datetime) -> bool:
    """A batch whose runner stopped before it finished (the process ended)."""
    if batch.status == "queued":
        return now - batch.updated_at > STALE
    return batch.status == "running" and (batch.heartbeat_at is None or now - batch.heartbeat_at > STALE)
