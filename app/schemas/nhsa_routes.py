"""The routes of the national platform's interface (``nhsa.md``, "Routes"): which schemes settle
a visit of an insurance type insured in a region, in order, with the platform's fund type code and
the ``setlinfo`` field each one's payment is reported in."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from app.engine.routes import Route, SetlinfoField
from app.schemas.common import Code, In, InstantOut, Out

#: The platform's insuring region (6 digits) and insurance type (3 digits).
INSUPLC_PATTERN = r"^[0-9]{6}$"
INSUTYPE_PATTERN = r"^[0-9]{3}$"
FundPayType = Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["390100"])]


class RouteSchemeIn(In):
    scheme_code: Code
    fund_pay_type: FundPayType | None = Field(None, description="Left out: the default of the scheme's kind.")
    setlinfo_field: SetlinfoField | None = Field(None, description="Left out: the default of the scheme's kind.")


class RouteCreate(In):
    insuplc_admdvs: Annotated[str, Field(pattern=INSUPLC_PATTERN)] | None = Field(
        None, description="May be left out; when present must equal the path's."
    )
    insutype: Annotated[str, Field(pattern=INSUTYPE_PATTERN)] | None = Field(
        None, description="May be left out; when present must equal the path's."
    )
    schemes: list[RouteSchemeIn] = Field(
        min_length=1,
        max_length=10,
        description="In settlement order: a basic scheme, then tiers that supplement it.",
    )


class RouteSchemePublic(Out):
    scheme_code: str
    scheme_kind: str
    fund_pay_type: str
    setlinfo_field: SetlinfoField


class RoutePublic(Out):
    insuplc_admdvs: str
    insutype: str
    schemes: list[RouteSchemePublic]
    updated_at: InstantOut


def route_public(route: Route) -> dict[str, object]:
    return {
        "insuplc_admdvs": route.insuplc_admdvs,
        "insutype": route.insutype,
        "schemes": [
            {
                "scheme_code": s.scheme_code,
                "scheme_kind": s.scheme_kind,
                "fund_pay_type": s.fund_pay_type,
                "setlinfo_field": s.setlinfo_field,
            }
            for s in route.schemes
        ],
        "updated_at": route.updated_at.isoformat(),
    }
