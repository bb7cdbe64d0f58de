"""A route read with the visit's row (``app.services.visit_reads``): its first schemes come with
it; a longer route, or one naming a scheme the join did not find, reads its schemes again."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from app.errors import UnknownRoute
from app.services import nhsa_routes, visit_reads
from app.services.visit_reads import JOINED_SCHEMES

NAMES = ["route_schemes", "route_updated_at"] + [
    f"scheme_{i}_{c}" for i in range(JOINED_SCHEMES) for c in ("code", "kind", "name")
]
#: The statement's row, by its labels.
_make_row: Any = namedtuple
Row: Any = _make_row("Row", NAMES)
#: Called with a row and no session (the session is only for reading the schemes again).
read: Any = visit_reads._route_read
AT = datetime(2026, 9, 1, tzinfo=UTC)


def row(codes: list[str], found: Sequence[str | None]) -> Any:
    joined: list[Any] = []
    for i in range(JOINED_SCHEMES):
        code = found[i] if i < len(found) else None
        joined += [code, "basic" if i == 0 else "tier", f"name of {code}"] if code else [None, None, None]
    stored = [{"scheme_code": c, "fund_pay_type": "310100", "setlinfo_field": "hifp_pay"} for c in codes]
    return Row(stored, AT, *joined)


@pytest.fixture
def read_again(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def of_row(_session: Any, _admdvs: str, _insutype: str, stored: Any, _at: datetime) -> str:
        calls.append([s["scheme_code"] for s in stored])
        return "read again"

    monkeypatch.setattr(nhsa_routes, "of_row", of_row)
    return calls


def test_a_route_of_joined_schemes_is_built_from_the_row(read_again: list[list[str]]) -> None:
    route = read(None, "511623", "390", row(["A", "B", "C"], ["A", "B", "C"]))
    assert [(s.scheme_code, s.scheme_kind, s.scheme_name) for s in route.schemes] == [
        ("A", "basic", "name of A"),
        ("B", "tier", "name of B"),
        ("C", "tier", "name of C"),
    ]
    assert read_again == []


def test_a_longer_route_or_a_scheme_not_found_reads_the_schemes_again(read_again: list[list[str]]) -> None:
    codes = [chr(ord("A") + i) for i in range(JOINED_SCHEMES + 1)]
    assert read(None, "511623", "390", row(codes, codes)) == "read again"
    assert read(None, "511623", "390", row(["A", "B"], ["A", None])) == "read again"
    assert read_again == [codes, ["A", "B"]]


def test_no_route_is_unknown_route() -> None:
    with pytest.raises(UnknownRoute):
        read(None, "511623", "390", Row(None, None, *([None] * 3 * JOINED_SCHEMES)))
