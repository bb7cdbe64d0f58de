"""One conversion of a policy document: the request model's ``to_engine`` and the ledger's reading
of the stored document (``app.engine.documents``) give the same engine policy, to the written
form of every decimal."""

from __future__ import annotations

from typing import cast

import pytest

from app.engine import types as t
from app.ledger.inputs import parse_policy
from app.ledger.stored import PolicyDoc
from app.sample import SAMPLE_DIR, load_reference
from app.schemas.reference import PolicyCreate, TierPolicyCreate

POLICIES = [
    (layer, code, year, model)
    for layer in (SAMPLE_DIR, SAMPLE_DIR / "v2")
    for code, versions in load_reference(layer).policies.items()
    for year, model in versions
]


@pytest.mark.parametrize(("layer", "code", "year", "model"), POLICIES, ids=lambda v: getattr(v, "name", str(v)))
def test_a_stored_policy_reads_back_as_its_request_model_converts_it(
    layer: object, code: str, year: int, model: PolicyCreate | TierPolicyCreate
) -> None:
    # As services.reference stores it.
    stored = cast(PolicyDoc, {**model.model_dump(mode="json", by_alias=True), "year": year})
    from_request = model.to_engine(year)
    from_store = parse_policy(stored, year, tier=isinstance(model, TierPolicyCreate))
    assert from_store == from_request
    assert repr(from_store) == repr(from_request)  # Decimal("0.85") is not Decimal("0.850") when written out


def test_the_samples_have_tiers_and_schemes() -> None:
    policies = [m.to_engine(y) for _layer, _code, y, m in POLICIES]
    assert any(isinstance(p, t.TierPolicy) for p in policies)
    assert any(isinstance(p, t.Policy) and p.settings for p in policies)


def test_a_per_year_policy_with_offsite_deductibles_reads_back_the_same() -> None:
    doc = {
        "annual_cap": "100000.5",
        "outpatient": {
            "deductible": {"basis": "per_year", "amount": "1800"},
            "bands": [{"up_to": None, "ratio_by_level": {"1": "0.5", "2": "0.5", "3": "0.500"}}],
        },
        "inpatient": {
            "deductible": {
                "basis": "per_admission",
                "by_level": {"1": "300", "2": "600", "3": "900"},
                "offsite_by_level": {"1": "500", "2": "800", "3": "1000.10"},
            },
            "bands": [{"up_to": None, "ratio_by_level": {"1": "0.7", "2": "0.7", "3": "0.7"}}],
        },
    }
    model = PolicyCreate.model_validate(doc)
    stored = cast(PolicyDoc, {**model.model_dump(mode="json", by_alias=True), "year": 2027})
    policy = model.to_engine(2027)
    assert repr(parse_policy(stored, 2027, tier=False)) == repr(policy)
    outpatient, inpatient = policy.settings["outpatient"], policy.settings["inpatient"]
    assert (outpatient.deductible.basis, str(outpatient.deductible.amount)) == ("per_year", "1800.00")
    assert str(policy.annual_cap) == "100000.50"
    assert str(outpatient.bands[0].ratio_by_level[3]) == "0.500"
    assert inpatient.deductible.offsite_by_level is not None
    assert str(inpatient.deductible.offsite_by_level[3]) == "1000.10"
    assert (str(outpatient.delta_registered), str(outpatient.delta_unregistered)) == ("0", "0")


def test_a_per_admission_policy_converts_to_the_engine_values() -> None:
    doc = {
        "year": 2026,
        "annual_cap": "300000",
        "inpatient": {
            "deductible": {"basis": "per_admission", "by_level": {"1": "200", "2": "500.5", "3": "800"}},
            "bands": [
                {"up_to": "50000", "ratio_by_level": {"1": "0.9", "2": "0.85", "3": "0.8"}},
                {"up_to": None, "ratio_by_level": {"1": "0.95", "2": "0.925", "3": "0.9"}},
            ],
            "offsite_ratio_delta": {"registered": "-0.05", "unregistered": "-0.1"},
        },
    }
    policy = PolicyCreate.model_validate(doc).to_engine(2026)
    assert policy == parse_policy(cast(PolicyDoc, doc), 2026, tier=False)
    inpatient = policy.settings["inpatient"]
    assert (policy.year, str(policy.annual_cap), list(policy.settings)) == (2026, "300000.00", ["inpatient"])
    assert {k: str(v) for k, v in inpatient.deductible.by_level.items()} == {1: "200.00", 2: "500.50", 3: "800.00"}
    assert inpatient.deductible.offsite_by_level is None
    bands = [(str(b.up_to), str(b.ratio_by_level[2])) for b in inpatient.bands]
    assert bands == [("50000.00", "0.85"), ("None", "0.925")]
    assert (str(inpatient.delta_registered), str(inpatient.delta_unregistered)) == ("-0.05", "-0.1")
