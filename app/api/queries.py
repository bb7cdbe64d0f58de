"""Query parameters shared by several routes: strict dates, instants, list paging."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator

from app.services.paging import MAX_LIMIT

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def iso_day(value: object) -> object:
    """Only `YYYY-MM-DD` (pydantic alone would also take `2026-03-01T00:00:00` or a Unix time)."""
    if isinstance(value, str) and _DAY.fullmatch(value) is None:
        raise ValueError("the date must be YYYY-MM-DD")
    return value


def instant(value: object) -> object:
    """An RFC 3339 date-time with its offset, or a date meaning its 00:00 UTC."""
    if not isinstance(value, str):
        return value
    if _DAY.fullmatch(value):
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    if _RFC3339.fullmatch(value) is None:
        raise ValueError("expected an RFC 3339 date-time with its offset (2026-03-10T09:00:00Z) or a date (2026-03-10)")
    # Python takes at most 6 decimals of a second.
    return datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value.upper().replace("Z", "+00:00")))


Day = Annotated[date, BeforeValidator(iso_day)]
Instant = Annotated[datetime, BeforeValidator(instant)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1..500.")]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=1000, description="The `next_cursor` of the previous page, unchanged.")
]
