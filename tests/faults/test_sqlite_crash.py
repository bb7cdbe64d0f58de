"""SQLite: the server SIGKILLed under load loses no acknowledged write and leaves the ledger whole.

SQLite lives in the server's process, so of the PostgreSQL faults only the crash applies: the
whole process group (supervisor and both workers) is killed in the middle of a keyed load, with
transactions open and commits under way (:func:`tests.stress.harness.crash_cycle`, as in
``tests/stress/test_crash.py``: load, kill, restart on the same file, check before anything is
retried, resend what was in flight, replay what was acknowledged: a sample, and every recovery
and write-off), over the same mix, v3's large-amount tiers, advances, recoveries and write-offs
included.  The settings this relies on, stated in docs/architecture.md ("Durability") and checked
here: WAL journal, ``synchronous=NORMAL`` (a commit is in the WAL file when it returns; only a
power cut or an OS crash could lose the last ones).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.db.migrate import upgrade
from app.db.session import make_engine
from app.settings import Settings
from tests.stress.harness import (
    Load,
    Mix,
    Recorder,
    Server,
    answers_of,
    crash_cycle,
    seed,
    summary,
    tally,
    v3_mix,
    verify,
)
from tests.support.figures import report

pytestmark = pytest.mark.slow

CLIENTS = 16
#: Kill when this many answers have come back; the load plans more.
KILL_AFTER = 500
OPS = 900
DEADLINE = 90.0


def test_sqlite_settings_are_the_stated_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'settle.db'}"
    engine = make_engine(Settings(database_url=url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    finally:
        engine.dispose()


def test_sqlite_server_killed_under_load(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'settle.db'}"
    upgrade(url)
    server = Server(url, tmp_path / "server")
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            seeded = seed(client, persons=4, bills_per_person=3, v3=True)
        rec = Recorder()
        mix = Mix(keyed=1.0, abandon=0.04, recover=6, write_off=2)
        load = Load(server.base_url, seeded, ops=OPS, clients=CLIENTS, rng_seed=31, mix=mix, rec=rec)
        cycle = crash_cycle(server, load, url, kill_after=KILL_AFTER, deadline=DEADLINE)
        server.stop()
        final = verify(url, rec, complete=True)
        v3 = v3_mix(url)
    finally:
        server.stop()

    t = tally(rec.answers)
    after = cycle["after_restart"]
    extra = (
        f" kills=1 in_flight_writes={cycle['in_flight']} lost_answers_replayed={cycle['lost_answers_replayed']}"
        f" replayed_acked={cycle['replayed']} checks_after_restart={after.checks}"
        f" violations_after_restart={len(after.violations)} acked_settlements={len(rec.acked_settlements)}"
        f" reversals={len(rec.acked_reversals)} replayed_recoveries={cycle['replayed_recoveries']}"
        f" replayed_write_offs={cycle['replayed_write_offs']} recoveries_in_flight={cycle['recoveries_in_flight']}"
        f" write_offs_in_flight={cycle['write_offs_in_flight']}"
        f" {answers_of(rec.answers, 'recover', 'write_off')}"
        f" {' '.join(f'{k}={n}' for k, n in sorted(v3.items()))}"
        f" load_s={cycle['load_s']:.1f} replay_s={cycle['replay_s']:.1f}"
    )
    print()
    report(summary("crash[sqlite]", t, clients=CLIENTS, retries=server.log_retries(), verdict=final, extra=extra))
    for v in [*after.violations, *final.violations][:20]:
        report(f"crash[sqlite] VIOLATION: {v}")

    assert t.unexpected == []
    assert after.violations == []
    assert cycle["unresolved"] == [], "writes in flight at the kill still without an answer after the restart"
    assert cycle["differing"] == [], "replays of acknowledged writes that differ from the first answer"
    assert final.violations == []
    assert rec.acked_settlements, "no settlement was acknowledged before the kill"
    assert v3["large_amount"] > 0 and v3["recoveries"] > 0, "the mix settled no large-amount tier or recovered nothing"
    assert v3["write_offs"] > 0, "the mix wrote nothing off"
    assert cycle["replayed_recoveries"] > 0 and cycle["replayed_write_offs"] > 0, (
        "no recovery or no write-off was acknowledged before the kill: nothing of theirs was replayed"
    )
