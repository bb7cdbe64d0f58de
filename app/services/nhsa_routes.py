"""The routes of the national platform's interface (``nhsa.md``, "Routes"): put (admin), read
(every role, with the defaults filled in), and the route a visit is bound to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import BindParameter, Select, bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.db.direct import execute, execute_one
from app.db.visit_tables import NhsaRoute
from app.engine import types as t
from app.engine.routes import DEFAULT_FUND_PAY_TYPE, DEFAULT_SETLINFO_FIELD, Route, RouteScheme, route_errors
from app.errors import NotFound, UnknownRoute, ValidationFailed
from app.schemas.nhsa_routes import RouteCreate
from app.services.reference import Put, path_key


def _schemes(session: Session, codes: list[str]) -> dict[str, db.Scheme]:
    rows = session.scalars(select(db.Scheme).where(col(db.Scheme.code).in_(codes)))
    return {row.code: row for row in rows}


def _engine_scheme(row: db.Scheme) -> t.Scheme:
    return t.Scheme(row.code, row.name, row.kind, row.pooling_region, row.coordination, row.supplements)  # type: ignore[arg-type]


def put(session: Session, *, insuplc_admdvs: str, insutype: str, body: RouteCreate) -> Put[Route]:
    """Create or replace the route; 422 ``validation`` (located in the body) unless its first
    scheme is a basic scheme and the others tiers supplementing it.  The codes left out are the
    defaults of each scheme's kind, stored filled in."""
    path_key(body.insuplc_admdvs, insuplc_admdvs, "insuplc_admdvs")
    path_key(body.insutype, insutype, "insutype")
    codes = [s.scheme_code for s in body.schemes]
    found = _schemes(session, codes)
    errors = route_errors([(c, _engine_scheme(found[c]) if c in found else None) for c in codes])
    if errors:
        raise ValidationFailed(errors)
    stored: list[dict[str, Any]] = [
        {
            "scheme_code": s.scheme_code,
            "fund_pay_type": s.fund_pay_type or DEFAULT_FUND_PAY_TYPE[found[s.scheme_code].kind],
            "setlinfo_field": s.setlinfo_field or DEFAULT_SETLINFO_FIELD[found[s.scheme_code].kind],
        }
        for s in body.schemes
    ]
    row = session.scalars(
        select(NhsaRoute)
        .where(col(NhsaRoute.insuplc_admdvs) == insuplc_admdvs, col(NhsaRoute.insutype) == insutype)
        .with_for_update()
    ).one_or_none()
    created = row is None
    now = clock.now()
    if row is None:
        row = NhsaRoute(insuplc_admdvs=insuplc_admdvs, insutype=insutype, schemes=stored, updated_at=now)
        session.add(row)
    else:
        row.schemes, row.updated_at = stored, now
    session.flush()
    return Put(route_of(row.insuplc_admdvs, row.insutype, row.schemes, row.updated_at, found), created)


class Named(Protocol):
    """What a route takes of a scheme: its kind and name as they are now."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...


def route_of(
    insuplc_admdvs: str,
    insutype: str,
    stored: Sequence[Mapping[str, Any]],
    updated_at: datetime,
    schemes: Mapping[str, Named],
) -> Route:
    """A route from its stored schemes (code, fund pay type, setlinfo field) and each scheme's
    kind and name."""
    return Route(
        insuplc_admdvs,
        insutype,
        tuple(
            RouteScheme(
                s["scheme_code"],
                schemes[s["scheme_code"]].kind,
                schemes[s["scheme_code"]].name,
                s["fund_pay_type"],
                s["setlinfo_field"],
            )
            for s in stored
        ),
        updated_at,
    )


_ROUTE = db.core_table(NhsaRoute)
_SCHEME = db.core_table(db.Scheme)
_FIND = select(_ROUTE.c.insuplc_admdvs, _ROUTE.c.insutype, _ROUTE.c.schemes, _ROUTE.c.updated_at).where(
    _ROUTE.c.insuplc_admdvs == bindparam("insuplc"), _ROUTE.c.insutype == bindparam("insutype")
)


@cache
def _kinds(count: int) -> Select[Any]:
    """The kind and name of ``count`` schemes (``code_0`` ...): one statement compiled per count,
    not an expanding ``IN``, which would be compiled again at every execution."""
    codes: list[BindParameter[Any]] = [bindparam(f"code_{i}") for i in range(count)]
    return select(_SCHEME.c.code, _SCHEME.c.kind, _SCHEME.c.name).where(_SCHEME.c.code.in_(codes))


def find(session: Session, insuplc_admdvs: str, insutype: str) -> Route | None:
    """The route, with each scheme's kind and name as they are now (two statements)."""
    row = execute_one(session, _FIND, {"insuplc": insuplc_admdvs, "insutype": insutype})
    if row is None:
        return None
    return of_row(session, row.insuplc_admdvs, row.insutype, row.schemes, row.updated_at)


def of_row(
    session: Session, insuplc_admdvs: str, insutype: str, stored: Sequence[Mapping[str, Any]], updated_at: datetime
) -> Route:
    """The route whose row has these values (read with another row, :mod:`app.services.visit_reads`),
    with each scheme's kind and name as they are now (one statement)."""
    codes: dict[str, object] = {f"code_{i}": s["scheme_code"] for i, s in enumerate(stored)}
    schemes = {r.code: r for r in execute(session, _kinds(len(codes)), codes)}
    return route_of(insuplc_admdvs, insutype, stored, updated_at, schemes)


def unknown_route(insuplc_admdvs: str, insutype: str) -> UnknownRoute:
    return UnknownRoute(
        f"no route says which schemes settle insurance type {insutype} insured in {insuplc_admdvs}; "
        f"an administrator puts it at /v1/nhsa/routes/{insuplc_admdvs}/{insutype}"
    )


def get(session: Session, *, insuplc_admdvs: str, insutype: str) -> Route:
    route = find(session, insuplc_admdvs, insutype)
    if route is None:
        raise NotFound(f"there is no route for insuring region {insuplc_admdvs} and insurance type {insutype}")
    return route


def route_for(session: Session, insuplc_admdvs: str, insutype: str) -> Route:
    """The route of a visit (or a reconciliation), else ``unknown-route``."""
    route = find(session, insuplc_admdvs, insutype)
    if route is None:
        raise unknown_route(insuplc_admdvs, insutype)
    return route
