"""Failover under load: the primary killed, then (the old node back as a standby) the new
primary gone silent; no 500, no request unanswered, nothing acknowledged lost.

A pg_auto_failover formation (``deploy/ha``: a monitor, ``node1`` primary, ``node2`` its
synchronous standby) serves the real service (``uvicorn --workers 2``) through a multi-host URL
with ``target_session_attrs=read-write``; 32 clients run the ledger mix of the fault tests (every
write with an Idempotency-Key, a pause after a 503) and a probe asks ``/healthz``, ``/readyz``, a
dry run and a split sheet every 0.1 s.  Two faults, each after a warm-up:

1. **killed**: ``node1``'s keeper, postmaster and every backend SIGKILLed at once; the monitor
   promotes ``node2``; ``node1``'s keeper is started again and comes back as a standby;
2. **silent**: every process of ``node2`` (now the primary) SIGSTOPped and left stopped:
   connections stay open, nothing answers; the monitor promotes ``node1``.

Asserted: no 500 or other unexpected status, every request answered within the client's 30 s,
every 503 of the probe with ``Retry-After``, ``/healthz`` always 200 within a second, writes
succeeding again within ``TARGET_S`` of each fault, and after each phase and at the end every
invariant, every acknowledged settlement and reversal present (the database read on the new
primary), the writes left without an outcome resent and carried out once, and at the end exactly
the acknowledged settlements and reversals in the database.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from app.db.migrate import upgrade
from tests.failover.cluster import Formation
from tests.faults.test_postgres_faults import (
    CLIENTS,
    Fault,
    Probe,
    run_phase,
    settle_leftovers,
)
from tests.stress.harness import Recorder, Server, seed, summary, tally, verify
from tests.support.figures import report

pytestmark = pytest.mark.slow

#: The longest the service may go without a successful write after a primary is lost.
TARGET_S = 30.0
#: The client's own timeout (``tests.stress.harness``): an answer later than that is none.
CLIENT_TIMEOUT_S = 30.0


def test_failover_under_load_killed_then_silent_primary(formation: Formation, tmp_path: Path) -> None:
    db_url = formation.url + "&connect_timeout=2"
    upgrade(db_url)
    server = Server(db_url, tmp_path / "server")
    probe: Probe | None = None
    faults: list[Fault] = []
    promoted: list[float] = []
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            seeded = seed(client, persons=6, bills_per_person=4)
        rec = Recorder()
        probe = Probe(server.base_url, seeded.bills[0].bill_id)
        probe.start()

        def killed() -> Fault:
            injected = time.monotonic()
            n = formation.kill("node1")
            promoted.append(formation.wait_states({"node2": "wait_primary"}, 60))
            return Fault("primary killed", injected, injected, note=f"processes={n}")

        def silent() -> Fault:
            injected = time.monotonic()
            n = formation.silence("node2")
            promoted.append(formation.wait_states({"node1": "wait_primary"}, 60))
            return Fault("primary silent", injected, injected, note=f"processes={n}")

        for n, inject in enumerate((killed, silent)):
            start = rec.count()
            fault = run_phase(server, seeded, rec, 41 + n, inject)
            began = time.monotonic()
            if n == 0:
                # The old primary back, as the new one's synchronous standby, before the next loss.
                formation.rejoin("node1")
                formation.wait_states({"node1": "secondary", "node2": "primary"}, 120)
            settle_leftovers(server, seeded, rec, fault, db_url, start)
            fault.settle_s = time.monotonic() - began
            faults.append(fault)
        probe.halt.set()
        probe.join()
        final = verify(db_url, rec, complete=True)
    finally:
        if probe is not None:
            probe.halt.set()
        server.stop()

    t = tally(rec.answers)
    hits = probe.hits
    violations = [v for f in faults if f.after for v in f.after.violations] + final.violations
    checks = sum(f.after.checks for f in faults if f.after) + final.checks
    errors_500 = [a for a in rec.answers if a.status is not None and a.status >= 500 and a.status != 503]
    probe_503 = [h for h in hits if h.status == 503]
    health = [h for h in hits if h.what == "healthz"]
    cut = sum(1 for line in server.log_text().splitlines() if '"db_deadline"' in line)
    worst = max(f.recovery_s or 0.0 for f in faults)
    extra = (
        f" faults={len(faults)} 500s={len(errors_500)}"
        f" worst_kill_to_write_s={worst:.1f} ({', '.join(f'{f.name}: {f.recovery_s:.1f}' for f in faults)})"
        f" promoted_after_s={'/'.join(f'{p:.1f}' for p in promoted)}"
        f" acked_writes_checked={len(rec.acked_settlements) + len(rec.acked_reversals)}"
        f" (settlements={len(rec.acked_settlements)} reversals={len(rec.acked_reversals)})"
        f" resent={sum(f.resent for f in faults)} (outcome_unknown={sum(f.unknown for f in faults)})"
        f" replayed_committed={sum(f.replayed for f in faults)} deadline_cuts={cut}"
        f" probe_503={len(probe_503)} healthz={len(health)}"
        f" worst_healthz_ms={max(h.latency for h in health) * 1000:.0f}"
        f" worst_latency_s={max(a.latency for a in rec.answers):.1f}"
        f" all_invariant_checks={checks} all_violations={len(violations)}"
        f" phases_s={'+'.join(f'{f.load_s:.0f}/{f.settle_s:.0f}' for f in faults)}"
    )
    print()
    report(
        summary(
            "failover[pg_auto_failover]", t, clients=CLIENTS, retries=server.log_retries(), verdict=final, extra=extra
        )
    )
    for v in violations[:20]:
        report(f"failover VIOLATION: {v}")
    for u in t.unexpected[:20]:
        print(f"failover UNEXPECTED: {u}")

    assert t.unexpected == [] and errors_500 == []
    assert t.unanswered == 0
    assert max(a.latency for a in rec.answers) < CLIENT_TIMEOUT_S
    assert [h for h in hits if h.status is None] == []
    assert [h for h in health if h.status != 200 or h.latency > 1.0] == []
    assert all(h.retry_after is not None and int(h.retry_after) > 0 for h in probe_503)
    assert t.busy_503 > 0, "no request was refused while no primary took writes"
    assert all(f.recovery_s is not None and f.recovery_s < TARGET_S for f in faults)
    assert server.log_problems() == []
    assert violations == []
