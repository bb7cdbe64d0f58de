"""The claims benchmark's own logic (``bench/claims.py``, ``bench/loadgen.py``): no server, no database.

What a wrong figure would come from: a claim body filled in wrongly, latencies split at the wrong
second, a phase's claims overlapping the next one's, a checkout's figure in another's column.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from bench import claims, visit
from bench.common import Latency, resident_id
from bench.http_load import Phase, _summarize
from bench.loadgen import Job, JobResult, _request
from bench.visit_cpu import thread_cpu_ns


def test_a_filled_template_is_the_claim_it_stands_for() -> None:
    body = claims.claim_template()
    for placeholder, value in zip(claims.PLACEHOLDERS, claims.claim_fill(7), strict=True):
        body = body.replace(placeholder, value)
    expected = claims.claim_body(7, resident_id(claims.FIRST_PATIENT + 7))
    assert orjson.loads(body) == expected
    assert len(expected["bill"]["items"]) == claims.LINES


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str | None]] = []

    async def post(self, path: str, body: bytes, key: str | None = None) -> int:
        self.sent.append((path, body, key))
        return 201

    async def get(self, path: str) -> int:
        return 200

    async def close(self) -> None:
        return None


def test_the_generator_fills_each_request_from_its_own_entry() -> None:
    job = Job(
        "http://127.0.0.1:1",
        "token",
        "closed",
        ["/v1/claims"] * 2,
        b'{"bill_no": "@B@", "id": "@I@"}',
        duration=1.0,
        start_at=0.0,
        idempotency=True,
        fills=[(b"C1", b"X1"), (b"C2", b"X2")],
        placeholders=(b"@B@", b"@I@"),
    )
    recorder = _Recorder()

    async def run() -> JobResult:
        pool: asyncio.Queue[_Recorder] = asyncio.Queue()
        pool.put_nowait(recorder)
        result = JobResult()
        await _request(job, pool, 1, result, 0.0, 0.0)  # type: ignore[arg-type]
        await _request(job, pool, 0, result, 0.0, 0.0)  # type: ignore[arg-type]
        return result

    # In a thread of its own: an earlier test may have left an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, run()).result()
    assert [body for _path, body, _key in recorder.sent] == [
        b'{"bill_no": "C2", "id": "X2"}',
        b'{"bill_no": "C1", "id": "X1"}',
    ]
    keys = [key for _path, _body, key in recorder.sent]
    assert all(keys) and len(set(keys)) == 2
    assert result.status == [201, 201]


def test_latencies_are_split_at_the_first_second_of_sending() -> None:
    a, b = JobResult(), JobResult()
    # (sent, done): two claims sent in the first second (a queue: 0.9 s and 0.7 s), three after.
    a.sent, a.done, a.status = [0.0, 1.0, 2.0], [0.9, 1.05, 2.05], [201, 201, 201]
    b.sent, b.done, b.status = [0.5, 1.5], [1.2, 1.56], [201, 500]
    phase = _summarize("cold", "closed", [a, b], offered=None, concurrency=2, seconds=3.0)
    assert phase.first_second is not None and phase.after_first_second is not None
    assert phase.first_second.count == 2
    assert round(phase.first_second.p99, 3) == 0.9
    assert phase.after_first_second.count == 3
    assert round(phase.after_first_second.p99, 3) == 0.06
    assert phase.errors == {"500": 1}
    assert phase.issued_per_process == 3


def test_each_phase_has_claims_of_its_own_enough_for_its_rate() -> None:
    plan = claims.Plan(seconds=2.0, concurrencies=(32, 64), rates=(250, 500))
    specs = plan.phases()
    assert [s.key for s in specs] == ["cold", "c2", "c32", "c64", "open250", "open500"]
    cold = specs[0]
    assert (cold.mode, cold.load, cold.seconds) == ("closed", claims.COLD_CONCURRENCY, 3.0)
    assert cold.pool == claims.CLOSED_POOL_RATE * 3
    assert {s.key: s.pool for s in specs if s.mode == "open"} == {"open250": 500, "open500": 1000}


def _phase(achieved: float, p50: float, p99: float, **extra: object) -> Phase:
    latency = Latency(p50, p99, p99, p99, 100)
    return Phase("x", "closed", None, 32, 3.0, 100, 100, achieved, latency, {}, **extra)  # type: ignore[arg-type]


def test_the_report_puts_each_checkout_in_its_own_column(tmp_path: Path) -> None:
    before = claims.Checkout(tmp_path / "a", "before", "python", "aaaaaaa old", dirty=False)
    after = claims.Checkout(tmp_path / "b", "after", "python", "bbbbbbb new", dirty=True)
    cold = {
        "first_second": Latency(0.5, 1.5, 1.5, 1.5, 40),
        "after_first_second": Latency(0.4, 0.75, 0.75, 0.75, 60),
    }

    def run(rate: float) -> claims.BackendRun:
        r = claims.BackendRun("postgresql", acknowledged=500, settlements_in_db=510)
        r.phases = {k: _phase(rate, 0.01, 0.02) for k in ("c2", "c32", "c64", "open250", "open500")}
        r.phases["cold"] = _phase(rate, 0.4, 1.5, **cold)
        return r

    figures = {
        "before": {"http": {"postgresql": run(60.0)}, "probe": {"n": 50, "statements": 19.0, "pgbench": {"tps": 600}}},
        "after": {"http": {"postgresql": run(480.0)}, "probe": {"n": 50, "statements": 12.0, "pgbench": {"tps": 600}}},
    }
    machine = {
        "date": "today",
        "cores (os.cpu_count)": "2",
        "load average at start (1/5/15 min)": "1 / 1 / 1",
        "PostgreSQL server": "15",
        "SQLite": "3",
    }
    text = claims.render(
        [before, after],
        figures,
        None,
        machine,
        plan=claims.Plan(seconds=3.0),
        notes=[],
        elapsed_s=10.0,
        backends=("postgresql",),
    )
    lines = text.splitlines()
    assert "| figure | before | after |" in lines
    assert "| SQL statements | 19.0 | 12.0 |" in lines
    assert "| **claims/s at saturation, 32 concurrent** | 60 | 480 |" in lines
    assert "| claims/s at 32 concurrent as a share of the pgbench ceiling | 10% | 80% |" in lines
    assert "| cold start: p99 of the first second / p99 after it | 2.0x | 2.0x |" in lines
    assert "| claims answered 201 / settlements in the database | 500 / 510 | 500 / 510 |" in lines
    # A figure the run does not have is a dash, not an error.
    assert "| round trips (statements + BEGIN/COMMIT + pre-pings) | - | - |" in lines
    assert any(line.startswith("- **after**: `bbbbbbb new`") and "uncommitted" in line for line in lines)
    assert "### SQLite over HTTP" not in text


def test_a_checkout_may_be_measured_twice_with_settings_of_its_own() -> None:
    plain, four = claims.checkouts(["t40=.", "t4=.,SETTLE_WORKER_THREADS=4,SETTLE_DB_POOL_SIZE=5"])
    assert (plain.label, plain.settings) == ("t40", ())
    assert four.label == "t4"
    assert four.settings == (("SETTLE_WORKER_THREADS", "4"), ("SETTLE_DB_POOL_SIZE", "5"))
    assert four.env["SETTLE_WORKER_THREADS"] == "4"
    assert "SETTLE_WORKER_THREADS" not in plain.env
    assert plain.path == four.path
    with pytest.raises(SystemExit, match=r"only SETTLE_\* settings"):
        claims.checkouts(["x=.,PATH=/tmp"])


def test_a_visit_sends_the_claims_forty_lines_in_one_2301() -> None:
    alice, bob = visit.patients(2)
    assert alice.member_no != bob.member_no and alice.id_number != bob.id_number
    claim = visit.claim_body(3, alice)["bill"]
    assert visit.claim_body(3, alice)["schemes"] == ["NRCMS-511623", "SI-511623", "MA-511623"]
    assert claim["patient"]["id_number"] == alice.id_number
    fees = visit.fee_lines("M1", alice)["feedetail"]
    assert len(fees) == len(claim["items"]) == claims.LINES
    assert [(f["med_list_codg"], Decimal(f["det_item_fee_sumamt"])) for f in fees] == [
        (i["code"], Decimal(i["amount"])) for i in claim["items"]
    ]
    assert {(f["mdtrt_id"], f["psn_no"]) for f in fees} == {("M1", alice.member_no)}
    settled = visit.settlement("M1", alice)["data"]
    assert Decimal(settled["medfee_sumamt"]) == sum(Decimal(i["amount"]) for i in claim["items"])
    assert (settled["psn_no"], settled["mdtrt_cert_no"]) == (alice.member_no, alice.id_number)
    info = visit.admission(alice)["mdtrtinfo"]
    assert (info["psn_no"], info["mdtrt_cert_no"]) == (alice.member_no, alice.id_number)
    assert visit.envelope("2401", claims.visit_hospital(), {})["fixmedins_code"] == claim["hospital"]["code"]


def test_drive_counts_each_unit_once_and_the_servers_cpu_over_the_window() -> None:
    seen: list[int] = []
    readings = iter([10.0, 12.5])

    def one(unit: int, _client: int) -> None:
        seen.append(unit)
        if unit == 3:
            raise RuntimeError("2304: 500")

    driven = visit.drive(one, 10, clients=2, seconds=30.0, cpu=lambda: next(readings))
    assert sorted(seen) == list(range(10))
    assert (driven.done, driven.failed, len(driven.times)) == (9, 1, 9)
    assert driven.failures == ["RuntimeError('2304: 500')"]
    assert driven.server_cpu_s == 2.5
    assert driven.cpu_ms is not None and round(driven.cpu_ms, 3) == round(2500 / 9, 3)


def test_members_are_copied_with_the_prefix_from_the_first_position(tmp_path: Path) -> None:
    from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    member = Table(
        "member",
        MetaData(),
        Column("id", Integer, primary_key=True),
        *(Column(name, String) for name in ("scheme_code", "member_no", "id_number", "name", "coverage")),
    )
    member.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(member), [{"scheme_code": "MA", "member_no": "T1", "id_number": "X", "coverage": "c"}])
    assert claims.copy_members(url, "T1", ["A1", "B2"], prefix="VM", first=0) == []
    with engine.connect() as conn:
        rows = conn.execute(select(member.c.scheme_code, member.c.member_no, member.c.id_number, member.c.coverage))
        copies = [("MA", "VM00000000", "A1", "c"), ("MA", "VM00000001", "B2", "c")]
        assert sorted(rows) == [("MA", "T1", "X", "c"), *copies]
    engine.dispose()


def _backend_with_visit(claim_cpu: float, visit_cpu: float) -> claims.BackendRun:
    run = claims.BackendRun("sqlite")
    claimed = visit.Driven(done=100, server_cpu_s=claim_cpu, times=[0.02] * 100)
    visited = visit.Driven(done=50, failed=1, server_cpu_s=visit_cpu, times=[0.05] * 50)
    settled = {"MA-511623": 160, "NRCMS-511623": 160}
    run.visit = visit.VisitFigures(claimed, visited, 2, settled=settled, round_ratios=[1.7, 1.95, 1.8])
    return run


def test_the_report_puts_the_visit_beside_the_same_claim(tmp_path: Path) -> None:
    code = claims.Checkout(tmp_path, "now", "python", "ccccccc x")
    failed = claims.BackendRun("postgresql", visit_error="RuntimeError('load-sample')")
    figures = {"now": {"http": {"sqlite": _backend_with_visit(1.0, 0.9), "postgresql": failed}}}
    machine = {
        "date": "today",
        "cores (os.cpu_count)": "2",
        "load average at start (1/5/15 min)": "1 / 1 / 1",
        "PostgreSQL server": "15",
        "SQLite": "3",
    }

    def text(plan: claims.Plan) -> list[str]:
        return claims.render([code], figures, None, machine, plan=plan, notes=[], elapsed_s=1.0).splitlines()

    lines = text(claims.Plan(seconds=3.0, concurrencies=(), rates=()))
    assert "| SQLite: **server CPU ms per claim** (`POST /v1/claims`, claims measured) | 10.00 (100) |" in lines
    visit_row = "| SQLite: **server CPU ms per visit** (2401, one 2301, 2402, 2304; visits measured) | 18.00 (50) |"
    assert visit_row in lines
    assert "| SQLite: **visit / claim**, server CPU | 1.80x (rounds: 1.70, 1.95, 1.80) |" in lines
    assert "| SQLite: p50 ms of a claim / of a whole visit | 20.0 / 50.0 |" in lines
    assert "| SQLite: failed claims / visits | 0 / 1 |" in lines
    assert (
        "| SQLite: settlements the phase added (warm-up included), by scheme | MA-511623 160, NRCMS-511623 160 |"
        in lines
    )
    assert any(line.startswith("| PostgreSQL: **server CPU ms per claim**") and "load-sample" in line for line in lines)
    assert "| PostgreSQL: **visit / claim**, server CPU | - |" in lines
    assert not any("visit / claim" in line for line in text(claims.Plan(seconds=3.0, visit=False)))
    assert claims.Plan(seconds=3.0).visit_pool == 2 * (claims.VISIT_POOL_RATE * 3 + 5)


def test_rounds_add_up_to_one_window() -> None:
    total = visit.Driven()
    total.add(visit.Driven(done=3, server_cpu_s=0.03, times=[0.01] * 3, failures=["a"]))
    total.add(visit.Driven(done=1, failed=1, server_cpu_s=0.05, times=[0.02], failures=["b"]))
    assert (total.done, total.failed, total.times, total.failures) == (4, 1, [0.01] * 3 + [0.02], ["a", "b"])
    assert total.cpu_ms is not None and round(total.cpu_ms, 6) == 20.0
    total.add(visit.Driven(done=1, server_cpu_s=None))
    assert total.cpu_ms is None


def test_a_workers_cpu_is_read_per_thread_in_nanoseconds() -> None:
    """Every thread's CPU counts (while it lives: /proc forgets a thread that ended), the main
    thread's apart."""
    before_total, before_main = thread_cpu_ns(os.getpid())
    done = threading.Event()
    worked = threading.Event()

    def spin() -> None:
        sum(range(3_000_000))
        worked.set()
        done.wait()

    other = threading.Thread(target=spin)
    other.start()
    worked.wait()
    total, main = thread_cpu_ns(os.getpid())
    done.set()
    other.join()
    assert main >= before_main
    assert (total - before_total) - (main - before_main) > 10_000_000  # the other thread's 3M additions


def test_rounds_report_each_checkouts_median_range_ratio_and_cpu(tmp_path: Path) -> None:
    """The median of a checkout's rounds, their range, its ratio to the first checkout's median,
    and its CPU per claim over all its rounds, in its own row."""
    from bench.claims import Checkout
    from bench.claims_rounds import Side, report
    from bench.server import Server

    def side(label: str, rates: list[float], cpu_s: float, claims_done: int) -> Side:
        code = Checkout(tmp_path, label, "python")
        s = Side(code, Server("app.main:app", tmp_path, {}), "token")
        s.rates[32] = rates
        s.cpu_s[32] = cpu_s
        s.claims[32] = claims_done
        return s

    table = report(
        [side("before", [300, 280, 320], 4.0, 1000), side("after", [390, 420, 360], 3.0, 1000)],
        [32],
        "PostgreSQL",
        3,
        4,
    )
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in table.splitlines()
        if line.startswith("| before") or line.startswith("| after")
    }
    assert rows["before"] == "| before | **300** (280-320, 1.00x) | 4.00 |"
    assert rows["after"] == "| after | **390** (360-420, 1.30x) | 3.00 |"
