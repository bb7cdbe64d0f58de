"""The hospital's bill as it arrives over REST."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from app.engine import types as t
from app.schemas.common import Code, In, MoneyRaw, Name

#: Most lines one bill may have (documented in the README; more gets 422).
MAX_BILL_ITEMS = 20_000

ICD10 = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", examples=["I21.0"])]


class HospitalIn(In):
    code: Code
    name: Name
    level: int = Field(ge=1, le=3, description="Hospital level 1..3.")
    region: str = Field(description="6-digit GB/T 2260 region code.", max_length=12)


class PatientIn(In):
    id_number: str = Field(max_length=32, description="18-character resident ID number.")
    name: Name


class BillItemIn(In):
    line_no: int = Field(ge=1, le=999_999)
    code: Code
    name: Name
    category: t.Category
    quantity: Decimal = Field(description="Not negative; at most 4 decimals.")
    unit_price: MoneyRaw
    amount: MoneyRaw
    service_date: date | None = None


class BillCreate(In):
    hospital: HospitalIn
    bill_no: Code
    patient: PatientIn
    setting: t.Setting
    admission_date: date
    discharge_date: date
    diagnoses: list[ICD10] = Field(default_factory=list, max_length=50)
    items: list[BillItemIn] = Field(min_length=1, max_length=MAX_BILL_ITEMS)

    def to_engine(self) -> t.Bill:
        h = self.hospital
        return t.Bill(
            hospital=t.Hospital(h.code, h.name, h.level, h.region),
            bill_no=self.bill_no,
            patient_id_number=self.patient.id_number,
            patient_name=self.patient.name,
            setting=self.setting,
            admission_date=self.admission_date,
            discharge_date=self.discharge_date,
            diagnoses=tuple(self.diagnoses),
            items=tuple(
                t.BillLine(i.line_no, i.code, i.name, i.category, i.quantity, i.unit_price, i.amount, i.service_date)
                for i in self.items
            ),
        )
