"""The stress and crash harness: a real server in a subprocess, seeded over HTTP, many clients.

- :class:`Server` runs ``python -m uvicorn app.main:app --workers 2`` on a free loopback port
  in its own process group (so the whole group can be SIGKILLed), waits for ``/readyz`` and
  writes the server's stdout and stderr to a file per start.
- :func:`seed` loads the shared examples (v1 and v2) over HTTP, adds a third scheme with a small
  annual cap (and a yearly deductible, so both accumulators move) and several persons who are
  members of the three basic schemes and of medical assistance (serious illness covers them
  through NRCMS), and submits their bills; plus work-injury bills of workers whom their
  employers never enrolled in the work-injury fund (employers' liabilities, v2.5); with ``v3``,
  v3's employee scheme and its large-amount tier, and employees whose stays pass the basic cap.
- :class:`Load` runs a mixed, seeded list of jobs from many threads (one ``httpx.Client``
  each) against the server, bounded by a deadline, and records every request and answer.
- :func:`verify` checks the ledger directly in the database: :func:`app.ledger.invariants.check`
  plus what only the clients know (every acknowledged settlement, reversal, recovery and
  write-off is there, nothing else is, one settlement or recovery per Idempotency-Key, the stored
  replies equal the answers given).
- :func:`replay_acked` sends acknowledged writes again after a crash or a fault: a sample of
  them, and every recovery and write-off.
- Visits through the national platform's interface (``nhsa.md``) join the mix: a hospital
  system admits a person, uploads bill 1's lines with a refund, discharges and settles under the
  county's route (its answer sometimes lost and the message sent again), now and then cancels and
  settles again; their settlements and cancellations count as acknowledged like the REST ones.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col
from stdnum.cn import ric

from app.db import tables as db
from app.db.receivable_tables import Receivable, Recovery
from app.db.visit_tables import NhsaSettlement
from app.ledger import invariants
from tests.stress import acked_receivables
from tests.stress.acked_receivables import recovery_in
from tests.support.api import bill_1, load_v2_over_http, register_hospitals, v2_bill
from tests.support.db import ADMIN_TOKEN
from tests.support.paths import REPO, examples_dir

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: The client id of SETTLE_ADMIN_TOKEN: idempotency records are kept per client.
ADMIN_CLIENT_ID = "admin"

NRCMS, UEBMI, CAPPED = "NRCMS-511623", "UEBMI-321100", "NRCMS-CAP-511623"
SI, MA, WI = "SI-511623", "MA-511623", "WI-321100"
BASIC = (NRCMS, UEBMI, CAPPED)
#: What a plain settlement job picks from: the basic schemes and NRCMS's two tiers (a tier
#: before its basis is refused with basic-not-settled, 422).
SCHEMES = (*BASIC, SI, MA)
#: The employers of the work-injury bills (valid unified social credit codes).
EMPLOYERS = (
    {"code": "91321102MA1N7D4Q8W", "name": "Zhenjiang Jianan Construction Co. (sample)"},
    {"code": "91321102MA1N7D5Q8J", "name": "Zhenjiang Other Works (sample)"},
)
#: The capped scheme's annual cap: a bill pays it up to 4,815.00, so a person's third bill binds it.
CAP = "10000.00"
#: v3: the employee basic scheme whose annual cap a large stay passes, its large-amount tier, and
#: the third party an advance on it recovers from.
EMPLOYEE, LARGE = "UEBMI-511600", "LA-511600"
THIRD_PARTY = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A lorry driver (stress test)"}}

#: Statuses each kind of request may answer with (503 ``busy`` is counted, never an error).
EXPECTED: dict[str, set[int]] = {
    "settle": {201, 409, 422},
    "dry_run": {200, 409, 422},
    "reverse": {200, 409},
    "claim": {201},
    "split": {200},
    "get_settlement": {200},
    "resubmit": {200},
    "reference": {200, 409},
    "recover": {201, 409, 422},
    "write_off": {200, 409},
    # The national platform's interface answers every envelope 200 (a refusal: infcode -1).
    "nhsa": {200},
}
NHSA_URL = "/fsi/api/rsfComIfsService/callService"
#: The county's route of the interface: NRCMS then its two tiers.
NHSA_ROUTE = {"schemes": [{"scheme_code": NRCMS}, {"scheme_code": SI}, {"scheme_code": MA}]}


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``uvicorn app.main:app`` with ``workers`` processes on a free port, in its own session."""

    def __init__(self, db_url: str, workdir: Path, *, workers: int = 2, env: Mapping[str, str] | None = None) -> None:
        from tests.failover.pgbouncer import pooled

        self.db_url = db_url
        # SETTLE_TEST_PGBOUNCER=1: the service reaches the database through a PgBouncer of its own.
        self.service_url, pooled_env = pooled(db_url)
        self.workdir = workdir
        self.workers = workers
        self.extra_env = {**pooled_env, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.logs: list[Path] = []
        self.metrics_dir = workdir / "prometheus"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 45.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.port = free_port()
        log = self.workdir / f"server-{len(self.logs) + 1}.log"
        self.logs.append(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SETTLE_")}
        env.update(
            {
                "SETTLE_DATABASE_URL": self.service_url,
                "SETTLE_ADMIN_TOKEN": ADMIN_TOKEN,
                "SETTLE_LOG_JSON": "true",
                "SETTLE_LOG_LEVEL": "INFO",
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
        ]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(  # the child keeps its own copy of the file descriptor
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _group_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """SIGKILL the whole process group (supervisor and workers) at once: a crash."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self._group_gone(pgid, 10), "a worker survived SIGKILL of its process group"

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._group_gone(self.proc.pid, 5)
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        if not self._group_gone(pgid, 10):
            os.killpg(pgid, signal.SIGKILL)

    def log_text(self, first: int = 0) -> str:
        """The logs of every start from the ``first``-th on (0: all of them)."""
        return "\n".join(p.read_text(errors="replace") for p in self.logs[first:] if p.exists())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_retries(self) -> Counter[str]:
        """``db_retry`` events in the server's log, by reason."""
        reasons: Counter[str] = Counter()
        for line in self.log_text().splitlines():
            if "db_retry" not in line:
                continue
            try:
                reasons[str(json.loads(line).get("reason", "?"))] += 1
            except (ValueError, AttributeError):
                reasons["?"] += 1
        return reasons

    def log_problems(self, first: int = 0) -> list[str]:
        """Log lines that must never appear: tracebacks, locked databases, unexpected errors."""
        needles = ("Traceback", "database is locked", "unexpected error", "could not serialize", "deadlock detected")
        return [line for line in self.log_text(first).splitlines() if any(n in line for n in needles)]

    def metric_retries(self) -> int | None:
        """``settle_db_retries_total`` summed over every worker (since the first start), or None
        without ``/metrics``.  The counter has no series until the first retry."""
        try:
            r = httpx.get(self.base_url + "/metrics", timeout=5.0)
        except httpx.TransportError:
            return None
        if r.status_code != 200:
            return None
        total = 0.0
        for line in r.text.splitlines():
            if line.startswith("settle_db_retries_total"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


# --- reference data and bills ----------------------------------------------------------------


@dataclass(frozen=True)
class BillRef:
    bill_id: str
    id_number: str
    body: dict[str, Any]
    #: A v3 employee's stay: settled under the employee scheme (with or without an advance) and
    #: its large-amount tier.
    large: bool = False

    @property
    def employer(self) -> dict[str, str] | None:
        """The employer of a work-injury bill (liable under WI-321100), else None."""
        injury = self.body.get("work_injury")
        return None if injury is None else dict(injury["employer"])


@dataclass
class Seed:
    persons: list[tuple[str, str]]
    bills: list[BillRef]
    #: Reference documents that settlements use, by path: putting them again is 200 or 409.
    reference: dict[str, Any] = field(default_factory=dict)


def id_number(n: int) -> str:
    """A valid resident ID number (ISO 7064 MOD 11-2 check character) born in 511623."""
    born = date(1960, 1, 1) + timedelta(days=211 * n)
    body = f"511623{born:%Y%m%d}{n % 1000:03d}"
    check: str = ric.calc_check_digit(body + "0")  # the last character is a placeholder
    return body + check


def bill_body(bill_no: str, person: tuple[str, str]) -> dict[str, Any]:
    body = bill_1()
    body["bill_no"] = bill_no
    body["patient"] = {"id_number": person[0], "name": person[1]}
    return body


def _ok(r: httpx.Response, *statuses: int) -> Any:
    assert r.status_code in statuses, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def seed(client: httpx.Client, *, persons: int, bills_per_person: int, v3: bool = False) -> Seed:
    """Shared examples, a capped third scheme, ``persons`` members of all three and of medical
    assistance, their bills; and two uninsured workers' work-injury bills per employer. With
    ``v3``, also v3's employee scheme and large-amount tier and ``persons`` employees, each with
    v3's bills 6 and 7 (the first passes the basic fund's annual cap)."""
    load_v2_over_http(cast(Any, client), AUTH)
    folder = examples_dir()
    catalog = json.loads((folder / "catalogs.json").read_text())[NRCMS]
    policy = copy.deepcopy(json.loads((folder / "policies.json").read_text())[NRCMS])
    policy["annual_cap"] = CAP
    policy["inpatient"]["deductible"] = {"basis": "per_year", "amount": "500.00"}
    scheme = {
        "name": "Linshui NRCMS, capped variant (stress test)",
        "kind": "nrcms",
        "pooling_region": "511623",
        "coordination": "repeat_capped",
    }
    reference = {
        f"/v1/schemes/{CAPPED}/catalogs/{catalog['version']}": catalog,
        f"/v1/schemes/{CAPPED}/policies/{policy['year']}": policy,
    }
    _ok(client.put(f"/v1/schemes/{CAPPED}", json=scheme, headers=AUTH), 201)
    for path, document in reference.items():
        _ok(client.put(path, json=document, headers=AUTH), 201)
    members = json.loads((folder / "members.json").read_text())
    template = {NRCMS: members[NRCMS][0], UEBMI: members[UEBMI][0], CAPPED: members[NRCMS][0], MA: members[NRCMS][0]}
    people = [(id_number(n), f"Stress Person {n}") for n in range(1, persons + 1)]
    for n, (idn, name) in enumerate(people, start=1):
        for code, base in template.items():
            member = {**base, "member_no": f"ST{code[:2]}{n:06d}", "id_number": idn, "name": name}
            _ok(client.put(f"/v1/schemes/{code}/members/{member['member_no']}", json=member, headers=AUTH), 201)
    bills = []
    for n, person in enumerate(people):
        for k in range(bills_per_person):
            body = bill_body(f"ST{n:03d}{k:03d}", person)
            out = _ok(client.post("/v1/bills", json=body, headers=AUTH), 201)
            bills.append(BillRef(out["bill_id"], person[0], body))
    workers = [(id_number(500 + n), f"Stress Worker {n}") for n in range(1, 3)]
    for n, (worker, employer) in enumerate(itertools.product(workers, EMPLOYERS)):
        body = v2_bill("bill-4.json")
        body["bill_no"] = f"STWI{n:03d}"
        body["patient"] = {"id_number": worker[0], "name": worker[1]}
        body["work_injury"] = {**body["work_injury"], "employer": employer}
        out = _ok(client.post("/v1/bills", json=body, headers=AUTH), 201)
        bills.append(BillRef(out["bill_id"], worker[0], body))
    if v3:
        bills.extend(seed_v3(client, persons))
    _ok(client.put("/v1/nhsa/routes/511623/390", json=NHSA_ROUTE, headers=AUTH), 201)
    return Seed(people, bills, reference)


def seed_v3(client: httpx.Client, persons: int) -> list[BillRef]:
    """v3's hospitals, employee scheme and large-amount tier over HTTP, ``persons`` employees,
    and bills 6 and 7 of each."""
    folder = examples_dir() / "v3"
    register_hospitals(client, json.loads((folder / "hospitals.json").read_text()), AUTH)
    for scheme in json.loads((folder / "schemes.json").read_text()):
        _ok(client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=AUTH), 200, 201)
    catalogs = json.loads((folder / "catalogs.json").read_text())
    policies = json.loads((folder / "policies.json").read_text())
    catalog = catalogs[EMPLOYEE]
    _ok(client.put(f"/v1/schemes/{EMPLOYEE}/catalogs/{catalog['version']}", json=catalog, headers=AUTH), 200, 201)
    for code in (EMPLOYEE, LARGE):
        policy = policies[code]
        _ok(client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=AUTH), 200, 201)
    template = json.loads((folder / "members.json").read_text())[EMPLOYEE][0]
    bills = []
    for n in range(1, persons + 1):
        person = (id_number(800 + n), f"Stress Employee {n}")
        member = {**template, "member_no": f"STGA{n:06d}", "id_number": person[0], "name": person[1]}
        _ok(client.put(f"/v1/schemes/{EMPLOYEE}/members/{member['member_no']}", json=member, headers=AUTH), 201)
        for name in ("bill-6.json", "bill-7.json"):
            body = json.loads((folder / name).read_text())
            body["bill_no"] = f"STGA{n:03d}-{name[5]}"
            body["patient"] = {"id_number": person[0], "name": person[1]}
            out = _ok(client.post("/v1/bills", json=body, headers=AUTH), 201)
            bills.append(BillRef(out["bill_id"], person[0], body, large=True))
    return bills


# --- the load --------------------------------------------------------------------------------


@dataclass
class Call:
    op: str
    method: str
    path: str
    body: Any = None
    key: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method == "POST" and self.op not in ("dry_run", "resubmit")


@dataclass
class Answer:
    call: Call
    status: int | None
    body: Any
    started: float
    latency: float
    error: str | None = None


class Recorder:
    """Every request and answer, and what the clients were told (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: list[Answer] = []
        self.acked_settlements: set[str] = set()
        self.acked_reversals: set[str] = set()
        self.live: dict[str, set[str]] = {}  # bill id -> settlement ids the clients believe active
        self.vouchers: dict[str, list[str]] = {}
        self.by_key: dict[str, list[Answer]] = {}
        self.receivables: list[str] = []  # receivables opened by acknowledged advances
        self.receivable_of: dict[str, str] = {}  # advanced settlement id -> its receivable
        #: Receivables the clients know take no more recovery: their settlement reversed, written
        #: off, or recovered in full.
        self.closed: set[str] = set()
        #: Visit settlements (``setl_id``) and their cancellations (the cancellation's ``setl_id``)
        #: acknowledged through the national platform's interface.
        self.visit_settlements: set[str] = set()
        self.visit_cancellations: set[str] = set()

    def add(self, a: Answer) -> None:
        with self.lock:
            self.answers.append(a)
            if a.call.key is not None:
                self.by_key.setdefault(a.call.key, []).append(a)
            if a.status is None or a.status >= 300 or not isinstance(a.body, dict):
                return
            if a.call.op == "settle" and a.status == 201:
                self._settled(a.body)
                for e in a.body.get("external_payments", []):
                    self.vouchers.setdefault(a.body["bill_id"], []).append(e["voucher_no"])
            elif a.call.op == "claim" and a.status == 201:
                for s in a.body["settlements"]:
                    self._settled(s)
            elif a.call.op == "reverse" and a.status == 200:
                self.acked_reversals.add(a.body["settlement_id"])
                self.live.get(a.body["bill_id"], set()).discard(a.body["settlement_id"])
                if a.body["settlement_id"] in self.receivable_of:
                    self.closed.add(self.receivable_of[a.body["settlement_id"]])
            elif a.call.op in ("recover", "write_off") and a.body.get("status") in ("recovered", "written_off"):
                self.closed.add(a.body["receivable_id"])
            elif a.call.op == "nhsa" and a.body.get("infcode") == 0 and "setlinfo" in a.body["output"]:
                setl_id = a.body["output"]["setlinfo"]["setl_id"]
                infno = a.call.body["infno"]
                (self.visit_settlements if infno == "2304" else self.visit_cancellations).add(setl_id)

    def _settled(self, body: dict[str, Any]) -> None:
        advance = body.get("advance")
        if advance and advance.get("receivable_id") and body["settlement_id"] not in self.receivable_of:
            self.receivables.append(advance["receivable_id"])
            self.receivable_of[body["settlement_id"]] = advance["receivable_id"]
        self.acked_settlements.add(body["settlement_id"])
        if body["settlement_id"] not in self.acked_reversals:
            self.live.setdefault(body["bill_id"], set()).add(body["settlement_id"])

    def some_live(self, rng: random.Random, bill_id: str | None = None) -> str | None:
        with self.lock:
            pool = sorted(self.live.get(bill_id, ())) if bill_id else sorted(itertools.chain(*self.live.values()))
        return rng.choice(pool) if pool else None

    def some_voucher(self, rng: random.Random, bill_id: str) -> str | None:
        with self.lock:
            pool = list(self.vouchers.get(bill_id, ()))
        return rng.choice(pool) if pool else None

    def some_receivable(self, rng: random.Random) -> str | None:
        """Mostly one that may still take a recovery, now and then any (a closed one: 409)."""
        with self.lock:
            pool = list(self.receivables)
            still_open = [r for r in pool if r not in self.closed]
        if still_open and rng.random() < 0.8:
            pool = still_open
        return rng.choice(pool) if pool else None

    def count(self) -> int:
        with self.lock:
            return len(self.answers)


Job = Callable[["Worker"], None]


def _single(call: Call) -> list[Job]:
    def job(w: Worker) -> None:
        w.send(call)

    return [job]


class Group:
    """Copies of one request that several clients send at the same moment (same key, same body)."""

    def __init__(self, copies: int) -> None:
        self.copies = copies
        self.barrier = threading.Barrier(copies)
        self.lock = threading.Lock()
        self.call: Call | None = None

    def resolve(self, make: Callable[[], Call | None]) -> Call | None:
        with self.lock:
            if self.call is None:
                self.call = make()
            return self.call

    def meet(self) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait(timeout=5.0)


@dataclass
class Worker:
    client: httpx.Client
    rec: Recorder
    rng: random.Random
    #: Share of keyed writes whose answer this client does not wait for.
    abandon: float = 0.0

    def send(self, call: Call) -> Answer:
        headers = {"Idempotency-Key": call.key} if call.key else None
        # An abandoned request: the client stops waiting at once, the server carries on.
        abandon = call.key is not None and call.is_write and self.rng.random() < self.abandon
        timeout = httpx.Timeout(30.0, read=0.002) if abandon else httpx.USE_CLIENT_DEFAULT
        started = time.monotonic()
        try:
            r = self.client.request(call.method, call.path, json=call.body, headers=headers, timeout=timeout)
            try:
                body = r.json()
            except ValueError:
                body = r.text
            answer = Answer(call, r.status_code, body, started, time.monotonic() - started)
        except httpx.HTTPError as exc:
            error = "abandoned" if abandon else f"{type(exc).__name__}: {exc}"
            answer = Answer(call, None, None, started, time.monotonic() - started, error)
        self.rec.add(answer)
        return answer


@dataclass
class Mix:
    """Relative weights of the job kinds."""

    settle: int = 34
    settle_external: int = 8
    dup_settle: int = 8
    reverse: int = 16
    dup_reverse: int = 3
    claim: int = 6
    dup_claim: int = 3
    dry_run: int = 5
    read: int = 10
    resubmit: int = 2
    replace_reference: int = 1
    #: v3: recoveries (some over the outstanding amount, 422) and write-offs of the receivables
    #: that advances opened.
    recover: int = 0
    write_off: int = 0
    #: Visits settled through the national platform's interface (four to seven messages each).
    visit: int = 0
    #: Share of plain settlements sent with an Idempotency-Key (all writes of a dup group have one).
    keyed: float = 0.75
    #: Share of keyed writes abandoned by their client after 2 ms (the server still carries them
    #: out): answers lost without a crash, for the crash test's retries.
    abandon: float = 0.0


class Load:
    """A seeded list of jobs, run from ``clients`` threads until done or ``deadline`` seconds."""

    def __init__(
        self,
        base_url: str,
        seed: Seed,
        *,
        ops: int,
        clients: int,
        rng_seed: int,
        mix: Mix,
        rec: Recorder | None = None,
    ) -> None:
        self.base_url = base_url
        self.seed = seed
        self.clients = clients
        self.mix = mix
        self.rng = random.Random(rng_seed)
        self.rng_seed = rng_seed
        self.rec = rec or Recorder()
        self.stop = threading.Event()
        self.jobs: list[Job] = []
        self.planned = 0
        self.groups: list[Group] = []
        self.claims = itertools.count(1)
        self.hot = seed.bills
        kinds = [
            (self._settle, mix.settle, 1),
            (self._settle_external, mix.settle_external, 1),
            (self._dup_settle, mix.dup_settle, 0),
            (self._reverse, mix.reverse, 2),
            (self._dup_reverse, mix.dup_reverse, 0),
            (self._claim, mix.claim, 1),
            (self._dup_claim, mix.dup_claim, 0),
            (self._dry_run, mix.dry_run, 1),
            (self._read, mix.read, 1),
            (self._resubmit, mix.resubmit, 1),
            (self._replace_reference, mix.replace_reference, 1),
            (self._recover, mix.recover, 1),
            (self._write_off, mix.write_off, 1),
            (self._visit, mix.visit, 4),
        ]
        makers = [k for k in kinds if k[1] > 0]
        while self.planned < ops:
            make, _w, n = self.rng.choices(makers, weights=[k[1] for k in makers])[0]
            jobs = make()
            self.jobs.extend(jobs)
            self.planned += n or len(jobs)
        self.elapsed = 0.0
        self.timed_out = False

    # Job makers: each returns the jobs (one per request sender) of one operation.

    def _key(self, keyed: bool = True) -> str | None:
        return f"stress-{uuid.uuid4().hex}" if keyed else None

    def _bill(self) -> BillRef:
        return self.rng.choice(self.hot)

    def _request(self, bill: BillRef) -> dict[str, Any]:
        """A settlement request for ``bill``: on a work-injury bill mostly its employer's liability
        under the work-injury fund (else a refused scheme), on the others a scheme or a tier."""
        employer = bill.employer
        if bill.large:
            # Mostly the employee scheme (half of those with an advance), else its tier (an
            # advance on the tier is refused, 422).
            request: dict[str, Any] = {"scheme_code": self.rng.choice((EMPLOYEE, EMPLOYEE, LARGE))}
            if self.rng.random() < 0.5:
                request["advance"] = THIRD_PARTY
            return request
        if employer is None:
            return {"scheme_code": self.rng.choice(SCHEMES)}
        if self.rng.random() < 0.8:
            return {"scheme_code": WI, "employer_liability": {"employer": employer}}
        return {"scheme_code": self.rng.choice((NRCMS, WI))}  # work-injury / not-enrolled: 422

    def _settle(self) -> list[Job]:
        bill = self._bill()
        key = self._key(self.rng.random() < self.mix.keyed)
        call = Call("settle", "POST", f"/v1/bills/{bill.bill_id}/settlements", self._request(bill), key)
        return _single(call)

    def _settle_external(self) -> list[Job]:
        bill = self._bill()
        request = self._request(bill)
        key = self._key(self.rng.random() < self.mix.keyed)
        roll = self.rng.random()

        def job(w: Worker) -> None:
            voucher = f"V{uuid.uuid4().hex[:12]}"
            if roll < 0.2:
                voucher = w.rec.some_voucher(w.rng, bill.bill_id) or voucher  # a duplicate voucher: 422
            amount = "11000.00" if roll > 0.9 else f"{w.rng.randint(50, 2500)}.{w.rng.randint(0, 99):02d}"
            body = {**request, "external_payments": [{"payer": "PICC", "voucher_no": voucher, "amount": amount}]}
            w.send(Call("settle", "POST", f"/v1/bills/{bill.bill_id}/settlements", body, key))

        return [job]

    def _dup_settle(self) -> list[Job]:
        bill = self._bill()
        copies = self.rng.choice((2, 2, 3))
        call = Call("settle", "POST", f"/v1/bills/{bill.bill_id}/settlements", self._request(bill), self._key())
        return self._group(copies, lambda: call)

    def _group(self, copies: int, make: Callable[[], Call | None]) -> list[Job]:
        group = Group(copies)
        self.groups.append(group)

        def job(w: Worker) -> None:
            call = group.resolve(make)
            group.meet()
            if call is not None:
                w.send(call)

        return [job] * copies

    def _reverse(self) -> list[Job]:
        bill = self._bill()
        key = self._key(self.rng.random() < self.mix.keyed)
        request = self._request(bill)

        def job(w: Worker) -> None:
            split = w.send(Call("split", "GET", f"/v1/bills/{bill.bill_id}/split"))
            payments = split.body.get("payments", []) if split.status == 200 and isinstance(split.body, dict) else []
            if payments:
                latest = max(payments, key=lambda p: p["sequence"])["settlement_id"]
                w.send(Call("reverse", "POST", f"/v1/settlements/{latest}/reversal", None, key))
            else:  # nothing to reverse: settle again instead (reversals and re-settlements interleave)
                w.send(Call("settle", "POST", f"/v1/bills/{bill.bill_id}/settlements", request, key))

        return [job]

    def _dup_reverse(self) -> list[Job]:
        key = self._key()
        rng = random.Random(self.rng.random())
        bill = self._bill()
        request = self._request(bill)

        def make() -> Call:
            target = self.rec.some_live(rng, bill.bill_id) or self.rec.some_live(rng)
            if target is None:  # nothing acknowledged yet: settle (with the same two clients) instead
                return Call("settle", "POST", f"/v1/bills/{bill.bill_id}/settlements", request, key)
            return Call("reverse", "POST", f"/v1/settlements/{target}/reversal", None, key)

        return self._group(2, make)

    def _claim_call(self) -> Call:
        """A one-stop claim: basic schemes in any order, NRCMS's tiers after NRCMS (all or nothing,
        so a tier before its basis would refuse the whole claim)."""
        person = self.rng.choice(self.seed.persons)
        schemes = self.rng.sample(BASIC, self.rng.choice((2, 3)))
        if NRCMS in schemes:
            after = schemes.index(NRCMS) + 1
            schemes[after:after] = self.rng.choice(((), (SI,), (SI, MA), (MA,)))
        body = {"bill": bill_body(f"CL{self.rng_seed:03d}-{next(self.claims):06d}", person), "schemes": schemes}
        return Call("claim", "POST", "/v1/claims", body, self._key())

    def _claim(self) -> list[Job]:
        call = self._claim_call()
        return _single(call)

    def _dup_claim(self) -> list[Job]:
        call = self._claim_call()
        return self._group(2, lambda: call)

    def _dry_run(self) -> list[Job]:
        bill = self._bill()
        call = Call(
            "dry_run", "POST", f"/v1/bills/{bill.bill_id}/settlements", {**self._request(bill), "dry_run": True}
        )
        return _single(call)

    def _read(self) -> list[Job]:
        bill = self._bill()

        def job(w: Worker) -> None:
            target = w.rec.some_live(w.rng) if w.rng.random() < 0.5 else None
            if target is None:
                w.send(Call("split", "GET", f"/v1/bills/{bill.bill_id}/split"))
            else:
                w.send(Call("get_settlement", "GET", f"/v1/settlements/{target}"))

        return [job]

    def _replace_reference(self) -> list[Job]:
        """An administrator puts the capped scheme's policy or catalog again, while it settles."""
        path, document = self.rng.choice(sorted(self.seed.reference.items()))
        return _single(Call("reference", "PUT", path, document))

    def _recover(self) -> list[Job]:
        """A recovery on a receivable some advance opened: mostly a part of the advance, now and then
        more than any advance here (422); on a written-off or cancelled receivable 409."""
        key = self._key(self.rng.random() < self.mix.keyed)
        amount = (
            "999999.00" if self.rng.random() < 0.15 else f"{self.rng.randint(1, 9000)}.{self.rng.randint(0, 99):02d}"
        )
        reference = f"R{uuid.uuid4().hex[:10]}"
        bill = self._bill()

        def job(w: Worker) -> None:
            target = w.rec.some_receivable(w.rng)
            if target is None:  # no advance acknowledged yet: read a bill instead
                w.send(Call("split", "GET", f"/v1/bills/{bill.bill_id}/split"))
            else:
                body = {"amount": amount, "received_on": "2026-05-01", "reference": reference}
                w.send(Call("recover", "POST", f"/v1/receivables/{target}/recoveries", body, key))

        return [job]

    def _write_off(self) -> list[Job]:
        bill = self._bill()

        def job(w: Worker) -> None:
            target = w.rec.some_receivable(w.rng)
            if target is None:
                w.send(Call("split", "GET", f"/v1/bills/{bill.bill_id}/split"))
            else:
                body = {"reason": "the liable party cannot be found"}
                w.send(Call("write_off", "POST", f"/v1/receivables/{target}/write-off", body))

        return [job]

    def _visit(self) -> list[Job]:
        """A hospital system's visit of a seeded person: admission, bill 1's lines (one of them
        partly refunded) in one upload, discharge, settlement (its answer now and then lost, and
        the message sent again with its msgid); sometimes cancelled and settled again."""
        n = self.rng.randrange(len(self.seed.persons)) + 1
        psn_no, id_number = f"STNR{n:06d}", self.seed.persons[n - 1][0]
        lose, cancel, refund = (self.rng.random() < p for p in (0.3, 0.3, 0.5))
        bill = bill_1()

        def job(w: Worker) -> None:
            def send(infno: str, inp: dict[str, Any]) -> dict[str, Any] | None:
                envelope = {
                    "infno": infno,
                    "msgid": uuid.uuid4().hex[:30],
                    "insuplc_admdvs": "511623",
                    "fixmedins_code": bill["hospital"]["code"],
                    "input": inp,
                }
                call = Call("nhsa", "POST", NHSA_URL, envelope, envelope["msgid"])
                answer = w.send(call)
                if lose and infno == "2304":
                    answer = w.send(call)  # the first answer was lost: the same message again
                ok = answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("infcode") == 0
                return answer.body["output"] if ok else None

            info = {
                "psn_no": psn_no,
                "insutype": "390",
                "begntime": f"{bill['admission_date']} 08:00:00",
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": id_number,
                "med_type": "21",
                "ipt_no": "ZY-STRESS",
            }
            admitted = send("2401", {"mdtrtinfo": info})
            if admitted is None:
                return
            mdtrt_id = admitted["result"]["mdtrt_id"]
            common = {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "21"}
            day = f"{bill['admission_date']} 10:00:00"
            lines = [
                {
                    **common,
                    "feedetl_sn": str(i["line_no"]),
                    "fee_ocur_time": day,
                    "med_list_codg": i["code"],
                    "medins_list_codg": i["code"],
                    "det_item_fee_sumamt": i["amount"],
                    "cnt": i["quantity"],
                    "pric": i["unit_price"],
                }
                for i in bill["items"]
            ]
            total = sum(Decimal(i["amount"]) for i in bill["items"])
            if refund:  # two of the ten bed-days of line 1 refunded
                first = bill["items"][0]
                back = Decimal(first["unit_price"]) * 2
                lines.append(
                    {
                        **lines[0],
                        "feedetl_sn": "99",
                        "init_feedetl_sn": "1",
                        "cnt": "-2",
                        "det_item_fee_sumamt": f"-{back}",
                    }
                )
                total -= back
            if send("2301", {"feedetail": lines}) is None:
                return
            dscg = {**common, "insutype": "390", "endtime": f"{bill['discharge_date']} 16:00:00"}
            del dscg["med_type"]
            if send("2402", {"dscginfo": dscg}) is None:
                return
            data = {
                "psn_no": psn_no,
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": id_number,
                "medfee_sumamt": str(total),
                "psn_setlway": "01",
                "mdtrt_id": mdtrt_id,
                "insutype": "390",
                "acct_used_flag": "0",
                "mid_setl_flag": "0",
            }
            settled = send("2304", {"data": data})
            if settled is None or not cancel:
                return
            setl_id = settled["setlinfo"]["setl_id"]
            if send("2305", {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "setl_id": setl_id}}) is not None:
                send("2304", {"data": data})

        return [job]

    def _resubmit(self) -> list[Job]:
        bill = self._bill()
        call = Call("resubmit", "POST", "/v1/bills", bill.body)
        return _single(call)

    def _resend_jobs(self, call: Call, copies: int) -> list[Job]:
        return self._group(copies, lambda: call)

    # Running.

    def resend(self, base_url: str, calls: Iterable[Call], *, copies: int, deadline: float) -> None:
        """Send each call again to ``base_url``, from ``copies`` clients at once (same key and body)."""
        self.base_url = base_url
        self.stop.clear()
        self.timed_out = False
        self.mix = dataclasses.replace(self.mix, abandon=0.0)
        self.jobs = [job for call in calls for job in self._resend_jobs(call, copies)]
        self.run(deadline=deadline)

    def run(self, *, deadline: float, on_progress: Callable[[Load], None] | None = None) -> None:
        work: queue.SimpleQueue[Job] = queue.SimpleQueue()
        for job in self.jobs:
            work.put(job)
        started = time.monotonic()
        end = started + deadline

        def client_loop(n: int) -> None:
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
            with httpx.Client(base_url=self.base_url, headers=AUTH, timeout=30.0, limits=limits) as client:
                w = Worker(client, self.rec, random.Random(n), self.mix.abandon)
                while not self.stop.is_set():
                    if time.monotonic() > end:
                        self.timed_out = True
                        return
                    try:
                        job = work.get_nowait()
                    except queue.Empty:
                        return
                    job(w)

        threads = [threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(self.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if on_progress is not None:
                on_progress(self)
            if self.stop.is_set():  # release clients waiting for a partner that will not come
                for group in self.groups:
                    group.barrier.abort()
            time.sleep(0.02)
        for t in threads:
            t.join()
        self.elapsed = time.monotonic() - started


# --- results ---------------------------------------------------------------------------------


@dataclass
class Tally:
    ops: int = 0
    ok: int = 0
    conflicts: int = 0
    refused: int = 0
    busy_503: int = 0
    unanswered: int = 0
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def worst_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000

    @property
    def p99_ms(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


def tally(answers: Iterable[Answer]) -> Tally:
    t = Tally()
    for a in answers:
        t.ops += 1
        if a.status is None:
            t.unanswered += 1
            continue
        t.latencies.append(a.latency)
        if a.status < 300:
            t.ok += 1
        elif a.status == 409:
            t.conflicts += 1
        elif a.status == 503:
            t.busy_503 += 1
        elif a.status < 500:
            t.refused += 1
        if a.status != 503 and a.status not in EXPECTED[a.call.op]:
            t.unexpected.append(f"{a.call.op} {a.call.method} {a.call.path} -> {a.status}: {str(a.body)[:300]}")
        elif a.call.op == "nhsa" and isinstance(a.body, dict) and a.body.get("infcode") != 0:
            # A visit's messages are all the hospital's own and in order: only contention refuses one.
            if str(a.body.get("err_msg", "")).startswith(("[busy]", "[unavailable]")):
                t.busy_503 += 1
            else:
                t.unexpected.append(f"nhsa {a.call.body['infno']} -> {str(a.body)[:300]}")
    return t


def _settlement_ids(op: str, body: Any) -> tuple[str, ...]:
    if not isinstance(body, dict):
        return ()
    if op == "claim":
        return tuple(s["settlement_id"] for s in body.get("settlements", ()))
    sid = body.get("settlement_id")
    return (sid,) if isinstance(sid, str) else ()


@dataclass
class Verdict:
    checks: int
    violations: list[str]


def verify(db_url: str, rec: Recorder, *, complete: bool = True) -> Verdict:
    """Check the ledger in the database against the invariants and what the clients were told.

    ``complete``: every request got its answer (no crash left one unknown), so the settlements,
    reversals, recoveries and write-offs in the database must be exactly the acknowledged ones
    (:mod:`tests.stress.acked_receivables` for the last two).
    """
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            report = invariants.check(session)
            checks, violations = report.checks, list(report.violations)
            s = db.Settlement
            status = dict(session.execute(select(col(s.id), col(s.status))).all())
            records = {
                key: (code, json.loads(body))
                for key, code, body in session.execute(
                    select(
                        col(db.IdempotencyRecord.key),
                        col(db.IdempotencyRecord.status_code),
                        col(db.IdempotencyRecord.response_body),
                    ).where(col(db.IdempotencyRecord.client_id) == ADMIN_CLIENT_ID)
                )
            }
            over = session.scalar(
                select(func.count()).select_from(db.Bill).where(col(db.Bill.paid_total) > col(db.Bill.medical_total))
            )
            with rec.lock:
                answers = list(rec.answers)
            receivable_checks, receivable_violations = acked_receivables.check(session, answers, complete=complete)
            visits = list(session.scalars(select(NhsaSettlement)))
    finally:
        engine.dispose()

    # A visit settlement acknowledged is its scheme settlements acknowledged; its cancellation
    # acknowledged, their reversals.
    acked_settlements, acked_reversals = set(rec.acked_settlements), set(rec.acked_reversals)
    for v in visits:
        made = {str(p["settlement_id"]) for p in v.payments}
        checks += 1
        if v.id in rec.visit_settlements:
            acked_settlements |= made
        if v.cancel_id is not None and v.cancel_id in rec.visit_cancellations:
            acked_reversals |= made
        if v.status == "cancelled" and v.cancel_id not in rec.visit_cancellations and complete:
            violations.append(f"visit settlement {v.id} is cancelled but no client was told so")

    checks += 1
    if over:
        violations.append(f"{over} bills paid beyond their total")
    # Every acknowledged recovery and write-off is stored, a recovery once (and, complete, no other).
    checks += receivable_checks
    violations += receivable_violations
    # Every acknowledged settlement is stored; a reversal acknowledged is a reversed settlement.
    for sid in sorted(acked_settlements):
        checks += 1
        if sid not in status:
            violations.append(f"settlement {sid} was acknowledged (201) but is not in the database")
    for sid in sorted(acked_reversals):
        checks += 1
        if status.get(sid) != "reversed":
            violations.append(f"reversal of {sid} was acknowledged (200) but it is {status.get(sid)}")
    if complete:
        # Nothing nobody was told about: a retry that paid twice would leave such a settlement.
        for sid, st in sorted(status.items()):
            checks += 1
            if sid not in acked_settlements:
                violations.append(f"settlement {sid} ({st}) in the database was never acknowledged to a client")
            elif st == "reversed" and sid not in acked_reversals:
                violations.append(f"settlement {sid} is reversed but no client was told so")
    # Every stored reply names settlements that exist; no settlement was created by two keys.
    created: Counter[str] = Counter()
    for code, body in records.values():
        if isinstance(body, dict) and "recoveries" in body:
            continue  # a recovery's reply (the receivable) names its settlement but made none
        op = "claim" if isinstance(body, dict) and "settlements" in body else "settle"
        for sid in _settlement_ids(op, body):
            checks += 1
            if sid not in status:
                violations.append(f"a stored idempotent reply ({code}) names settlement {sid}, which does not exist")
            if body.get("status") != "reversed":
                created[sid] += 1
    for sid, n in created.items():
        if n > 1:
            violations.append(f"settlement {sid} is the stored creation reply of {n} keys")
    # One outcome per Idempotency-Key: identical successful answers, the stored one among them.
    for key, answers in sorted(rec.by_key.items()):
        checks += 1
        good = [a for a in answers if a.status is not None and a.status < 300]
        bodies = {json.dumps(a.body, sort_keys=True) for a in good}
        ids = {_settlement_ids(a.call.op, a.body) for a in good}
        if len(bodies) > 1 or len(ids) > 1:
            violations.append(f"key {key}: {len(bodies)} different successful answers, settlements {sorted(ids)}")
        if good and answers[0].call.is_write:
            stored = records.get(key)
            if stored is None:
                violations.append(f"key {key}: answered {good[0].status} but no idempotency record is stored")
            elif stored != (good[0].status, good[0].body):
                violations.append(f"key {key}: the stored reply differs from the answer given")
    return Verdict(checks, violations)


def cap_bound(db_url: str) -> int:
    """How many settlements of the capped scheme the annual cap cut down (the cap did bind)."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            s = db.Settlement
            n = session.scalar(
                select(func.count())
                .select_from(s)
                .where(col(s.scheme_code) == CAPPED, col(s.benefit_after_cap) < col(s.computed_benefit))
            )
    finally:
        engine.dispose()
    return int(n or 0)


def v2_mix(db_url: str) -> tuple[int, int]:
    """How many tier settlements and employers' liabilities the database holds (any status)."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            s = db.Settlement
            tiers = session.scalar(
                select(func.count())
                .select_from(s)
                .where(col(s.scheme_kind).in_(("serious_illness", "medical_assistance")))
            )
            employers = session.scalar(select(func.count()).select_from(s).where(col(s.payer_type) == "employer"))
    finally:
        engine.dispose()
    return int(tiers or 0), int(employers or 0)


def v3_mix(db_url: str) -> dict[str, int]:
    """How many large-amount settlements, receivables (by status, and written off) and recoveries the
    database holds."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            s = db.Settlement
            out = {
                "large_amount": int(
                    session.scalar(select(func.count()).select_from(s).where(col(s.scheme_kind) == "large_amount")) or 0
                ),
                "recoveries": int(session.scalar(select(func.count()).select_from(Recovery)) or 0),
                # Written off, whether or not the settlement's reversal cancelled them since.
                "write_offs": int(
                    session.scalar(select(func.count()).select_from(Receivable).where(col(Receivable.written_off) > 0))
                    or 0
                ),
            }
            r = Receivable
            for status, n in session.execute(select(col(r.status), func.count()).group_by(col(r.status))).all():
                out[f"receivables_{status}"] = int(n)
    finally:
        engine.dispose()
    return out


def answers_of(answers: Iterable[Answer], *ops: str) -> str:
    """The statuses ``ops`` were answered with, e.g. ``recover=201:13,409:2,None:1``."""
    counts: dict[str, Counter[str]] = {op: Counter() for op in ops}
    for a in answers:
        if a.call.op in counts:
            counts[a.call.op][str(a.status)] += 1
    return " ".join(f"{op}={','.join(f'{k}:{n}' for k, n in sorted(c.items())) or '-'}" for op, c in counts.items())


def summary(name: str, t: Tally, *, clients: int, retries: Counter[str], verdict: Verdict, extra: str = "") -> str:
    reasons = ",".join(f"{k}:{v}" for k, v in sorted(retries.items())) or "-"
    return (
        f"{name}: ops={t.ops} clients={clients} ok={t.ok} conflicts={t.conflicts} refused_4xx={t.refused} "
        f"busy_503={t.busy_503} unanswered={t.unanswered} retries={sum(retries.values())} ({reasons}) "
        f"invariant_checks={verdict.checks} violations={len(verdict.violations)} "
        f"worst_latency_ms={t.worst_ms:.0f} p99_ms={t.p99_ms:.0f}{extra}"
    )


# --- a crash cycle (tests/stress/test_crash.py, tests/faults/test_sqlite_crash.py) ----------------


def made_at(a: Answer) -> datetime | None:
    """When the write answered by ``a`` was made (its settlement created or reversed, its recovery
    recorded)."""
    body: Any = a.body
    if not isinstance(body, dict):
        return None
    if a.call.op == "claim":
        body = body["settlements"][0]
    elif a.call.op == "recover":  # the answer is the receivable: when its recovery was made
        body = recovery_in(a) or {}
    stamp = body.get("reversed_at") if a.call.op == "reverse" else body.get("created_at")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def crash_cycle(server: Server, load: Load, db_url: str, *, kill_after: int, deadline: float) -> dict[str, Any]:
    """Load, SIGKILL mid-way, restart, check, retry what was in flight, replay what was
    acknowledged (:func:`replay_acked`)."""
    rec = load.rec
    start = rec.count()
    killed: dict[str, Any] = {}

    def kill_midway(running: Load) -> None:
        if not killed and running.rec.count() - start >= kill_after:
            killed["at"] = datetime.now(UTC)
            running.stop.set()
            server.kill()

    load.run(deadline=deadline, on_progress=kill_midway)
    assert killed, "the load ended before the kill"
    assert not load.timed_out
    seconds = load.elapsed

    cut_off = [a for a in rec.answers[start:] if a.status is None]
    in_flight: dict[str, Call] = {}
    for a in rec.answers[start:]:
        if a.status is None and a.call.key is not None:
            in_flight.setdefault(a.call.key, a.call)
    assert in_flight, "no write was in flight at the kill"

    server.start()
    after_restart = verify(db_url, rec, complete=False)
    assert server.log_problems(first=len(server.logs) - 1) == [], "the restarted server logged errors"

    # The writes in flight at the kill, again with their keys, two clients at once.
    mark = rec.count()
    load.resend(server.base_url, list(in_flight.values()), copies=2, deadline=deadline)
    for _round in range(3):  # a 503 busy is an answer to retry, like no answer at all
        pending = [c for k, c in in_flight.items() if all(a.status in (None, 503) for a in rec.by_key[k])]
        if not pending:
            break
        load.resend(server.base_url, pending, copies=1, deadline=deadline)
    retried = rec.answers[mark:]
    unresolved = [k for k in in_flight if all(a.status in (None, 503) for a in rec.by_key[k])]
    # A retry that answers with what was made before the kill is a replay of a lost answer.
    lost = {
        a.call.key
        for a in retried
        if a.status is not None and a.status < 300 and (made := made_at(a)) is not None and made < killed["at"]
    }
    abandoned = {a.call.key for a in rec.answers[start:mark] if a.error == "abandoned"}

    # The writes acknowledged before the kill, again: a sample, and every recovery and write-off.
    replay = replay_acked(load, server.base_url, rec.answers[start:mark], sample=45, deadline=deadline)
    return {
        "load_s": seconds,
        "in_flight": len(in_flight),
        "lost_answers_replayed": len(lost),
        "killed_in_flight_replayed": len(lost - abandoned),
        "after_restart": after_restart,
        "unresolved": unresolved,
        "replayed": replay.sent,
        "replayed_recoveries": replay.recoveries,
        "replayed_write_offs": replay.write_offs,
        "differing": replay.differing,
        "replay_s": replay.seconds,
        "recoveries_in_flight": sum(1 for c in in_flight.values() if c.op == "recover"),
        "write_offs_in_flight": sum(1 for a in cut_off if a.call.op == "write_off"),
    }


@dataclass
class Replay:
    sent: int = 0
    recoveries: int = 0
    write_offs: int = 0
    #: Replays whose answer is not the first one's (a write-off's: not 409).
    differing: list[str] = field(default_factory=list)
    seconds: float = 0.0


def replay_acked(load: Load, base_url: str, answers: list[Answer], *, sample: int, deadline: float) -> Replay:
    """Send again, one client each, writes that ``answers`` acknowledged: a sample of ``sample``
    keyed settlements, reversals and claims, every recovery with its key (the first answer again, no
    second recovery: :func:`verify` counts them by reference), and every write-off, which has no
    key: now 409, nothing being outstanding (:func:`verify` finds the amount written off unchanged)."""
    rec = load.rec
    keyed = {
        a.call.key: a.call
        for a in answers
        if a.call.key is not None and a.status is not None and a.status < 300 and a.call.is_write
    }
    recoveries = [c for c in keyed.values() if c.op == "recover"]
    others = sorted((k, c) for k, c in keyed.items() if c.op != "recover")
    chosen = [c for _k, c in random.Random(len(keyed)).sample(others, min(sample, len(others)))]
    write_offs = [a.call for a in answers if a.call.op == "write_off" and a.status == 200]
    mark, began = rec.count(), time.monotonic()
    load.resend(base_url, [*chosen, *recoveries, *write_offs], copies=1, deadline=deadline)
    replays = rec.answers[mark:]
    seconds = time.monotonic() - began

    # Compared with the first success: a refusal is not stored, so a key refused first (a 409
    # to one of two clients) and carried out later replays the later success.
    def first_success(key: str) -> tuple[int | None, Any]:
        return next((x.status, x.body) for x in rec.by_key[key] if x.status and x.status < 300)

    differing = [
        f"{a.call.op} {a.call.key}: {[(x.status, made_at(x)) for x in rec.by_key[a.call.key]]}"
        for a in replays
        if a.call.key is not None and (a.status, a.body) != first_success(a.call.key)
    ]
    differing += [
        f"write-off {a.call.path} again: {a.status} {str(a.body)[:200]}"
        for a in replays
        if a.call.op == "write_off" and a.status != 409
    ]
    return Replay(len(replays), len(recoveries), len(write_offs), differing, seconds)
