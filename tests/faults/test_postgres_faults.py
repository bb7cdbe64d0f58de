"""PostgreSQL killed, cut off and stopped under load: 503s while it is away, nothing lost.

A private PostgreSQL (``tests.faults.private_pg``, never the shared server) serves the real
service (``uvicorn --workers 2``, ``tests.stress.harness.Server``), seeded like the stress tests
and loaded by 32 clients whose every write carries an Idempotency-Key (settlements, external
payments, reversals, claims, same-key duplicates, dry runs, reads; v3's large-amount tiers,
advances on a third party, recoveries on their receivables, and write-offs, which take no key).  A client pauses
``CLIENT_PAUSE_S`` after a 503, shorter than ``Retry-After``, so outages are hammered.  Three
faults, one per phase, each after ``WARMUP`` answers:

1. the postmaster is SIGKILLed, stays dead ``SIGKILL_DOWN_S``, and is started again (crash
   recovery);
2. every backend of the service is terminated (``pg_terminate_backend``), some of them in the
   middle of a transaction;
3. ``pg_ctl stop -m immediate``, ``STOP_S`` seconds without a database, then a start.

A probe asks ``/healthz``, ``/readyz``, a dry-run settlement and a split sheet every
``PROBE_EVERY_S`` throughout.  Asserted:

- ``/healthz`` is always 200; while the database is away ``/readyz`` is 503, and the probe's
  write and read are 503 ``unavailable`` problems with ``Retry-After``, like every load request
  in the outage; no answer ever takes longer than ``BOUND_S``; no answer is a 500 (or another
  unexpected status); no request is left without an answer;
- the server logs no traceback, and each 503 it gave for the database once, as one line;
- terminated backends cost no 503 except a commit whose outcome is unknown: the other
  transactions are rolled back by the server and run again invisibly;
- after each restart the service serves again without being restarted itself, and no request
  started ``GRACE_S`` after the database was back gets a 503 (the pool hands out no dead
  connection);
- after each phase, with the load stopped, directly in the database: every invariant of
  ``app.ledger.invariants``, every acknowledged settlement, reversal, recovery and write-off
  present; then every write answered 503 (or not at all) is sent again with its key by two
  clients at once and answers with its first outcome or is carried out now, once; then the
  phase's acknowledged writes are sent again (a sample, and every recovery with its key: the same
  recovery, no second one; every write-off: 409, nothing outstanding) and answer as they did; at
  the end the database holds exactly the settlements, reversals, recoveries and write-offs clients
  were told about (``verify(complete=True)``), each recovery once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.migrate import upgrade
from app.db.session import LOST_CONNECTION, POOL_TIMEOUT_S
from app.errors import PROBLEM_BASE, OutcomeUnknown
from tests.faults.private_pg import PrivatePostgres
from tests.stress.harness import (
    AUTH,
    Answer,
    Call,
    Job,
    Load,
    Mix,
    Recorder,
    Seed,
    Server,
    Verdict,
    Worker,
    answers_of,
    made_at,
    replay_acked,
    seed,
    summary,
    tally,
    v3_mix,
    verify,
)
from tests.support.figures import report

pytestmark = pytest.mark.slow

CLIENTS = 32
#: Answers in a phase before its fault.
WARMUP = 250
#: Answers other than 503 after the database is back before a phase ends.
AFTER = 150
#: After the database is back, requests that started this much later must not get a 503;
#: the first ``GRACE_S`` of an outage may still see the dying server answer.
GRACE_S = 0.5
#: An outage is judged between ``GRACE_S`` after its start and ``GRACE_S`` before its end: the
#: postmaster stays dead long enough for that window to hold several rounds of the probe even
#: when the restart is quick (with 1 s the window was the restart's time alone, and a CI run's
#: probe saw nothing in it).
SIGKILL_DOWN_S = 2 * GRACE_S + 2.0
STOP_S = 10.0
#: A client's pause after a 503 (Retry-After says 2 s; a shorter pause keeps the pressure on).
CLIENT_PAUSE_S = 0.25
#: No answer may take longer: the pool timeout (a refused connection fails in milliseconds).
BOUND_S = float(POOL_TIMEOUT_S)
PROBE_EVERY_S = 0.1
#: Writes refused with 503 ``unavailable`` resent per phase (the others are checked unwritten).
RESEND_REFUSED = 40
#: Jobs planned per phase: more than the phase can use (it is stopped, not run dry).
OPS_PLANNED = 4000
PHASE_DEADLINE = 120.0
UNAVAILABLE = PROBLEM_BASE + "unavailable"
#: Every write keyed; v3's recoveries and write-offs of the receivables that advances open.
MIX = Mix(keyed=1.0, recover=6, write_off=2)
#: Acknowledged keyed writes of a phase sent again after it (besides every recovery and write-off).
REPLAY_SAMPLE = 20


@dataclass
class Fault:
    name: str
    injected: float
    #: When PostgreSQL accepted connections again (``injected`` when it never went away).
    up: float
    note: str = ""
    #: When it was down (the outage starts then; on a loaded machine pg_ctl, or backends noticing
    #: their postmaster's death, take a while after ``injected``); None: at ``injected``.
    down: float | None = None
    recovery_s: float | None = None
    #: Seconds of the phase's load, and of the checks and resends after it.
    load_s: float = 0.0
    settle_s: float = 0.0
    after: Verdict | None = None
    #: Writes whose outcome was unknown (no answer, a commit cut off); writes resent.
    unknown: int = 0
    resent: int = 0
    replayed: int = 0
    #: The phase's acknowledged writes sent again afterwards (recoveries, write-offs among them),
    #: and those that did not answer as they had.
    replayed_acked: int = 0
    replayed_recoveries: int = 0
    replayed_write_offs: int = 0
    differing: list[str] = field(default_factory=list)
    replay_s: float = 0.0


@dataclass
class Hit:
    what: str
    started: float
    latency: float
    status: int | None
    retry_after: str | None = None
    problem: str | None = None
    title: str | None = None


class Probe(threading.Thread):
    """Liveness, readiness, a dry-run settlement and a split sheet, every ``PROBE_EVERY_S``."""

    def __init__(self, base_url: str, bill_id: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.bill_id = bill_id
        self.hits: list[Hit] = []
        self.halt = threading.Event()

    def _ask(self, client: httpx.Client, what: str, method: str, path: str, body: Any = None) -> None:
        started = time.monotonic()
        try:
            r = client.request(method, path, json=body)
        except httpx.HTTPError:
            self.hits.append(Hit(what, started, time.monotonic() - started, None))
            return
        hit = Hit(what, started, time.monotonic() - started, r.status_code, r.headers.get("Retry-After"))
        if r.headers.get("content-type", "").startswith("application/problem+json"):
            problem = r.json()
            hit.problem, hit.title = problem.get("type"), problem.get("title")
        self.hits.append(hit)

    def run(self) -> None:
        dry_run = {"scheme_code": "NRCMS-511623", "dry_run": True}
        with httpx.Client(base_url=self.base_url, headers=AUTH, timeout=30.0) as client:
            while not self.halt.wait(PROBE_EVERY_S):
                self._ask(client, "healthz", "GET", "/healthz")
                self._ask(client, "readyz", "GET", "/readyz")
                self._ask(client, "write", "POST", f"/v1/bills/{self.bill_id}/settlements", dry_run)
                self._ask(client, "read", "GET", f"/v1/bills/{self.bill_id}/split")


class BackingOff(Worker):
    """A client that pauses ``CLIENT_PAUSE_S`` after a 503 before its next request."""

    def send(self, call: Call) -> Answer:
        answer = super().send(call)
        if answer.status == 503:
            time.sleep(CLIENT_PAUSE_S)
        return answer


def backing_off(job: Job) -> Job:
    def run(w: Worker) -> None:
        job(BackingOff(w.client, w.rec, w.rng, w.abandon))

    return run


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def answers_since(rec: Recorder, start: int) -> list[Answer]:
    with rec.lock:
        return rec.answers[start:]


def run_phase(server: Server, seeded: Seed, rec: Recorder, rng_seed: int, inject: Callable[[], Fault]) -> Fault:
    """Load, the fault once ``WARMUP`` answers are in, then load until ``AFTER`` successes."""
    load = Load(server.base_url, seeded, ops=OPS_PLANNED, clients=CLIENTS, rng_seed=rng_seed, mix=MIX)
    load.rec = rec
    load.jobs = [backing_off(job) for job in load.jobs]
    start = rec.count()
    runner = threading.Thread(target=load.run, kwargs={"deadline": PHASE_DEADLINE}, daemon=True)
    runner.start()
    wait_for(lambda: rec.count() - start >= WARMUP or not runner.is_alive(), 60, "the warm-up load")
    assert runner.is_alive(), "the load ended before the fault"
    fault = inject()

    def served_again() -> bool:
        ok = [a for a in answers_since(rec, start) if a.started >= fault.up and a.status not in (None, 503)]
        return len(ok) >= AFTER or not runner.is_alive()

    wait_for(served_again, 60, f"the service to serve again after {fault.name}")
    load.stop.set()
    runner.join()
    assert not load.timed_out
    fault.load_s = load.elapsed
    writes = [a for a in answers_since(rec, start) if a.call.is_write and a.status and a.status < 300]
    back = [a.started + a.latency - fault.up for a in writes if a.started >= fault.up]
    assert back, f"no write succeeded after {fault.name}"
    fault.recovery_s = min(back)
    return fault


def unresolved(rec: Recorder, answers: Iterable[Answer]) -> dict[str, Call]:
    """Keyed writes without an outcome: every answer to their key was a 503 or none."""
    out: dict[str, Call] = {}
    for a in answers:
        key = a.call.key
        if key is not None and a.call.is_write and all(x.status in (None, 503) for x in rec.by_key[key]):
            out.setdefault(key, a.call)
    return out


def settle_leftovers(server: Server, seeded: Seed, rec: Recorder, fault: Fault, db_url: str, start: int) -> None:
    """With the load stopped: check the ledger; then resend, with their keys, by two clients at
    once (then once more while any still gets a 503), every write whose outcome is unknown (no
    answer, or a commit cut off) and a sample of those refused with 503 ``unavailable``.  The
    rest of the refused are left alone: ``verify(complete=True)`` at the end then shows that
    they wrote nothing, as their answer said.  Last, the phase's acknowledged writes are sent
    again (:func:`tests.stress.harness.replay_acked`)."""
    fault.after = verify(db_url, rec, complete=False)
    left = unresolved(rec, answers_since(rec, start))
    unknown = {k: c for k, c in left.items() if any(_outcome_unknown(x) for x in rec.by_key[k])}
    refused = sorted(set(left) - set(unknown))
    sample = random.Random(len(refused)).sample(refused, min(RESEND_REFUSED, len(refused)))
    chosen = {**unknown, **{k: left[k] for k in sample}}
    fault.unknown, fault.resent = len(unknown), len(chosen)
    resend = Load(server.base_url, seeded, ops=0, clients=CLIENTS, rng_seed=0, mix=MIX)
    resend.rec = rec
    mark, sent_at = rec.count(), datetime.now(UTC)
    resend.resend(server.base_url, list(chosen.values()), copies=2, deadline=PHASE_DEADLINE)
    for _round in range(3):
        still = unresolved(rec, answers_since(rec, mark))
        if not still:
            break
        resend.resend(server.base_url, list(still.values()), copies=1, deadline=PHASE_DEADLINE)
    assert unresolved(rec, answers_since(rec, mark)) == {}, f"resent writes still without an outcome ({fault.name})"
    # A resend answered with what was made before it was sent: the first attempt had committed.
    fault.replayed = len(
        {
            a.call.key
            for a in answers_since(rec, mark)
            if a.status is not None and a.status < 300 and (made := made_at(a)) is not None and made < sent_at
        }
    )
    replay = replay_acked(
        resend, server.base_url, answers_since(rec, start), sample=REPLAY_SAMPLE, deadline=PHASE_DEADLINE
    )
    fault.replayed_acked, fault.differing = replay.sent, replay.differing
    fault.replayed_recoveries, fault.replayed_write_offs = replay.recoveries, replay.write_offs
    fault.replay_s = replay.seconds


def _outcome_unknown(a: Answer) -> bool:
    return a.status is None or (a.status == 503 and _title(a) == OutcomeUnknown.title)


def log_events(server: Server) -> list[dict[str, Any]]:
    events = []
    for line in server.log_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def test_postgres_killed_cut_off_and_stopped_under_load(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    pg = private_pg
    db_url = pg.create_database("settle")
    upgrade(db_url)
    server = Server(db_url, tmp_path / "server")
    probe: Probe | None = None
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            seeded = seed(client, persons=6, bills_per_person=4, v3=True)
        rec = Recorder()
        probe = Probe(server.base_url, seeded.bills[0].bill_id)
        probe.start()

        def sigkill() -> Fault:
            injected = time.monotonic()
            pg.kill_postmaster()
            down = time.monotonic()
            time.sleep(SIGKILL_DOWN_S)
            pg.start()
            return Fault("postmaster SIGKILL", injected, time.monotonic(), down=down)

        def terminate() -> Fault:
            """One round, at a moment when a backend of the service is inside a transaction."""
            # One statement sees one snapshot of pg_stat_activity: every backend of the service is
            # terminated only when that snapshot has one inside a transaction (a claim's transaction
            # is a few milliseconds: a check in one statement and the kill in the next missed it).
            caught_in_a_transaction = (
                "SELECT pg_terminate_backend(pid), xact_start IS NOT NULL FROM pg_stat_activity "
                "WHERE datname = 'settle' AND pid <> pg_backend_pid() AND EXISTS ("
                "SELECT 1 FROM pg_stat_activity WHERE datname = 'settle' AND pid <> pg_backend_pid() "
                "AND xact_start IS NOT NULL)"
            )
            rows: list[tuple[bool, bool]] = []
            injected = time.monotonic()

            def caught() -> bool:
                nonlocal rows, injected
                injected = time.monotonic()
                rows = [(bool(done), bool(tx)) for done, tx in pg.execute(caught_in_a_transaction)]
                # The backend seen inside a transaction may have gone by the time it is signalled
                # (pg_terminate_backend false): the round is then tried again.
                return any(done and tx for done, tx in rows)

            wait_for(caught, 10, "a backend inside a transaction")
            terminated = sum(1 for done, _tx in rows if done)
            in_tx = sum(1 for done, tx in rows if done and tx)
            assert in_tx > 0, "no backend was caught inside a transaction"
            note = f"backends={terminated} in_transaction={in_tx}"
            return Fault("pg_terminate_backend", injected, time.monotonic(), note)

        def stop() -> Fault:
            injected = time.monotonic()
            pg.stop("immediate")  # -w: returns once the server is down
            down = time.monotonic()
            time.sleep(STOP_S)
            pg.start()
            return Fault(f"immediate stop {STOP_S:.0f} s", injected, time.monotonic(), down=down)

        faults: list[Fault] = []
        for n, inject in enumerate((sigkill, terminate, stop)):
            start = rec.count()
            fault = run_phase(server, seeded, rec, 21 + n, inject)
            began = time.monotonic()
            settle_leftovers(server, seeded, rec, fault, db_url, start)
            fault.settle_s = time.monotonic() - began
            faults.append(fault)
        probe.halt.set()
        probe.join()
        final = verify(db_url, rec, complete=True)
        v3 = v3_mix(db_url)
    finally:
        if probe is not None:
            probe.halt.set()
        server.stop()

    t = tally(rec.answers)
    events = log_events(server)
    by_event = Counter(str(e.get("event")) for e in events)
    retried = [e for e in events if e.get("event") == "db_retry"]
    lost_retries = Counter(str(e["reason"]) for e in retried if e["reason"] in LOST_CONNECTION)
    hits = probe.hits

    def in_outage(started: float) -> Fault | None:
        for f in faults:
            down = f.injected if f.down is None else f.down
            if f.up > down and down + GRACE_S <= started <= f.up - GRACE_S:
                return f
        return None

    def after_recovery(started: float, latency: float) -> bool:
        """Started ``GRACE_S`` after a fault's end or later, answered before the next fault."""
        ends = [f.injected for f in faults[1:]] + [float("inf")]
        return any(f.up + GRACE_S <= started and started + latency < end for f, end in zip(faults, ends, strict=True))

    outage_answers = [a for a in rec.answers if in_outage(a.started)]
    outage_503 = [a for a in outage_answers if a.status == 503]
    outage_hits = [h for h in hits if in_outage(h.started)]
    terminate_fault = faults[1]
    near_terminate = [
        a
        for a in rec.answers
        if a.status == 503 and terminate_fault.injected - 1 <= a.started <= terminate_fault.injected + 2
    ]
    unknown = [a for a in rec.answers if a.status == 503 and _title(a) == OutcomeUnknown.title]
    reads_cut = [a for a in near_terminate if a.call.method == "GET"]
    refused_logged = by_event["db_unavailable"] + by_event["db_commit_unknown"]
    refused_given = sum(1 for a in rec.answers if a.status == 503 and _type(a) == UNAVAILABLE) + sum(
        1 for h in hits if h.what in ("write", "read") and h.status == 503 and h.problem == UNAVAILABLE
    )
    checks = sum(f.after.checks for f in faults if f.after) + final.checks
    violations = [v for f in faults if f.after for v in f.after.violations] + final.violations
    worst_recovery = max(f.recovery_s or 0.0 for f in faults)
    reasons = ",".join(f"{k}:{v}" for k, v in sorted(lost_retries.items())) or "-"
    extra = (
        f" faults={len(faults)} 503_in_outages={len(outage_503)}/{len(outage_answers)}"
        f" probe_503_in_outages={sum(1 for h in outage_hits if h.status == 503)}/{len(outage_hits)}"
        f" worst_recovery_s={worst_recovery:.2f}"
        f" ({', '.join(f'{f.name}: {f.recovery_s:.2f}' for f in faults)})"
        f" invisible_retries={sum(lost_retries.values())} ({reasons})"
        f" commit_unknown={len(unknown)} reads_503_at_termination={len(reads_cut)}"
        f" resent={sum(f.resent for f in faults)} (outcome_unknown={sum(f.unknown for f in faults)})"
        f" replayed_committed={sum(f.replayed for f in faults)}"
        f" replayed_acked={sum(f.replayed_acked for f in faults)}"
        f" (recoveries={sum(f.replayed_recoveries for f in faults)}"
        f" write_offs={sum(f.replayed_write_offs for f in faults)},"
        f" {'+'.join(f'{f.replay_s:.1f}' for f in faults)} s)"
        f" {answers_of(rec.answers, 'recover', 'write_off')}"
        f" {' '.join(f'{k}={n}' for k, n in sorted(v3.items()))}"
        f" {terminate_fault.note} db_unavailable_logged={refused_logged} audit_unwritten={by_event['audit_unwritten']}"
        f" worst_outage_latency_ms={max((a.latency for a in outage_answers), default=0) * 1000:.0f}"
        f" acked_settlements={len(rec.acked_settlements)} reversals={len(rec.acked_reversals)}"
        f" all_invariant_checks={checks} all_violations={len(violations)}"
        f" phases_s={'+'.join(f'{f.load_s:.0f}/{f.settle_s:.0f}' for f in faults)}"
    )
    print()
    report(summary("faults[postgresql]", t, clients=CLIENTS, retries=server.log_retries(), verdict=final, extra=extra))
    for v in violations[:20]:
        report(f"faults VIOLATION: {v}")
    for u in t.unexpected[:20]:
        print(f"faults UNEXPECTED: {u}")

    # Never a 500, never an unexpected status, never a request without an answer or a hang.
    assert t.unexpected == []
    assert t.unanswered == 0
    assert max(a.latency for a in rec.answers) < BOUND_S
    assert all(h.latency < BOUND_S for h in hits)
    # Liveness throughout; readiness and requests refused clearly while the database is away.
    assert [h for h in hits if h.what == "healthz" and h.status != 200] == []
    for f in (faults[0], faults[2]):
        seen = [h for h in outage_hits if in_outage(h.started) is f]
        assert {h.what for h in seen} == {"healthz", "readyz", "write", "read"}, f"the probe missed {f.name}"
        for h in seen:
            if h.what == "healthz":
                continue
            assert (h.status, h.problem) == (503, UNAVAILABLE), f"{h.what} during {f.name}: {h}"
            assert h.retry_after is not None and int(h.retry_after) > 0, h
    assert outage_503, "no request was refused during the outages"
    assert {a.status for a in outage_answers} == {503}
    assert {_type(a) for a in outage_503} == {UNAVAILABLE}
    # Terminated backends: rolled-back transactions ran again invisibly; only an unknown commit is a 503.
    assert sum(lost_retries.values()) + len(unknown) > 0, "no transaction was caught by the terminations"
    assert [a for a in near_terminate if _title(a) != OutcomeUnknown.title and a.call.method != "GET"] == []
    # Serving again without a restart of the service; no dead pooled connection handed out after.
    assert all(f.recovery_s is not None and f.recovery_s < 5.0 for f in faults)
    late = [a for a in rec.answers if a.status == 503 and after_recovery(a.started, a.latency)]
    assert late == [], [_describe(a, faults) for a in late[:10]]
    assert [h for h in hits if h.status == 503 and after_recovery(h.started, h.latency)] == []
    # The log: no traceback, each refusal once as one line.
    assert server.log_problems() == []
    assert refused_logged == refused_given
    # The ledger, after each phase and at the end; acknowledged writes sent again answer as they did.
    assert violations == []
    assert [d for f in faults for d in f.differing] == [], "replays of acknowledged writes that differ"
    # Not vacuous: the mix made v3's writes, and some of them were acknowledged and sent again.
    assert v3["large_amount"] > 0 and v3["recoveries"] > 0, "the mix settled no large-amount tier or recovered nothing"
    assert v3["write_offs"] > 0, "the mix wrote nothing off"
    assert sum(f.replayed_recoveries for f in faults) > 0, "no acknowledged recovery was sent again"
    assert sum(f.replayed_write_offs for f in faults) > 0, "no acknowledged write-off was sent again"


def _type(a: Answer) -> str | None:
    return a.body.get("type") if isinstance(a.body, dict) else None


def _title(a: Answer) -> str | None:
    return a.body.get("title") if isinstance(a.body, dict) else None


def _describe(a: Answer, faults: list[Fault]) -> str:
    since = ", ".join(f"{a.started - f.up:+.2f} s after {f.name}" for f in faults)
    return f"{a.call.op} {a.status} {_title(a)} latency {a.latency:.2f}: {since}"
