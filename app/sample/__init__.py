"""The sample data, shipped inside the package (identical to ``shared/examples`` with its ``v2/``
and ``v3/``), and this service's own sample of what the examples do not hold (:data:`OWN_FILES`:
the national platform's routes for the sample schemes).

:func:`load_reference` parses one folder of such files through the request models, so a test
can point it at ``../shared/examples``; :func:`load_layers` reads the v1 files and then v2's and
v3's over them, as ``load-sample`` loads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine import types as t
from app.schemas.bills import BillCreate
from app.schemas.hospitals import HospitalCreate
from app.schemas.nhsa_routes import RouteCreate
from app.schemas.reference import (
    AnyPolicyCreate,
    CatalogCreate,
    LargeAmountPolicyCreate,
    MemberCreate,
    PolicyCreate,
    SchemeCreate,
    TierPolicyCreate,
)

SAMPLE_DIR = Path(__file__).parent
#: The layers, loaded in this order: an entry of a later one replaces the earlier one's.
LAYERS = (".", "v2", "v3")
#: The routes of the national platform's interface for the sample schemes (``nhsa.md``).
ROUTES_FILE = "nhsa-routes.json"
#: The sample's files that are this service's own, not copies of ``shared/examples``.
OWN_FILES = (ROUTES_FILE,)


@dataclass(frozen=True)
class ReferenceSet:
    schemes: dict[str, SchemeCreate]
    catalogs: dict[str, list[tuple[str, CatalogCreate]]]
    policies: dict[str, list[tuple[int, AnyPolicyCreate]]]
    members: dict[str, list[tuple[str, MemberCreate]]]

    def engine_scheme(self, code: str) -> t.Scheme:
        return self.schemes[code].to_engine(code)

    def engine_catalogs(self, code: str) -> tuple[t.CatalogVersion, ...]:
        return tuple(c.to_engine(v) for v, c in self.catalogs[code])

    def engine_policy(self, code: str, year: int) -> t.Policy:
        policy = next(p.to_engine(y) for y, p in self.policies[code] if y == year)
        assert isinstance(policy, t.Policy), f"{code} is a tier"
        return policy

    def engine_tier_policy(self, code: str, year: int) -> t.TierPolicy:
        policy = next(p.to_engine(y) for y, p in self.policies[code] if y == year)
        assert isinstance(policy, t.TierPolicy), f"{code} is not a tier"
        return policy

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
        code: [(int(p["year"]), policy_model(p).model_validate(p)) for p in _as_list(v)]
        for code, v in _read(folder, "policies.json").items()
    }
    members = {
        code: [(m["member_no"], MemberCreate.model_validate(m)) for m in v]
        for code, v in _read(folder, "members.json").items()
    }
    return ReferenceSet(schemes, catalogs, policies, members)


def policy_model(document: dict[str, Any]) -> type[AnyPolicyCreate]:
    """A tier's policy (v2.3) has a ``threshold``; a scheme's has care settings."""
    if "threshold" in document:
        return TierPolicyCreate
    return LargeAmountPolicyCreate if "bands" in document else PolicyCreate


def load_bill(path: Path) -> BillCreate:
    return BillCreate.model_validate_json(path.read_text(encoding="utf-8"))


def load_routes(folder: Path = SAMPLE_DIR) -> dict[tuple[str, str], RouteCreate]:
    """The sample routes by insuring region and insurance type, each parsed by its request model."""
    return {
        (r["insuplc_admdvs"], r["insutype"]): RouteCreate.model_validate(r)
        for r in json.loads((folder / ROUTES_FILE).read_text(encoding="utf-8"))
    }


@dataclass(frozen=True)
class Layered:
    """The sample's layers merged, as ``load-sample`` puts them (each key once, the last wins)."""

    hospitals: dict[str, HospitalCreate]
    schemes: dict[str, SchemeCreate]
    catalogs: dict[tuple[str, str], CatalogCreate]
    policies: dict[tuple[str, int], AnyPolicyCreate]
    members: dict[tuple[str, str], MemberCreate]


def load_layers(folder: Path = SAMPLE_DIR) -> Layered:
    """v1's files, then ``v2/``'s and ``v3/``'s over them (``shared/examples/README.md``).  Every entry is
    parsed by its request model: an entry the service would refuse fails the load."""
    hospitals: dict[str, HospitalCreate] = {}
    schemes: dict[str, SchemeCreate] = {}
    catalogs: dict[tuple[str, str], CatalogCreate] = {}
    policies: dict[tuple[str, int], AnyPolicyCreate] = {}
    members: dict[tuple[str, str], MemberCreate] = {}
    for layer in (folder / name for name in LAYERS):
        if (layer / "hospitals.json").is_file():
            for h in _read(layer, "hospitals.json"):
                hospitals[h["code"]] = HospitalCreate.model_validate(h)
        for s in _read(layer, "schemes.json"):
            schemes[s["code"]] = SchemeCreate.model_validate(s)
        for code, v in _read(layer, "catalogs.json").items():
            for c in _as_list(v):
                catalogs[code, c["version"]] = CatalogCreate.model_validate(c)
        for code, v in _read(layer, "policies.json").items():
            for p in _as_list(v):
                policies[code, int(p["year"])] = policy_model(p).model_validate(p)
        for code, v in _read(layer, "members.json").items():
            for m in v:
                members[code, m["member_no"]] = MemberCreate.model_validate(m)
    return Layered(hospitals, schemes, catalogs, policies, members)
