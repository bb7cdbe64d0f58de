"""Many concurrent clients against a real two-worker server: the ledger never over-pays.

Each run seeds the database over HTTP, then sends a seeded mix of operations from many
threads at once: NRCMS, UEBMI and a third, capped scheme settling the same bills at the same
moment, the same Idempotency-Key sent by two or three clients at the same instant (a barrier
releases them together), reversals of the latest settlement racing re-settlements, external
payments with duplicate vouchers or beyond the bill's total, one-shot claims whose schemes come
in every order, visits settled (and some cancelled and settled again) through the national
platform's interface, an administrator putting the capped scheme's policy and catalog again (200
while unused, then 409), dry runs and reads.  A person has several bills, so the capped
scheme's annual cap binds while its bills are settled concurrently.

Afterwards the database is checked directly (:func:`tests.stress.harness.verify`), and a summary
line is printed (run with ``-s`` to see it).  Every answer must be an expected one: a 5xx other
than 503 ``busy`` fails the test, and so would "database is locked" or a serialization failure
reaching a client (they would be 500s).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.stress.harness import Load, Mix, Server, Tally, cap_bound, seed, summary, tally, v2_mix, v3_mix, verify
from tests.support.figures import report

pytestmark = pytest.mark.slow

#: Hard bound of each load phase, in seconds.
DEADLINE = 120.0


def statuses_by_op(load: Load) -> str:
    by_op: Counter[tuple[str, int | None]] = Counter((a.call.op, a.status) for a in load.rec.answers)
    return " ".join(f"{op}:{status}={n}" for (op, status), n in sorted(by_op.items(), key=str))


def overlapping_duplicates(load: Load) -> int:
    """How many Idempotency-Keys were in flight in two requests at the same time."""
    n = 0
    for answers in load.rec.by_key.values():
        spans = sorted((a.started, a.started + a.latency) for a in answers)
        if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
            n += 1
    return n


def run_stress(
    name: str, server: Server, db_url: str, *, ops: int, clients: int, persons: int, bills: int, rng_seed: int
) -> Tally:
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        seeded = seed(client, persons=persons, bills_per_person=bills, v3=True)
    load = Load(
        server.base_url, seeded, ops=ops, clients=clients, rng_seed=rng_seed, mix=Mix(recover=6, write_off=2, visit=3)
    )
    load.run(deadline=DEADLINE)
    metric = server.metric_retries()
    server.stop()

    t = tally(load.rec.answers)
    retries = server.log_retries()
    verdict = verify(db_url, load.rec)
    capped = cap_bound(db_url)
    tiers, employers = v2_mix(db_url)
    v3 = v3_mix(db_url)
    visits = len(load.rec.visit_settlements)
    extra = (
        f" acked_settlements={len(load.rec.acked_settlements)} reversals={len(load.rec.acked_reversals)}"
        f" cut_by_cap={capped} tiers={tiers} employer_liabilities={employers}"
        f" same_key_in_flight={overlapping_duplicates(load)} retries_metric={metric} seconds={load.elapsed:.1f}"
        f" {' '.join(f'{k}={n}' for k, n in sorted(v3.items()))}"
        f" visits_settled={visits} visits_cancelled={len(load.rec.visit_cancellations)}"
    )
    print()
    report(summary(name, t, clients=clients, retries=retries, verdict=verdict, extra=extra))
    report(f"{name} answers: {statuses_by_op(load)}")
    for v in verdict.violations[:20]:
        report(f"{name} VIOLATION: {v}")
    for u in t.unexpected[:20]:
        print(f"{name} UNEXPECTED: {u}")

    assert not load.timed_out, f"the load did not finish within {DEADLINE} s"
    assert t.ops >= ops
    assert t.unanswered == 0
    assert t.unexpected == [], "answers other than the expected ones (a 5xx other than 503 busy among them?)"
    assert verdict.violations == []
    assert server.log_problems() == []
    assert overlapping_duplicates(load) > 0, "no Idempotency-Key was ever in flight twice at once"
    assert capped > 0, "the capped scheme's annual cap never bound"
    assert tiers > 0 and employers > 0, "the mix settled no tier or no employer's liability"
    assert v3["large_amount"] > 0 and v3["recoveries"] > 0, "the mix settled no large-amount tier or recovered nothing"
    assert v3.get("receivables_written_off", 0) > 0, "the mix wrote nothing off"
    assert visits > 0, "no visit was settled through the national platform's interface"
    return t


def test_stress_postgresql(stress_pg: str, server_factory: Callable[[str], Server]) -> None:
    run_stress(
        "stress[postgresql]",
        server_factory(stress_pg),
        stress_pg,
        ops=2048,
        clients=32,
        persons=6,
        bills=4,
        rng_seed=4,
    )


def test_stress_sqlite(stress_sqlite: str, server_factory: Callable[[str], Server]) -> None:
    run_stress(
        "stress[sqlite]",
        server_factory(stress_sqlite),
        stress_sqlite,
        ops=480,
        clients=16,
        persons=4,
        bills=3,
        rng_seed=5,
    )
