"""(a) The pure engine, single process: 40-line bills per second, and one 10,000-line bill.

Inputs are built as ``python -m app example`` builds them (``app.sample.load_reference``), the
bill from the sample bill's lines repeated.  Wall time and this process's CPU time are both
measured: on a loaded machine the CPU time gives the per-core rate.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from app.engine import settle
from app.engine.types import SettlementInput
from app.sample import load_reference
from app.schemas.bills import BillCreate
from bench.common import NRCMS, bill_with_lines


@dataclass(frozen=True)
class Throughput:
    lines_per_bill: int
    validate: bool
    bills: int
    wall_s: float
    cpu_s: float

    @property
    def bills_per_s(self) -> float:
        return self.bills / self.wall_s

    @property
    def lines_per_s(self) -> float:
        return self.bills * self.lines_per_bill / self.wall_s

    @property
    def lines_per_cpu_s(self) -> float:
        """Lines per second of CPU time of this (single-threaded) process: per core."""
        return self.bills * self.lines_per_bill / self.cpu_s


@dataclass(frozen=True)
class EngineResult:
    throughput: Throughput
    throughput_no_validation: Throughput
    big_lines: int
    big_wall_s: list[float]
    big_cpu_s: list[float]

    @property
    def big_median_s(self) -> float:
        return statistics.median(self.big_wall_s)

    @property
    def big_median_cpu_s(self) -> float:
        return statistics.median(self.big_cpu_s)


def settlement_input(lines: int) -> SettlementInput:
    ref = load_reference()
    bill = BillCreate.model_validate(bill_with_lines(lines)).to_engine()
    return SettlementInput(
        bill=bill,
        scheme=ref.engine_scheme(NRCMS),
        member=ref.engine_member(NRCMS, bill.patient_id_number),
        catalogs=ref.engine_catalogs(NRCMS),
        policy=ref.engine_policy(NRCMS, bill.discharge_date.year),
    )


def measure(inp: SettlementInput, seconds: float, *, validate: bool) -> Throughput:
    settle(inp, validate=validate)  # warm up
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + seconds
    while True:
        for _ in range(20):
            settle(inp, validate=validate)
        n += 20
        if time.perf_counter() >= deadline:
            break
    return Throughput(
        len(inp.bill.items), validate, n, time.perf_counter() - wall0, max(time.process_time() - cpu0, 1e-9)
    )


def run(*, quick: bool) -> EngineResult:
    seconds = 1.0 if quick else 4.0
    inp = settlement_input(40)
    with_validation = measure(inp, seconds, validate=True)
    without = measure(inp, seconds / 2, validate=False)
    big = settlement_input(10_000)
    settle(big)
    walls, cpus = [], []
    for _ in range(2 if quick else 5):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        settle(big)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return EngineResult(with_validation, without, 10_000, walls, cpus)
