"""What a message on a visit reads with the visit (``nhsa.md``): 2301 and 2304 read the visit's
route (with its first schemes), hospital and member, and whether it has lines, in the statement
that locks the visit (:func:`locked_visit_with`), 2401 reads the route, member and hospital in one
statement (:func:`admitting`); each read refuses where a read of its own would have
(docs/decisions/0018-a-visits-last-writes-are-deferred.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, literal_column, select
from sqlalchemy.orm import Session

from app.db import tables as db
from app.db.direct import execute_one
from app.db.visit_tables import NhsaRoute
from app.engine import types as t
from app.engine.routes import Route
from app.engine.visit_lines import FeeLine
from app.errors import NotEnrolled
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.services import hospitals, idempotency, nhsa_routes
from app.services.idempotency import IdemRequest, Replayed
from app.services.visit_state import (
    HAS_LINES,
    VISIT,
    Admission,
    Member,
    Visit,
    VisitRef,
    held_lines,
    locked_for_message,
    message_lock,
)

_MEMBER_TABLE = db.core_table(db.Member)


def _member_read(route: Route, psn_no: str, row: Any) -> Member:
    """The person in the route's basic scheme, from a row read with :data:`_MEMBER_COLUMNS` (joined by
    the first scheme of the route's stored row), else ``not-enrolled``."""
    if row.member_no is None:
        raise NotEnrolled(f"person {psn_no} is no member of {route.basic.scheme_code}, the route's basic scheme")
    return Member(row.member_no, row.member_id_number, row.member_name)


#: A route's first schemes are joined to the statement that reads its row, by position in its
#: stored list; a longer route reads the rest of its schemes in a statement of its own.
JOINED_SCHEMES = 4
_ROUTE = db.core_table(NhsaRoute)
_ROUTE_SCHEMES = [db.core_table(db.Scheme).alias(f"route_scheme_{i}") for i in range(JOINED_SCHEMES)]
#: The route's row and its first schemes' codes, kinds and names (``scheme_<i>_code`` ...).
_ROUTE_COLUMNS = [
    _ROUTE.c.schemes.label("route_schemes"),
    _ROUTE.c.updated_at.label("route_updated_at"),
    *(
        column.label(f"scheme_{i}_{column.name}")
        for i, scheme in enumerate(_ROUTE_SCHEMES)
        for column in (scheme.c.code, scheme.c.kind, scheme.c.name)
    ),
]


def _joined_route_schemes(joined: Any) -> Any:
    """``joined`` (which has the route's row) with the route's first schemes joined to it."""
    for i, scheme in enumerate(_ROUTE_SCHEMES):
        joined = joined.outerjoin(scheme, scheme.c.code == _ROUTE.c.schemes[(i, "scheme_code")].as_string())
    return joined


@dataclass(frozen=True, slots=True)
class _Named:
    kind: str
    name: str


def _route_read(session: Session, insuplc_admdvs: str, insutype: str, row: Any) -> Route:
    """The route from its row read with :data:`_ROUTE_COLUMNS` (else ``unknown-route``), each
    scheme's kind and name as that statement read them."""
    stored = row.route_schemes
    if stored is None:
        raise nhsa_routes.unknown_route(insuplc_admdvs, insutype)
    named = {
        code: _Named(getattr(row, f"scheme_{i}_kind"), getattr(row, f"scheme_{i}_name"))
        for i in range(min(len(stored), JOINED_SCHEMES))
        if (code := getattr(row, f"scheme_{i}_code")) is not None
    }
    if len(stored) > JOINED_SCHEMES or any(s["scheme_code"] not in named for s in stored):
        return nhsa_routes.of_row(session, insuplc_admdvs, insutype, stored, row.route_updated_at)
    return nhsa_routes.route_of(insuplc_admdvs, insutype, stored, row.route_updated_at, named)


@dataclass(frozen=True, slots=True)
class Held:
    """A visit locked with what a settlement or an upload reads of it in the same statement
    (:func:`locked_visit_with`): its route's row, its hospital's registry entry and its person's
    row in the route's basic scheme.  Each raises as its own read would (``unknown-route``,
    ``unknown-hospital``, ``not-enrolled``) where it is used, so the refusals keep their order."""

    visit: Visit
    row: Any

    def route(self, session: Session) -> Route:
        return _route_read(session, self.visit.insuplc_admdvs, self.visit.insutype, self.row)

    def hospital(self) -> t.Hospital:
        r = self.row
        if r.hospital_level is None:
            raise hospitals.unknown_hospital(self.visit.hospital_code)
        return t.Hospital(self.visit.hospital_code, r.hospital_name, r.hospital_level, r.hospital_region)

    def member(self, route: Route) -> Member:
        return _member_read(route, self.visit.psn_no, self.row)

    def lines(self, work: LedgerWork) -> dict[str, tuple[FeeLine, str]]:
        """The visit's lines by ``feedetl_sn`` with their content hashes (:func:`held_lines`)."""
        return held_lines(work, self.visit.id, self.row)


_HOSPITAL = db.core_table(db.Hospital)
#: The person's member row, as :meth:`Held.member` and :meth:`Admitting.member` read it.
_MEMBER_COLUMNS = (
    _MEMBER_TABLE.c.member_no,
    _MEMBER_TABLE.c.id_number.label("member_id_number"),
    _MEMBER_TABLE.c.name.label("member_name"),
)
_HELD = message_lock(
    select(
        VISIT,
        *_ROUTE_COLUMNS,
        _HOSPITAL.c.name.label("hospital_name"),
        _HOSPITAL.c.level.label("hospital_level"),
        _HOSPITAL.c.region.label("hospital_region"),
        *_MEMBER_COLUMNS,
        HAS_LINES,
    )
    .select_from(
        _joined_route_schemes(
            VISIT.outerjoin(
                _ROUTE,
                and_(_ROUTE.c.insuplc_admdvs == VISIT.c.insuplc_admdvs, _ROUTE.c.insutype == VISIT.c.insutype),
            )
        )
        .outerjoin(_HOSPITAL, _HOSPITAL.c.code == VISIT.c.hospital_code)
        .outerjoin(
            _MEMBER_TABLE,
            and_(
                _MEMBER_TABLE.c.scheme_code == _ROUTE.c.schemes[(0, "scheme_code")].as_string(),
                _MEMBER_TABLE.c.member_no == VISIT.c.psn_no,
            ),
        )
    )
    .where(VISIT.c.id == bindparam("mdtrt_id"))
    .with_for_update(of=VISIT)
)


@dataclass(frozen=True, slots=True)
class Admitting:
    """What a 2401 reads, in one statement (:func:`admitting`): the route's row, the person's row
    in the route's basic scheme and the hospital's registry entry, each raising as its own read
    would where it is used."""

    admission: Admission
    row: Any

    def replayed(self, idem: IdemRequest) -> Replayed | None:
        """The answer already given to the ``msgid`` (read with the rest: a 2401 locks nothing
        first, and two copies of it at once collide on the key's record, see
        :mod:`app.services.idempotency`)."""
        return idempotency.replayed_from(idem, self.row)

    def route(self, session: Session) -> Route:
        return _route_read(session, self.admission.insuplc_admdvs, self.admission.insutype, self.row)

    def member(self, route: Route) -> Member:
        return _member_read(route, self.admission.psn_no, self.row)

    def registry(self) -> Any:
        """The registry entry: ``code``, ``name``, ``level``, ``region``, ``designated_from``, ``designated_to``."""
        if self.row.code is None:
            raise hospitals.unknown_hospital(self.admission.hospital_code)
        return self.row


_ONE = select(literal_column("1").label("one")).subquery("one")
_ADMITTING = select(
    *_ROUTE_COLUMNS, *_MEMBER_COLUMNS, *hospitals.ENTRY_COLUMNS, *idempotency.LOOKUP_COLUMNS
).select_from(
    _joined_route_schemes(
        _ONE.outerjoin(
            _ROUTE, and_(_ROUTE.c.insuplc_admdvs == bindparam("insuplc"), _ROUTE.c.insutype == bindparam("insutype"))
        )
    )
    .outerjoin(
        _MEMBER_TABLE,
        and_(
            _MEMBER_TABLE.c.scheme_code == _ROUTE.c.schemes[(0, "scheme_code")].as_string(),
            _MEMBER_TABLE.c.member_no == bindparam("psn_no"),
        ),
    )
    .outerjoin(_HOSPITAL, _HOSPITAL.c.code == bindparam("hospital_code"))
)


def admitting(work: LedgerWork, principal: Principal, admission: Admission, idem: IdemRequest) -> Admitting:
    """The ``msgid``'s stored answer, and the route, member and registry entry of an admission,
    read in one statement (on the transaction's connection, as every read of a message)."""
    a = admission
    params = {"insuplc": a.insuplc_admdvs, "insutype": a.insutype, "psn_no": a.psn_no, "hospital_code": a.hospital_code}
    return Admitting(
        a, execute_one(work.connection, _ADMITTING, {**params, **idempotency.lookup_params(principal, idem)})
    )


def locked_visit_with(
    work: LedgerWork, principal: Principal, ref: VisitRef, idem: IdemRequest, *, person: bool = True
) -> Held | Replayed:
    """:func:`~app.services.visit_state.locked_visit`, with the visit's route, hospital and member
    read in the statement that locks it (a lock waited for re-reads the visit's row; the others
    are as they were when the statement began, as a read of their own just before it would have them)."""
    held = locked_for_message(work, principal, ref, idem, _HELD, person=person)
    return held if isinstance(held, Replayed) else Held(*held)
