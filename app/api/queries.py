"""Query parameters shared by several routes: strict dates, instants, list paging."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator, WithJsonSchema

from app.schemas.common import DAY, RFC3339, IsoDate
from app.services.paging import MAX_LIMIT


def instant(value: object) -> object:
    """An RFC 3339 date-time with its offset, or a date meaning its 00:00 UTC."""
    if not isinstance(value, str):
        return value
    if DAY.fullmatch(value):
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    if RFC3339.fullmatch(value) is None:
        raise ValueError("expected an RFC 3339 date-time with its offset (2026-03-10T09:00:00Z) or a date (2026-03-10)")
    # Python takes at most 6 decimals of a second.
    return datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value.upper().replace("Z", "+00:00")))


Day = IsoDate
#: Documented as what it takes: a date-time (RFC 3339, with its offset) or a date.
Instant = Annotated[
    datetime,
    BeforeValidator(instant),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1..500.")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=1000,
        pattern=r"^[A-Za-z0-9_-]+$",  # unpadded base64url, as app.services.paging.encode writes it
        description="The `next_cursor` of the previous page, unchanged.",
    ),
]
