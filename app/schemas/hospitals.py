"""The designated-hospital registry (rules v2.1) and the pages of the lists (api.md "Lists")."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, TypeVar

from pydantic import Field, model_validator

from app.db import tables as db
from app.schemas.common import Code, In, IsoDate, Level, Name, Out, RegionCode

Row = TypeVar("Row")


class HospitalCreate(In):
    code: Code | None = Field(None, description="May be left out; when present must equal the path's.")
    name: Name
    level: Level
    region: RegionCode
    designated_from: IsoDate
    designated_to: IsoDate | None = Field(None, description="Last day of the designation (included); open when null.")

    @model_validator(mode="after")
    def _ordered(self) -> HospitalCreate:
        if self.designated_to is not None and self.designated_to < self.designated_from:
            raise ValueError("designated_to is before designated_from")
        return self


class RegisteredHospitalPublic(Out):
    code: str
    name: str
    level: int
    region: str
    designated_from: date
    designated_to: date | None


class PageMeta(Out):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def page_public(rows: Iterable[Row], next_cursor: str | int | None, item: Callable[[Row], Any]) -> dict[str, Any]:
    """The body of a page (:class:`PageMeta` and its ``items``, or :class:`AuditPage`): each row
    rendered by ``item``, then the next page's cursor."""
    return {"items": [item(r) for r in rows], "next_cursor": next_cursor}


class HospitalPage(PageMeta):
    items: list[RegisteredHospitalPublic]


def hospital_public(row: db.Hospital) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "level": row.level,
        "region": row.region,
        "designated_from": row.designated_from.isoformat(),
        "designated_to": row.designated_to.isoformat() if row.designated_to else None,
    }
