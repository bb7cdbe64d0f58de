"""The sample reference data, shipped inside the package (identical to ``shared/examples``).

:func:`load_reference` parses a folder of such files through the request models, so a test
can point it at ``../shared/examples`` and ``load-sample`` at this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine import types as t
from app.schemas.bills import BillCreate
from app.schemas.reference import CatalogCreate, MemberCreate, PolicyCreate, SchemeCreate

SAMPLE_DIR = Path(__file__).parent


@dataclass(frozen=True)
class ReferenceSet:
    schemes: dict[str, SchemeCreate]
    catalogs: dict[str, list[tuple[str, CatalogCreate]]]
    policies: dict[str, list[tuple[int, PolicyCreate]]]
    members: dict[str, list[tuple[str, MemberCreate]]]

    def engine_scheme(self, code: str) -> t.Scheme:
        return self.schemes[code].to_engine(code)

    def engine_catalogs(self, code: str) -> tuple[t.CatalogVersion, ...]:
        return tuple(c.to_engine(v) for v, c in self.catalogs[code])

    def engine_policy(self, code: str, year: int) -> t.Policy:
        return next(p.to_engine(y) for y, p in self.policies[code] if y == year)

    def engine_member(self, code: str, id_number: str) -> t.Member:
        return next(m.to_engine(n) for n, m in self.members[code] if m.id_number == id_number)


def _read(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def load_reference(folder: Path = SAMPLE_DIR) -> ReferenceSet:
    """Parse ``schemes.json``, ``catalogs.json``, ``policies.json`` and ``members.json``.

    ``catalogs.json`` and ``policies.json`` map a scheme code to one object or a list of them.
    """
    schemes = {s["code"]: SchemeCreate.model_validate(s) for s in _read(folder, "schemes.json")}
    catalogs = {
        code: [(c["version"], CatalogCreate.model_validate(c)) for c in _as_list(v)]
        for code, v in _read(folder, "catalogs.json").items()
    }
    policies = {
        code: [(int(p["year"]), PolicyCreate.model_validate(p)) for p in _as_list(v)]
        for code, v in _read(folder, "policies.json").items()
    }
    members = {
        code: [(m["member_no"], MemberCreate.model_validate(m)) for m in v]
        for code, v in _read(folder, "members.json").items()
    }
    return ReferenceSet(schemes, catalogs, policies, members)


def load_bill(path: Path) -> BillCreate:
    return BillCreate.model_validate_json(path.read_text(encoding="utf-8"))
