"""``python -m app load-sample``: put the shipped sample reference data into the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.errors import NotFound
from app.ledger.tx import write_transaction
from app.sample import SAMPLE_DIR, load_reference
from app.services import reference


def load_sample(folder: Path = SAMPLE_DIR) -> dict[str, int]:
    """Create or replace the sample schemes and members; create the catalog versions and
    policies that are missing and keep existing ones (they may already have been used by a
    settlement, and then cannot be replaced), so ``make run`` can be run again."""
    ref = load_reference(folder)

    def load(session: object) -> dict[str, int]:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        counts = {"schemes": 0, "catalog versions": 0, "policies": 0, "members": 0, "kept as they were": 0}
        for code, scheme in ref.schemes.items():
            reference.put_scheme(session, code=code, body=scheme)
            counts["schemes"] += 1
        for code, versions in ref.catalogs.items():
            for version, catalog in versions:
                if _exists(session, reference.get_catalog, scheme_code=code, version=version):
                    counts["kept as they were"] += 1
                    continue
                reference.put_catalog(session, scheme_code=code, version=version, body=catalog)
                counts["catalog versions"] += 1
        for code, policies in ref.policies.items():
            for year, policy in policies:
                if _exists(session, reference.get_policy, scheme_code=code, year=year):
                    counts["kept as they were"] += 1
                    continue
                reference.put_policy(session, scheme_code=code, year=year, body=policy)
                counts["policies"] += 1
        for code, members in ref.members.items():
            for member_no, member in members:
                reference.put_member(session, scheme_code=code, member_no=member_no, body=member)
                counts["members"] += 1
        return counts

    return write_transaction(load, operation="load_sample")


def _exists(session: object, getter: Callable[..., object], **keys: object) -> bool:
    try:
        getter(session, **keys)
    except NotFound:
        return False
    return True
