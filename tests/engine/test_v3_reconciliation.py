"""Table tests of v3.4 in the pure engine: the span, the daily reconciliation's netting summed over
it, and the comparison of the hospital's list of settlements with ours."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.engine.reconciliation import (
    Difference,
    Listed,
    Movement,
    Totals,
    check,
    compare_lists,
    net_totals,
    span_errors,
)
from app.errors import ValidationFailed


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (date(2026, 3, 1), date(2026, 3, 1), None),
        (date(2026, 3, 1), date(2026, 3, 31), None),
        (date(2026, 2, 1), date(2026, 3, 3), None),
        (date(2026, 3, 1), date(2026, 4, 1), "at most 31 days (32 asked)"),
        (date(2026, 3, 2), date(2026, 3, 1), "is before from"),
    ],
    ids=["one-day", "31-days", "31-days-over-february", "32-days", "reversed"],
)
def test_span(start: date, end: date, problem: str | None) -> None:
    errors = span_errors(start, end)
    if problem is None:
        assert errors == []
    else:
        assert [e.loc for e in errors] == [("to",)]
        assert problem in errors[0].msg


def test_netting_a_settlement_and_the_reversal_of_an_earlier_one() -> None:
    # Made in the span: two settlements (one of them reversed in the span too) and the reversal of
    # a settlement made before it; each reversal counts with its settlement's amounts negated.
    movements = [
        Movement(False, D("1000.00"), D("700.00")),
        Movement(False, D("2400.00"), D("1312.50")),
        Movement(True, D("2400.00"), D("1312.50")),
        Movement(True, D("500.00"), D("300.00")),
    ]
    assert net_totals(movements) == Totals(2, 2, D("500.00"), D("400.00"))
    assert net_totals([]) == Totals(0, 0, D("0.00"), D("0.00"))


OURS = (
    Listed("s-1", "settled", D("700.00")),
    Listed("s-2", "reversed", D("1312.50")),
    Listed("s-3", "settled", D("50.00")),
    Listed("s-5", "settled", D("10.00")),
)


def test_each_kind_of_difference_ordered_by_settlement_id() -> None:
    theirs = (
        Listed("s-5", "settled", D("10.00")),
        Listed("s-4", "settled", D("20.00")),
        Listed("s-3", "settled", D("50.01")),
        Listed("s-2", "settled", D("1312.50")),
    )
    assert compare_lists(OURS, theirs) == (
        Difference("s-1", "missing_there", OURS[0], None),
        Difference("s-2", "status", OURS[1], theirs[3]),
        Difference("s-3", "amount", OURS[2], theirs[2]),
        Difference("s-4", "missing_here", None, theirs[1]),
    )


def test_a_different_status_is_not_also_an_amount_difference() -> None:
    theirs = (Listed("s-2", "settled", D("1.00")),)
    assert [d.problem for d in compare_lists(OURS[1:2], theirs)] == ["status"]


def test_match_needs_equal_totals_and_no_difference() -> None:
    movements = [Movement(False, D("1000.00"), D("700.00"))]
    ours = (Listed("s-1", "settled", D("700.00")),)
    same = Totals(1, 0, D("1000.00"), D("700.00"))
    assert check(movements, same, ours_listed=ours, theirs_listed=ours).match
    assert check(movements, same).match
    off_by_a_fen = Totals(1, 0, D("1000.00"), D("700.01"))
    result = check(movements, off_by_a_fen, ours_listed=ours, theirs_listed=ours)
    assert (result.match, result.ours, result.differences) == (False, same, ())
    listed_apart = check(movements, same, ours_listed=ours, theirs_listed=())
    assert (listed_apart.match, [d.problem for d in listed_apart.differences]) == (False, ["missing_there"])


def test_a_settlement_listed_twice_is_refused() -> None:
    twice = (Listed("s-1", "settled", D("700.00")), Listed("s-1", "reversed", D("700.00")))
    with pytest.raises(ValidationFailed) as info:
        check([], Totals(), theirs_listed=twice)
    assert [e.loc for e in info.value.errors] == [("settlements", 1, "settlement_id")]
