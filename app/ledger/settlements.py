"""Settle, reverse, the split sheet.  Each function runs inside a transaction that its caller
opened with :func:`app.db.tx.write_transaction`, holding the locks of :mod:`app.ledger.locks`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import tables as db
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.engine.eligibility import check_member, check_request, policy_section
from app.engine.money import ZERO
from app.engine.settle import settle as engine_settle
from app.engine.tier import settle_tier
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.ledger import loading
from app.ledger.locks import (
    EmployerYearKey,
    YearKey,
    lock_bill,
    lock_employer_year_totals,
    lock_year_totals,
)
from app.schemas.settlements import ExternalPaymentIn, engine_fields, money


def settlement_public(row: Mapping[str, Any], *, preview: bool = False) -> dict[str, Any]:
    """The response body of a settlement, from its stored row (the one serializer)."""
    detail = row["detail"]
    created, reversed_at = row["created_at"], row["reversed_at"]
    employer = None
    if row["payer_type"] == "employer":
        employer = {"code": row["employer_code"], "name": row["employer_name"]}
    compliant = row["compliant_self_pay"]
    return {
        "settlement_id": None if preview else row["id"],
        "bill_id": row["bill_id"],
        "scheme_code": row["scheme_code"],
        "scheme_kind": row["scheme_kind"],
        "payer_type": row["payer_type"],
        "employer": employer,
        "sequence": row["sequence"],
        "status": "preview" if preview else row["status"],
        "policy_year": row["policy_year"],
        "offsite": row["offsite"],
        "registered": row["registered"],
        "medical_total": money(row["medical_total"]),
        "excluded": money(row["excluded"]),
        "over_limit": money(row["over_limit"]),
        "b_self_pay": money(row["b_self_pay"]),
        "in_scope": money(row["in_scope"]),
        "deductible": money(row["deductible"]),
        "bands": detail["bands"],
        "computed_benefit": money(row["computed_benefit"]),
        "benefit_after_cap": money(row["benefit_after_cap"]),
        "prior_payments": money(row["prior_payments"]),
        "coordination_mode": row["coordination_mode"],
        "fund_payment": money(row["fund_payment"]),
        "coordination_reduction": money(row["coordination_reduction"]),
        "patient_responsibility": money(row["patient_responsibility"]),
        "external_payments": detail["external_payments"],
        "lines": detail["lines"],
        "basis_settlement_id": row["basis_settlement_id"],
        "compliant_self_pay": None if compliant is None else money(compliant),
        "created_at": None if preview else created.isoformat(),
        "reversed_at": None if preview or reversed_at is None else reversed_at.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class Active:
    """An active settlement of the bill, as much as settling and reversing need of it."""

    id: str
    scheme_code: str
    fund_payment: Decimal
    sequence: int
    payer_type: str
    basis_settlement_id: str | None


def _active(session: Session, bill_id: str) -> list[Active]:
    s = db.Settlement
    return [
        Active(*row)
        for row in session.execute(
            select(
                col(s.id),
                col(s.scheme_code),
                col(s.fund_payment),
                col(s.sequence),
                col(s.payer_type),
                col(s.basis_settlement_id),
            ).where(col(s.bill_id) == bill_id, col(s.status) == "settled")
        )
    ]


@dataclass(frozen=True, slots=True)
class _Computed:
    """The engine's result and what settling it moves besides the bill."""

    result: t.SettlementResult
    policy_row: db.Policy
    version_rows: list[db.CatalogVersion]
    used_versions: list[str]
    move: Callable[[t.SettlementResult], None]


def _settle_tier(
    session: Session, *, bill: db.Bill, ebill: t.Bill, scheme: t.Scheme, active: list[Active], prior: Decimal
) -> _Computed:
    """v2.3: the basis, the tier's members (assistance only), policy and accumulators; the engine."""
    basis_row = next((a for a in active if a.scheme_code == scheme.supplements and a.payer_type == "scheme"), None)
    basis = None
    paid_by_basic_and_tiers = ZERO
    if basis_row is not None:
        row = session.get(db.Settlement, basis_row.id)
        assert row is not None
        basis = loading.basis_to_engine(row)
        paid_by_basic_and_tiers = basis_row.fund_payment + sum(
            (a.fund_payment for a in active if a.basis_settlement_id == basis_row.id), ZERO
        )
    member = None
    if basis is not None and scheme.kind == "medical_assistance":
        member = loading.load_member(session, scheme.code, bill.patient_id_number)
        check_member(scheme, member, ebill, None, ())
    year = bill.discharge_date.year
    policy_row, policy = (None, None) if basis is None else loading.load_policy(session, scheme, year)
    assert policy is None or isinstance(policy, t.TierPolicy)
    key = YearKey(scheme.code, bill.patient_id_number, year)
    totals = lock_year_totals(session, [key])[key] if basis is not None else None
    result = settle_tier(
        t.TierInput(
            bill=ebill,
            scheme=scheme,
            member=member,
            policy=policy,
            basis=basis,
            paid_by_basic_and_tiers=paid_by_basic_and_tiers,
            year_to_date=t.TierYearToDate(totals.fund_paid, totals.compliant_self_pay)
            if totals
            else t.TierYearToDate(),
            prior_payments=prior,
        )
    )
    assert totals is not None and policy_row is not None

    def move(r: t.SettlementResult) -> None:
        totals.fund_paid += r.fund_payment
        totals.compliant_self_pay += r.compliant_self_pay or ZERO

    return _Computed(result, policy_row, [], [], move)


def _settle_scheme(
    session: Session,
    *,
    bill: db.Bill,
    ebill: t.Bill,
    scheme: t.Scheme,
    employer: t.Employer | None,
    prior: Decimal,
    employer_loc: tuple[str | int, ...],
) -> _Computed:
    """v1 (basic and injury schemes), or an employer's liability under the scheme (v2.5)."""
    member = loading.load_member(session, scheme.code, bill.patient_id_number)
    check_member(scheme, member, ebill, employer, employer_loc)
    year = bill.discharge_date.year
    policy_row, policy = loading.load_policy(session, scheme, year)
    assert isinstance(policy, t.Policy)
    policy_section(scheme, policy, ebill)
    version_rows, catalogs = loading.load_catalogs(session, scheme.code, ebill)
    deductible_column = f"deductible_{bill.setting}"
    totals: db.YearTotal | db.EmployerYearTotal
    if employer is None:
        key = YearKey(scheme.code, bill.patient_id_number, year)
        totals = lock_year_totals(session, [key])[key]
    else:
        ekey = EmployerYearKey(scheme.code, employer.code, bill.patient_id_number, year)
        totals = lock_employer_year_totals(session, [ekey])[ekey]
    result = engine_settle(
        t.SettlementInput(
            bill=ebill,
            scheme=scheme,
            member=member,
            catalogs=catalogs,
            policy=policy,
            year_to_date=t.YearToDate(totals.fund_paid, getattr(totals, deductible_column)),
            prior_payments=prior,
            employer=employer,
        ),
        validate=False,
    )
    days = {line.service_date or ebill.admission_date for line in ebill.items}
    used_versions = sorted({v.version for v in (version_in_effect(catalogs, d) for d in days) if v is not None})

    def move(r: t.SettlementResult) -> None:
        totals.fund_paid += r.fund_payment
        if r.yearly_deductible:
            setattr(totals, deductible_column, getattr(totals, deductible_column) + r.yearly_deductible)

    return _Computed(result, policy_row, version_rows, used_versions, move)


def settle_locked_bill(
    session: Session,
    *,
    bill: db.Bill,
    scheme_code: str,
    external_payments: Sequence[ExternalPaymentIn],
    preview: bool,
    created_by: str,
    employer: t.Employer | None = None,
    loc_prefix: tuple[str | int, ...] = ("body",),
    scheme_loc: tuple[str | int, ...] = ("body", "scheme_code"),
) -> dict[str, Any]:
    """Settle ``bill`` (already locked) under one scheme, and move the ledger with it.

    The problems of a request are reported in the order of the README ("Several problems in
    one request").  A preview performs the same writes; its caller rolls the transaction back.
    """
    scheme_row = loading.load_scheme(session, scheme_code, loc=scheme_loc)
    scheme = loading.scheme_to_engine(scheme_row)
    ebill = loading.bill_to_engine(bill)
    employer_loc = (*loc_prefix, "employer_liability")
    check_request(scheme, ebill, employer, employer_loc)
    # A bill's first settlement has no earlier payments to read.
    active = _active(session, bill.id) if bill.last_sequence else []
    for a in active:
        if a.scheme_code == scheme.code:
            holder = "an employer's liability" if a.payer_type == "employer" else "an active settlement"
            raise Conflict(
                f"{scheme.code} already holds {holder} (sequence {a.sequence}) on this bill; "
                "reverse it before settling again"
            )
    vouchers: dict[str, Decimal] = {}
    if bill.last_sequence:
        vouchers = dict(
            session.execute(
                select(col(db.ExternalPayment.voucher_no), col(db.ExternalPayment.amount)).where(
                    col(db.ExternalPayment.bill_id) == bill.id, col(db.ExternalPayment.active)
                )
            ).all()
        )
    errors: list[FieldError] = []
    seen = set(vouchers)
    for i, ext in enumerate(external_payments):
        if ext.voucher_no in seen:
            errors.append(
                FieldError(
                    (*loc_prefix, "external_payments", i, "voucher_no"),
                    f"voucher {ext.voucher_no} is already recorded on this bill",
                )
            )
        seen.add(ext.voucher_no)
    new_external = sum((e.amount for e in external_payments), ZERO)
    prior = sum((a.fund_payment for a in active), ZERO) + sum(vouchers.values(), ZERO) + new_external
    if prior > bill.medical_total:
        errors.append(
            FieldError(
                (*loc_prefix, "external_payments"),
                f"with these external payments the bill's earlier payments ({prior}) would exceed its total "
                f"({bill.medical_total})",
            )
        )
    if errors:
        raise ValidationFailed(errors)

    if scheme.kind in t.TIER_KINDS:
        computed = _settle_tier(session, bill=bill, ebill=ebill, scheme=scheme, active=active, prior=prior)
    else:
        computed = _settle_scheme(
            session, bill=bill, ebill=ebill, scheme=scheme, employer=employer, prior=prior, employer_loc=employer_loc
        )
    result, policy_row = computed.result, computed.policy_row
    used_ids = [v.id for v in computed.version_rows if v.version in computed.used_versions]
    fields = engine_fields(result)
    now = datetime.now(UTC)
    sequence = bill.last_sequence + 1
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "bill_id": bill.id,
        "scheme_code": scheme.code,
        "scheme_kind": scheme.kind,
        "payer_type": "scheme" if employer is None else "employer",
        "employer_code": None if employer is None else employer.code,
        "employer_name": None if employer is None else employer.name,
        "basis_settlement_id": result.basis_settlement_id,
        "compliant_self_pay": result.compliant_self_pay,
        "sequence": sequence,
        "status": "settled",
        "policy_year": result.policy_year,
        "policy_id": policy_row.id,
        "patient_id_number": bill.patient_id_number,
        "hospital_code": bill.hospital_code,
        "insuring_region": scheme.pooling_region,
        "treatment_region": bill.hospital_region,
        "offsite": result.offsite,
        "registered": result.registered,
        "setting": bill.setting,
        "medical_total": result.medical_total,
        "excluded": result.excluded,
        "over_limit": result.over_limit,
        "b_self_pay": result.b_self_pay,
        "in_scope": result.in_scope,
        "deductible": result.deductible,
        "yearly_deductible": result.yearly_deductible,
        "computed_benefit": result.computed_benefit,
        "benefit_after_cap": result.benefit_after_cap,
        "prior_payments": result.prior_payments,
        "coordination_mode": result.coordination_mode,
        "fund_payment": result.fund_payment,
        "coordination_reduction": result.coordination_reduction,
        "patient_responsibility": result.patient_responsibility,
        "external_total": new_external,
        "detail": {
            "bands": fields["bands"],
            "lines": fields["lines"],
            "external_payments": [
                {"payer": e.payer, "voucher_no": e.voucher_no, "amount": money(e.amount)} for e in external_payments
            ],
            "catalog_versions": computed.used_versions,
        },
        "created_by": created_by,
        "created_at": now,
        "reversed_at": None,
    }
    session.execute(insert(db.Settlement).values(row))
    if external_payments:
        session.execute(
            insert(db.ExternalPayment).values(
                [
                    {
                        "bill_id": bill.id,
                        "settlement_id": row["id"],
                        "payer": e.payer,
                        "voucher_no": e.voucher_no,
                        "amount": e.amount,
                        "active": True,
                    }
                    for e in external_payments
                ]
            )
        )
    bill.paid_total = bill.paid_total + result.fund_payment + new_external
    bill.last_sequence = sequence
    computed.move(result)
    if not policy_row.used:
        session.execute(update(db.Policy).where(col(db.Policy.id) == policy_row.id).values(used=True))
    if any(not v.used for v in computed.version_rows if v.id in used_ids):
        session.execute(
            update(db.CatalogVersion)
            .where(col(db.CatalogVersion.id).in_(used_ids), col(db.CatalogVersion.used).is_(False))
            .values(used=True)
        )
    session.flush()
    return settlement_public(row, preview=preview)


def reverse_locked(session: Session, *, bill: db.Bill, settlement_id: str, created_by: str) -> dict[str, Any]:
    """Reverse the bill's latest active settlement; undo exactly what it did."""
    s = session.scalars(
        select(db.Settlement).where(col(db.Settlement.id) == settlement_id).execution_options(populate_existing=True)
    ).one()
    if s.status != "settled":
        raise Conflict("this settlement is already reversed")
    active = _active(session, bill.id)
    latest = max(a.sequence for a in active)
    if s.sequence != latest:
        tiers = [f"{a.scheme_code} (sequence {a.sequence})" for a in active if a.basis_settlement_id == s.id]
        if tiers:
            raise Conflict(
                f"a tier settled on this settlement is active: {', '.join(tiers)}; reverse it first "
                f"(only the latest active settlement of a bill, sequence {latest}, may be reversed)"
            )
        raise Conflict(f"only the latest active settlement of a bill may be reversed; reverse sequence {latest} first")
    totals: db.YearTotal | db.EmployerYearTotal
    if s.payer_type == "employer":
        assert s.employer_code is not None
        ekey = EmployerYearKey(s.scheme_code, s.employer_code, s.patient_id_number, s.policy_year)
        totals = lock_employer_year_totals(session, [ekey])[ekey]
    else:
        key = YearKey(s.scheme_code, s.patient_id_number, s.policy_year)
        totals = year_total = lock_year_totals(session, [key])[key]
        if s.compliant_self_pay is not None:
            year_total.compliant_self_pay -= s.compliant_self_pay
    totals.fund_paid -= s.fund_payment
    if s.yearly_deductible:
        column = f"deductible_{s.setting}"
        setattr(totals, column, getattr(totals, column) - s.yearly_deductible)
    bill.paid_total = bill.paid_total - s.fund_payment - s.external_total
    session.execute(
        update(db.ExternalPayment).where(col(db.ExternalPayment.settlement_id) == s.id).values(active=False)
    )
    now = datetime.now(UTC)
    s.status = "reversed"
    s.reversed_at = now
    session.execute(
        insert(db.Reversal).values(
            id=str(uuid.uuid4()),
            settlement_id=s.id,
            bill_id=bill.id,
            scheme_code=s.scheme_code,
            payer_type=s.payer_type,
            hospital_code=s.hospital_code,
            insuring_region=s.insuring_region,
            treatment_region=s.treatment_region,
            medical_total=s.medical_total,
            fund_payment=s.fund_payment,
            external_total=s.external_total,
            created_by=created_by,
            created_at=now,
        )
    )
    session.flush()
    return settlement_public(s.model_dump())


def find_settlement(session: Session, settlement_id: str) -> db.Settlement:
    s = session.get(db.Settlement, settlement_id)
    if s is None:
        raise NotFound("there is no such settlement")
    return s


def bill_settlements(session: Session, bill_id: str) -> list[db.Settlement]:
    """Every settlement of a bill, active and reversed, in sequence order (one query)."""
    return list(
        session.scalars(
            select(db.Settlement).where(col(db.Settlement.bill_id) == bill_id).order_by(col(db.Settlement.sequence))
        )
    )


def lock_bill_or_404(session: Session, bill_id: str) -> db.Bill:
    bill = lock_bill(session, bill_id)
    if bill is None:
        raise NotFound("there is no such bill")
    return bill


def split_sheet(session: Session, bill: db.Bill) -> dict[str, Any]:
    """The expense split sheet: the bill's active payments in order, externals first per settlement."""
    payments: list[dict[str, Any]] = []
    settlements = session.execute(
        select(
            col(db.Settlement.id),
            col(db.Settlement.sequence),
            col(db.Settlement.scheme_code),
            col(db.Settlement.fund_payment),
            col(db.Settlement.scheme_kind),
            col(db.Settlement.payer_type),
            col(db.Settlement.employer_code),
            col(db.Settlement.employer_name),
        )
        .where(col(db.Settlement.bill_id) == bill.id, col(db.Settlement.status) == "settled")
        .order_by(col(db.Settlement.sequence))
    ).all()
    externals: dict[str, list[tuple[str, str, Decimal]]] = {}
    for sid, payer, voucher, amount in session.execute(
        select(
            col(db.ExternalPayment.settlement_id),
            col(db.ExternalPayment.payer),
            col(db.ExternalPayment.voucher_no),
            col(db.ExternalPayment.amount),
        )
        .where(col(db.ExternalPayment.bill_id) == bill.id, col(db.ExternalPayment.active))
        .order_by(col(db.ExternalPayment.id))
    ):
        externals.setdefault(sid, []).append((payer, voucher, amount))
    total = ZERO
    for sid, seq, code, fund, kind, payer_type, employer_code, employer_name in settlements:
        for payer, voucher, amount in externals.get(sid, []):
            payments.append(
                {
                    "sequence": seq,
                    "payer_type": "external",
                    "payer": payer,
                    "scheme_code": None,
                    "scheme_kind": None,
                    "employer_code": None,
                    "voucher_no": voucher,
                    "amount": money(amount),
                    "settlement_id": sid,
                }
            )
            total += amount
        # An employer's liability is paid by the employer, under the scheme's rules (v2.5).
        payments.append(
            {
                "sequence": seq,
                "payer_type": payer_type,
                "payer": employer_name if payer_type == "employer" else code,
                "scheme_code": code,
                "scheme_kind": kind,
                "employer_code": employer_code,
                "voucher_no": None,
                "amount": money(fund),
                "settlement_id": sid,
            }
        )
        total += fund
    return {
        "bill_id": bill.id,
        "medical_total": money(bill.medical_total),
        "payments": payments,
        "total_paid": money(total),
        "patient_responsibility": money(bill.medical_total - total),
    }
