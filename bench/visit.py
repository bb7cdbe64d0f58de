"""The claims bench's ``visit`` phase: a 40-line visit through the national platform's interface
(``POST /fsi/api/rsfComIfsService/callService``: 2401, the forty lines in one 2301, 2402, 2304)
against the same claim through ``POST /v1/claims`` (bill 3's lines, NRCMS-511623 and its two
tiers, as :mod:`bench.nhsa`), on the real 2-worker server, 2 concurrent clients, the server's CPU
per visit and per claim measured over the same run.

Each claim and each visit is a different patient's first of the year (a member of the route's
basic scheme copied from the sample's member), so no accumulator or cap makes a later one differ.
The clients are threads of the bench's own process (the server's CPU is read from ``/proc`` for
its process group, so theirs is not counted).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: The sample's member of the route's basic scheme (``NRCMS-511623``), the template of the others.
TEMPLATE_MEMBER = "NC5116230001"
ROUTE_ADMDVS = "511623"
CALL_SERVICE = "/fsi/api/rsfComIfsService/callService"
#: First resident-ID serial of the visit phase's patients (the claims phases use 200,000 on).
FIRST_VISIT_PATIENT = 900_000
WARM = 5


@dataclass(frozen=True)
class Patient:
    member_no: str
    id_number: str


def patients(count: int) -> list[Patient]:
    from bench.common import resident_id

    return [Patient(f"VB{n:08d}", resident_id(FIRST_VISIT_PATIENT + n)) for n in range(count)]


def bill() -> dict[str, Any]:
    import json

    from bench.nhsa import REPO

    doc: dict[str, Any] = json.loads((REPO / "app/sample/v2/bill-3.json").read_text())
    return doc


def claim_body(n: int, patient: Patient) -> dict[str, Any]:
    """Bill 3 with its forty lines (:func:`bench.nhsa._lines`), the patient's own, under the three schemes."""
    from bench.nhsa import SCHEMES, _lines

    b = bill()
    items = _lines()
    person = {"id_number": patient.id_number, "name": f"Patient {patient.id_number[-6:]}"}
    body = {**b, "bill_no": f"V{n:08d}", "items": items, "patient": person}
    return {"bill": body, "schemes": SCHEMES}


def envelope(infno: str, hospital: str, inp: dict[str, Any]) -> dict[str, Any]:
    return {
        "infno": infno,
        "msgid": uuid.uuid4().hex[:30],
        "insuplc_admdvs": ROUTE_ADMDVS,
        "fixmedins_code": hospital,
        "input": inp,
    }


def admission(patient: Patient) -> dict[str, Any]:
    info = {
        "psn_no": patient.member_no,
        "insutype": "390",
        "begntime": "2026-09-01 08:30:00",
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": patient.id_number,
        "med_type": "21",
        "ipt_no": "ZY",
    }
    return {"mdtrtinfo": info, "diseinfo": [{"diag_code": "C34.1", "diag_name": "lung"}]}


def fee_lines(mdtrt_id: str, patient: Patient) -> dict[str, Any]:
    """The forty lines of the claim, in one 2301."""
    from bench.nhsa import _lines

    common = {"mdtrt_id": mdtrt_id, "psn_no": patient.member_no, "med_type": "21"}
    common["fee_ocur_time"] = "2026-09-02 10:00:00"
    return {
        "feedetail": [
            {
                **common,
                "feedetl_sn": str(i["line_no"]),
                "med_list_codg": i["code"],
                "medins_list_codg": "H",
                "det_item_fee_sumamt": i["amount"],
                "cnt": "1",
                "pric": i["unit_price"],
            }
            for i in _lines()
        ]
    }


def discharge(mdtrt_id: str, patient: Patient) -> dict[str, Any]:
    return {
        "dscginfo": {
            "mdtrt_id": mdtrt_id,
            "psn_no": patient.member_no,
            "insutype": "390",
            "endtime": "2026-09-28 16:00:00",
        }
    }


def settlement(mdtrt_id: str, patient: Patient) -> dict[str, Any]:
    from bench.nhsa import _lines

    total = sum((Decimal(i["amount"]) for i in _lines()), Decimal("0.00"))
    data = {
        "psn_no": patient.member_no,
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": patient.id_number,
        "medfee_sumamt": str(total),
        "psn_setlway": "01",
        "mdtrt_id": mdtrt_id,
        "insutype": "390",
        "acct_used_flag": "0",
        "mid_setl_flag": "0",
    }
    return {"data": data}


@dataclass
class Driven:
    """What ``drive`` measured: units done (claims or visits), failures, the server's CPU seconds
    and the wall seconds of the window, each unit's wall time."""

    done: int = 0
    failed: int = 0
    server_cpu_s: float | None = None
    wall_s: float = 0.0
    times: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, other: Driven) -> None:
        """``other``'s units and CPU added to these (a window of another round)."""
        self.done += other.done
        self.failed += other.failed
        cpus = (self.server_cpu_s, other.server_cpu_s)
        self.server_cpu_s = None if other.server_cpu_s is None else sum(c or 0.0 for c in cpus)
        self.wall_s += other.wall_s
        self.times += other.times
        self.failures += other.failures[: max(0, 3 - len(self.failures))]

    @property
    def cpu_ms(self) -> float | None:
        return None if self.server_cpu_s is None or not self.done else self.server_cpu_s / self.done * 1000

    @property
    def p50_ms(self) -> float | None:
        return sorted(self.times)[len(self.times) // 2] * 1000 if self.times else None


def drive(
    one: Callable[[int, int], None], count: int, *, clients: int, seconds: float, cpu: Callable[[], float | None]
) -> Driven:
    """``clients`` threads take units ``0 .. count - 1`` in turn (``one(unit, client)``) until
    ``seconds`` are up or the units run out; the server's CPU (``cpu()``) from before the first to
    after the last unit, a unit in flight at the deadline finished and counted.  A unit that
    raises is counted as failed (its first failures kept)."""
    out = Driven()
    lock = threading.Lock()
    units = iter(range(count))
    deadline = time.perf_counter() + seconds

    def worker(client: int) -> None:
        while time.perf_counter() < deadline:
            with lock:
                unit = next(units, None)
            if unit is None:
                return
            start = time.perf_counter()
            try:
                one(unit, client)
            except Exception as exc:
                with lock:
                    out.failed += 1
                    if len(out.failures) < 3:
                        out.failures.append(repr(exc)[:300])
                continue
            with lock:
                out.done += 1
                out.times.append(time.perf_counter() - start)

    before = cpu()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.wall_s = time.perf_counter() - t0
    after = cpu()
    out.server_cpu_s = None if before is None or after is None else after - before
    return out


@dataclass
class VisitFigures:
    claim: Driven
    visit: Driven
    clients: int
    ran_out: list[str] = field(default_factory=list)
    #: Settlements the phase added to the database, by scheme (claims' and visits' together).
    settled: dict[str, int] = field(default_factory=dict)
    #: Each round's visit / claim, its claims' window and its visits' alone: how far one round's
    #: figure strays from the phase's (the machine's speed drifts within a run).
    round_ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        c, v = self.claim.cpu_ms, self.visit.cpu_ms
        return None if c is None or v is None or not c else v / c


def run_visit_phase(
    base_url: str,
    token: str,
    hospital: str,
    people: Sequence[Patient],
    *,
    seconds: float,
    cpu: Callable[[], float | None],
    wait_idle: Callable[[], object],
    clients: int = 2,
    rounds: int = 3,
) -> VisitFigures:
    """``WARM`` claims and visits first (not measured), then ``rounds`` rounds of claims for
    ``seconds / rounds`` and visits for as long (alternating, so a change of the machine's load
    falls on both sides), the figures summed over the rounds; the patients are shared out: the
    claims' first, the visits' after, each used once."""
    import httpx
    import orjson

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sessions = [httpx.Client(base_url=base_url, timeout=60.0, headers=headers) for _ in range(clients)]
    half = len(people) // 2
    claimers, visitors = list(people[:half]), list(people[half:])

    def claim(unit: int, client: int) -> None:
        body = orjson.dumps(claim_body(unit, claimers[unit]))
        r = sessions[client].post("/v1/claims", content=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if r.status_code != 201:
            raise RuntimeError(f"claim: {r.status_code} {r.text[:200]}")

    def send(client: int, infno: str, inp: dict[str, Any]) -> Any:
        r = sessions[client].post(CALL_SERVICE, content=orjson.dumps(envelope(infno, hospital, inp)))
        answer = r.json()
        if r.status_code != 200 or answer.get("infcode") != 0:
            raise RuntimeError(f"{infno}: {r.status_code} {r.text[:200]}")
        return answer["output"]

    def visit(unit: int, client: int) -> None:
        p = visitors[unit]
        mdtrt_id = send(client, "2401", admission(p))["result"]["mdtrt_id"]
        send(client, "2301", fee_lines(mdtrt_id, p))
        send(client, "2402", discharge(mdtrt_id, p))
        send(client, "2304", settlement(mdtrt_id, p))

    try:
        for n in range(min(WARM, half)):
            claim(len(claimers) - 1 - n, 0)
            visit(len(visitors) - 1 - n, 0)
        claims, visits = len(claimers) - WARM, len(visitors) - WARM
        claimed, visited = Driven(), Driven()
        round_ratios: list[float] = []
        for _ in range(rounds):
            wait_idle()
            claims_part = drive(
                lambda u, c: claim(claimed.done + claimed.failed + u, c),
                claims - claimed.done - claimed.failed,
                clients=clients,
                seconds=seconds / rounds,
                cpu=cpu,
            )
            claimed.add(claims_part)
            wait_idle()
            visits_part = drive(
                lambda u, c: visit(visited.done + visited.failed + u, c),
                visits - visited.done - visited.failed,
                clients=clients,
                seconds=seconds / rounds,
                cpu=cpu,
            )
            visited.add(visits_part)
            ratio = VisitFigures(claims_part, visits_part, clients).ratio
            if ratio is not None:
                round_ratios.append(ratio)
    finally:
        for s in sessions:
            s.close()
    ran_out = [k for k, d, n in (("claims", claimed, claims), ("visits", visited, visits)) if d.done + d.failed >= n]
    return VisitFigures(claimed, visited, clients, ran_out, round_ratios=round_ratios)
