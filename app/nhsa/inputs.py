"""The envelope and each transaction's input, as the platform sends them (``nhsa.md``), checked
and converted into the services' terms.

Codes and flags are strings, numbers are JSON numbers (or decimal strings) read exactly: amounts
with at most two decimals (``12.500000`` is 12.50, ``0.333333`` is refused), quantities at most
four.  Fields this service does not use are accepted and ignored.  Every problem is a
``validation`` field error located in the envelope (``("input", "feedetail", 0, "pric")``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from app.engine.money import MONEY_MAX, as_money, is_money
from app.engine.validate import QUANTITY_MAX, QUANTITY_PLACES
from app.errors import FieldError, Loc, ValidationFailed
from app.schemas.common import CODE_PATTERN, NO_NUL, DecimalForm, IsoDate, Lax

M = TypeVar("M", bound=BaseModel)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


def _amount(value: Decimal) -> Decimal:
    if not value.is_finite() or not is_money(value):
        raise ValueError("an amount has at most two decimals (yuan.fen)")
    if abs(value) > MONEY_MAX:
        raise ValueError(f"an amount is at most {MONEY_MAX}")
    return as_money(value)


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _quantity(value: Decimal) -> Decimal:
    if not value.is_finite() or value != value.quantize(_QUANTUM) or abs(value) > QUANTITY_MAX:
        raise ValueError(f"a quantity has at most {QUANTITY_PLACES} decimals and is at most {QUANTITY_MAX}")
    return value


@lru_cache(maxsize=1024)
def _time(value: str) -> str:
    """A time as the platform writes it (the lines of a message mostly share a few)."""
    try:
        datetime.strptime(f"{value} +0800", f"{TIME_FORMAT} %z")  # Beijing time
    except ValueError:
        raise ValueError("a time is yyyy-MM-dd HH:mm:ss") from None
    return value


#: An amount that may be negative (a refund line's, a netted total).
SignedAmount = Annotated[Decimal, Lax, DecimalForm, AfterValidator(_amount)]
Amount = Annotated[Decimal, Lax, DecimalForm, AfterValidator(_amount), AfterValidator(_not_negative)]
SignedQuantity = Annotated[Decimal, Lax, DecimalForm, AfterValidator(_quantity)]
Time = Annotated[str, AfterValidator(_time)]
Flag = Literal["0", "1"]


Text3 = Annotated[str, Field(min_length=1, max_length=3, pattern=NO_NUL)]
Text6 = Annotated[str, Field(min_length=1, max_length=6, pattern=NO_NUL)]
Text30 = Annotated[str, Field(min_length=1, max_length=30, pattern=NO_NUL)]
Text50 = Annotated[str, Field(min_length=1, max_length=50, pattern=NO_NUL)]
Text64 = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
Text200 = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
#: Optional text: ``""`` (as the platform sends an empty field) is left out.
OptText10 = Annotated[Annotated[str, Field(max_length=10, pattern=NO_NUL)] | None, BeforeValidator(_empty_is_none)]
OptText30 = Annotated[Annotated[str, Field(max_length=30, pattern=NO_NUL)] | None, BeforeValidator(_empty_is_none)]
OptText50 = Annotated[Annotated[str, Field(max_length=50, pattern=NO_NUL)] | None, BeforeValidator(_empty_is_none)]
OptText200 = Annotated[Annotated[str, Field(max_length=200, pattern=NO_NUL)] | None, BeforeValidator(_empty_is_none)]


Region = Annotated[str, Field(pattern=r"^[0-9]{6}$")]
InsuType = Annotated[str, Field(pattern=r"^[0-9]{3}$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]


class Platform(BaseModel):
    """Values of their JSON type (a code is a string), the platform's other fields ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Envelope(Platform):
    infno: Annotated[str, Field(pattern=r"^[0-9]{4}$")]
    msgid: Text30
    mdtrtarea_admvs: Annotated[Region | None, BeforeValidator(_empty_is_none)] = None
    insuplc_admdvs: Annotated[Region | None, BeforeValidator(_empty_is_none)] = None
    fixmedins_code: Code
    fixmedins_name: OptText200 = None
    inf_time: Annotated[Time | None, BeforeValidator(_empty_is_none)] = None
    input: dict[str, Any]


def parse(model: type[M], doc: Any, loc: Loc = ()) -> M:
    """``doc`` as ``model``, or ``validation`` with every error located under ``loc``."""
    try:
        return model.model_validate(doc)
    except PydanticError as exc:
        raise ValidationFailed(
            [FieldError((*loc, *e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        ) from None


def day_of(time: str) -> date:
    return date.fromisoformat(time[:10])


# --- 2401, 2402 ----------------------------------------------------------------------------------------


class Disease(Platform):
    diag_code: Text30
    diag_name: Text200


class MdtrtInfo(Platform):
    psn_no: Text30
    insutype: InsuType
    begntime: Time
    mdtrt_cert_type: Text3
    mdtrt_cert_no: Text50
    med_type: Text6
    ipt_no: Text30
    psn_name: OptText200 = None


class Input2401(Platform):
    mdtrtinfo: MdtrtInfo
    diseinfo: list[Disease] = Field(default_factory=list, max_length=50)


class DscgInfo(Platform):
    mdtrt_id: Text30
    psn_no: Text30
    insutype: InsuType
    endtime: Time
    dise_codg: OptText30 = None
    dise_name: OptText200 = None


class Input2402(Platform):
    dscginfo: DscgInfo
    diseinfo: list[Disease] = Field(default_factory=list, max_length=50)


# --- 2301, 2302 ---------------------------------------------------------------------------------------


class FeeDetail(Platform):
    feedetl_sn: Text30
    init_feedetl_sn: OptText30 = None
    mdtrt_id: Text30
    psn_no: Text30
    med_type: Text6
    fee_ocur_time: Time
    med_list_codg: Code
    medins_list_codg: Text64
    det_item_fee_sumamt: SignedAmount
    cnt: SignedQuantity
    pric: Amount


class Input2301(Platform):
    feedetail: list[FeeDetail] = Field(min_length=1, max_length=20_000)


class LineRef(Platform):
    feedetl_sn: Text30
    mdtrt_id: Text30
    psn_no: Text30


class Input2302(Platform):
    data: LineRef


# --- 2404, 2405, 2303, 2304, 2305, 2601 -----------------------------------------------------------------


class VisitData(Platform):
    mdtrt_id: Text30
    psn_no: Text30


class InputVisit(Platform):
    data: VisitData


class SettlementData(Platform):
    psn_no: Text30
    mdtrt_cert_type: Text3
    mdtrt_cert_no: Text50
    medfee_sumamt: Amount
    psn_setlway: Text6
    mdtrt_id: Text30
    insutype: InsuType
    acct_used_flag: Flag
    mid_setl_flag: Flag
    medins_setl_id: OptText30 = None
    invono: OptText50 = None
    fulamt_ownpay_amt: Amount | None = None
    overlmt_selfpay: Amount | None = None
    preselfpay_amt: Amount | None = None
    inscp_scp_amt: Amount | None = None


class Input2304(Platform):
    data: SettlementData


class CancelData(Platform):
    mdtrt_id: Text30
    psn_no: Text30
    setl_id: Text30


class Input2305(Platform):
    data: CancelData


class ReverseData(Platform):
    psn_no: Text30
    omsgid: Text30
    oinfno: Annotated[str, Field(pattern=r"^[0-9]{4}$")]


class Input2601(Platform):
    data: ReverseData


# --- 3201, 3202 ----------------------------------------------------------------------------------------


class StatementData(Platform):
    insutype: InsuType
    clr_type: OptText10 = None
    setl_optins: Region
    stmt_begndate: IsoDate
    stmt_enddate: IsoDate
    medfee_sumamt: SignedAmount
    fund_pay_sumamt: SignedAmount
    acct_pay: SignedAmount
    fixmedins_setl_cnt: int


class Input3201(Platform):
    data: StatementData


class DetailRow(Platform):
    setl_id: Text30
    mdtrt_id: Text30
    psn_no: Text30
    medfee_sumamt: SignedAmount
    fund_pay_sumamt: SignedAmount
    acct_pay: SignedAmount
    refd_setl_flag: Flag


class DetailData(StatementData):
    detail: list[DetailRow] = Field(max_length=100_000)


class Input3202(Platform):
    data: DetailData
