"""The worked examples of v2 for the tests: the layered reference data, a bill in its engine form,
the scenarios in order, and the field-by-field comparison with an expected settlement."""

from __future__ import annotations

from typing import Any

from app.engine import types as t
from app.sample import ReferenceSet, load_reference
from app.schemas.bills import BillCreate
from tests.support.api import v2_bill, v2_dir
from tests.support.paths import examples_dir


def v2_reference() -> ReferenceSet:
    """v1's reference data with v2's layered over it: an entry with the same key replaces the earlier."""
    v1, v2 = load_reference(examples_dir()), load_reference(v2_dir())
    members = {code: dict(entries) for code, entries in v1.members.items()}
    for code, entries in v2.members.items():
        members.setdefault(code, {}).update(dict(entries))
    return ReferenceSet(
        schemes={**v1.schemes, **v2.schemes},
        catalogs={**v1.catalogs, **v2.catalogs},
        policies={**v1.policies, **v2.policies},
        members={code: list(entries.items()) for code, entries in members.items()},
    )


def engine_bill(name: str) -> t.Bill:
    return BillCreate.model_validate(v2_bill(name, fill_hospital=True)).to_engine()


def assert_matches(got: dict[str, Any], want: dict[str, Any], context: str) -> None:
    """Every field of the expected settlement, lines field by field."""
    for name, value in want.items():
        if name == "lines":
            assert len(got["lines"]) == len(value), context
            for ours, theirs in zip(got["lines"], value, strict=True):
                assert {k: ours[k] for k in theirs} == theirs, (context, theirs["line_no"])
        else:
            assert got[name] == value, (context, name)


ORDER = ("E_one_stop_bill_3", "E2_later_in_the_year_bill_5", "F_work_injury_bill_2", "G_employer_liability_bill_4")
