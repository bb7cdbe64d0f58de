"""The hospital's bill as it arrives over REST."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from app.engine import types as t
from app.schemas.common import ID_NUMBER_PATTERN, REGION_PATTERN, Code, In, IsoDate, MoneyRaw, Name, QuantityRaw

#: Most lines one bill may have (documented in docs/contract.md, "Limits"; more gets 422).
MAX_BILL_ITEMS = 20_000

ICD10 = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", examples=["I21.0"])]


class HospitalIn(In):
    """The bill's hospital: its ``code`` names it in the designated-hospital registry, which
    decides the rest (rules v2.1)."""

    code: Code
    name: Name | None = Field(None, description="Informational: the stored bill shows the registry's name.")
    level: int | None = Field(
        None, ge=1, le=3, description="Hospital level 1..3; left out: the registry's; given: must equal it."
    )
    region: str | None = Field(
        None,
        description="6-digit GB/T 2260 region code; left out: the registry's; given: must equal it.",
        max_length=12,
        # The engine checks it (every error of a bill in one answer, in a clerk's words); the
        # document states the same rule as a pattern.
        json_schema_extra={"pattern": REGION_PATTERN},
    )


class PatientIn(In):
    id_number: str = Field(
        max_length=32,
        description="18-character resident ID number: 17 digits and an ISO 7064 MOD 11-2 check character.",
        json_schema_extra={"pattern": ID_NUMBER_PATTERN},
    )
    name: Name


class EmployerIn(In):
    code: str = Field(
        min_length=1,
        max_length=32,
        description="18-character unified social credit code with a valid check character (GB 32100-2015).",
        examples=["91321102MA1N7D4Q8W"],
    )
    name: Name

    def to_engine(self) -> t.Employer:
        return t.Employer(self.code, self.name)


class WorkInjuryIn(In):
    determination_no: Code = Field(description="Number of the work-injury determination.")
    injury_date: IsoDate = Field(description="Not after the admission date.")
    employer: EmployerIn

    def to_engine(self) -> t.WorkInjury:
        return t.WorkInjury(self.determination_no, self.injury_date, self.employer.to_engine())


class BillItemIn(In):
    line_no: int = Field(ge=1, le=999_999)
    code: Code
    name: Name
    category: t.Category
    quantity: QuantityRaw = Field(description="Not negative; at most 4 decimals.")
    unit_price: MoneyRaw
    amount: MoneyRaw
    service_date: IsoDate | None = None
    injury_related: bool | None = Field(
        None,
        description="Only on a bill with work_injury: false marks a line that is not the injury's care "
        "(left out: true).",
    )


class BillCreate(In):
    hospital: HospitalIn
    bill_no: Code
    patient: PatientIn
    setting: t.Setting
    admission_date: IsoDate
    discharge_date: IsoDate
    diagnoses: list[ICD10] = Field(default_factory=list, max_length=50)
    items: list[BillItemIn] = Field(min_length=1, max_length=MAX_BILL_ITEMS)
    work_injury: WorkInjuryIn | None = Field(None, description="Set when the bill treats a determined work injury.")

    def to_engine(self, hospital: t.Hospital | None = None) -> t.Bill:
        """The engine's bill, at ``hospital`` (the registry's view of it); without it, at the
        hospital as the body describes it, which must then give its level and region."""
        if hospital is None:
            h = self.hospital
            if h.level is None or h.region is None:
                raise ValueError("the bill's hospital has no level or region: pass the registry's")
            hospital = t.Hospital(h.code, h.name or h.code, h.level, h.region)
        return t.Bill(
            hospital=hospital,
            bill_no=self.bill_no,
            patient_id_number=self.patient.id_number,
            patient_name=self.patient.name,
            setting=self.setting,
            admission_date=self.admission_date,
            discharge_date=self.discharge_date,
            diagnoses=tuple(self.diagnoses),
            items=tuple(
                t.BillLine(
                    i.line_no,
                    i.code,
                    i.name,
                    i.category,
                    i.quantity,
                    i.unit_price,
                    i.amount,
                    i.service_date,
                    i.injury_related,
                )
                for i in self.items
            ),
            work_injury=None if self.work_injury is None else self.work_injury.to_engine(),
        )
