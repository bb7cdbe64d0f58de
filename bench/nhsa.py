"""A 40-line visit settled through the national platform's interface (``nhsa.md``) against the
same 40-line bill as one ``POST /v1/claims``, in one run, on SQLite and PostgreSQL.

In process (the ASGI app through Starlette's test client, one client thread), on a fresh database
with the sample loaded: each round is one claim (bill 3's lines without the targeted drug, forty
of them, under NRCMS-511623 and its two tiers) and one visit (2401, the forty lines in one 2301,
2402, 2304) of the same lines.  The claims and the visits alternate, after a warm-up; the figures
are the medians of the wall time of a claim and of a whole visit, their ratio, and each message's
median.  ``--cpu`` times with the process's CPU time (``time.process_time``: the client's and
the app's threads together) instead of the wall time, for a loaded machine; ``--profile N``
profiles (cProfile, CPU time) the app in process over the rounds, each message and claim apart,
its thread-pool hops made inline, and prints the hottest functions of each.
``python -m bench.nhsa [--rounds N] [--sqlite-only] [--cpu] [--profile N]``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
PG_MAINTENANCE = os.environ.get("SETTLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMES = ["NRCMS-511623", "SI-511623", "MA-511623"]
PSN_NO, ID_NUMBER = "NC5116230001", "511623199003071234"
TOKEN = "bench-admin-token"


def _dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, default=lambda d: orjson.Fragment(str(d)))


def _lines() -> list[dict[str, Any]]:
    bill = json.loads((REPO / "app/sample/v2/bill-3.json").read_text())
    base = [i for i in bill["items"] if i["code"] != "XL01XCT001"]
    items = [{**base[n % len(base)], "line_no": n + 1} for n in range(40)]
    return [{**i, "quantity": "1", "amount": i["unit_price"]} for i in items]


def run_inline_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    async def call() -> Any:
        return func(*args, **kwargs)

    return call()


@contextmanager
def _profiled(profiles: dict[str, cProfile.Profile], name: str) -> Iterator[None]:
    """Profile what the app does while ``name`` is sent (in the event loop's thread, see
    :func:`_profiling_app`)."""
    profiles["now"] = profiles.get(name)  # type: ignore[assignment]
    try:
        yield
    finally:
        profiles.pop("now", None)


def _profiling_app(asgi: Any, profiles: dict[str, cProfile.Profile]) -> Any:
    async def profiled(scope: Any, receive: Any, send: Any) -> None:
        prof = profiles.get("now")
        if prof is None:
            await asgi(scope, receive, send)
            return
        prof.enable()
        try:
            await asgi(scope, receive, send)
        finally:
            prof.disable()

    return profiled


def _report(name: str, prof: cProfile.Profile, top: int = 40) -> None:
    from bench.profile_settle import where

    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _cc, _nc, tt, _ct, _callers in raw.values())
    calls = max((v[1] for k, v in raw.items() if k[2] == "call_service" or k[2] == "submit_claim"), default=1)
    print(f"\n{name}: {total * 1000:.1f} ms profiled over {calls} ({total * 1000 / max(calls, 1):.2f} ms each)")
    mine = [(k, v[3]) for k, v in raw.items() if "/app/" in k[0]]
    for key, ct in sorted(mine, key=lambda kv: kv[1], reverse=True)[:top]:
        print(f"  {ct / total:6.1%}  {ct * 1000 / max(calls, 1):6.2f} ms  {where(key)}")


def run(url: str, rounds: int, *, cpu: bool = False, profile: int = 0) -> dict[str, Any]:
    os.environ["SETTLE_DATABASE_URL"] = url
    os.environ["SETTLE_ADMIN_TOKEN"] = TOKEN
    os.environ["SETTLE_LOG_LEVEL"] = "WARNING"
    from app.db.migrate import upgrade
    from app.db.session import reset_engine
    from app.settings import get_settings

    get_settings.cache_clear()
    reset_engine()
    upgrade(url)
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.sample.loader import load_sample

    load_sample()
    timer = time.process_time if cpu else time.perf_counter
    profiles: dict[str, cProfile.Profile] = {}
    if profile:
        from bench.profile_settle import run_inline

        run_inline()
        import app.api.routes_nhsa

        app.api.routes_nhsa.run_in_threadpool = run_inline_call  # type: ignore[attr-defined]
    # Entered, so that the app's lifespan runs as in the server: without it the heap is not frozen
    # (app.heap) and the collector's passes land on whichever message crosses its threshold.
    client = TestClient(_profiling_app(create_app(), profiles) if profile else create_app()).__enter__()
    admin = {"Authorization": f"Bearer {TOKEN}"}
    bill = json.loads((REPO / "app/sample/v2/bill-3.json").read_text())
    items = _lines()
    per: dict[str, list[float]] = defaultdict(list)

    def claim() -> None:
        body = {"bill": {**bill, "bill_no": f"B-{uuid.uuid4().hex[:12]}", "items": items}, "schemes": SCHEMES}
        with _profiled(profiles, "claim"):
            r = client.post("/v1/claims", json=body, headers={**admin, "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201, r.text

    def send(infno: str, inp: dict[str, Any]) -> Any:
        envelope = {
            "infno": infno,
            "msgid": uuid.uuid4().hex[:30],
            "insuplc_admdvs": "511623",
            "fixmedins_code": bill["hospital"]["code"],
            "input": inp,
        }
        start = timer()
        with _profiled(profiles, infno):
            r = client.post(
                "/fsi/api/rsfComIfsService/callService",
                content=_dumps(envelope),
                headers={**admin, "Content-Type": "application/json"},
            )
        per[infno].append(timer() - start)
        answer = r.json()
        assert answer["infcode"] == 0, answer
        return answer["output"]

    def visit() -> None:
        # The messages of the claims bench's visit phase, for the sample person.
        from bench.visit import Patient, admission, discharge, fee_lines, settlement

        person = Patient(PSN_NO, ID_NUMBER)
        m = send("2401", admission(person))["result"]["mdtrt_id"]
        send("2301", fee_lines(m, person))
        send("2402", discharge(m, person))
        send("2304", settlement(m, person))

    times: dict[str, list[float]] = defaultdict(list)
    work: dict[str, Callable[[], None]] = {"claim": claim, "visit": visit}
    for _ in range(5):
        claim()
        visit()
    per.clear()
    for n in range(rounds):
        if n == rounds - profile:
            profiles.update((k, cProfile.Profile(time.thread_time)) for k in ("claim", "2401", "2301", "2402", "2304"))
        for name, fn in work.items():
            start = timer()
            fn()
            times[name].append(timer() - start)
    client.__exit__(None, None, None)
    for name, prof in profiles.items():
        if name != "now":
            _report(name, prof)
    reset_engine()
    claim_ms = statistics.median(times["claim"]) * 1000
    visit_ms = statistics.median(times["visit"]) * 1000
    return {
        "claim_ms": round(claim_ms, 1),
        "visit_ms": round(visit_ms, 1),
        "ratio": round(visit_ms / claim_ms, 2),
        "messages_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in per.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="time with the process's CPU time, not the wall time")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile the last N rounds (cProfile)")
    args = parser.parse_args()
    options = {"cpu": args.cpu, "profile": min(args.profile, args.rounds)}
    with tempfile.TemporaryDirectory() as folder:
        print("sqlite", run(f"sqlite:///{folder}/bench.db", args.rounds, **options), flush=True)
    if args.sqlite_only:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"settle_bench_{uuid.uuid4().hex[:8]}"
    maintenance = create_engine(PG_MAINTENANCE, isolation_level="AUTOCOMMIT")
    with maintenance.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(PG_MAINTENANCE).set(database=name).render_as_string(hide_password=False)
        print("postgresql", run(url, args.rounds, **options), flush=True)
    finally:
        with maintenance.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        maintenance.dispose()


if __name__ == "__main__":
    main()
