"""What each role may see and touch (object-level scoping).

Outside the caller's scope an object does not exist for it: 404, never 403.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.errors import Forbidden, NotFound
from app.principal import Principal


def check_scheme(principal: Principal, scheme_code: str) -> None:
    if principal.role == "scheme_office" and principal.scheme_code != scheme_code:
        raise NotFound(f"there is no scheme {scheme_code}")


def check_bill(principal: Principal, bill: db.Bill, *, session: Session) -> None:
    """Admin: every bill.  Hospital: bills of its own hospital code.  Scheme office: bills whose
    patient is its member, and bills it has settled (even after a reversal)."""
    if principal.role == "hospital" and principal.hospital_code != bill.hospital_code:
        raise NotFound("there is no such bill")
    if principal.role == "scheme_office":
        member = session.scalar(
            select(func.count()).where(
                col(db.Member.scheme_code) == principal.scheme_code,
                col(db.Member.id_number) == bill.patient_id_number,
            )
        )
        if member:
            return
        settled = session.scalar(
            select(func.count()).where(
                col(db.Settlement.bill_id) == bill.id, col(db.Settlement.scheme_code) == principal.scheme_code
            )
        )
        if not settled:
            raise NotFound("there is no such bill")


def check_settle(principal: Principal, bill: db.Bill, scheme_code: str) -> None:
    """A scheme office settles and reverses only under its own scheme."""
    if principal.role == "scheme_office" and principal.scheme_code != scheme_code:
        raise NotFound(f"there is no scheme {scheme_code}")


def check_submit(principal: Principal, hospital_code: str) -> None:
    """A hospital submits only bills of its own hospital code."""
    if principal.role == "hospital" and principal.hospital_code != hospital_code:
        raise Forbidden("a hospital may submit only bills of its own hospital code")


def check_settlement_read(principal: Principal, settlement: db.Settlement) -> None:
    if principal.role == "hospital" and principal.hospital_code != settlement.hospital_code:
        raise NotFound("there is no such settlement")
    if principal.role == "scheme_office" and principal.scheme_code != settlement.scheme_code:
        raise NotFound("there is no such settlement")
