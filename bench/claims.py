"""Claims (``POST /v1/claims``, a 40-line bill under NRCMS): ``python -m bench.claims``.

Run over one or more checkouts side by side (``--code DIR``, repeatable; default this one), so a
before/after comparison comes from one run on one machine at one moment:

- ``probe`` (a subprocess per checkout, its ``app`` first on ``sys.path``): a fresh PostgreSQL
  database, ``N`` claims one after another in process (``TestClient``), each on a new patient,
  with an ``Idempotency-Key``.  Counted, not estimated: SQL statements (SQLAlchemy's
  ``before_cursor_execute``), transactions (by PostgreSQL itself: ``pg_stat_database``'s
  ``xact_commit + xact_rollback`` of the database, read after the pool's connections closed),
  and round trips = statements + each transaction's ``BEGIN`` and ``COMMIT``/``ROLLBACK`` (psycopg
  sends each as its own message) + the pool's pre-ping (one ``SELECT 1`` per checkout when
  enabled).  ``--profile`` adds a cProfile of the claims (thread CPU time, the thread-pool hops
  inline as in :mod:`bench.profile_settle`).  Then the database ceiling: the statements of one
  claim, captured with their parameters, replayed by ``pgbench`` (32 clients, each transaction
  on fresh ids and a random patient's accumulator) against the same database.
- HTTP: a real 2-worker uvicorn of that checkout on a fresh database; claims at 2 concurrent
  (no queueing: the server CPU per claim) and at saturation with 32 and 64 concurrent; server
  CPU per claim from ``/proc`` (its process group).

The echo app (same uvicorn setup) is run once, for the ceiling of the stack.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PROBE_DB = "settle_bench_claims"
LINES = 40


def claim_body(n: int, id_number: str) -> dict[str, Any]:
    from bench.common import NRCMS, bill_with_lines

    return {"bill": bill_with_lines(LINES, bill_no=f"C{n:08d}", id_number=id_number), "schemes": [NRCMS]}


# --- the probe (runs in a subprocess, the checkout under test first on sys.path) -----------------


def _xacts(admin_url: str, database: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            value = conn.execute(
                text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :d"), {"d": database}
            ).scalar_one()
    finally:
        engine.dispose()
    return int(value)


def probe(n: int, profile: bool, pgbench_seconds: float, top: int) -> dict[str, Any]:
    import cProfile
    import pstats

    from sqlalchemy import event

    from bench.common import ADMIN_TOKEN, PG_URL, resident_id, scratch_postgres

    out: dict[str, Any] = {"n": n}
    with scratch_postgres(PROBE_DB) as url:
        os.environ.update(
            {"SETTLE_DATABASE_URL": url, "SETTLE_ADMIN_TOKEN": ADMIN_TOKEN, "SETTLE_LOG_LEVEL": "WARNING"}
        )
        from fastapi.testclient import TestClient

        from app.db.session import get_engine
        from app.main import create_app
        from app.settings import get_settings
        from bench.http_load import create_hospital_client, enrol_members, load_reference_over_http

        get_settings.cache_clear()
        if profile:
            from bench.profile_settle import run_inline

            run_inline()
        app = create_app()
        engine = get_engine()
        counts = {"statements": 0, "begins": 0, "autocommit": 0, "checkouts": 0}
        captured: list[tuple[str, Any]] = []
        capturing = False

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
            counts["statements"] += 1
            raw = conn.connection.dbapi_connection
            if raw.autocommit:
                counts["autocommit"] += 1
            elif raw.info.transaction_status == 0:
                # psycopg sends BEGIN first; the transaction ends with a COMMIT or a ROLLBACK
                # (SQLAlchemy's, or the pool's reset when the connection is returned).
                counts["begins"] += 1
            if capturing:
                captured.append((statement, parameters if not many else list(parameters)))

        def _end(conn: Any) -> None:
            raw = conn.connection.dbapi_connection
            if capturing and raw is not None and raw.info.transaction_status != 0:
                captured.append(("COMMIT", None))

        event.listen(engine, "commit", _end)
        event.listen(engine, "rollback", _end)

        @event.listens_for(engine, "checkout")
        def _checkout(*_a: Any) -> None:
            counts["checkouts"] += 1

        pre_ping = bool(getattr(engine.pool, "_pre_ping", False))
        warm = 20
        patients = [resident_id(100_000 + i) for i in range(n + warm + 1)]
        profiler = cProfile.Profile(time.thread_time)
        profiling = False

        async def profiled(scope: Any, receive: Any, send: Any) -> None:
            if not profiling:
                await app(scope, receive, send)
                return
            profiler.enable()
            try:
                await app(scope, receive, send)
            finally:
                profiler.disable()

        with TestClient(profiled) as client:
            load_reference_over_http(client)
            _client_id, token = create_hospital_client(client)
            enrol_members(client, patients, prefix="Q")
            auth = {"Authorization": f"Bearer {token}"}

            def post(i: int) -> dict[str, Any]:
                headers = {**auth, "Idempotency-Key": f"probe-{i}"}
                r = client.post("/v1/claims", json=claim_body(i, patients[i]), headers=headers)
                assert r.status_code == 201, r.text
                body: dict[str, Any] = r.json()
                return body

            for i in range(warm):
                post(i)
            engine.dispose()
            time.sleep(0.3)
            before = _xacts(PG_URL, PROBE_DB)
            for key in counts:
                counts[key] = 0
            profiling = profile
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(warm, warm + n):
                post(i)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            profiling = False
            engine.dispose()
            time.sleep(0.5)
            xacts = _xacts(PG_URL, PROBE_DB) - before
            # A pre-ping is one autocommit statement (a transaction of its own for PostgreSQL), one
            # round trip; so is any other autocommit statement; every other transaction costs its
            # BEGIN and its COMMIT/ROLLBACK besides its statements.
            pings = counts["checkouts"] if pre_ping else 0
            out.update(
                statements=counts["statements"] / n,
                pings=pings / n,
                transactions=counts["begins"] / n,
                autocommit_statements=counts["autocommit"] / n,
                transactions_server=(xacts - pings) / n,
                round_trips=(counts["statements"] + pings + 2 * counts["begins"]) / n,
                pre_ping=pre_ping,
                wall_ms=wall / n * 1000,
                process_cpu_ms=cpu / n * 1000,
                profiled=profile,
            )
            # One more claim, its statements captured for pgbench.
            i = warm + n
            capturing = True
            response = post(i)
            capturing = False
        if profile:
            stats = pstats.Stats(profiler)
            raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
            total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
            from bench.profile_settle import where

            out["profile_total_s"] = total
            out["profile_cumulative"] = [
                (round(ct / total * 100, 1), where(key))
                for key, (_cc, _nc, _tt, ct, _c) in sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)[:top]
            ]
            from collections import defaultdict

            from bench.profile_settle import package

            app_dir = str(Path(os.getcwd()) / "app") + os.sep
            out["profile_app"] = [
                (round(ct / total * 100, 1), where(key))
                for key, (_cc, _nc, _tt, ct, _c) in sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)
                if key[0].startswith(app_dir)
            ][:top]
            by_package: dict[str, float] = defaultdict(float)
            for key, (_cc, _nc, tt, _ct, _c) in raw.items():
                by_package[package(key[0])] += tt
            out["profile_packages"] = [
                (round(t / total * 100, 1), name) for name, t in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]
            ]
            out["profile_own"] = [
                (round(tt / total * 100, 1), where(key))
                for key, (_cc, _nc, tt, _ct, _c) in sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
            ]
        ids = {
            response["bill"]["bill_id"]: "b:zzr",
            f"C{i:08d}": "n:zzr",
            patients[i]: "P:zzp",
            f"probe-{i}": "k:zzr",
        }
        for k, s in enumerate(response["settlements"]):
            ids[s["settlement_id"]] = f"s{k}x:zzr"
        script = render_script(url, captured, ids)
        out["pgbench_statements"] = sum(1 for line in script.splitlines() if line.endswith(";"))
        out["pgbench"] = run_pgbench(url, script, clients=32, seconds=pgbench_seconds)
        out["pgbench_script_lines"] = script.count("\n")
    return out


def render_script(url: str, captured: list[tuple[str, Any]], ids: dict[str, str]) -> str:
    """The captured statements with their parameters inlined, fresh ids as pgbench variables."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    lines = ["\\set zzr random(1, 999999999999999)", "\\set zzp random(100000000, 100004999)", "BEGIN;"]
    with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database) as conn:
        cur = psycopg.ClientCursor(conn)
        for statement, params in captured:
            if statement == "COMMIT":
                lines += ["COMMIT;", "BEGIN;"]
                continue
            for one in params if isinstance(params, list) else [params]:
                sql = cur.mogrify(statement, one) if one else statement
                sql = " ".join(sql.split())
                for old, new in ids.items():
                    sql = sql.replace(old, new)
                lines.append(sql + ";")
    if lines[-1] == "BEGIN;":
        lines.pop()
    return "\n".join(lines) + "\n"


def run_pgbench(url: str, script: str, *, clients: int, seconds: float) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    command = ["pgbench", "-n", "-M", "simple", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432)]
    command += ["-U", u.username or "postgres", "-c", str(clients), "-j", "2", "-T", str(int(seconds)), "-f", f.name]
    command.append(u.database or "")
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=seconds + 60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": repr(exc)}
    finally:
        os.unlink(f.name)
    tps = re.search(r"tps = ([0-9.]+) \(without initial", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if tps is None:
        return {"error": (done.stdout + done.stderr)[-800:]}
    return {"tps": float(tps.group(1)), "clients": clients, "failed": int(failed.group(1)) if failed else None}


# --- the parent: HTTP load and the report ------------------------------------------------------


def run_probe(code: Path, n: int, profile: bool, pgbench_seconds: float, top: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(REPO)])}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        target = f.name
    command = [sys.executable, str(Path(__file__).resolve()), "probe", "-n", str(n), "--json", target]
    command += ["--pgbench-seconds", str(pgbench_seconds), "--top", str(top)] + (["--profile"] if profile else [])
    subprocess.run(command, cwd=code, env=env, check=True)
    data: dict[str, Any] = json.loads(Path(target).read_text())
    os.unlink(target)
    return data


def run_http(code: Path, gens: Any, seconds: float, concurrencies: tuple[int, ...]) -> list[Any]:
    import orjson

    from bench.common import NRCMS, resident_id
    from bench.http_load import closed_loop, create_hospital_client, load_reference_over_http, log, put_members
    from bench.server import bench_database, served

    phases = []
    per_phase = int(max(seconds, 2.0) * 700)
    total = per_phase * (1 + len(concurrencies))
    patients = max(512, total // 4)
    ids = [resident_id(200_000 + n) for n in range(patients)]
    bodies = [orjson.dumps(claim_body(i, ids[i % patients])) for i in range(total)]
    import httpx

    with (
        tempfile.TemporaryDirectory(prefix="settle-bench-") as folder,
        bench_database("postgresql") as url,
        served("app.main:app", Path(folder), {"SETTLE_DATABASE_URL": url}, repo=code) as server,
    ):
        with httpx.Client(base_url=server.base_url, timeout=120.0) as client:
            load_reference_over_http(client)
            _client_id, token = create_hospital_client(client)
        put_members(server.base_url, [(NRCMS, f"CB{n:08d}", ids[n]) for n in range(patients)])
        first = 0
        for concurrency in (2, *concurrencies):
            log(f"claims {code.name}: closed loop, {concurrency} concurrent, {seconds:.0f} s")
            phase = closed_loop(
                gens,
                server,
                token,
                f"claims, {concurrency} concurrent",
                ["/v1/claims"] * per_phase,
                b"",
                concurrency=concurrency,
                seconds=seconds,
                client="raw",
                bodies=bodies[first : first + per_phase],
                idempotency=True,
            )
            first += per_phase
            phases.append(phase)
            server.wait_idle()
        problems = server.log_problems()
    if problems:
        print("\n".join(problems[:20]), file=sys.stderr)
    return phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.claims", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("mode", nargs="?", choices=("run", "probe"), default="run")
    parser.add_argument("--code", type=Path, action="append", help="a checkout to measure (repeatable)")
    parser.add_argument("-n", type=int, default=200, help="sequential claims counted (and profiled)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=8.0, help="each HTTP phase")
    parser.add_argument("--pgbench-seconds", type=float, default=8.0)
    parser.add_argument("--json", type=Path, help="probe: write the figures here")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    args = parser.parse_args(argv)
    if args.mode == "probe":
        data = probe(args.n, args.profile, args.pgbench_seconds, args.top)
        if args.json:
            args.json.write_text(json.dumps(data, indent=1))
        else:
            print(json.dumps(data, indent=1))
        return 0

    text = run_text(
        [str(c) for c in args.code or []],
        seconds=args.seconds,
        profile=args.profile,
        n=args.n,
        pgbench_seconds=args.pgbench_seconds,
        top=args.top,
        http=not args.no_http,
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


def run_text(
    code_dirs: list[str],
    *,
    seconds: float,
    profile: bool,
    n: int = 200,
    pgbench_seconds: float = 8.0,
    top: int = 25,
    http: bool = True,
) -> str:
    """Every checkout measured (probe, then HTTP), the markdown section."""
    from bench.common import machine
    from bench.http_load import Config, generators, run_echo

    codes = [Path(c).resolve() for c in code_dirs] or [REPO]
    figures: dict[Path, dict[str, Any]] = {}
    for code in codes:
        figures[code] = {"probe": run_probe(code, n, profile, pgbench_seconds, top)}
    echo = None
    if http:
        with generators(2) as gens:
            echo = run_echo(gens, Config(quick=seconds <= 2.0, concurrency=64))
            for code in codes:
                figures[code]["http"] = run_http(code, gens, seconds, (32, 64))
    return render(codes, figures, echo, machine())


def _commit(code: Path) -> str:
    try:
        return subprocess.run(
            ["git", "log", "-1", "--format=%h %s"], cwd=code, capture_output=True, text=True, check=True
        ).stdout.strip()[:90]
    except (OSError, subprocess.CalledProcessError):
        return str(code)


def render(codes: list[Path], figures: dict[Path, dict[str, Any]], echo: Any, machine: dict[str, str]) -> str:
    head = "| figure | " + " | ".join(f"`{_commit(c)}`" for c in codes) + " |"
    out = [
        "## Claims, side by side (`python -m bench.claims`)",
        "",
        f"{machine['date']}, {machine['cores (os.cpu_count)']} cores, load average at start "
        f"{machine['load average at start (1/5/15 min)']}; PostgreSQL {machine['PostgreSQL server']}. "
        f"`POST /v1/claims`, a {LINES}-line bill under NRCMS, a fresh `Idempotency-Key` each, "
        "2 uvicorn workers.",
        "",
        head,
        "|---|" + "---|" * len(codes),
    ]

    def row(name: str, fn: Any) -> None:
        cells = []
        for c in codes:
            try:
                cells.append(fn(figures[c]))
            except (KeyError, IndexError, TypeError):
                cells.append("-")
        out.append(f"| {name} | " + " | ".join(cells) + " |")

    row("SQL statements per claim (counted)", lambda f: f"{f['probe']['statements']:.1f}")
    row("round trips per claim (counted)", lambda f: f"{f['probe']['round_trips']:.1f}")
    row("transactions per claim (BEGIN ... COMMIT, counted)", lambda f: f"{f['probe']['transactions']:.2f}")
    row(
        "autocommit statements per claim (pre-pings apart)",
        lambda f: f"{f['probe'].get('autocommit_statements', 0):.2f}",
    )
    row("pre-pings per claim", lambda f: f"{f['probe']['pings']:.0f}")
    row(
        "transactions per claim as PostgreSQL counts them (pg_stat_database, pre-pings apart)",
        lambda f: f"{f['probe']['transactions_server']:.2f}",
    )
    for k, label in ((0, "2 concurrent"), (1, "32 concurrent"), (2, "64 concurrent")):
        row(f"claims/s, {label}", lambda f, k=k: f"{f['http'][k].achieved:,.0f}")
        row(
            f"server CPU ms per claim, {label}",
            lambda f, k=k: f"{f['http'][k].server_cpu_ms_per_request:.2f}",
        )
        row(
            f"p50 / p99 ms, {label}",
            lambda f, k=k: f"{f['http'][k].latency.p50 * 1000:,.0f} / {f['http'][k].latency.p99 * 1000:,.0f}",
        )
        row(f"errors, {label}", lambda f, k=k: ", ".join(f"{s}x{n}" for s, n in f["http"][k].errors.items()) or "none")
    row(
        "pgbench: one claim's statements (with BEGIN/COMMIT), 32 clients (claims/s)",
        lambda f: f"{f['probe']['pgbench']['tps']:,.0f}" if "tps" in f["probe"]["pgbench"] else "failed",
    )
    row(
        "claims/s at 32 as a share of pgbench",
        lambda f: f"{f['http'][1].achieved / f['probe']['pgbench']['tps']:.0%}",
    )
    if echo is not None:
        out += [
            "",
            f"Echo ceiling (bench/echo_app.py, 64 concurrent, same run): {echo.achieved:,.0f} req/s, "
            f"server CPU {echo.server_cpu_ms_per_request:.2f} ms per request.",
        ]
    for c in codes:
        p = figures[c]["probe"]
        if p.get("profiled"):
            out += [
                "",
                f"### cProfile of {p['n']} sequential claims, `{_commit(c)}` "
                f"(thread CPU, % of {p['profile_total_s']:.2f} s)",
                "",
                "cumulative:",
                "",
            ]
            out += [f"- {pct:.1f} % `{w}`" for pct, w in p["profile_cumulative"][:5]]
            out += ["", "the app's own functions, cumulative:", ""]
            out += [f"- {pct:.1f} % `{w}`" for pct, w in p.get("profile_app", [])]
            out += ["", "own time by package:", ""]
            out += [f"- {pct:.1f} % {w}" for pct, w in p.get("profile_packages", [])]
            out += ["", "own time:", ""]
            out += [f"- {pct:.1f} % `{w}`" for pct, w in p["profile_own"]]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path[:0] = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    raise SystemExit(main())
