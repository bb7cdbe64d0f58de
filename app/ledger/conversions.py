"""Stored rows in the engine's form: a bill, a member, a scheme, a tier's basis.  The stored
documents (a bill's lines, a work injury, a member's coverage) are JSON; the engine takes frozen
dataclasses.  The other direction (engine form to stored row) is the writer's: a bill's row
(:func:`app.services.bills.bill_row`), a settlement's detail (:mod:`app.ledger.detail`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol

from app.engine import types as t
from app.ledger.records import BandDoc, LineDoc, SettlementDetail
from app.ledger.rows import MemberRow
from app.ledger.stored import StoredLine, WorkInjuryDoc


class StoredBill(Protocol):
    """A bill's stored columns (the ledger's :class:`~app.ledger.rows.BillRow`)."""

    @property
    def hospital_code(self) -> str: ...
    @property
    def hospital_name(self) -> str: ...
    @property
    def hospital_level(self) -> int: ...
    @property
    def hospital_region(self) -> str: ...
    @property
    def bill_no(self) -> str: ...
    @property
    def patient_id_number(self) -> str: ...
    @property
    def patient_name(self) -> str: ...
    @property
    def setting(self) -> str: ...
    @property
    def admission_date(self) -> date: ...
    @property
    def discharge_date(self) -> date: ...
    @property
    def diagnoses(self) -> list[str]: ...
    @property
    def items(self) -> list[StoredLine]: ...
    @property
    def work_injury(self) -> WorkInjuryDoc | None: ...


def bill_to_engine(row: StoredBill) -> t.Bill:
    return t.Bill(
        hospital=t.Hospital(row.hospital_code, row.hospital_name, row.hospital_level, row.hospital_region),
        bill_no=row.bill_no,
        patient_id_number=row.patient_id_number,
        patient_name=row.patient_name,
        setting=row.setting,
        admission_date=row.admission_date,
        discharge_date=row.discharge_date,
        diagnoses=tuple(row.diagnoses),
        work_injury=work_injury_to_engine(row.work_injury),
        items=tuple(
            t.BillLine(
                i["line_no"],
                i["code"],
                i["name"],
                i["category"],
                Decimal(i["quantity"]),
                Decimal(i["unit_price"]),
                Decimal(i["amount"]),
                date.fromisoformat(day) if (day := i.get("service_date")) else None,
                # v3.1: stored on every line of a work-injury bill; only false differs from unmarked.
                False if i.get("injury_related") is False else None,
            )
            for i in row.items
        ),
    )


def work_injury_to_engine(doc: WorkInjuryDoc | None) -> t.WorkInjury | None:
    if doc is None:
        return None
    employer = doc["employer"]
    return t.WorkInjury(
        doc["determination_no"], date.fromisoformat(doc["injury_date"]), t.Employer(employer["code"], employer["name"])
    )


def work_injury_document(injury: t.WorkInjury | None) -> WorkInjuryDoc | None:
    """The stored (and shown) form of a bill's work injury."""
    if injury is None:
        return None
    return {
        "determination_no": injury.determination_no,
        "injury_date": injury.injury_date.isoformat(),
        "employer": {"code": injury.employer.code, "name": injury.employer.name},
    }


def line_from_detail(line: LineDoc) -> t.LineResult:
    """A classified line as stored in a settlement's ``detail`` (a tier's basis)."""
    excluded, over_limit, b_self_pay, in_scope = (
        Decimal(line["excluded"]),
        Decimal(line["over_limit"]),
        Decimal(line["b_self_pay"]),
        Decimal(line["in_scope"]),
    )
    return t.LineResult(
        line_no=line["line_no"],
        code=line["code"],
        klass=line["class"],
        amount=excluded + over_limit + b_self_pay + in_scope,
        excluded=excluded,
        over_limit=over_limit,
        b_self_pay=b_self_pay,
        in_scope=in_scope,
        reason=line["reason"],
    )


def band_from_detail(band: BandDoc) -> t.BandResult:
    """A band as stored in a settlement's ``detail`` (a large-amount tier's basis walks them)."""
    upper = band["upper"]
    return t.BandResult(
        Decimal(band["lower"]),
        None if upper is None else Decimal(upper),
        Decimal(band["ratio"]),
        Decimal(band["base"]),
        Decimal(band["amount"]),
    )


class StoredBasis(Protocol):
    """What a tier's basis is built from: its settlement's row (a record, or the columns read)."""

    @property
    def id(self) -> str: ...
    @property
    def scheme_code(self) -> str: ...
    @property
    def offsite(self) -> str: ...
    @property
    def registered(self) -> bool: ...
    @property
    def excluded(self) -> Decimal: ...
    @property
    def over_limit(self) -> Decimal: ...
    @property
    def b_self_pay(self) -> Decimal: ...
    @property
    def in_scope(self) -> Decimal: ...
    @property
    def benefit_after_cap(self) -> Decimal: ...
    @property
    def detail(self) -> SettlementDetail: ...


def basis_to_engine(row: StoredBasis) -> t.Basis:
    """A tier's basis from its settlement's row (as stored, or as a transaction just wrote it)."""
    return t.Basis(
        settlement_id=row.id,
        scheme_code=row.scheme_code,
        offsite=row.offsite,  # type: ignore[arg-type]  # stored from the engine's Offsite
        registered=row.registered,
        excluded=row.excluded,
        over_limit=row.over_limit,
        b_self_pay=row.b_self_pay,
        in_scope=row.in_scope,
        lines=tuple(line_from_detail(line) for line in row.detail["lines"]),
        bands=tuple(band_from_detail(band) for band in row.detail["bands"]),
        benefit_after_cap=row.benefit_after_cap,
    )


def member_to_engine(row: MemberRow) -> t.Member:
    return t.Member(
        member_no=row.member_no,
        id_number=row.id_number,
        name=row.name,
        coverage=tuple(
            t.Period(date.fromisoformat(c["from"]), date.fromisoformat(to) if (to := c.get("to")) else None)
            for c in row.coverage
        ),
        registrations=tuple(
            t.Registration(
                r["destination_region"],
                date.fromisoformat(r["from"]),
                date.fromisoformat(end) if (end := r.get("to")) else None,
            )
            for r in row.offsite_registrations
        ),
    )
