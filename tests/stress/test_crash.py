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
3. a sample of the acknowledged writes, and every acknowledged recovery, is sent again with its
   key and answers identically (the same recovery, no second one); every acknowledged write-off is
   sent again and refused (409: nothing is outstanding), the amount written off unchanged.

The mix is v3's too: employees' stays that pass the basic fund's annual cap, settled under the
employee scheme (half of them with a fund's advance on a third party, which opens a receivable)
and its large-amount tier; recoveries on those receivables (some beyond what is outstanding, 422)
and write-offs.

This is done ``CYCLES`` times on the same database (load, kill, restart, retry), and at the end
the database holds exactly the settlements and reversals the clients were told about
and the recoveries and write-offs they were told about (:func:`tests.stress.harness.verify` with
``complete=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.stress.harness import (
    Load,
    Mix,
    Recorder,
    Server,
    Verdict,
    answers_of,
    crash_cycle,
    seed,
    summary,
    tally,
    v2_mix,
    v3_mix,
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


def test_crash_postgresql(stress_pg: str, server_factory: Callable[[str], Server]) -> None:
    server = server_factory(stress_pg)
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        seeded = seed(client, persons=6, bills_per_person=4, v3=True)
    rec = Recorder()
    cycles = []
    for n in range(CYCLES):
        load = Load(
            server.base_url,
            seeded,
            ops=OPS_PER_CYCLE,
            clients=CLIENTS,
            rng_seed=11 + n,
            mix=Mix(keyed=1.0, abandon=0.04, recover=6, write_off=2),
        )
        load.rec = rec
        cycles.append(crash_cycle(server, load, stress_pg, kill_after=KILL_AFTER, deadline=DEADLINE))
    metric = server.metric_retries()
    server.stop()
    final = verify(stress_pg, rec, complete=True)

    t = tally(rec.answers)
    tiers, employers = v2_mix(stress_pg)
    v3 = v3_mix(stress_pg)
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
        f" replayed_recoveries={sum(c['replayed_recoveries'] for c in cycles)}"
        f" replayed_write_offs={sum(c['replayed_write_offs'] for c in cycles)}"
        f" recoveries_in_flight={sum(c['recoveries_in_flight'] for c in cycles)}"
        f" write_offs_in_flight={sum(c['write_offs_in_flight'] for c in cycles)}"
        f" {answers_of(rec.answers, 'recover', 'write_off')}"
        f" {' '.join(f'{k}={n}' for k, n in sorted(v3.items()))}"
        f" retries_metric={metric} load_s={'+'.join(format(c['load_s'], '.1f') for c in cycles)}"
        f" replay_s={'+'.join(format(c['replay_s'], '.1f') for c in cycles)}"
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
    assert v3["large_amount"] > 0 and v3["recoveries"] > 0, "the mix settled no large-amount tier or recovered nothing"
    assert v3["write_offs"] > 0, "the mix wrote nothing off"
    assert all(c["replayed_recoveries"] > 0 and c["replayed_write_offs"] > 0 for c in cycles), (
        "a cycle acknowledged no recovery or no write-off before its kill: nothing of theirs was replayed"
    )
    assert sum(c["lost_answers_replayed"] for c in cycles) > 0, "no retry ever met a committed write"
