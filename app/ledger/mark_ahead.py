"""A claim's reference rows marked used ahead of its transaction (PostgreSQL).

Why it is kept: a reference row not yet used (a policy, a catalog version) is locked
``FOR NO KEY UPDATE`` by the settlement that is about to mark it used, until that settlement
commits (:mod:`app.ledger.references`).  At a cold start (a new year's policy, a new catalog
version, a fresh database) every concurrent first claim of a scheme then queues on that one
policy row, one claim's whole transaction after another.  Marked and committed here first, the
rows are found used by the claim's own read and need no lock at all, so the first claims run in
parallel like the rest.  Once this process has found a scheme's rows used
(:mod:`app.ledger.used_hint`) it costs nothing: no statement, no transaction.

What it costs: a short transaction of its own before the claim's, while a scheme's rows are not
known used; and it is conservative: a row marked here stays unreplaceable (the administrator's
``PUT`` answers 409) even when the claim that was about to use it is then refused.  Only a claim
about a member of the scheme (or of the scheme a tier supplements) marks anything, so a claim
about a stranger cannot freeze a scheme's unused policy or catalog.

It takes only step 2 of the fixed order (the policy, then the versions in id order, scheme by
scheme in code order) and nothing else, so it can be in no cycle.  Nothing depends on it for
correctness (a settlement still locks what it finds unused), so when it fails (database away,
lock timeout) the claim simply goes ahead without it.  The single-settlement endpoint, dry runs
and SQLite (one writer at a time anyway) do not mark ahead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.db.session import get_engine
from app.engine import types as t
from app.engine.catalog import version_in_effect
from app.ledger import used_hint
from app.ledger.references import IN_EFFECT, MEMBER, POLICY, SCHEME, VERSION

log = logging.getLogger(__name__)

#: The patient is a member of the scheme, or of the scheme it supplements (a serious-illness
#: tier has no members of its own).
_ENROLLED = (
    select(MEMBER.c.id_number)
    .where(
        MEMBER.c.id_number == bindparam("id_number"),
        or_(
            MEMBER.c.scheme_code == bindparam("code"),
            MEMBER.c.scheme_code
            == select(SCHEME.c.supplements).where(SCHEME.c.code == bindparam("code")).scalar_subquery(),
        ),
    )
    .exists()
)
_MARK_POLICY = (
    update(POLICY)
    .where(
        POLICY.c.scheme_code == bindparam("code"),
        POLICY.c.year == bindparam("b_year"),
        POLICY.c.used.is_(False),
        _ENROLLED,
    )
    .values(used=True)
)
_VERSIONS_IN_EFFECT = (
    select(VERSION.c.id, VERSION.c.version, VERSION.c.effective_from, VERSION.c.effective_to)
    .where(VERSION.c.scheme_code == bindparam("code"), *IN_EFFECT, _ENROLLED)
    .order_by(VERSION.c.id)
)
_LOCKED_UNUSED = (
    select(VERSION.c.id)
    .where(VERSION.c.id.in_(bindparam("ids", expanding=True)), VERSION.c.used.is_(False))
    .order_by(VERSION.c.id)
    .with_for_update(key_share=True)
)
_MARK_VERSIONS = update(VERSION).where(VERSION.c.id.in_(_LOCKED_UNUSED.scalar_subquery())).values(used=True)


def mark_used_ahead(bill: t.Bill, scheme_codes: Iterable[str]) -> None:
    """Mark the policy and catalog versions that settling ``bill`` under these schemes is about to
    use as used, in a transaction of their own that commits before the claim's starts (see the
    module).  The versions marked are those the engine would pick for the bill's service days
    (:func:`app.engine.catalog.version_in_effect`); only the days and the year of ``bill`` count."""
    engine = get_engine()
    codes = sorted(set(scheme_codes))
    if engine.dialect.name != "postgresql" or used_hint.known_used(engine.url, codes):
        return
    year = bill.policy_year
    days = sorted({bill.service_day(line) for line in bill.items})
    try:
        with engine.begin() as conn:
            for code in codes:
                who = {"code": code, "id_number": bill.patient_id_number}
                conn.execute(_MARK_POLICY, {**who, "b_year": year})
                versions = conn.execute(_VERSIONS_IN_EFFECT, {**who, "first": days[0], "last": days[-1]}).all()
                engine_versions = [t.CatalogVersion(v.version, v.effective_from, v.effective_to, {}) for v in versions]
                chosen = {c.version for c in (version_in_effect(engine_versions, d) for d in days) if c is not None}
                ids = [v.id for v in versions if v.version in chosen]
                if ids:
                    conn.execute(_MARK_VERSIONS, {"ids": ids})
    except SQLAlchemyError as exc:
        log.info("reference rows not marked ahead: %s", str(exc).strip().splitlines()[0][:200])
