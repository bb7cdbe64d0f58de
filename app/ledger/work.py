"""The ledger's unit of work: a write transaction (:class:`app.db.unit_of_work.UnitOfWork`) with
what it has locked and read so far.

Each row is read once per transaction and then taken from here: a claim takes every lock first
(:func:`app.ledger.lock_order.lock_for_settlements`) and its settlements then find the rows held.
That is safe because the transaction is the only one that can change what it holds: a locked row
cannot change under it, a used reference row never changes again, and a bill it holds locked
(or has just inserted) is invisible or closed to every other writer until the commit.  A retried
attempt gets a new unit of work, hence nothing of a rolled-back attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, Table

from app.db.unit_of_work import UnitOfWork
from app.engine import types as t
from app.ledger.records import SettlementRecord
from app.ledger.rows import Active, BillRow, EmployerYearKey, MemberRow, PolicyRow, Totals, VersionRow, YearKey


@dataclass(slots=True)
class HeldBill:
    """What this transaction knows of a bill it holds locked (:mod:`app.ledger.bill_state`): its
    row as last written, its active settlements and external payments (read on first use, None
    until then), kept up to date by each settlement the transaction makes, and the records of
    those settlements (a tier's basis)."""

    row: BillRow
    active: list[Active] | None = None
    vouchers: dict[str, Decimal] | None = None
    made: dict[str, SettlementRecord] = field(default_factory=dict)


class LedgerWork(UnitOfWork):
    """A write transaction of the ledger (see the module)."""

    __slots__ = ("bills", "catalogs", "engine_bills", "members", "policies", "schemes", "totals")

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        #: The reference rows read (:func:`app.ledger.references.read_references`); None: none.
        self.schemes: dict[str, t.Scheme | None] = {}
        self.members: dict[tuple[str, str], MemberRow | None] = {}
        self.policies: dict[tuple[str, int], PolicyRow | None] = {}
        self.catalogs: dict[tuple[str, date, date], list[VersionRow]] = {}
        #: The accumulators locked, by table and key (:mod:`app.ledger.accumulators`).
        self.totals: dict[tuple[Table, YearKey | EmployerYearKey], Totals] = {}
        #: The bills held locked, by id (:mod:`app.ledger.bill_state`).
        self.bills: dict[str, HeldBill] = {}
        #: Each bill's engine form, built once (:func:`app.ledger.bill_state.engine_bill`).
        self.engine_bills: dict[str, t.Bill] = {}
