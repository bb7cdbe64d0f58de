"""Reference data bodies: schemes, catalog versions, policies, members.

Their shapes are those of ``shared/examples``.  Each converts to the engine's frozen types.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic.config import JsonDict

from app.db import tables as db
from app.engine import types as t
from app.engine.documents import large_amount_policy_from_document, policy_from_document, tier_policy_from_document
from app.engine.money import format_ratio
from app.schemas.common import (
    ID_NUMBER_PATTERN,
    Code,
    DateRange,
    DeltaIn,
    In,
    IsoDate,
    Level,
    MoneyIn,
    MoneyOut,
    Name,
    Out,
    RatioBelowOneIn,
    RatioIn,
    RatioOut,
    RegionCode,
    money,
)

LevelKey = Literal["1", "2", "3"]
LEVELS: tuple[LevelKey, ...] = ("1", "2", "3")


# --- schemes ----------------------------------------------------------------------------


class SchemeCreate(In):
    code: Code | None = Field(None, description="May be left out; when present must equal the path's.")
    name: Name
    kind: t.SchemeKind
    pooling_region: RegionCode
    coordination: t.Coordination = "repeat_capped"
    supplements: Code | None = Field(
        None,
        description="The basic scheme a tier supplements (a uebmi one for large_amount): required for the tiers, "
        "refused otherwise.",
    )

    @model_validator(mode="after")
    def _supplements(self) -> SchemeCreate:
        if self.kind in t.TIER_KINDS and self.supplements is None:
            raise ValueError(f"a {self.kind} scheme names the basic scheme it supplements (supplements)")
        if self.kind not in t.TIER_KINDS and self.supplements is not None:
            raise ValueError(
                "only a serious_illness, medical_assistance or large_amount scheme supplements another scheme"
            )
        return self

    def to_engine(self, code: str) -> t.Scheme:
        return t.Scheme(code, self.name, self.kind, self.pooling_region, self.coordination, self.supplements)


class SchemePublic(Out):
    code: str
    name: str
    kind: t.SchemeKind
    pooling_region: str
    coordination: t.Coordination
    supplements: str | None


# --- catalogs ---------------------------------------------------------------------------


def _no_value(what: str) -> BeforeValidator:
    def refuse(value: object) -> None:
        if value is not None:
            raise ValueError(what)

    return BeforeValidator(refuse)


#: ``self_pay_ratio`` of a class A or C entry: absent or null.
NoRatio = Annotated[None, _no_value("only class B entries have a self_pay_ratio"), WithJsonSchema({"type": "null"})]


class _CatalogEntryBase(In):
    code: Code
    name: Name
    category: t.Category
    price_cap: MoneyIn | None = None
    settings: list[t.Setting] | None = Field(None, min_length=1, max_length=2)
    min_hospital_level: Level | None = None

    def to_engine(self) -> t.CatalogEntry:
        klass: t.CatalogClass = getattr(self, "class_")  # noqa: B009 - every concrete class has it
        ratio: Decimal | None = getattr(self, "self_pay_ratio", None)
        return t.CatalogEntry(
            code=self.code,
            name=self.name,
            category=self.category,
            klass=klass,
            self_pay_ratio=ratio,
            price_cap=self.price_cap,
            settings=tuple(self.settings) if self.settings is not None else None,
            min_hospital_level=self.min_hospital_level,
        )


class CatalogEntryA(_CatalogEntryBase):
    """Class A: fully in scope."""

    class_: Literal["A"] = Field(alias="class")
    self_pay_ratio: NoRatio = None


class CatalogEntryB(_CatalogEntryBase):
    """Class B: the patient first pays ``self_pay_ratio`` of the line."""

    class_: Literal["B"] = Field(alias="class")
    self_pay_ratio: RatioBelowOneIn = Field(description="0 <= r < 1.")


class CatalogEntryC(_CatalogEntryBase):
    """Class C: outside the scheme's scope."""

    class_: Literal["C"] = Field(alias="class")
    self_pay_ratio: NoRatio = None


#: A catalog entry, by its ``class``: only class B has (and needs) a ``self_pay_ratio``.
CatalogEntryIn = Annotated[CatalogEntryA | CatalogEntryB | CatalogEntryC, Field(discriminator="class_")]


#: Most entries one catalog version may have (a provincial drug catalog has ~3,000).
MAX_CATALOG_ENTRIES = 50_000


class CatalogCreate(In):
    version: Code | None = Field(None, description="May be left out; when present must equal the path's.")
    effective_from: IsoDate
    effective_to: IsoDate | None = None
    entries: list[CatalogEntryIn] = Field(max_length=MAX_CATALOG_ENTRIES)

    @model_validator(mode="after")
    def _consistent(self) -> CatalogCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        seen: set[str] = set()
        for entry in self.entries:
            if entry.code in seen:
                raise ValueError(f"entry code {entry.code!r} appears twice")
            seen.add(entry.code)
        return self

    def to_engine(self, version: str) -> t.CatalogVersion:
        return t.CatalogVersion(
            version, self.effective_from, self.effective_to, {e.code: e.to_engine() for e in self.entries}
        )


class CatalogEntryPublic(Out):
    code: str
    name: str
    category: t.Category
    class_: t.CatalogClass = Field(alias="class")
    self_pay_ratio: RatioOut | None = None
    price_cap: MoneyOut | None = None
    settings: list[t.Setting] | None = None
    min_hospital_level: int | None = None


class CatalogPublic(Out):
    scheme_code: str
    version: str
    effective_from: date
    effective_to: date | None
    entries: list[CatalogEntryPublic]


# --- policies ---------------------------------------------------------------------------


#: Per-level amounts or ratios: levels "1", "2" and "3", all three (checked with a clear message
#: by the model validators; stated as ``required`` in the document).
_ALL_LEVELS: JsonDict = {"required": list(LEVELS)}


class PerAdmissionDeductibleIn(In):
    """A deductible per admission, by hospital level (and optionally another one off-site)."""

    basis: Literal["per_admission"]
    by_level: dict[LevelKey, MoneyIn] = Field(json_schema_extra=_ALL_LEVELS)
    offsite_by_level: Annotated[dict[LevelKey, MoneyIn], Field(json_schema_extra=_ALL_LEVELS)] | None = None
    amount: Annotated[
        None, _no_value("a per_admission deductible has by_level, not amount"), WithJsonSchema({"type": "null"})
    ] = None

    @model_validator(mode="after")
    def _shape(self) -> PerAdmissionDeductibleIn:
        if set(self.by_level) != set(LEVELS):
            raise ValueError("a per_admission deductible needs by_level for levels 1, 2 and 3")
        if self.offsite_by_level is not None and set(self.offsite_by_level) != set(LEVELS):
            raise ValueError("offsite_by_level needs levels 1, 2 and 3")
        return self


def check_band_limits(limits: list[Decimal | None]) -> None:
    """``up_to`` positive and ascending, only the last one open (null)."""
    *bounded, last = limits
    if last is not None:
        raise ValueError("the last band must be open (up_to: null)")
    lower = Decimal(0)
    for up_to in bounded:
        if up_to is None:
            raise ValueError("only the last band may be open (up_to: null)")
        if up_to <= lower:
            raise ValueError("band limits (up_to) must be positive and ascending")
        lower = up_to


_ONE_AMOUNT = "a per_year deductible has one amount, not by_level"


class PerYearDeductibleIn(In):
    """One deductible per person and year."""

    basis: Literal["per_year"]
    amount: MoneyIn
    by_level: Annotated[None, _no_value(_ONE_AMOUNT), WithJsonSchema({"type": "null"})] = None
    offsite_by_level: Annotated[None, _no_value(_ONE_AMOUNT), WithJsonSchema({"type": "null"})] = None


#: A deductible, by its ``basis``.
DeductibleIn = Annotated[PerAdmissionDeductibleIn | PerYearDeductibleIn, Field(discriminator="basis")]


class BandIn(In):
    up_to: MoneyIn | None
    ratio_by_level: dict[LevelKey, RatioIn] = Field(json_schema_extra=_ALL_LEVELS)

    @model_validator(mode="after")
    def _levels(self) -> BandIn:
        if set(self.ratio_by_level) != set(LEVELS):
            raise ValueError("ratio_by_level needs levels 1, 2 and 3")
        return self


class OffsiteDeltaIn(In):
    registered: DeltaIn = Decimal("0")
    unregistered: DeltaIn = Decimal("0")


class SettingPolicyIn(In):
    deductible: DeductibleIn
    bands: list[BandIn] = Field(min_length=1, max_length=20)
    offsite_ratio_delta: OffsiteDeltaIn = OffsiteDeltaIn()

    @model_validator(mode="after")
    def _bands(self) -> SettingPolicyIn:
        check_band_limits([b.up_to for b in self.bands])
        return self


class PolicyCreate(In):
    year: int | None = Field(None, ge=2000, le=2100, description="May be left out; when present must equal the path's.")
    annual_cap: MoneyIn
    inpatient: SettingPolicyIn | None = None
    outpatient: SettingPolicyIn | None = None

    def to_engine(self, year: int) -> t.Policy:
        """Through the one conversion that the ledger reads stored policies with."""
        return policy_from_document(self.model_dump(by_alias=True), year)


class TierBandIn(In):
    up_to: MoneyIn | None
    ratio: RatioIn


class TierPolicyCreate(In):
    """A tier's yearly policy (v2.3): one ratio per band, no hospital levels, no care settings."""

    year: int | None = Field(None, ge=2000, le=2100, description="May be left out; when present must equal the path's.")
    annual_cap: MoneyIn
    threshold: MoneyIn = Field(description="Compliant self-pay of the year below which the tier pays nothing.")
    bands: list[TierBandIn] = Field(min_length=1, max_length=20, description="On the yearly axis above the threshold.")

    @model_validator(mode="after")
    def _bands(self) -> TierPolicyCreate:
        check_band_limits([b.up_to for b in self.bands])
        return self

    def to_engine(self, year: int) -> t.TierPolicy:
        """Through the one conversion that the ledger reads stored policies with."""
        return tier_policy_from_document(self.model_dump(by_alias=True), year)


class LargeAmountPolicyCreate(In):
    """A large-amount subsidy's yearly policy (v3.2): its cap and bands on the yearly axis of the
    cost above the basic fund's cap; no threshold."""

    year: int | None = Field(None, ge=2000, le=2100, description="May be left out; when present must equal the path's.")
    annual_cap: MoneyIn
    bands: list[TierBandIn] = Field(
        min_length=1, max_length=20, description="On the yearly axis of in-scope cost above the basic fund's cap."
    )

    @model_validator(mode="after")
    def _bands(self) -> LargeAmountPolicyCreate:
        check_band_limits([b.up_to for b in self.bands])
        return self

    def to_engine(self, year: int) -> t.LargeAmountPolicy:
        """Through the one conversion that the ledger reads stored policies with."""
        return large_amount_policy_from_document(self.model_dump(by_alias=True), year)


#: A policy of any kind of scheme: a basic scheme's, a tier's (v2.3) or a large-amount tier's (v3.2).
AnyPolicyCreate = PolicyCreate | TierPolicyCreate | LargeAmountPolicyCreate


# --- members ----------------------------------------------------------------------------


class RegistrationIn(DateRange):
    destination_region: RegionCode


class MemberCreate(In):
    member_no: Code | None = Field(None, description="May be left out; when present must equal the path's.")
    id_number: str = Field(
        min_length=18,
        max_length=18,
        description="18-character resident ID number: 17 digits and an ISO 7064 MOD 11-2 check character.",
        json_schema_extra={"pattern": ID_NUMBER_PATTERN},
    )
    name: Name
    coverage: list[DateRange] = Field(max_length=100)
    offsite_registrations: list[RegistrationIn] = Field(default_factory=list, max_length=100)

    def to_engine(self, member_no: str) -> t.Member:
        return t.Member(
            member_no=member_no,
            id_number=self.id_number,
            name=self.name,
            coverage=tuple(t.Period(c.from_, c.to) for c in self.coverage),
            registrations=tuple(
                t.Registration(r.destination_region, r.from_, r.to) for r in self.offsite_registrations
            ),
        )


def scheme_public(row: db.Scheme) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "pooling_region": row.pooling_region,
        "coordination": row.coordination,
        "supplements": row.supplements,
    }


def catalog_public(version: db.CatalogVersion, entries: Iterable[db.CatalogEntry]) -> dict[str, Any]:
    """The body of a :class:`CatalogPublic`: the version and its entries, in the order given."""
    return {
        "scheme_code": version.scheme_code,
        "version": version.version,
        "effective_from": version.effective_from.isoformat(),
        "effective_to": version.effective_to.isoformat() if version.effective_to else None,
        "entries": [
            {
                "code": e.code,
                "name": e.name,
                "category": e.category,
                "class": e.klass,
                "self_pay_ratio": None if e.self_pay_ratio is None else format_ratio(e.self_pay_ratio),
                "price_cap": None if e.price_cap is None else money(e.price_cap),
                "settings": e.settings.split("|") if e.settings else None,
                "min_hospital_level": e.min_hospital_level,
            }
            for e in entries
        ],
    }
