"""The audit trail: one record per write and per read of a settlement, refusals included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.db.unit_of_work import UnitOfWork
from app.privacy import mask_ids_in
from app.services.paging import Page

MAX_PAGE = 500


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status >= 500:
        return "error"
    return "refused"


_TABLE = db.core_table(db.AuditRecord)
_INSERT = insert(_TABLE)


def record(work: UnitOfWork, *, entry: dict[str, Any], own_transaction: bool = True) -> None:
    """Insert one record.

    A write's record is inserted in the write's own transaction (``own_transaction=False``, from
    the write's audit callback: :func:`app.services.writes.run_write`): committed with it or not
    at all.  A record in a transaction of its own (a refusal, a read, a dry run: nothing else was
    committed) does not make its commit wait for the WAL flush on PostgreSQL: it is written after
    the response, so a crash may lose it anyway; this keeps the audit from doubling the fsyncs."""
    if own_transaction and work.postgresql:
        work.connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
    object_id = entry.get("object_id")
    entry = {
        **entry,
        "path": mask_ids_in(entry["path"])[:500],
        "object_id": None if object_id is None else mask_ids_in(object_id)[:200],
    }
    if own_transaction:
        work.connection.execute(_INSERT, entry)
    else:  # sent with the write's other deferred inserts, just before its commit
        work.defer_insert(_TABLE, entry)


def query(
    session: Session,
    *,
    client_id: str | None,
    operation: str | None,
    object_id: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: int | None,
    limit: int,
) -> Page[db.AuditRecord]:
    """Newest first; ``cursor`` is the id below which the next page starts."""
    a = db.AuditRecord
    stmt = select(a).order_by(col(a.id).desc()).limit(limit + 1)
    if client_id is not None:
        stmt = stmt.where(col(a.client_id) == client_id)
    if operation is not None:
        stmt = stmt.where(col(a.operation) == operation)
    if object_id is not None:
        stmt = stmt.where(col(a.object_id) == object_id)
    if outcome is not None:
        stmt = stmt.where(col(a.outcome) == outcome)
    if since is not None:
        stmt = stmt.where(col(a.at) >= since)
    if until is not None:
        stmt = stmt.where(col(a.at) < until)
    if cursor is not None:
        stmt = stmt.where(col(a.id) < cursor)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)
