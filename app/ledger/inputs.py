"""The engine's inputs for one settlement, from the reference rows this transaction holds
(:mod:`app.ledger.references`): the scheme, the member, the parsed policy and the catalog
versions with their entries for the bill's codes.

Parsed policies and the entries of used catalog versions are kept per process: a used row can
never be replaced (409), so what was read once stays true.  Whatever the number of lines, a
settlement reads at most one policy document and one statement of catalog entries.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam, select
from sqlalchemy.engine import URL

from app.db import tables as db
from app.db.direct import execute_one
from app.engine import types as t
from app.engine.documents import large_amount_policy_from_document, policy_from_document, tier_policy_from_document
from app.errors import FieldError, NoCatalog, NoPolicy, ValidationFailed
from app.ledger.conversions import member_to_engine
from app.ledger.references import held_catalog_versions, held_member, held_policy, held_scheme, service_days
from app.ledger.rows import PolicyRow, VersionRow
from app.ledger.stored import PolicyDoc
from app.ledger.work import LedgerWork


def scheme_for(work: LedgerWork, code: str) -> t.Scheme:
    """The scheme as this transaction read it, or ``validation`` located at a settlement
    request's ``scheme_code``."""
    scheme = held_scheme(work, code)
    if scheme is None:
        raise ValidationFailed([FieldError(("scheme_code",), f"there is no scheme {code!r}")])
    return scheme


def member_for(work: LedgerWork, scheme_code: str, id_number: str) -> t.Member | None:
    """The person's membership of the scheme (any coverage), or None."""
    member = held_member(work, scheme_code, id_number)
    return None if member is None else member_to_engine(member)


#: By database, row id and ``updated_at``: a row replaced before its first use, or a test
#: database rebuilt with the same ids, never hits a stale entry.  Bounded by the number of used
#: versions (a version of 50,000 entries is a few MB).
_CacheKey = tuple[URL, int, object]
AnyPolicy = t.Policy | t.TierPolicy | t.LargeAmountPolicy
_policies: dict[_CacheKey, AnyPolicy] = {}
_catalog_entries: dict[_CacheKey, dict[str, t.CatalogEntry]] = {}


def parse_policy(document: PolicyDoc, year: int, *, tier: bool, large_amount: bool = False) -> AnyPolicy:
    """A stored policy document in its engine form: a large-amount tier's shape (v3.2), another
    tier's or a scheme's."""
    if large_amount:
        return large_amount_policy_from_document(document, year)
    if tier:
        return tier_policy_from_document(document, year)
    return policy_from_document(document, year)


_POLICY = db.core_table(db.Policy)
_POLICY_BODY = select(_POLICY.c.body).where(_POLICY.c.id == bindparam("id"))


def policy_for(work: LedgerWork, scheme: t.Scheme, year: int) -> tuple[PolicyRow, AnyPolicy]:
    """The policy this transaction holds (locked while unused) and its engine form."""
    row = held_policy(work, scheme.code, year)
    if row is None:
        raise NoPolicy(f"{scheme.code} has no policy for {year}, the year of the discharge date")
    tier, large = scheme.kind in t.TIER_KINDS, scheme.kind == "large_amount"
    if not row.used:
        assert row.body is not None  # read under its lock
        return row, parse_policy(row.body, year, tier=tier, large_amount=large)
    key = (work.connection.engine.url, row.id, row.updated_at)
    policy = _policies.get(key)
    if policy is None:
        body = row.body
        if body is None:
            found = execute_one(work.connection, _POLICY_BODY, {"id": row.id})
            assert found is not None  # a used policy is never deleted
            body = found.body
        policy = _policies[key] = parse_policy(body, year, tier=tier, large_amount=large)
    return row, policy


_ENTRY = db.core_table(db.CatalogEntry)
_ENTRY_COLUMNS = (
    _ENTRY.c.catalog_version_id,
    _ENTRY.c.code,
    _ENTRY.c.name,
    _ENTRY.c.category,
    _ENTRY.c.klass,
    _ENTRY.c.self_pay_ratio,
    _ENTRY.c.price_cap,
    _ENTRY.c.settings,
    _ENTRY.c.min_hospital_level,
)


def _read_entries(
    work: LedgerWork, version_ids: list[int], codes: list[str] | None
) -> dict[int, dict[str, t.CatalogEntry]]:
    """Entries of these versions: only ``codes`` when given, else all of them (one query)."""
    stmt = select(*_ENTRY_COLUMNS).where(_ENTRY.c.catalog_version_id.in_(version_ids))
    if codes is not None:
        stmt = stmt.where(_ENTRY.c.code.in_(codes))
    entries: dict[int, dict[str, t.CatalogEntry]] = defaultdict(dict)
    for vid, code, name, category, klass, ratio, cap, settings, level in work.connection.execute(stmt):
        entries[vid][code] = t.CatalogEntry(
            code,
            name,
            category,
            klass,
            ratio,
            cap,
            tuple(settings.split("|")) if settings else None,
            level,
        )
    return entries


def catalogs_for(
    work: LedgerWork, scheme_code: str, bill: t.Bill
) -> tuple[list[VersionRow], tuple[t.CatalogVersion, ...]]:
    """The versions in effect over the bill's service dates and their entries for its codes.

    A used version's entries come from the process cache (all of them, read once); the others'
    are read for the bill's distinct codes only.
    """
    first, last = service_days(bill)
    versions = held_catalog_versions(work, scheme_code, first, last)
    if not versions:
        raise NoCatalog(f"{scheme_code} has no catalog version in effect between {first} and {last}")
    url = work.connection.engine.url
    entries: dict[int, dict[str, t.CatalogEntry]] = {}
    missing_used = []
    for v in versions:
        if v.used:
            cached = _catalog_entries.get((url, v.id, v.updated_at))
            if cached is not None:
                entries[v.id] = cached
            else:
                missing_used.append(v)
    if missing_used:
        loaded = _read_entries(work, [v.id for v in missing_used], None)
        for v in missing_used:
            entries[v.id] = _catalog_entries[(url, v.id, v.updated_at)] = loaded.get(v.id, {})
    unused = [v.id for v in versions if not v.used]
    if unused:
        entries.update(_read_entries(work, unused, sorted({line.code for line in bill.items})))
    engine_versions = tuple(
        t.CatalogVersion(v.version, v.effective_from, v.effective_to, entries.get(v.id, {})) for v in versions
    )
    return versions, engine_versions
