"""Opaque cursors of the lists (api.md "Lists"): keyset paging, validated strictly.

A cursor holds the sort key of the last item of the page it ends (``created_at`` and ``id``,
or a hospital's ``code``), the list it belongs to, a fingerprint of the client that asked for
it and one of the filters it was asked with.  It carries no scope: every page is filtered by
the caller's scope on the server, so a cursor that was altered, or used by another client,
can only move the position inside what the caller may read anyway.  It is nevertheless
refused (422 ``validation`` at ``("cursor",)``, which the API places at ``query.cursor``) when
it is not exactly what this service issues, when it belongs to another list or another client,
or when the filters changed.

Keyset paging is stable: an item created while a client pages sorts before the position it
has reached (it is newer), so it never makes the client see another item twice or skip one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session
from sqlmodel import col

from app.errors import FieldError, ValidationFailed
from app.principal import Principal

T = TypeVar("T")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_VERSION = 1
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LOC = ("cursor",)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its rows, and the cursor of the next page (None on the last; the
    audit trail's cursor is a record id)."""

    rows: Sequence[T]
    next_cursor: str | int | None


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _bad(why: str) -> ValidationFailed:
    return ValidationFailed([FieldError(_LOC, why)])


def encode(*, list_name: str, principal: Principal, filters: dict[str, Any], key: Sequence[str]) -> str:
    doc = {
        "v": _VERSION,
        "l": list_name,
        "c": _fingerprint(principal.client_id),
        "f": _fingerprint(filters),
        "k": list(key),
    }
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def decode(
    cursor: str, *, list_name: str, principal: Principal, filters: dict[str, Any], kinds: Sequence[str]
) -> list[Any]:
    """The sort key a cursor ends at, one value per kind (``"timestamp"``: an aware datetime,
    ``"id"``: a code or an id); 422 for anything this service did not issue for this call."""
    malformed = _bad("the cursor is malformed; pass the next_cursor of the previous page unchanged")
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise malformed from None
    if not isinstance(doc, dict) or set(doc) != {"v", "l", "c", "f", "k"} or doc["v"] != _VERSION:
        raise malformed
    if doc["l"] != list_name:
        raise _bad("the cursor belongs to another list")
    if doc["c"] != _fingerprint(principal.client_id):
        raise _bad("the cursor was issued to another client")
    if doc["f"] != _fingerprint(filters):
        raise _bad("the cursor was issued with other filters; start again without a cursor")
    key = doc["k"]
    if not isinstance(key, list) or len(key) != len(kinds) or not all(isinstance(k, str) for k in key):
        raise malformed
    values: list[Any] = []
    for kind, raw in zip(kinds, key, strict=True):
        value: Any = parse_timestamp(raw) if kind == "timestamp" else raw if _ID.fullmatch(raw) else None
        if value is None:
            raise malformed
        values.append(value)
    return values


def parse_timestamp(value: str) -> datetime | None:
    """An ISO 8601 timestamp with its offset (as the cursor stores it), or None."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def newest_first(
    session: Session,
    stmt: Select[Any],
    *,
    model: Any,
    list_name: str,
    principal: Principal,
    filters: dict[str, Any],
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    """One page of ``stmt`` (rows of ``model``, filtered already) by ``(created_at, id)``
    descending, from the position ``cursor`` ends at, and the next page's cursor."""
    created_at, id_ = col(model.created_at), col(model.id)
    stmt = stmt.order_by(created_at.desc(), id_.desc()).limit(limit + 1)
    if cursor is not None:
        at, after = decode(cursor, list_name=list_name, principal=principal, filters=filters, kinds=["timestamp", "id"])
        stmt = stmt.where(or_(created_at < at, and_(created_at == at, id_ < after)))
    return page(
        list(session.scalars(stmt)),
        limit=limit,
        list_name=list_name,
        principal=principal,
        filters=filters,
        key=lambda row: [row.created_at.isoformat(), row.id],
    )


def page(
    rows: Sequence[T],
    *,
    limit: int,
    list_name: str,
    principal: Principal,
    filters: dict[str, Any],
    key: Callable[[T], list[str]],
) -> Page[T]:
    """The page's rows (``limit + 1`` were fetched) and the cursor of the next page, if any."""
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode(list_name=list_name, principal=principal, filters=filters, key=key(rows[-1])))
