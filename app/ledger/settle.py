"""Settle a locked bill under one scheme: compute with the engine from what this transaction
holds, then write the settlement, the bill's totals, the accumulator and the reference rows
marked used.  Runs inside a write transaction (:class:`app.ledger.work.LedgerWork`) holding the
locks of :mod:`app.ledger.lock_order`.

Field errors are located in a settlement request (``scheme_code``, ``external_payments``,
``employer_liability``, ``advance``); the caller puts them under its own request's field
(:meth:`app.errors.ValidationFailed.under`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, select

from app import clock
from app.db.combined import named
from app.db.direct import execute, execute_one
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.engine.coordination import check_prior
from app.engine.eligibility import (
    ADVANCE,
    advance_employer,
    check_member,
    check_request,
    part_of_kind,
    policy_section,
)
from app.engine.large_amount import settle_large_amount
from app.engine.money import ZERO
from app.engine.settle import settle as engine_settle
from app.engine.tier import settle_tier
from app.errors import Conflict, Loc
from app.ledger import detail, inputs, receivables
from app.ledger.accumulators import employer_year_total, save_totals, totals_params, year_total
from app.ledger.bill_state import engine_bill, held, moved
from app.ledger.conversions import basis_to_engine
from app.ledger.records import SettlementRecord
from app.ledger.references import read_references
from app.ledger.rows import Active, BillRow, EmployerYearKey, PolicyRow, Totals, VersionRow, YearKey
from app.ledger.statements import (
    INSERT_EXTERNAL_PAYMENT,
    INSERT_SETTLEMENT,
    MARK_POLICY_USED,
    MARK_VERSIONS_USED,
    MOVE_BILL,
    SETTLEMENT,
    settle_in_one,
)
from app.ledger.work import HeldBill, LedgerWork

#: Where an employer's liability is in a settlement request.
EMPLOYER_LIABILITY: Loc = ("employer_liability",)


@dataclass(frozen=True, slots=True)
class _Computed:
    """The engine's result and what settling it moves besides the bill."""

    result: t.SettlementResult
    policy_row: PolicyRow
    version_rows: list[VersionRow]
    used_versions: list[str]
    totals: Totals
    move: Callable[[t.SettlementResult], None]


def settle_locked_bill(
    work: LedgerWork,
    *,
    bill_id: str,
    scheme_code: str,
    external_payments: Sequence[t.ExternalPayment],
    created_by: str,
    employer: t.Employer | None = None,
    advance: t.Advance | None = None,
) -> SettlementRecord:
    """Settle the bill (held locked by this transaction) under one scheme, move the ledger with it,
    and return the settlement as stored (rendered by :func:`app.schemas.settlements.settlement_public`).

    The problems of a request are reported in the order of ``docs/contract.md`` ("Several problems
    in one request").  A preview performs the same writes; its caller rolls the transaction back.
    """
    ebill = engine_bill(work, bill_id)
    read_references(work, ebill, [scheme_code])  # a claim read them already (lock_for_settlements)
    scheme = inputs.scheme_for(work, scheme_code)
    check_request(scheme, ebill, employer, EMPLOYER_LIABILITY, advance=advance)
    state = held(work, bill_id)
    assert state.active is not None
    _refuse_a_second_settlement(scheme, state.active)
    prior = _prior_payments(state, external_payments)
    same_part = _same_part_prior(state, scheme, ebill, external_payments)
    if scheme.kind == "large_amount":
        computed = _settle_large_amount(work, ebill=ebill, scheme=scheme, state=state, prior=prior, same_part=same_part)
    elif scheme.kind in t.TIER_KINDS:
        computed = _settle_tier(work, ebill=ebill, scheme=scheme, state=state, prior=prior, same_part=same_part)
    else:
        computed = _settle_scheme(
            work,
            bill=state.row,
            ebill=ebill,
            scheme=scheme,
            employer=employer,
            advance=advance,
            prior=prior,
            same_part=same_part,
        )
    record = _record(state.row, ebill, scheme, employer, advance, computed, external_payments, created_by)
    _write(work, state.row, computed, record, external_payments)
    receivables.open_for(work, record)
    _note_settled(state, record, external_payments)
    return record


def _basis(work: LedgerWork, scheme: t.Scheme, state: HeldBill) -> tuple[t.Basis | None, Decimal]:
    """A tier's basis (the supplemented scheme's active fund settlement on the bill), and what that
    settlement and every tier on it paid."""
    active = state.active
    assert active is not None
    basis_row = next((a for a in active if a.scheme_code == scheme.supplements and a.payer_type == "scheme"), None)
    if basis_row is None:
        return None, ZERO
    made = state.made.get(basis_row.id)
    basis = _read_basis(work, basis_row.id) if made is None else basis_to_engine(made)
    paid = basis_row.fund_payment + sum((a.fund_payment for a in active if a.basis_settlement_id == basis_row.id), ZERO)
    return basis, paid


def _tier_policy_and_totals(
    work: LedgerWork, scheme: t.Scheme, ebill: t.Bill, basis: t.Basis | None
) -> tuple[PolicyRow | None, inputs.AnyPolicy | None, Totals | None]:
    """A tier's policy and its locked accumulator for the bill's year; none without a basis (the
    engine then refuses the tier before it would read them)."""
    if basis is None:
        return None, None, None
    year = ebill.policy_year
    policy_row, policy = inputs.policy_for(work, scheme, year)
    return policy_row, policy, year_total(work, YearKey(scheme.code, ebill.patient_id_number, year))


def _settle_large_amount(
    work: LedgerWork, *, ebill: t.Bill, scheme: t.Scheme, state: HeldBill, prior: Decimal, same_part: Decimal
) -> _Computed:
    """v3.2: the basis, the tier's policy and its accumulator (fund paid, over-cap axis); the engine."""
    basis, _ = _basis(work, scheme, state)
    policy_row, policy, totals = _tier_policy_and_totals(work, scheme, ebill, basis)
    assert policy is None or isinstance(policy, t.LargeAmountPolicy)
    result = settle_large_amount(
        t.LargeAmountInput(
            bill=ebill,
            scheme=scheme,
            policy=policy,
            basis=basis,
            year_to_date=t.LargeAmountYearToDate(totals.fund_paid, totals.over_cap)
            if totals
            else t.LargeAmountYearToDate(),
            prior_payments=prior,
            same_part_prior=same_part,
        )
    )
    assert totals is not None and policy_row is not None  # the engine refused a tier without basis

    def move(r: t.SettlementResult) -> None:
        totals.fund_paid += r.fund_payment
        totals.over_cap += r.over_cap or ZERO

    return _Computed(result, policy_row, [], [], totals, move)


def _settle_tier(
    work: LedgerWork, *, ebill: t.Bill, scheme: t.Scheme, state: HeldBill, prior: Decimal, same_part: Decimal
) -> _Computed:
    """v2.3: the basis, the tier's members (assistance only), policy and accumulators; the engine."""
    basis, paid_by_basic_and_tiers = _basis(work, scheme, state)
    member = None
    if basis is not None and scheme.kind == "medical_assistance":
        member = inputs.member_for(work, scheme.code, ebill.patient_id_number)
        check_member(scheme, member, ebill, None, ())
    policy_row, policy, totals = _tier_policy_and_totals(work, scheme, ebill, basis)
    assert policy is None or isinstance(policy, t.TierPolicy)
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
            same_part_prior=same_part,
        )
    )
    assert totals is not None and policy_row is not None  # the engine refused a tier without basis

    def move(r: t.SettlementResult) -> None:
        totals.fund_paid += r.fund_payment
        totals.compliant_self_pay += r.compliant_self_pay or ZERO

    return _Computed(result, policy_row, [], [], totals, move)


_BASIS = select(
    *(
        SETTLEMENT.c[c]
        for c in (
            "id",
            "scheme_code",
            "offsite",
            "registered",
            "excluded",
            "over_limit",
            "b_self_pay",
            "in_scope",
            "benefit_after_cap",
        )
    ),
    SETTLEMENT.c.detail,
).where(SETTLEMENT.c.id == bindparam("id"))


def _read_basis(work: LedgerWork, settlement_id: str) -> t.Basis:
    """A tier's basis settled before this transaction."""
    row = execute_one(work.connection, _BASIS, {"id": settlement_id})
    assert row is not None  # an active settlement of the bill, under the bill's lock
    return basis_to_engine(row)


def _settle_scheme(
    work: LedgerWork,
    *,
    bill: BillRow,
    ebill: t.Bill,
    scheme: t.Scheme,
    employer: t.Employer | None,
    advance: t.Advance | None,
    prior: Decimal,
    same_part: Decimal,
) -> _Computed:
    """v1 (basic and injury schemes), an employer's liability under the scheme (v2.5), or a
    fund's advance (v3.3: for an employer that did not enrol its worker, on that employer's
    accumulators)."""
    member = inputs.member_for(work, scheme.code, bill.patient_id_number)
    check_member(scheme, member, ebill, employer, EMPLOYER_LIABILITY, advance=advance, advance_loc=ADVANCE)
    year = ebill.policy_year
    policy_row, policy = inputs.policy_for(work, scheme, year)
    assert isinstance(policy, t.Policy)
    policy_section(scheme, policy, ebill)
    version_rows, catalogs = inputs.catalogs_for(work, scheme.code, ebill)
    totals: Totals
    owner = employer or advance_employer(advance)
    if owner is None:
        totals = year_total(work, YearKey(scheme.code, bill.patient_id_number, year))
    else:
        totals = employer_year_total(work, EmployerYearKey(scheme.code, owner.code, bill.patient_id_number, year))
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
            advance=advance,
            same_part_prior=same_part,
        ),
        validate=False,
    )
    days = {ebill.service_day(line) for line in ebill.items}
    used_versions = sorted({v.version for v in (version_in_effect(catalogs, d) for d in days) if v is not None})

    def move(r: t.SettlementResult) -> None:
        totals.add(setting=bill.setting, fund_paid=r.fund_payment, yearly_deductible=r.yearly_deductible)

    return _Computed(result, policy_row, version_rows, used_versions, totals, move)


def _note_settled(state: HeldBill, record: SettlementRecord, external_payments: Sequence[t.ExternalPayment]) -> None:
    """The settlement just written, in the bill's held state."""
    assert state.active is not None and state.vouchers is not None
    state.active.append(
        Active(
            record.id,
            record.scheme_code,
            record.fund_payment,
            record.sequence,
            record.payer_type,
            record.basis_settlement_id,
            record.scheme_kind,
            record.external_total,
        )
    )
    state.vouchers.update((e.voucher_no, e.amount) for e in external_payments)
    state.made[record.id] = record


def _refuse_a_second_settlement(scheme: t.Scheme, active: list[Active]) -> None:
    """A scheme holds at most one active settlement (or employer's liability) per bill."""
    for a in active:
        if a.scheme_code == scheme.code:
            holder = "an employer's liability" if a.payer_type == "employer" else "an active settlement"
            raise Conflict(
                f"{scheme.code} already holds {holder} (sequence {a.sequence}) on this bill; "
                "reverse it before settling again"
            )


def _prior_payments(state: HeldBill, external_payments: Sequence[t.ExternalPayment]) -> Decimal:
    """The bill's earlier payments with this request's external ones, checked by the engine's rule
    (:func:`app.engine.coordination.check_prior`) against the vouchers already on the bill."""
    vouchers, active = state.vouchers, state.active
    assert vouchers is not None and active is not None
    new_external = sum((e.amount for e in external_payments), ZERO)
    prior = sum((a.fund_payment for a in active), ZERO) + sum(vouchers.values(), ZERO) + new_external
    check_prior(prior, state.row.medical_total, external=external_payments, recorded_vouchers=vouchers.keys())
    return prior


def _same_part_prior(
    state: HeldBill, scheme: t.Scheme, ebill: t.Bill, external_payments: Sequence[t.ExternalPayment]
) -> Decimal:
    """v3.1: on a bill carrying a work injury, the active payments on this scheme's part of it
    (injury schemes' on the injury's; basic schemes', tiers' and uebmi employers' on the rest),
    each settlement's external payments with it, and this request's external payments."""
    if ebill.work_injury is None:
        return ZERO  # the engine looks at it on a mixed bill only
    active = state.active
    assert active is not None
    part = part_of_kind(scheme.kind)
    same = sum((a.fund_payment + a.external_total for a in active if part_of_kind(a.scheme_kind) == part), ZERO)
    return same + sum((e.amount for e in external_payments), ZERO)


def _record(
    bill: BillRow,
    ebill: t.Bill,
    scheme: t.Scheme,
    employer: t.Employer | None,
    advance: t.Advance | None,
    computed: _Computed,
    external_payments: Sequence[t.ExternalPayment],
    created_by: str,
) -> SettlementRecord:
    """The settlement's row: the bill's and scheme's identity, the engine's figures, the detail."""
    result = computed.result
    return SettlementRecord(
        id=str(uuid.uuid4()),
        bill_id=bill.id,
        scheme_code=scheme.code,
        scheme_kind=scheme.kind,
        payer_type="scheme" if employer is None else "employer",
        employer_code=None if employer is None else employer.code,
        employer_name=None if employer is None else employer.name,
        basis_settlement_id=result.basis_settlement_id,
        compliant_self_pay=result.compliant_self_pay,
        cap_remaining=result.cap_remaining,
        over_cap=result.over_cap,
        advance_reason=None if advance is None else advance.reason,
        liable_kind=None if advance is None else advance.liable.kind,
        liable_code=None if advance is None else advance.liable.code,
        liable_name=None if advance is None else advance.liable.name,
        receivable_id=receivables.new_receivable_id(result.fund_payment, advance),
        sequence=bill.last_sequence + 1,
        status="settled",
        policy_year=result.policy_year,
        policy_id=computed.policy_row.id,
        patient_id_number=bill.patient_id_number,
        hospital_code=bill.hospital_code,
        insuring_region=scheme.pooling_region,
        treatment_region=bill.hospital_region,
        offsite=result.offsite,
        registered=result.registered,
        setting=ebill.setting,
        medical_total=result.medical_total,
        excluded=result.excluded,
        over_limit=result.over_limit,
        b_self_pay=result.b_self_pay,
        in_scope=result.in_scope,
        deductible=result.deductible,
        yearly_deductible=result.yearly_deductible,
        computed_benefit=result.computed_benefit,
        benefit_after_cap=result.benefit_after_cap,
        prior_payments=result.prior_payments,
        coordination_mode=result.coordination_mode,
        fund_payment=result.fund_payment,
        coordination_reduction=result.coordination_reduction,
        patient_responsibility=result.patient_responsibility,
        external_total=sum((e.amount for e in external_payments), ZERO),
        detail=detail.settlement_detail(result, external_payments, computed.used_versions),
        created_by=created_by,
        created_at=clock.now(),
        reversed_at=None,
    )


def _write(
    work: LedgerWork,
    bill: BillRow,
    computed: _Computed,
    record: SettlementRecord,
    external_payments: Sequence[t.ExternalPayment],
) -> None:
    """What a settlement writes: its row and external payments, the bill's paid total and sequence,
    the accumulator, and the reference rows marked used.  On PostgreSQL the settlement, the bill
    and the accumulator are one statement (:func:`app.ledger.statements.settle_in_one`) unless
    there are external payments to insert after the settlement."""
    conn = work.connection
    paid_total = bill.paid_total + computed.result.fund_payment + record.external_total
    last_sequence = bill.last_sequence + 1
    computed.move(computed.result)
    columns = record.columns()
    if work.postgresql and not external_payments:
        params = named("s", columns)
        params.update(b_id=bill.id, b_paid_total=paid_total, b_last_sequence=last_sequence)
        params.update(totals_params(computed.totals))
        execute(conn, settle_in_one(computed.totals.table), params)
    else:
        execute(conn, INSERT_SETTLEMENT, columns)
        if external_payments:
            conn.execute(
                INSERT_EXTERNAL_PAYMENT,
                [
                    {
                        "bill_id": bill.id,
                        "settlement_id": record.id,
                        "payer": e.payer,
                        "voucher_no": e.voucher_no,
                        "amount": e.amount,
                        "active": True,
                    }
                    for e in external_payments
                ],
            )
        execute(conn, MOVE_BILL, {"b_id": bill.id, "paid_total": paid_total, "last_sequence": last_sequence})
        save_totals(work, computed.totals)
    moved(work, bill.id, paid_total=paid_total, last_sequence=last_sequence)
    if not computed.policy_row.used:
        conn.execute(MARK_POLICY_USED, {"policy_id": computed.policy_row.id})
    used_ids = [v.id for v in computed.version_rows if v.version in computed.used_versions and not v.used]
    if used_ids:
        conn.execute(MARK_VERSIONS_USED, {"ids": used_ids})
