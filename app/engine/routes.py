"""The routes of the national platform's interface (``nhsa.md``, "Routes"), pure: which schemes
settle a visit, the platform's codes for each (the defaults by kind), and the shape a route must
have (a basic scheme first, then tiers that supplement it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.engine.types import BASIC_KINDS, TIER_KINDS, Scheme
from app.errors import FieldError, Loc

SetlinfoField = Literal["hifp_pay", "hifmi_pay", "hifob_pay", "maf_pay", "cvlserv_pay", "oth_pay"]
SETLINFO_FIELDS: tuple[SetlinfoField, ...] = ("hifp_pay", "hifmi_pay", "hifob_pay", "maf_pay", "cvlserv_pay", "oth_pay")

#: The platform's fund type code (``fund_pay_type``) and ``setlinfo`` field of each kind that a
#: route may hold, unless the route says otherwise (regions use different codes for one fund).
DEFAULT_FUND_PAY_TYPE: dict[str, str] = {
    "uebmi": "310100",
    "urrbmi": "390100",
    "nrcms": "390100",
    "serious_illness": "390200",
    "large_amount": "330100",
    "medical_assistance": "610100",
}
DEFAULT_SETLINFO_FIELD: dict[str, SetlinfoField] = {
    "uebmi": "hifp_pay",
    "urrbmi": "hifp_pay",
    "nrcms": "hifp_pay",
    "serious_illness": "hifmi_pay",
    "large_amount": "hifob_pay",
    "medical_assistance": "maf_pay",
}


@dataclass(frozen=True, slots=True)
class RouteScheme:
    scheme_code: str
    scheme_kind: str
    #: The scheme's name (``setldetail``'s ``fund_pay_type_name``).
    scheme_name: str
    fund_pay_type: str
    setlinfo_field: SetlinfoField


@dataclass(frozen=True, slots=True)
class Route:
    insuplc_admdvs: str
    insutype: str
    #: In settlement order: the basic scheme, then its tiers.
    schemes: tuple[RouteScheme, ...]
    updated_at: datetime

    @property
    def basic(self) -> RouteScheme:
        return self.schemes[0]


def route_errors(schemes: Sequence[tuple[str, Scheme | None]], loc: Loc = ("schemes",)) -> list[FieldError]:
    """Every scheme exists and appears once; the first is a basic scheme, the others tiers that
    supplement it."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    basic = schemes[0][0] if schemes else None
    for i, (code, scheme) in enumerate(schemes):
        where: Loc = (*loc, i, "scheme_code")
        if code in seen:
            errors.append(FieldError(where, f"{code} appears twice"))
        seen.add(code)
        if scheme is None:
            errors.append(FieldError(where, f"there is no scheme {code!r}"))
        elif i == 0 and scheme.kind not in BASIC_KINDS:
            errors.append(FieldError(where, f"{code} is a {scheme.kind} scheme; a route starts with a basic scheme"))
        elif i > 0 and (scheme.kind not in TIER_KINDS or scheme.supplements != basic):
            errors.append(FieldError(where, f"{code} is no tier supplementing {basic}"))
    return errors
