"""Settle, reverse, the split sheet.  Each function runs inside a transaction that its caller
opened with :func:`app.db.tx.write_transaction`, holding the locks of :mod:`app.ledger.locks`.

Field errors are located in a settlement request (``scheme_code``, ``external_payments``,
``employer_liability``); the caller puts them under its own request's field
(:meth:`app.errors.ValidationFailed.under`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Column, Insert, Select, Table, Update, bindparam, insert, literal_column, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.db.direct import connection_of, execute
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.engine.coordination import check_prior
from app.engine.eligibility import check_member, check_request, policy_section
from app.engine.money import ZERO
from app.engine.settle import settle as engine_settle
from app.engine.tier import settle_tier
from app.errors import Conflict, Loc, NotFound
from app.ledger import detail, loading
from app.ledger.locks import (
    EmployerYearKey,
    PolicyRow,
    Totals,
    VersionRow,
    YearKey,
    lock_bill,
    lock_employer_year_totals,
    lock_year_totals,
    read_references,
    save_totals,
    totals_params,
    totals_update,
)

#: Where an employer's liability is in a settlement request.
EMPLOYER_LIABILITY: Loc = ("employer_liability",)


@dataclass(frozen=True, slots=True)
class Active:
    """An active settlement of the bill, as much as settling and reversing need of it."""

    id: str
    scheme_code: str
    fund_payment: Decimal
    sequence: int
    payer_type: str
    basis_settlement_id: str | None


_ACTIVE = select(
    col(db.Settlement.id),
    col(db.Settlement.scheme_code),
    col(db.Settlement.fund_payment),
    col(db.Settlement.sequence),
    col(db.Settlement.payer_type),
    col(db.Settlement.basis_settlement_id),
).where(col(db.Settlement.bill_id) == bindparam("bill_id"), col(db.Settlement.status) == "settled")


def _active(session: Session, bill_id: str) -> list[Active]:
    return [Active(*row) for row in session.execute(_ACTIVE, {"bill_id": bill_id})]


@dataclass(slots=True)
class _Held:
    """What this transaction knows of a bill it holds locked: its active settlements and external
    payments, read once (none to read for a bill without settlements), then kept up to date by
    each settlement the transaction makes, and the tier bases among those settlements.  The
    bill's lock keeps every other writer out until the commit, so a claim's second, third and
    fourth settlement need not read the bill's payments again (:func:`_held`)."""

    active: list[Active]
    vouchers: dict[str, Decimal]
    #: The rows of the settlements this transaction made, by id.
    made: dict[str, dict[str, Any]]


def _held(session: Session, bill: db.Bill) -> _Held:
    """The bill's :class:`_Held` state in this transaction, read on first use."""
    states: dict[str, _Held] = session.info.setdefault("bills_held", {})
    state = states.get(bill.id)
    if state is None:
        if bill.last_sequence:
            state = _Held(_active(session, bill.id), _active_vouchers(session, bill), {})
        else:
            state = _Held([], {}, {})
        states[bill.id] = state
    return state


def _forget_held(session: Session, bill: db.Bill) -> None:
    """A reversal changes the bill's payments otherwise than :func:`_write` records them."""
    session.info.get("bills_held", {}).pop(bill.id, None)


@dataclass(frozen=True, slots=True)
class _Computed:
    """The engine's result and what settling it moves besides the bill."""

    result: t.SettlementResult
    policy_row: PolicyRow
    version_rows: list[VersionRow]
    used_versions: list[str]
    totals: Totals
    move: Callable[[t.SettlementResult], None]


def _settle_tier(
    session: Session, *, bill: db.Bill, ebill: t.Bill, scheme: t.Scheme, held: _Held, prior: Decimal
) -> _Computed:
    """v2.3: the basis, the tier's members (assistance only), policy and accumulators; the engine."""
    active = held.active
    basis_row = next((a for a in active if a.scheme_code == scheme.supplements and a.payer_type == "scheme"), None)
    basis = None
    paid_by_basic_and_tiers = ZERO
    if basis_row is not None:
        made = held.made.get(basis_row.id)
        basis = _read_basis(session, basis_row.id) if made is None else loading.basis_to_engine(made)
        paid_by_basic_and_tiers = basis_row.fund_payment + sum(
            (a.fund_payment for a in active if a.basis_settlement_id == basis_row.id), ZERO
        )
    member = None
    if basis is not None and scheme.kind == "medical_assistance":
        member = loading.load_member(session, scheme.code, bill.patient_id_number)
        check_member(scheme, member, ebill, None, ())
    year = ebill.policy_year
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

    return _Computed(result, policy_row, [], [], totals, move)


_BASIS = select(
    *(
        col(getattr(db.Settlement, c))
        for c in ("id", "scheme_code", "offsite", "registered", "excluded", "over_limit", "b_self_pay", "in_scope")
    ),
    col(db.Settlement.detail),
).where(col(db.Settlement.id) == bindparam("id"))


def _read_basis(session: Session, settlement_id: str) -> t.Basis:
    """A tier's basis settled before this transaction."""
    return loading.basis_to_engine(dict(session.execute(_BASIS, {"id": settlement_id}).mappings().one()))


def _settle_scheme(
    session: Session,
    *,
    bill: db.Bill,
    ebill: t.Bill,
    scheme: t.Scheme,
    employer: t.Employer | None,
    prior: Decimal,
) -> _Computed:
    """v1 (basic and injury schemes), or an employer's liability under the scheme (v2.5)."""
    member = loading.load_member(session, scheme.code, bill.patient_id_number)
    check_member(scheme, member, ebill, employer, EMPLOYER_LIABILITY)
    year = ebill.policy_year
    policy_row, policy = loading.load_policy(session, scheme, year)
    assert isinstance(policy, t.Policy)
    policy_section(scheme, policy, ebill)
    version_rows, catalogs = loading.load_catalogs(session, scheme.code, ebill)
    totals: Totals
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
            year_to_date=t.YearToDate(totals.fund_paid, totals.deductible_met(bill.setting)),
            prior_payments=prior,
            employer=employer,
        ),
        validate=False,
    )
    days = {ebill.service_day(line) for line in ebill.items}
    used_versions = sorted({v.version for v in (version_in_effect(catalogs, d) for d in days) if v is not None})

    def move(r: t.SettlementResult) -> None:
        totals.add(setting=bill.setting, fund_paid=r.fund_payment, yearly_deductible=r.yearly_deductible)

    return _Computed(result, policy_row, version_rows, used_versions, totals, move)


def settle_locked_bill(
    session: Session,
    *,
    bill: db.Bill,
    scheme_code: str,
    external_payments: Sequence[t.ExternalPayment],
    created_by: str,
    employer: t.Employer | None = None,
) -> dict[str, Any]:
    """Settle ``bill`` (already locked) under one scheme, move the ledger with it, and return the
    settlement's row as stored (render it with :func:`app.schemas.settlements.settlement_public`).

    The problems of a request are reported in the order of the README ("Several problems in
    one request").  A preview performs the same writes; its caller rolls the transaction back.
    """
    ebill = loading.engine_bill(session, bill)
    read_references(session, ebill, [scheme_code])  # a claim read them already (lock_for_settlements)
    scheme = loading.load_scheme(session, scheme_code)
    check_request(scheme, ebill, employer, EMPLOYER_LIABILITY)
    held = _held(session, bill)
    _refuse_a_second_settlement(scheme, held.active)
    prior = _prior_payments(bill, held, external_payments)
    if scheme.kind in t.TIER_KINDS:
        computed = _settle_tier(session, bill=bill, ebill=ebill, scheme=scheme, held=held, prior=prior)
    else:
        computed = _settle_scheme(session, bill=bill, ebill=ebill, scheme=scheme, employer=employer, prior=prior)
    row = _settlement_row(bill, scheme, employer, computed, external_payments, created_by)
    _write(session, bill, computed, row, external_payments)
    _record_held(held, row, external_payments)
    return row


def _record_held(held: _Held, row: dict[str, Any], external_payments: Sequence[t.ExternalPayment]) -> None:
    """The settlement just written, in the bill's :class:`_Held` state."""
    held.active.append(
        Active(
            row["id"],
            row["scheme_code"],
            row["fund_payment"],
            row["sequence"],
            row["payer_type"],
            row["basis_settlement_id"],
        )
    )
    held.vouchers.update((e.voucher_no, e.amount) for e in external_payments)
    held.made[row["id"]] = row


def _refuse_a_second_settlement(scheme: t.Scheme, active: list[Active]) -> None:
    """A scheme holds at most one active settlement (or employer's liability) per bill."""
    for a in active:
        if a.scheme_code == scheme.code:
            holder = "an employer's liability" if a.payer_type == "employer" else "an active settlement"
            raise Conflict(
                f"{scheme.code} already holds {holder} (sequence {a.sequence}) on this bill; "
                "reverse it before settling again"
            )


def _prior_payments(bill: db.Bill, held: _Held, external_payments: Sequence[t.ExternalPayment]) -> Decimal:
    """The bill's earlier payments with this request's external ones, checked by the engine's rule
    (:func:`app.engine.coordination.check_prior`) against the vouchers already on the bill."""
    vouchers = held.vouchers
    new_external = sum((e.amount for e in external_payments), ZERO)
    prior = sum((a.fund_payment for a in held.active), ZERO) + sum(vouchers.values(), ZERO) + new_external
    check_prior(prior, bill.medical_total, external=external_payments, recorded_vouchers=vouchers.keys())
    return prior


def _active_vouchers(session: Session, bill: db.Bill) -> dict[str, Decimal]:
    """The bill's active external payments: voucher number -> amount."""
    p = db.ExternalPayment
    stmt = select(col(p.voucher_no), col(p.amount)).where(col(p.bill_id) == bill.id, col(p.active))
    return dict(session.execute(stmt).all())


def _settlement_row(
    bill: db.Bill,
    scheme: t.Scheme,
    employer: t.Employer | None,
    computed: _Computed,
    external_payments: Sequence[t.ExternalPayment],
    created_by: str,
) -> dict[str, Any]:
    """The settlement's row: the bill's and scheme's identity, the engine's figures, the detail."""
    result = computed.result
    return {
        "id": str(uuid.uuid4()),
        "bill_id": bill.id,
        "scheme_code": scheme.code,
        "scheme_kind": scheme.kind,
        "payer_type": "scheme" if employer is None else "employer",
        "employer_code": None if employer is None else employer.code,
        "employer_name": None if employer is None else employer.name,
        "basis_settlement_id": result.basis_settlement_id,
        "compliant_self_pay": result.compliant_self_pay,
        "sequence": bill.last_sequence + 1,
        "status": "settled",
        "policy_year": result.policy_year,
        "policy_id": computed.policy_row.id,
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
        "external_total": sum((e.amount for e in external_payments), ZERO),
        "detail": detail.settlement_detail(result, external_payments, computed.used_versions),
        "created_by": created_by,
        "created_at": clock.now(),
        "reversed_at": None,
    }


_SETTLEMENT = db.core_table(db.Settlement)
_EXTERNAL_PAYMENT = db.core_table(db.ExternalPayment)
_BILL = db.core_table(db.Bill)
_POLICY = db.core_table(db.Policy)
_CATALOG_VERSION = db.core_table(db.CatalogVersion)
#: Core statements, built once (their parameters apart): no ORM unit of work on the hot path.
_INSERT_SETTLEMENT = insert(_SETTLEMENT)
_INSERT_EXTERNAL_PAYMENT = insert(_EXTERNAL_PAYMENT)
#: Its parameters: ``b_id``, and the values of ``paid_total`` and ``last_sequence``.
_MOVE_BILL = update(_BILL).where(_BILL.c.id == bindparam("b_id"))


def _insert(session: Session, row: dict[str, Any], external_payments: Sequence[t.ExternalPayment]) -> None:
    """The settlement's row and its external payments."""
    conn = connection_of(session)
    execute(conn, _INSERT_SETTLEMENT, row)
    if external_payments:
        conn.execute(
            _INSERT_EXTERNAL_PAYMENT,
            [
                {
                    "bill_id": row["bill_id"],
                    "settlement_id": row["id"],
                    "payer": e.payer,
                    "voucher_no": e.voucher_no,
                    "amount": e.amount,
                    "active": True,
                }
                for e in external_payments
            ],
        )


def _in_one(*parts: tuple[str, Insert | Update]) -> Select[Any]:
    """PostgreSQL: several writes as one statement (one round trip), each a data-modifying
    ``WITH`` part (``RETURNING`` one column) of a plain ``SELECT``.  Each part runs exactly once
    and to completion; a constraint any of them breaks fails the whole statement, as it would fail
    the writes one by one.  Not an ``UPDATE`` at the top: compiled with its parameters' names, it
    would also set every column of the other parts' tables that a parameter names (the
    accumulator's ``compliant_self_pay`` is a settlement's column too)."""
    statement: Select[Any] = select(literal_column("1"))
    for name, part in parts:
        statement = statement.add_cte(part.cte(name))
    return statement


def _insert_named(table: Table, prefix: str) -> Insert:
    """``table``'s insert with a parameter per column, ``<prefix>_<column>``, of the column's type:
    the parts of :func:`_in_one` keep their parameters apart by prefix."""
    return insert(table).values({c.name: bindparam(f"{prefix}_{c.name}", type_=c.type) for c in table.columns})


def _update_named(key: Column[Any], key_parameter: str, prefix: str, *columns: str) -> Update:
    """``UPDATE`` of ``columns`` (each from the parameter ``<prefix>_<column>``, of the column's
    type) where ``key`` equals the parameter ``key_parameter``: a part of :func:`_in_one`."""
    table = key.table
    return (
        update(table)
        .where(key == bindparam(key_parameter))
        .values({name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns})
    )


def _totals_part(table: Table) -> Update:
    """The accumulator's update as a part of :func:`_in_one`."""
    return totals_update(table).returning(next(iter(table.primary_key.columns)))


@cache
def _settle_in_one(table: Table) -> Select[Any]:
    """The settlement's insert, the bill's update and the accumulator's (:func:`_in_one`)."""
    settled = _insert_named(_SETTLEMENT, "s")
    billed = _update_named(_BILL.c.id, "b_id", "b", "paid_total", "last_sequence")
    return _in_one(
        ("settled", settled.returning(_SETTLEMENT.c.id)),
        ("billed", billed.returning(_BILL.c.id)),
        ("totals", _totals_part(table)),
    )


def _write(
    session: Session,
    bill: db.Bill,
    computed: _Computed,
    row: dict[str, Any],
    external_payments: Sequence[t.ExternalPayment],
) -> None:
    """What a settlement writes: its row and external payments, the bill's paid total and sequence,
    the accumulator, and the reference rows marked used.

    Core statements; the bill object gets the new values as committed ones
    (``set_committed_value``), so an ORM flush never writes them a second time.  On PostgreSQL
    the settlement, the bill and the accumulator are written by one statement
    (:func:`_settle_in_one`) unless there are external payments to insert after the settlement."""
    conn = connection_of(session)
    paid_total = bill.paid_total + computed.result.fund_payment + row["external_total"]
    last_sequence = bill.last_sequence + 1
    computed.move(computed.result)
    if conn.dialect.name == "postgresql" and not external_payments:
        params = {f"s_{k}": v for k, v in row.items()}
        params.update(b_id=bill.id, b_paid_total=paid_total, b_last_sequence=last_sequence)
        params.update(totals_params(computed.totals))
        execute(conn, _settle_in_one(computed.totals.table), params)
    else:
        _insert(session, row, external_payments)
        execute(conn, _MOVE_BILL, {"b_id": bill.id, "paid_total": paid_total, "last_sequence": last_sequence})
        save_totals(session, computed.totals)
    set_committed_value(bill, "paid_total", paid_total)
    set_committed_value(bill, "last_sequence", last_sequence)
    policy_row = computed.policy_row
    if not policy_row.used:
        conn.execute(update(_POLICY).where(_POLICY.c.id == policy_row.id).values(used=True))
    used_ids = [v.id for v in computed.version_rows if v.version in computed.used_versions]
    if any(not v.used for v in computed.version_rows if v.id in used_ids):
        conn.execute(
            update(_CATALOG_VERSION)
            .where(_CATALOG_VERSION.c.id.in_(used_ids), _CATALOG_VERSION.c.used.is_(False))
            .values(used=True)
        )


_REVERSAL = db.core_table(db.Reversal)
#: The settlement to reverse, read again under the bill's lock, with the bill's active ones.
_REVERSING = select(_SETTLEMENT).where(
    _SETTLEMENT.c.bill_id == bindparam("bill_id"),
    or_(_SETTLEMENT.c.status == "settled", _SETTLEMENT.c.id == bindparam("id")),
)
_MARK_REVERSED = _update_named(_SETTLEMENT.c.id, "s_id", "s", "status", "reversed_at")
_EXTERNALS_INACTIVE = _update_named(_EXTERNAL_PAYMENT.c.settlement_id, "s_id", "e", "active")
_INSERT_REVERSAL = _insert_named(_REVERSAL, "r")
_BILL_PAID = _update_named(_BILL.c.id, "b_id", "b", "paid_total")


@cache
def _reverse_in_one(table: Table) -> Select[Any]:
    """What a reversal writes (the settlement marked reversed, its external payments inactive, the
    reversal's record, the bill's paid total and the accumulator) as one statement (:func:`_in_one`)."""
    return _in_one(
        ("totals", _totals_part(table)),
        ("reversed", _MARK_REVERSED.returning(_SETTLEMENT.c.id)),
        ("externals", _EXTERNALS_INACTIVE.returning(_EXTERNAL_PAYMENT.c.id)),
        ("recorded", _INSERT_REVERSAL.returning(_REVERSAL.c.id)),
        ("billed", _BILL_PAID.returning(_BILL.c.id)),
    )


def reverse_locked(session: Session, *, bill: db.Bill, settlement_id: str, created_by: str) -> dict[str, Any]:
    """Reverse the bill's latest active settlement; undo exactly what it did.  Returns the
    settlement's row as reversed (render it with :func:`app.schemas.settlements.settlement_public`)."""
    _forget_held(session, bill)
    rows = execute(session, _REVERSING, {"bill_id": bill.id, "id": settlement_id})
    s = next((r._asdict() for r in rows if r.id == settlement_id), None)
    assert s is not None, "the settlement's bill is the one locked"  # a settlement keeps its bill
    if s["status"] != "settled":
        raise Conflict("this settlement is already reversed")
    active = [
        Active(r.id, r.scheme_code, r.fund_payment, r.sequence, r.payer_type, r.basis_settlement_id)
        for r in rows
        if r.status == "settled"
    ]
    latest = max(a.sequence for a in active)
    if s["sequence"] != latest:
        tiers = [f"{a.scheme_code} (sequence {a.sequence})" for a in active if a.basis_settlement_id == s["id"]]
        if tiers:
            raise Conflict(
                f"a tier settled on this settlement is active: {', '.join(tiers)}; reverse it first "
                f"(only the latest active settlement of a bill, sequence {latest}, may be reversed)"
            )
        raise Conflict(f"only the latest active settlement of a bill may be reversed; reverse sequence {latest} first")
    totals: Totals
    if s["payer_type"] == "employer":
        assert s["employer_code"] is not None
        ekey = EmployerYearKey(s["scheme_code"], s["employer_code"], s["patient_id_number"], s["policy_year"])
        totals = lock_employer_year_totals(session, [ekey])[ekey]
    else:
        key = YearKey(s["scheme_code"], s["patient_id_number"], s["policy_year"])
        totals = year_total = lock_year_totals(session, [key])[key]
        if s["compliant_self_pay"] is not None:
            year_total.compliant_self_pay -= s["compliant_self_pay"]
    totals.add(setting=s["setting"], fund_paid=-s["fund_payment"], yearly_deductible=-s["yearly_deductible"])
    paid_total = bill.paid_total - s["fund_payment"] - s["external_total"]
    now = clock.now()
    params: dict[str, Any] = {
        "s_id": s["id"],
        "s_status": "reversed",
        "s_reversed_at": now,
        "e_active": False,
        "b_id": bill.id,
        "b_paid_total": paid_total,
        **{f"r_{k}": s[k] for k in _REVERSED_FIGURES},
        "r_id": str(uuid.uuid4()),
        "r_settlement_id": s["id"],
        "r_created_by": created_by,
        "r_created_at": now,
    }
    conn = connection_of(session)
    if conn.dialect.name == "postgresql":
        params.update(totals_params(totals))
        execute(conn, _reverse_in_one(totals.table), params)
    else:
        save_totals(session, totals)
        for statement in (_MARK_REVERSED, _EXTERNALS_INACTIVE, _INSERT_REVERSAL, _BILL_PAID):
            execute(conn, statement, params)
    set_committed_value(bill, "paid_total", paid_total)
    return {**s, "status": "reversed", "reversed_at": now}


#: The reversal's record repeats these of the settlement's.
_REVERSED_FIGURES = (
    "bill_id",
    "scheme_code",
    "payer_type",
    "hospital_code",
    "insuring_region",
    "treatment_region",
    "medical_total",
    "fund_payment",
    "external_total",
)


_PEEK = select(_SETTLEMENT.c.bill_id, _SETTLEMENT.c.scheme_code).where(_SETTLEMENT.c.id == bindparam("id"))


def peek_settlement(session: Session, settlement_id: str) -> tuple[str, str]:
    """The settlement's bill and scheme, read before its bill is locked (a reversal then reads the
    settlement again under the lock)."""
    rows = execute(session, _PEEK, {"id": settlement_id})
    if not rows:
        raise NotFound("there is no such settlement")
    return rows[0].bill_id, rows[0].scheme_code


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


@dataclass(frozen=True, slots=True)
class Payment:
    """One active payment on a bill: a scheme's, an employer's liability, or an external payer's."""

    sequence: int
    payer_type: str
    payer: str | None
    scheme_code: str | None
    scheme_kind: str | None
    employer_code: str | None
    voucher_no: str | None
    amount: Decimal
    settlement_id: str


def active_payments(session: Session, bill: db.Bill) -> list[Payment]:
    """The bill's active payments in order (the split sheet), externals first per settlement."""
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
    return _payments(settlements, externals)


def new_bill_payments(rows: Sequence[dict[str, Any]]) -> list[Payment]:
    """The split sheet of a bill this transaction created, without reading it back: its active
    payments are exactly the settlements it just made (``rows`` as :func:`settle_locked_bill`
    returned them, in sequence order) and their external payments, since no other transaction
    can see the bill before this one commits."""
    settlements = [
        (
            r["id"],
            r["sequence"],
            r["scheme_code"],
            r["fund_payment"],
            r["scheme_kind"],
            r["payer_type"],
            r["employer_code"],
            r["employer_name"],
        )
        for r in sorted(rows, key=lambda r: int(r["sequence"]))
    ]
    externals = {
        r["id"]: [(e["payer"], e["voucher_no"], Decimal(e["amount"])) for e in r["detail"]["external_payments"]]
        for r in rows
    }
    return _payments(settlements, externals)


def _payments(
    settlements: Sequence[tuple[Any, ...]], externals: dict[str, list[tuple[str, str, Decimal]]]
) -> list[Payment]:
    """The split sheet's payments: per settlement in sequence order, its external payments first."""
    payments: list[Payment] = []
    for sid, seq, code, fund, kind, payer_type, employer_code, employer_name in settlements:
        payments += [
            Payment(seq, "external", payer, None, None, None, voucher, amount, sid)
            for payer, voucher, amount in externals.get(sid, [])
        ]
        # An employer's liability is paid by the employer, under the scheme's rules (v2.5).
        payer_name = employer_name if payer_type == "employer" else code
        payments.append(Payment(seq, payer_type, payer_name, code, kind, employer_code, None, fund, sid))
    return payments
