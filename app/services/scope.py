"""What each role may see and touch (object-level scoping).

Outside the caller's scope an object does not exist for it: 404, never 403.  Each rule is
written once, as a SQL condition, and serves both the read of one object and the lists
(``GET /v1/bills``, ``GET /v1/settlements``), so a list answers exactly what the reads allow.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.errors import Forbidden, NotFound
from app.ledger.records import SettlementRecord
from app.ledger.rows import BillRow
from app.principal import Principal


def check_scheme(principal: Principal, scheme_code: str) -> None:
    """A scheme office reads, settles and reverses only under its own scheme: to it, no other
    scheme exists (404)."""
    if principal.role == "scheme_office" and principal.scheme_code != scheme_code:
        raise NotFound(f"there is no scheme {scheme_code}")


def member_scheme_of(scheme_code: str) -> ColumnElement[str]:
    """The scheme whose members an office's scheme reads bills by (a SQL expression): its own,
    or for a ``serious_illness`` scheme (which has no members) the basic scheme it
    ``supplements`` (v2.3)."""
    supplemented = (
        select(col(db.Scheme.supplements))
        .where(col(db.Scheme.code) == scheme_code, col(db.Scheme.kind) == "serious_illness")
        .scalar_subquery()
    )
    return func.coalesce(supplemented, literal(scheme_code))


def bill_scope(principal: Principal) -> ColumnElement[bool]:
    """Admin: every bill.  Hospital: bills of its own hospital code.  Scheme office: bills whose
    patient is a member of its scheme (any coverage period), and bills its scheme holds or held
    a settlement on (a reversal does not end that)."""
    if principal.role == "hospital":
        return col(db.Bill.hospital_code) == principal.hospital_code
    if principal.role == "scheme_office":
        member = exists().where(
            col(db.Member.scheme_code) == member_scheme_of(str(principal.scheme_code)),
            col(db.Member.id_number) == col(db.Bill.patient_id_number),
        )
        settled = exists().where(
            col(db.Settlement.bill_id) == col(db.Bill.id), col(db.Settlement.scheme_code) == principal.scheme_code
        )
        return or_(member, settled)
    return true()


def check_bill(principal: Principal, bill: db.Bill | BillRow, *, session: Session) -> None:
    """404 unless ``bill`` is in the caller's :func:`bill_scope`."""
    if principal.role == "admin":
        return
    if principal.role == "hospital":
        visible = principal.hospital_code == bill.hospital_code
    else:
        visible = bool(session.scalar(select(exists().where(col(db.Bill.id) == bill.id, bill_scope(principal)))))
    if not visible:
        raise NotFound("there is no such bill")


def _settlement_owner(principal: Principal) -> tuple[str, str | None] | None:
    """Hospital: the settlements of its bills (every payer's).  Office: its own scheme's."""
    if principal.role == "hospital":
        return "hospital_code", principal.hospital_code
    if principal.role == "scheme_office":
        return "scheme_code", principal.scheme_code
    return None


def settlement_scope(principal: Principal) -> ColumnElement[bool]:
    owner = _settlement_owner(principal)
    return true() if owner is None else col(getattr(db.Settlement, owner[0])) == owner[1]


def may_read_settlement(principal: Principal, settlement: SettlementRecord) -> bool:
    """Whether ``settlement`` is in the caller's :func:`settlement_scope` (the same rule, on a record)."""
    owner = _settlement_owner(principal)
    return owner is None or getattr(settlement, owner[0]) == owner[1]


def check_settlement_read(principal: Principal, settlement: SettlementRecord) -> None:
    if not may_read_settlement(principal, settlement):
        raise NotFound("there is no such settlement")


def basis_scheme(session: Session, principal: Principal) -> str | None:
    """The basic scheme a tier's office works from (the one its scheme ``supplements``), else
    None.  Its fund settlements are the bases the tier's own are computed from (v2.3 step 1):
    the desk shows them to the tier's clerk beside the tier's computation, so that it can be
    checked (the API's scope is unchanged: an office reads its own scheme's settlements)."""
    if principal.role != "scheme_office" or principal.scheme_code is None:
        return None
    return session.scalar(select(col(db.Scheme.supplements)).where(col(db.Scheme.code) == principal.scheme_code))


def check_submit(principal: Principal, hospital_code: str) -> None:
    """A hospital submits only bills of its own hospital code."""
    if principal.role == "hospital" and principal.hospital_code != hospital_code:
        raise Forbidden("a hospital may submit only bills of its own hospital code")
