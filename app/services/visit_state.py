"""What the visits' transactions share (``nhsa.md``): their terms (a visit named by a message, the
person, the answers without figures), the visit's row locked first (:func:`lock_visit`, step 0
of :mod:`app.ledger.lock_order`), its last changes (with the transaction's last writes), the
checks every transaction on a visit makes, the visit's lines, and the basic scheme's catalog over
the lines' days.  What a message reads with the visit (its route, hospital and member) is
:mod:`app.services.visit_reads`; the use cases are :mod:`app.services.visits` and
:mod:`app.services.visit_settlements`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Boolean, Select, bindparam, delete, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from app.db import tables as db
from app.db.direct import execute, execute_one
from app.db.visit_tables import NhsaFeeLine, NhsaVisit
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.engine.routes import Route
from app.engine.visit_lines import ClassifiedLine, FeeLine, setting_of
from app.errors import Conflict, FieldError, Loc, NoCatalog, NotFound, ValidationFailed
from app.ledger.inputs import catalogs_for
from app.ledger.references import read_references
from app.ledger.work import LedgerWork
from app.principal import Principal
from app.privacy import mask_id
from app.services import idempotency
from app.services.idempotency import IdemRequest, Replayed

#: The ``feedetl_sn`` of a 2302 that cancels every line of the visit.
ALL_LINES = "0000"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Admission:
    """A 2401 in the services' terms."""

    hospital_code: str
    insuplc_admdvs: str
    insutype: str
    mdtrtarea_admvs: str | None
    psn_no: str
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    med_type: str
    ipt_no: str
    begntime: str
    admission_date: date
    diagnoses: tuple[Diagnosis, ...]


@dataclass(frozen=True, slots=True)
class VisitRef:
    """The visit a transaction names, and the person it names on it."""

    hospital_code: str
    mdtrt_id: str
    psn_no: str
    #: Where the two are in the transaction's input (``("data",)``, ``("dscginfo",)``).
    loc: Loc = ("data",)


@dataclass(frozen=True, slots=True)
class Discharge:
    visit: VisitRef
    insutype: str
    endtime: str
    discharge_date: date
    diagnoses: tuple[Diagnosis, ...]


@dataclass(frozen=True, slots=True)
class SentLine:
    """A 2301 line: the visit and person it names, its ``med_type``, and the line itself."""

    mdtrt_id: str
    psn_no: str
    med_type: str
    line: FeeLine


@dataclass(frozen=True, slots=True)
class Member:
    """The person of a visit: the member of the route's basic scheme."""

    psn_no: str
    id_number: str
    name: str


@dataclass(slots=True)
class Visit:
    """A visit's row (``nhsa_visit``, :class:`app.db.visit_tables.NhsaVisit`) as a plain object,
    read by :func:`lock_visit` and changed by :func:`save_visit` (the ORM's instances cost more to
    make than the statement that reads them)."""

    id: str
    hospital_code: str
    insuplc_admdvs: str
    insutype: str
    mdtrtarea_admvs: str | None
    psn_no: str
    patient_id_number: str
    patient_name: str
    med_type: str
    mdtrt_cert_type: str
    ipt_no: str
    begntime: str
    admission_date: date
    endtime: str | None
    discharge_date: date | None
    admission_diagnoses: list[dict[str, str]]
    discharge_diagnoses: list[dict[str, str]] | None
    status: str
    settlement_count: int
    active_setl_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Done:
    """A transaction carried out that answers no figures: the visit it was on (None: none)."""

    visit: Visit | None
    warning: str = ""


@dataclass(frozen=True, slots=True)
class Uploaded:
    visit: Visit
    lines: tuple[ClassifiedLine, ...]


#: The visits' table, and its columns: the fields of :class:`Visit`, in order (a row makes a Visit by position).
VISIT = db.core_table(NhsaVisit)
_LOCK_VISIT = select(VISIT).where(VISIT.c.id == bindparam("mdtrt_id")).with_for_update()
VISIT_COLUMNS = tuple(c.name for c in VISIT.columns)
assert tuple(Visit.__dataclass_fields__) == VISIT_COLUMNS, "Visit is the row of nhsa_visit, in its order"


def lock_visit(work: LedgerWork, ref: VisitRef) -> Visit:
    """The visit's row, ``FOR UPDATE`` (the first lock of every transaction on it); ``not-found``
    when there is none, or it is another hospital's.  The visit is read by one compiled statement
    and is not in the session: its changes are written by :func:`save_visit`."""
    return locked_row(work, ref, _LOCK_VISIT)[0]


def locked_row(
    work: LedgerWork, ref: VisitRef, statement: Select[Any], params: Mapping[str, object] | None = None
) -> tuple[Visit, Any]:
    """The visit read by ``statement`` (which locks it, its first columns the visit's, more may
    follow; its parameters ``mdtrt_id`` and ``params``), else ``not-found`` as :func:`lock_visit`
    says; and the whole row."""
    row = execute_one(work.connection, statement, {"mdtrt_id": ref.mdtrt_id, **(params or {})})
    if row is None or row.hospital_code != ref.hospital_code:
        raise NotFound(f"there is no visit {ref.mdtrt_id} of hospital {ref.hospital_code}")
    return Visit(*row[: len(VISIT_COLUMNS)]), row


class VisitAsSeen(FunctionElement[bool]):
    """Whether the visit's row that a statement locked is the version its snapshot saw.

    On PostgreSQL a ``FOR UPDATE`` that waited for another transaction's lock returns the row as
    that transaction left it, while the statement's other reads stay as they were when it began:
    a message that waited for the first copy of itself would not see that copy's idempotency
    record.  Every message that changes a visit changes its row, so the row's ``xmin`` (the
    transaction that wrote this version) differs from its snapshot version's exactly then.
    SQLite's writers hold the database's lock before their first read: always true there."""

    type = Boolean()
    name = "visit_as_seen"
    inherit_cache = True


@compiles(VisitAsSeen)
def _always_seen(_element: VisitAsSeen, _compiler: Any, **_kw: Any) -> str:
    return "1"


@compiles(VisitAsSeen, "postgresql")
def _seen_on_postgresql(_element: VisitAsSeen, _compiler: Any, **_kw: Any) -> str:
    # The table name from the metadata; nothing of a request in it.
    return f"((SELECT seen.xmin FROM {VISIT.name} AS seen WHERE seen.id = {VISIT.name}.id) = {VISIT.name}.xmin)"  # noqa: S608


def message_lock(statement: Select[Any]) -> Select[Any]:
    """A message's first statement: ``statement`` (which locks the visit and reads its row first)
    with the ``msgid``'s stored answer and :class:`VisitAsSeen`, read by :func:`locked_for_message`."""
    return statement.add_columns(*idempotency.LOOKUP_COLUMNS, VisitAsSeen().label("visit_as_seen"))


_LOCK_MESSAGE_VISIT = message_lock(_LOCK_VISIT)


def locked_for_message(
    work: LedgerWork, principal: Principal, ref: VisitRef, idem: IdemRequest, statement: Select[Any], *, person: bool
) -> tuple[Visit, Any] | Replayed:
    """How a message on a visit starts: the visit locked by ``statement`` (a :func:`message_lock`),
    then the answer already given to this ``msgid`` if there is one, as of the lock (so a resend
    waits for the first message's transaction and replays its answer): read with the lock, or
    looked up again when the lock was waited for (:class:`VisitAsSeen`); then, with ``person``,
    the person checked against the visit.  The visit and the statement's whole row."""
    visit, row = locked_row(work, ref, statement, idempotency.lookup_params(principal, idem))
    replay = idempotency.replayed_from(idem, row) if row.visit_as_seen else idempotency.lookup(work, principal, idem)
    if replay is not None:
        return replay
    if person:
        check_person(visit, ref.psn_no, ref.loc)
    return visit, row


def locked_visit(
    work: LedgerWork, principal: Principal, ref: VisitRef, idem: IdemRequest, *, person: bool = True
) -> Visit | Replayed:
    """:func:`locked_for_message` of the visit's row alone."""
    held = locked_for_message(work, principal, ref, idem, _LOCK_MESSAGE_VISIT, person=person)
    return held if isinstance(held, Replayed) else held[0]


def insert_visit(work: LedgerWork, visit: Visit) -> None:
    """A new visit's row, every column as ``visit`` has it, inserted with the transaction's last
    writes (nothing in a 2401 reads it back)."""
    work.defer_insert(VISIT, {name: getattr(visit, name) for name in VISIT_COLUMNS})


def save_visit(work: LedgerWork, visit: Visit, **changes: object) -> None:
    """Change these columns of a visit read by :func:`lock_visit` (held), in ``visit`` at once and
    in its row with the transaction's last writes: every message saves its visit as its last
    step, and nothing reads the row again in that transaction."""
    for name, value in changes.items():
        setattr(visit, name, value)
    work.defer_update(VISIT.c.id, visit.id, changes)


def check_person(visit: Visit, psn_no: str, loc: Loc) -> None:
    if psn_no != visit.psn_no:
        raise ValidationFailed([FieldError((*loc, "psn_no"), f"visit {visit.id} is not person {psn_no}'s")])


def check_open(visit: Visit, what: str) -> None:
    """A cancelled admission takes nothing more."""
    if visit.status == "cancelled":
        raise Conflict(f"the admission of visit {visit.id} was cancelled (2404): {what} refused")


def check_unsettled(visit: Visit, what: str) -> None:
    if visit.active_setl_id is not None:
        raise Conflict(
            f"visit {visit.id} is settled ({visit.active_setl_id}): {what} refused; cancel the settlement (2305) first"
        )


def check_certificate(member: Member, cert_type: str, cert_no: str, loc: Loc) -> None:
    """With a resident ID card (``mdtrt_cert_type`` 02) the number must be the member's."""
    if cert_type == "02" and cert_no != member.id_number:
        raise ValidationFailed(
            [
                FieldError(
                    (*loc, "mdtrt_cert_no"),
                    f"certificate number {mask_id(cert_no)} is not the ID number of member {member.psn_no}",
                )
            ]
        )


_LINE = db.core_table(NhsaFeeLine)
_LINES = select(
    _LINE.c.feedetl_sn,
    _LINE.c.init_feedetl_sn,
    _LINE.c.med_list_codg,
    _LINE.c.medins_list_codg,
    _LINE.c.fee_ocur_time,
    _LINE.c.service_date,
    _LINE.c.cnt,
    _LINE.c.pric,
    _LINE.c.det_item_fee_sumamt,
    _LINE.c.content_hash,
).where(_LINE.c.visit_id == bindparam("visit_id"))


def visit_lines(work: LedgerWork, visit_id: str) -> dict[str, tuple[FeeLine, str]]:
    """The visit's lines by ``feedetl_sn``, each with its content hash (one statement)."""
    return {row[0]: (FeeLine(*row[:9]), row[9]) for row in execute(work.connection, _LINES, {"visit_id": visit_id})}


#: Whether the visit has lines, for a statement that locks it (:func:`held_lines`).
HAS_LINES = select(_LINE.c.visit_id).where(_LINE.c.visit_id == VISIT.c.id).exists().label("has_lines")


def held_lines(work: LedgerWork, visit_id: str, row: Any) -> dict[str, tuple[FeeLine, str]]:
    """:func:`visit_lines` of a visit locked by a :func:`message_lock` that also read
    :data:`HAS_LINES`: no statement for a visit without lines (a stay's first upload).  Every
    change of a visit's lines changes its row in the same transaction, so the flag is that of the
    version the statement locked when it is the version its snapshot saw (:class:`VisitAsSeen`);
    after a lock waited for, the lines are read."""
    if row.visit_as_seen and not row.has_lines:
        return {}
    return visit_lines(work, visit_id)


class Priced(Protocol):
    """A line as :func:`line_window_bill` reads it (a fee line or a net line)."""

    @property
    def code(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def cnt(self) -> Decimal: ...
    @property
    def pric(self) -> Decimal: ...
    @property
    def amount(self) -> Decimal: ...


def line_window_bill(visit: Visit, member: Member, hospital: t.Hospital, lines: Sequence[Priced]) -> t.Bill:
    """The visit as a bill of these lines, for reading the reference rows over their days (a
    refund is served on its line's day, which ``lines`` give as its own)."""
    last = visit.discharge_date or max([visit.admission_date, *(line.day for line in lines)])
    items = tuple(
        t.BillLine(i, line.code, line.code, "service", abs(line.cnt), line.pric, abs(line.amount), line.day)
        for i, line in enumerate(lines, 1)
    )
    setting = setting_of(visit.med_type) or "inpatient"
    return t.Bill(hospital, visit.id, member.id_number, member.name, setting, visit.admission_date, last, (), items)


def catalog_of(
    work: LedgerWork, route: Route, bill: t.Bill, *, every_scheme: bool = False
) -> Callable[[str, date], tuple[t.CatalogVersion, t.CatalogEntry | None]]:
    """The basic scheme's catalog over the bill's days (its reference rows read, and locked while
    unused, as a settlement reads them): for a code and a day, the version in effect (else
    ``no-catalog``) and the code's entry in it.  With ``every_scheme`` the reference rows of the
    route's other schemes are read in the same statement (a settlement of these days then finds
    them held)."""
    code = route.basic.scheme_code
    read_references(work, bill, [s.scheme_code for s in route.schemes] if every_scheme else [code])
    _, versions = catalogs_for(work, code, bill)

    def lookup(item_code: str, day: date) -> tuple[t.CatalogVersion, t.CatalogEntry | None]:
        version = version_in_effect(versions, day)
        if version is None:
            raise NoCatalog(f"{code} has no catalog version in effect on {day.isoformat()}")
        return version, version.entries.get(item_code)

    return lookup


def delete_lines(session: Session, visit_id: str, feedetl_sns: Sequence[str]) -> int:
    """Cancel these lines of the visit and every refund of them (a refund of nothing would be
    left); the number of lines deleted."""
    if not feedetl_sns:
        return 0
    table = db.core_table(NhsaFeeLine)
    result = session.execute(
        delete(table).where(
            table.c.visit_id == visit_id,
            or_(table.c.feedetl_sn.in_(feedetl_sns), table.c.init_feedetl_sn.in_(feedetl_sns)),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
