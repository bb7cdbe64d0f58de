"""The server's CPU for a claim and for each message of a visit, checkouts side by side, one unit
at a time.

``python -m bench.visit_cpu [--n 150] [--sqlite] [--claims-only] [--code LABEL=DIR ...]``
(``--claims-only``: no visits, for a checkout without the national platform's interface).

Each checkout serves its own fresh database (the sample, its routes and the patients of
:mod:`bench.visit` loaded) with one uvicorn worker.  One client sends, to each checkout in turn
(the order reversed every round), a claim and a visit (2401, the forty lines in one 2301, 2402,
2304), each a new patient's first of the year, the same bodies as the claims bench's visit phase.
A unit's CPU is every thread of the worker from ``/proc/<pid>/task/*/schedstat`` (nanoseconds),
read before it is sent and 2 ms after its answer, so that what the worker does after answering
counts; the event loop's thread is also given apart.

Why beside the claims bench's visit phase (two workers, two clients, rounds of seconds, CPU
ticks of the process group): there a change of the machine's speed between two rounds lands on
one side only, and the figures of one commit moved by 0.2-0.3 from run to run.  Here each
checkout's units alternate with the others' one by one, so the machine's drift falls on all of
them alike; the price is that no two requests ever overlap.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.claims import Checkout, checkouts, copy_members, run_app, settle_database, visit_hospital
from bench.common import ADMIN_TOKEN, scratch_postgres
from bench.server import Server
from bench.visit import (
    CALL_SERVICE,
    TEMPLATE_MEMBER,
    Patient,
    admission,
    claim_body,
    discharge,
    envelope,
    fee_lines,
    patients,
    settlement,
)

MESSAGES = ("2401", "2301", "2402", "2304")
WARM = 8
#: How long after an answer the worker's CPU is read (what it does after answering counts).
SETTLE_S = 0.002


def thread_cpu_ns(pid: int) -> tuple[int, int]:
    """CPU nanoseconds so far of every thread of process ``pid``, and of its main thread."""
    total = main = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as f:
            ns = int(f.read().split()[0])
        total += ns
        if int(task) == pid:
            main += ns
    return total, main


@dataclass
class Spent:
    """CPU nanoseconds of a kind of unit, all threads and the event loop's, and how many units."""

    total: int = 0
    loop: int = 0
    count: int = 0

    def ms(self) -> tuple[float, float]:
        return self.total / self.count / 1e6, self.loop / self.count / 1e6


@dataclass
class Side:
    """One checkout's server and what it has spent."""

    code: Checkout
    http: httpx.Client
    hospital: str
    worker: int
    people: Iterator[Patient]
    spent: dict[str, Spent] = field(default_factory=dict)

    def timed(self, kind: str, send: Callable[[], Any]) -> Any:
        total, loop = thread_cpu_ns(self.worker)
        answer = send()
        time.sleep(SETTLE_S)
        total_after, loop_after = thread_cpu_ns(self.worker)
        spent = self.spent.setdefault(kind, Spent())
        spent.total += total_after - total
        spent.loop += loop_after - loop
        spent.count += 1
        return answer

    def claim(self) -> None:
        patient = next(self.people)
        body = orjson.dumps(claim_body(int(patient.member_no[2:]), patient))

        def send() -> None:
            r = self.http.post("/v1/claims", content=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            if r.status_code != 201:
                raise RuntimeError(f"claim: {r.status_code} {r.text[:300]}")

        self.timed("claim", send)

    def message(self, infno: str, inp: dict[str, Any]) -> Any:
        body = orjson.dumps(envelope(infno, self.hospital, inp))

        def send() -> Any:
            r = self.http.post(CALL_SERVICE, content=body)
            answer = r.json()
            if r.status_code != 200 or answer.get("infcode") != 0:
                raise RuntimeError(f"{infno}: {r.status_code} {r.text[:300]}")
            return answer["output"]

        return self.timed(infno, send)

    def visit(self) -> None:
        p = next(self.people)
        mdtrt_id = self.message("2401", admission(p))["result"]["mdtrt_id"]
        self.message("2301", fee_lines(mdtrt_id, p))
        self.message("2402", discharge(mdtrt_id, p))
        self.message("2304", settlement(mdtrt_id, p))

    def report(self) -> str:
        claim, claim_loop = self.spent["claim"].ms()
        if "2401" not in self.spent:
            return f"| {self.code.label} | {claim:.2f} ({claim_loop:.2f}) |"
        each = {m: self.spent[m].ms() for m in MESSAGES}
        visit = sum(t for t, _ in each.values())
        visit_loop = sum(loop for _, loop in each.values())
        messages = " | ".join(f"{t:.2f} ({loop:.2f})" for t, loop in each.values())
        return (
            f"| {self.code.label} | {claim:.2f} ({claim_loop:.2f}) | {visit:.2f} ({visit_loop:.2f}) "
            f"| **{visit / claim:.3f}** | {messages} |"
        )


@contextmanager
def database(code: Checkout, sqlite: bool, name: str) -> Iterator[str]:
    """A fresh database migrated by ``code``'s own migrations."""
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="settle-visit-cpu-") as folder:
            url = f"sqlite:///{Path(folder) / 'settle.db'}"
            run_app(code, url, "migrate")
            yield url
        return
    with scratch_postgres(name, migrate=lambda url: run_app(code, url, "migrate")) as url:
        yield url


def serve(stack: ExitStack, code: Checkout, url: str, people: list[Patient], hospital: str) -> Side:
    """``code`` serving ``url`` (the sample and the patients loaded) with one worker."""
    run_app(code, url, "load-sample")
    ids = [p.id_number for p in people]
    copy_members(url, TEMPLATE_MEMBER, ids, prefix="VB", first=0)
    copy_members(url, "MA5116230001", ids, prefix="VM", first=0)
    if url.startswith("postgresql"):
        settle_database(url)
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="settle-visit-cpu-")))
    env = {"SETTLE_DATABASE_URL": url, "PYTHONPATH": str(code.path), **dict(code.settings)}
    server = Server("app.main:app", workdir, env, workers=1, repo=code.path, python=code.python)
    server.start()
    stack.callback(server.stop)
    with httpx.Client(base_url=server.base_url, timeout=60) as admin:
        body = {"name": "visit cpu", "role": "hospital", "hospital_code": hospital}
        r = admin.post("/v1/clients", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        if r.status_code != 201:
            raise RuntimeError(f"POST /v1/clients: {r.status_code} {r.text[:300]}")
        token = r.json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    http = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=60, headers=headers))
    assert server.pgid is not None
    pids = subprocess.run(["pgrep", "-g", str(server.pgid)], capture_output=True, text=True, check=True)
    worker = max(int(p) for p in pids.stdout.split())  # the supervisor's child, started after it
    return Side(code, http, hospital, worker, iter(people))


def run(codes: list[Checkout], *, n: int, sqlite: bool, visits: bool = True) -> list[Side]:
    people = patients(2 * (n + WARM))
    hospital = visit_hospital()
    with ExitStack() as stack:
        sides = []
        for k, code in enumerate(codes):
            url = stack.enter_context(database(code, sqlite, f"settle_visit_cpu_{os.getpid()}_{k}"))
            sides.append(serve(stack, code, url, people, hospital))
        for side in sides:
            for _ in range(WARM):
                side.claim()
                if visits:
                    side.visit()
            side.spent.clear()
        for i in range(n):
            for side in sides if i % 2 else sides[::-1]:
                side.claim()
                if visits:
                    side.visit()
        return sides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150, help="claims and visits measured per checkout")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--claims-only", action="store_true", help="claims alone (no national interface needed)")
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR", help="a checkout (repeat)")
    args = parser.parse_args(argv)
    sides = run(checkouts(args.code), n=args.n, sqlite=args.sqlite, visits=not args.claims_only)
    database_name = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"Server CPU ms (the event loop's thread in brackets), {args.n} of each, {database_name}, one worker:\n")
    if args.claims_only:
        print("| checkout | claim |\n|---|---|")
    else:
        print("| checkout | claim | visit | visit / claim | " + " | ".join(MESSAGES) + " |")
        print("|---|---|---|---|" + "---|" * len(MESSAGES))
    for side in sides:
        print(side.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
