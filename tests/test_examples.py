"""The worked example of ``shared/examples``, reproduced to the cent by the pure engine.

Every field of every settlement of every scenario in ``expected-bill-1.json`` is compared.
The scenarios' set-up (order of the schemes, coordination mode, registrations) follows the
scenario descriptions; every expected number is read from the shared file.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest

from app.engine import settle
from app.engine.types import SettlementInput
from app.sample import OWN_FILES, SAMPLE_DIR, ReferenceSet, load_bill, load_reference
from app.schemas.settlements import engine_fields
from tests.support.paths import examples_dir

NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"

#: scenario -> (order of the schemes, coordination overrides, schemes whose member has no registration)
SCENARIOS: dict[str, tuple[list[str], dict[str, str], set[str]]] = {
    "A_nrcms_then_uebmi": ([NRCMS, UEBMI], {}, set()),
    "B_uebmi_then_nrcms": ([UEBMI, NRCMS], {}, set()),
    "C_gap_fill_second": ([NRCMS, UEBMI], {UEBMI: "gap_fill"}, set()),
    "D_unregistered_offsite": ([UEBMI], {}, {UEBMI}),
}


def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir() / "expected-bill-1.json").read_text())
    return data


def run_scenario(ref: ReferenceSet, name: str) -> list[dict[str, Any]]:
    order, coordination, unregistered = SCENARIOS[name]
    bill = load_bill(examples_dir() / "bill-1.json").to_engine()
    prior = Decimal("0.00")
    out = []
    for sequence, code in enumerate(order, start=1):
        scheme = ref.engine_scheme(code)
        if code in coordination:
            scheme = dataclasses.replace(scheme, coordination=coordination[code])  # type: ignore[arg-type]
        member = ref.engine_member(code, bill.patient_id_number)
        if code in unregistered:
            member = dataclasses.replace(member, registrations=())
        result = settle(
            SettlementInput(
                bill=bill,
                scheme=scheme,
                member=member,
                catalogs=ref.engine_catalogs(code),
                policy=ref.engine_policy(code, bill.discharge_date.year),
                prior_payments=prior,
            )
        )
        prior += result.fund_payment
        out.append({"sequence": sequence, **engine_fields(result)})
    return out


def test_every_scenario_is_present() -> None:
    assert set(expected()) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_reproduced_to_the_cent(scenario: str) -> None:
    ref = load_reference(examples_dir())
    want = expected()[scenario]["settlements"]
    got = run_scenario(ref, scenario)
    assert len(got) == len(want)
    for ours, theirs in zip(got, want, strict=True):
        for field, value in theirs.items():
            if field == "lines":
                assert len(ours["lines"]) == len(value)
                for our_line, their_line in zip(ours["lines"], value, strict=True):
                    assert {k: our_line[k] for k in their_line} == their_line, (scenario, field)
            else:
                assert ours[field] == value, (scenario, ours["scheme_code"], field)


def test_shipped_sample_is_identical_to_shared_examples() -> None:
    """Every data file of ``shared/examples`` and its ``v2/`` is shipped, unchanged, and nothing else
    but this service's own sample files (the national platform's routes), beside the copies."""
    shared = sorted(p.relative_to(examples_dir()) for p in examples_dir().rglob("*.json"))
    shipped = sorted(p.relative_to(SAMPLE_DIR) for p in SAMPLE_DIR.rglob("*.json") if p.name not in OWN_FILES)
    assert all((SAMPLE_DIR / name).is_file() and not (examples_dir() / name).exists() for name in OWN_FILES)
    assert shipped == shared
    assert {str(p) for p in shared} >= {"bill-1.json", "v2/hospitals.json", *(f"v2/bill-{n}.json" for n in range(2, 6))}
    for name in shared:
        assert json.loads((SAMPLE_DIR / name).read_text()) == json.loads((examples_dir() / name).read_text()), name
