"""``GET /v1/settlements``: the settlements the caller may read, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.principal import Principal
from app.services import paging
from app.services.scope import settlement_scope


def list_page(
    session: Session,
    *,
    principal: Principal,
    bill_id: str | None,
    scheme_code: str | None,
    status: str | None,
    payer_type: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> paging.Page[db.Settlement]:
    """Filters on the creation time: ``since`` included, ``until`` excluded."""
    filters: dict[str, Any] = {
        "bill_id": bill_id,
        "scheme_code": scheme_code,
        "status": status,
        "payer_type": payer_type,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    s = db.Settlement
    stmt = select(s).where(settlement_scope(principal))
    for column, value in (
        (s.bill_id, bill_id),
        (s.scheme_code, scheme_code),
        (s.status, status),
        (s.payer_type, payer_type),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if since is not None:
        stmt = stmt.where(col(s.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(s.created_at) < until)
    return paging.newest_first(
        session,
        stmt,
        model=s,
        list_name="settlements",
        principal=principal,
        filters=filters,
        cursor=cursor,
        limit=limit,
    )
