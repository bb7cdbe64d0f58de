"""``python -m app load-sample``: put the shipped sample data into the database, through the same
services as the API's ``PUT``s (so ``app.sample`` sits beside the interfaces, above the services)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from app.db.tx import write_transaction
from app.db.unit_of_work import UnitOfWork
from app.errors import NotFound
from app.sample import SAMPLE_DIR, load_layers, load_routes
from app.services import hospitals, nhsa_routes, reference


def load_sample(folder: Path = SAMPLE_DIR) -> dict[str, int]:
    """Put v1's sample and then v2's and v3's over it (:func:`app.sample.load_layers`): the hospitals,
    schemes and members are created or replaced as by ``PUT``; the catalog versions and policies
    that are missing are created and existing ones kept (they may already have been used by a
    settlement, and then cannot be replaced), so ``make run`` can be run again.  Then the routes of
    the national platform's interface for the sample schemes, created or replaced as by ``PUT``."""
    sample = load_layers(folder)
    routes = load_routes(folder)

    def load(work: UnitOfWork) -> dict[str, int]:
        session = work.session
        counts = {
            "hospitals": 0,
            "schemes": 0,
            "catalog versions": 0,
            "policies": 0,
            "members": 0,
            "routes": 0,
            "kept as they were": 0,
        }
        for code, hospital in sample.hospitals.items():
            hospitals.put(session, code=code, body=hospital)
            counts["hospitals"] += 1
        for code, scheme in sample.schemes.items():
            reference.put_scheme(session, code=code, body=scheme)
            counts["schemes"] += 1
        for (code, version), catalog in sample.catalogs.items():
            if _exists(session, reference.get_catalog, scheme_code=code, version=version):
                counts["kept as they were"] += 1
                continue
            reference.put_catalog(session, scheme_code=code, version=version, body=catalog)
            counts["catalog versions"] += 1
        for (code, year), policy in sample.policies.items():
            if _exists(session, reference.get_policy, scheme_code=code, year=year):
                counts["kept as they were"] += 1
                continue
            reference.put_policy(session, scheme_code=code, year=year, body=policy)
            counts["policies"] += 1
        for (code, member_no), member in sample.members.items():
            reference.put_member(session, scheme_code=code, member_no=member_no, body=member)
            counts["members"] += 1
        for (insuplc_admdvs, insutype), route in routes.items():
            nhsa_routes.put(session, insuplc_admdvs=insuplc_admdvs, insutype=insutype, body=route)
            counts["routes"] += 1
        return counts

    return write_transaction(load, operation="load_sample")


def _exists(session: Session, getter: Callable[..., object], **keys: object) -> bool:
    try:
        getter(session, **keys)
    except NotFound:
        return False
    return True
