"""SIGKILL the server (supervisor and both workers) in the middle of the load, restart it, retry.

Every write of the load carries an Idempotency-Key.  When enough answers have come back, the
whole process group is killed at once; the requests then in flight get no answer.  Their
transactions either committed before the kill (the answer was lost) or never did: PostgreSQL
rolls back whatever the dead connections left open.  After a restart on the same database:

1. every invariant holds before anything else is sent (nothing is half-written: each settlement
   has its bill ledger and accumulator movement, each reversal its status change and records);
2. every request in flight at the kill is sent again with its key, by two clients at once: it
   answers with the first outcome when it had committed (the same settlement, created before the
   kill), or is carried out once now; never a second settlement;
3. a sample of the acknowledged writes is sent again with their keys and answers identically.

This is done ``CYCLES`` times on the same database (load, kill, restart, retry), and at the end
the database holds exactly the settlements and reversals the clients were told about
(:func:`tests.stress.harness.verify` with ``complete=True``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.stress.harness import (
    Answer,
    Call,
    Load,
    Mix,
    Recorder,
    Server,
    Verdict,
    seed,
    summary,
    tally,
    v2_mix,
    verify,
)
from tests.support.figures import report

pytestmark = pytest.mark.slow

CYCLES = 2
OPS_PER_CYCLE = 1400
CLIENTS = 32
#: Kill when this many answers have come back in a cycle (well inside its load).
KILL_AFTER = 500
DEADLINE = 90.0


def _made_at(a: Answer) -> datetime | None:
    """When the write answered by ``a`` was made (its settlement created, or reversed)."""
    body: Any = a.body
    if not isinstance(body, dict):
        return None
    if a.call.op == "claim":
        body = body["settlements"][0]
    stamp = body.get("reversed_at") if a.call.op == "reverse" else body.get("created_at")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def crash_cycle(server: Server, load: Load, db_url: str) -> dict[str, Any]:
    """Load, SIGKILL mid-way, restart, check, retry what was in flight, replay a sample."""
    rec = load.rec
    start = rec.count()
    killed: dict[str, Any] = {}

    def kill_midway(running: Load) -> None:
        if not killed and running.rec.count() - start >= KILL_AFTER:
            killed["at"] = datetime.now(UTC)
            running.stop.set()
            server.kill()

    load.run(deadline=DEADLINE, on_progress=kill_midway)
    assert killed, "the load ended before the kill"
    assert not load.timed_out
    seconds = load.elapsed

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
    load.resend(server.base_url, list(in_flight.values()), copies=2, deadline=DEADLINE)
    for _round in range(3):  # a 503 busy is an answer to retry, like no answer at all
        pending = [c for k, c in in_flight.items() if all(a.status in (None, 503) for a in rec.by_key[k])]
        if not pending:
            break
        load.resend(server.base_url, pending, copies=1, deadline=DEADLINE)
    retried = rec.answers[mark:]
    unresolved = [k for k in in_flight if all(a.status in (None, 503) for a in rec.by_key[k])]
    # A retry that answers with what was made before the kill is a replay of a lost answer.
    lost = {
        a.call.key
        for a in retried
        if a.status is not None and a.status < 300 and (made := _made_at(a)) is not None and made < killed["at"]
    }
    abandoned = {a.call.key for a in rec.answers[start:mark] if a.error == "abandoned"}

    # A sample of the writes acknowledged before the kill, again with their keys.
    acked = {
        a.call.key: a.call
        for a in rec.answers[start:mark]
        if a.call.key is not None and a.status is not None and a.status < 300 and a.call.is_write
    }
    sample = random.Random(len(acked)).sample(sorted(acked.items()), min(60, len(acked)))
    mark = rec.count()
    load.resend(server.base_url, [c for _k, c in sample], copies=1, deadline=DEADLINE)
    replays = rec.answers[mark:]
    # Compared with the first success: a refusal is not stored, so a key refused first (a 409
    # to one of two clients) and carried out later replays the later success.
    differing = [
        f"{a.call.op} {a.call.key}: {[(x.status, _made_at(x)) for x in rec.by_key[a.call.key or '']]}"
        for a in replays
        if (a.status, a.body)
        != next((x.status, x.body) for x in rec.by_key[a.call.key or ""] if x.status and x.status < 300)
    ]
    return {
        "load_s": seconds,
        "in_flight": len(in_flight),
        "lost_answers_replayed": len(lost),
        "killed_in_flight_replayed": len(lost - abandoned),
        "after_restart": after_restart,
        "unresolved": unresolved,
        "replayed": len(replays),
        "differing": differing,
    }


def test_crash_postgresql(stress_pg: str, server_factory: Callable[[str], Server]) -> None:
    server = server_factory(stress_pg)
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        seeded = seed(client, persons=6, bills_per_person=4)
    rec = Recorder()
    cycles = []
    for n in range(CYCLES):
        load = Load(
            server.base_url,
            seeded,
            ops=OPS_PER_CYCLE,
            clients=CLIENTS,
            rng_seed=11 + n,
            mix=Mix(keyed=1.0, abandon=0.04),
        )
        load.rec = rec
        cycles.append(crash_cycle(server, load, stress_pg))
    metric = server.metric_retries()
    server.stop()
    final = verify(stress_pg, rec, complete=True)

    t = tally(rec.answers)
    tiers, employers = v2_mix(stress_pg)
    after: list[Verdict] = [c["after_restart"] for c in cycles]
    extra = (
        f" kills={CYCLES} in_flight_writes={sum(c['in_flight'] for c in cycles)}"
        f" lost_answers_replayed={sum(c['lost_answers_replayed'] for c in cycles)}"
        f" (killed_in_flight={sum(c['killed_in_flight_replayed'] for c in cycles)})"
        f" replayed_acked={sum(c['replayed'] for c in cycles)}"
        f" checks_after_restarts={sum(v.checks for v in after)}"
        f" violations_after_restarts={sum(len(v.violations) for v in after)}"
        f" acked_settlements={len(rec.acked_settlements)} reversals={len(rec.acked_reversals)}"
        f" tiers={tiers} employer_liabilities={employers}"
        f" retries_metric={metric} load_s={'+'.join(format(c['load_s'], '.1f') for c in cycles)}"
    )
    print()
    report(summary("crash[postgresql]", t, clients=CLIENTS, retries=server.log_retries(), verdict=final, extra=extra))
    for v in [*(x for a in after for x in a.violations), *final.violations][:20]:
        report(f"crash VIOLATION: {v}")
    for u in t.unexpected[:20]:
        print(f"crash UNEXPECTED: {u}")

    assert t.unexpected == []
    for c in cycles:
        assert c["after_restart"].violations == []
        assert c["unresolved"] == [], "writes in flight at the kill still without an answer after the restart"
        assert c["differing"] == [], "replays of acknowledged writes that differ from the first answer"
    assert final.violations == []
    assert tiers > 0 and employers > 0, "the mix settled no tier or no employer's liability"
    assert sum(c["lost_answers_replayed"] for c in cycles) > 0, "no retry ever met a committed write"
