"""The settlement path stays typed: no ``dict[str, Any]`` in the ledger, the claim and write use
cases or the settlement's models.  Stored JSON documents have their ``TypedDict``
(``app.ledger.stored``), statement parameters the ``Params`` alias (``app.db.params``)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.paths import REPO

APP = REPO / "app"
SETTLEMENT_PATH = [
    *sorted((APP / "ledger").rglob("*.py")),
    APP / "services" / "claims.py",
    APP / "services" / "visits.py",
    APP / "services" / "visit_state.py",
    APP / "services" / "visit_settlements.py",
    APP / "services" / "visit_reconciliation.py",
    APP / "nhsa" / "render.py",
    APP / "services" / "writes.py",
    APP / "schemas" / "settlements.py",
    # The FHIR interface's renderer of settlements and its reading of a submitted Claim.
    APP / "fhir" / "resources.py",
    APP / "fhir" / "mapping.py",
]
#: ``dict[str, Any]`` however spaced, and the old spelling ``Dict[str, Any]``.
LOOSE = re.compile(r"\b[Dd]ict\[\s*str\s*,\s*(?:typing\.)?Any\s*\]")


def _loose_uses(path: Path) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LOOSE.search(line)
    ]


def test_the_pattern_finds_what_it_forbids() -> None:
    found = [s for s in ("x: dict[str, Any]", "-> Dict[ str,Any ]", "dict[str, typing.Any]") if LOOSE.search(s)]
    assert len(found) == 3
    assert not LOOSE.search("x: dict[str, object]") and not LOOSE.search("Mapping[str, Any]")


def test_no_dict_of_any_on_the_settlement_path() -> None:
    assert all(p.is_file() for p in SETTLEMENT_PATH) and len(SETTLEMENT_PATH) > 10
    assert [use for p in SETTLEMENT_PATH for use in _loose_uses(p)] == []
