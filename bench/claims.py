"""Claims (``POST /v1/claims``, a 40-line bill under NRCMS) side by side: ``python -m bench.claims``.

Run over one or more checkouts (``--code DIR``, repeatable, ``--code LABEL=DIR`` to name a column;
default this one), so a before/after comparison comes from one run on one machine at one moment.
Each checkout's own ``.venv/bin/python`` runs its server and its probe when it has one (its
dependencies may differ), else this interpreter.  Phases run one after another, never two at once,
and each starts once the server under test is idle (its CPU use below a tenth of a core).

- ``probe`` (PostgreSQL; a subprocess per checkout, its ``app`` first on ``sys.path``, this
  checkout's ``bench``): a fresh database, ``N`` claims one after another in process
  (``TestClient``), each on a new patient, with an ``Idempotency-Key``.  Counted, not estimated:
  SQL statements (SQLAlchemy's ``before_cursor_execute``), transactions (by PostgreSQL itself:
  ``pg_stat_database``'s ``xact_commit + xact_rollback`` of the database, read after the pool's
  connections closed), and round trips = statements + each transaction's ``BEGIN`` and
  ``COMMIT``/``ROLLBACK`` (psycopg sends each as its own message) + the pool's pre-ping (one
  ``SELECT 1`` per checkout when enabled).  ``--profile`` adds a cProfile of the claims (thread CPU
  time, the thread-pool hops inline as in :mod:`bench.profile_settle`).  Then the database
  ceiling: the statements of one claim, captured with their parameters, replayed by ``pgbench``
  (32 clients, each transaction on fresh ids and a random patient's accumulator) against the same
  database.
- HTTP, on PostgreSQL and on SQLite (a fresh database each, migrated by the checkout's own
  ``python -m app migrate``; 2 uvicorn workers on both, as the service runs: SQLite in WAL mode
  with a busy timeout serves several processes): the sample reference data and a hospital client
  over HTTP, one member over HTTP, then as many members as the run has claims copied from that
  one's row straight into the ``member`` table (every claim is a different patient's first claim
  of the year: the same claims, in the same order, for every checkout, and the annual cap never
  binds); PostgreSQL ``ANALYZE`` and ``CHECKPOINT``; the server restarted (fresh workers).  Then:

  1. **cold start**: 32 concurrent (closed loop) on that fresh database, nothing settled yet; the
     latency of the claims sent in the first second against those sent after it;
  2. 2 concurrent (no queueing): the server's CPU per claim;
  3. saturation, closed loop, 32 and 64 concurrent: claims/s (after the first second);
  4. open loop at 250 and 500 claims/s offered: latency from each claim's scheduled send time
     (no coordinated omission), achieved rate, errors (a claim unanswered after the timeout is an
     error; the phase waits at most the timeout + 2 s after its last send).
  5. **visit** (``--no-visit`` to leave it out): the sample's routes and tiers loaded, the server
     restarted, then at 2 concurrent the server's CPU per claim of bill 3's forty lines under
     NRCMS-511623 and its two tiers, and per visit of the same lines through the national
     platform's interface (2401, one 2301, 2402, 2304), and their ratio, the phase's and each
     round's (:mod:`bench.visit`).

The echo app (same uvicorn setup) runs once, for the ceiling of the stack.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent
#: Per process: two runs at once (two checkouts probed side by side by two people) must not drop
#: each other's database.
PROBE_DB = f"settle_bench_claims_{os.getpid()}"
HTTP_DB = f"settle_bench_claims_http_{os.getpid()}"
LINES = 40
BACKENDS: dict[str, str] = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
#: Concurrent clients of the cold-start phase (the issue's queue on the policy row: ~32 claims).
COLD_CONCURRENCY = 32
#: Closed-loop phases get claims enough for this many a second (a phase that runs out ends early,
#: and says so); the 2-concurrent phase for ``TWO_POOL_RATE``.
CLOSED_POOL_RATE = 1500
TWO_POOL_RATE = 1000
#: The generator fills these in a claim's body (bill number, patient's ID number, name suffix).
PLACEHOLDERS = (b"@BILL_NO@", b"@ID_NUMBER@", b"@NAME@")
#: First resident-ID serial of the HTTP phases' patients (the probe uses 100,000 on).
FIRST_PATIENT = 200_000
#: The visit phase's claims (and visits) a second its patients are enough for, each side.
VISIT_POOL_RATE = 150


def claim_body(n: int, id_number: str) -> dict[str, Any]:
    from bench.common import NRCMS, bill_with_lines

    return {"bill": bill_with_lines(LINES, bill_no=f"C{n:08d}", id_number=id_number), "schemes": [NRCMS]}


def claim_template() -> bytes:
    """A claim's body with ``PLACEHOLDERS`` for what differs from claim to claim."""
    import orjson

    from bench.common import NRCMS, bill_with_lines

    bill = bill_with_lines(LINES, bill_no="@BILL_NO@")
    bill["patient"] = {"id_number": "@ID_NUMBER@", "name": "Patient @NAME@"}
    body: bytes = orjson.dumps({"bill": bill, "schemes": [NRCMS]})
    return body


def claim_fill(position: int) -> tuple[bytes, bytes, bytes]:
    """What the claim at ``position`` of a run fills in: its bill number and its own patient."""
    from bench.common import resident_id

    id_number = resident_id(FIRST_PATIENT + position)
    return f"C{position:08d}".encode(), id_number.encode(), id_number[-6:].encode()


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

        import app as app_package
        from app.db.session import get_engine
        from app.main import create_app
        from app.settings import get_settings
        from bench.http_load import create_hospital_client, enrol_members, load_reference_over_http

        out["app_file"] = app_package.__file__
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
            if os.environ.get("SETTLE_BENCH_PSTATS"):
                stats.dump_stats(os.environ["SETTLE_BENCH_PSTATS"])
            raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
            total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
            from bench.profile_settle import package as _package
            from bench.profile_settle import where as _where

            root = Path(os.getcwd())

            def where(key: Any) -> str:
                return _where(key, root=root)

            def package(filename: str) -> str:
                return _package(filename, root=root)

            out["profile_total_s"] = total
            out["profile_cumulative"] = [
                (round(ct / total * 100, 1), where(key))
                for key, (_cc, _nc, _tt, ct, _c) in sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)[:top]
            ]
            from collections import defaultdict

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
                if isinstance(one, tuple):  # PostgreSQL's own $n placeholders (app.db.direct)
                    sql = re.sub(r"\$(\d+)", r"%(p\1)s", statement.replace("%", "%%"))
                    sql = cur.mogrify(sql, {f"p{i}": v for i, v in enumerate(one, 1)})
                else:
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


# --- the parent: checkouts, databases, HTTP phases ----------------------------------------------


@dataclass(frozen=True)
class Checkout:
    path: Path
    label: str
    python: str
    #: ``<hash> <subject>`` at the start of the run, and whether tracked files had changes then.
    commit: str = ""
    dirty: bool = False
    #: ``SETTLE_*`` settings of this column's server and probe (``--code LABEL=DIR,SETTLE_X=V``).
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def env(self) -> dict[str, str]:
        """Its ``app`` first on ``sys.path`` (before any editable install of another checkout)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SETTLE_")}
        env["PYTHONPATH"] = str(self.path)
        env.update(self.settings)
        return env


def checkouts(specs: list[str]) -> list[Checkout]:
    """``DIR`` or ``LABEL=DIR``, then optionally ``,SETTLE_NAME=VALUE`` settings of its own (the
    same checkout twice with another setting: ``--code t40=. --code t4=.,SETTLE_WORKER_THREADS=4``);
    a column is labelled by its commit unless named."""
    out = []
    for full in specs or [str(REPO)]:
        spec, *pairs = full.split(",")
        settings = tuple((name, value) for name, _, value in (p.partition("=") for p in pairs))
        if bad := [name for name, _value in settings if not name.startswith("SETTLE_")]:
            raise SystemExit(f"{full}: only SETTLE_* settings may follow a checkout, not {', '.join(bad)}")
        label, _, folder = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(folder).resolve()
        if not (path / "app" / "__init__.py").exists():
            raise SystemExit(f"{path}: not a checkout of the service (no app/__init__.py)")
        venv = path / ".venv" / "bin" / "python"
        python = str(venv) if venv.exists() else sys.executable
        commit = _git(path, "log", "-1", "--format=%h %s")
        dirty = bool(_git(path, "status", "--porcelain", "--untracked-files=no"))
        out.append(Checkout(path, label or commit.split(" ")[0] or path.name, python, commit, dirty, settings))
    labels = [c.label for c in out]
    return [replace(c, label=f"{c.label} ({c.path.name})") if labels.count(c.label) > 1 else c for c in out]


def _git(path: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def run_probe(code: Checkout, n: int, profile: bool, pgbench_seconds: float, top: int) -> dict[str, Any]:
    """The probe in a subprocess: the checkout's ``app`` and interpreter, this checkout's ``bench``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        target = f.name
    command = [code.python, str(Path(__file__).resolve()), "probe", "-n", str(n), "--json", target]
    command += ["--pgbench-seconds", str(pgbench_seconds), "--top", str(top)] + (["--profile"] if profile else [])
    try:
        subprocess.run(command, cwd=code.path, env=code.env, check=True)
        data: dict[str, Any] = json.loads(Path(target).read_text())
    finally:
        os.unlink(target)
    if not str(data.get("app_file", "")).startswith(str(code.path)):
        raise RuntimeError(f"the probe imported app from {data.get('app_file')}, not from {code.path}")
    return data


def run_app(code: Checkout, url: str, command: str) -> None:
    """``python -m app <command>`` of the checkout (its own code and interpreter) on ``url``."""
    done = subprocess.run(
        [code.python, "-m", "app", command],
        cwd=code.path,
        env={**code.env, "SETTLE_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"python -m app {command} failed in {code.path}:\n{done.stdout}{done.stderr}")


def migrate(code: Checkout, url: str) -> None:
    """The checkout's own migrations (``python -m app migrate``), not this checkout's."""
    run_app(code, url, "migrate")


@contextmanager
def fresh_database(backend: str, code: Checkout) -> Iterator[str]:
    """A new database (PostgreSQL: ``HTTP_DB``; SQLite: a file in a temporary folder), migrated by
    ``code``; dropped (deleted) at the end."""
    from bench.common import scratch_postgres

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="settle-bench-claims-") as folder:
            url = f"sqlite:///{Path(folder) / 'settle.db'}"
            migrate(code, url)
            yield url
        return
    with scratch_postgres(HTTP_DB, migrate=lambda url: migrate(code, url)) as url:
        yield url


#: Columns of the ``member`` table that the bench knows; others are copied from the template row.
MEMBER_COLUMNS = {"id", "scheme_code", "member_no", "id_number", "name", "coverage", "offsite_registrations"}


def copy_members(
    url: str, template_member_no: str, id_numbers: list[str], *, prefix: str = "CB", first: int = 1
) -> list[str]:
    """Members for the patients of claims ``first ..`` (by default claim 0's was put over HTTP),
    each a copy of the template's row (its scheme's) with its own member number
    (``<prefix><position>``), ID number and name; the columns of the table the bench does not know
    (copied as they are) are returned."""
    from sqlalchemy import MetaData, Table, create_engine, insert, select

    engine = create_engine(url)
    try:
        member = Table("member", MetaData(), autoload_with=engine)
        keys = {c.name for c in member.primary_key.columns}
        with engine.begin() as conn:
            row = conn.execute(select(member).where(member.c.member_no == template_member_no)).mappings().one()
            base = {k: v for k, v in row.items() if k not in keys}
            rows = []
            for position in range(first, len(id_numbers)):
                id_number = id_numbers[position]
                rows.append(
                    {
                        **base,
                        "member_no": f"{prefix}{position:08d}",
                        "id_number": id_number,
                        "name": f"Patient {id_number[-6:]}",
                    }
                )
            for chunk in range(0, len(rows), 5000):
                conn.execute(insert(member), rows[chunk : chunk + 5000])
        unknown = sorted({c.name for c in member.columns} - MEMBER_COLUMNS - {"updated_at", "created_at"})
    finally:
        engine.dispose()
    return unknown


def settle_database(url: str) -> None:
    """PostgreSQL: statistics for the planner and a checkpoint, so that neither autovacuum's
    analyze nor a checkpoint of the setup's writes falls into the phases."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def count_settlements(url: str) -> int | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM settlement")).scalar_one())
    except Exception:
        return None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class PhaseSpec:
    key: str
    mode: Literal["open", "closed"]
    #: Concurrent clients (closed loop) or claims per second offered (open loop).
    load: int
    seconds: float
    #: Claims set aside for the phase (its own patients).
    pool: int


@dataclass(frozen=True)
class Plan:
    seconds: float
    concurrencies: tuple[int, ...] = (32, 64)
    rates: tuple[int, ...] = (250, 500)
    #: Per request; an open-loop phase waits at most this + 2 s after its last send.
    timeout: float = 10.0
    #: The ``visit`` phase (after the others): NHSA visits against the same claims, 2 concurrent.
    visit: bool = True

    @property
    def visit_pool(self) -> int:
        """Patients of the visit phase, claims' and visits' together: enough for 150 of each a second."""
        return 2 * (int(VISIT_POOL_RATE * self.seconds) + 5)

    @property
    def cold_seconds(self) -> float:
        """At least 3 s: the first second against at least two after it."""
        return max(3.0, self.seconds)

    def phases(self) -> list[PhaseSpec]:
        s = self.seconds
        out = [
            PhaseSpec("cold", "closed", COLD_CONCURRENCY, self.cold_seconds, int(CLOSED_POOL_RATE * self.cold_seconds)),
            PhaseSpec("c2", "closed", 2, s, int(TWO_POOL_RATE * s)),
        ]
        out += [PhaseSpec(f"c{c}", "closed", c, s, int(CLOSED_POOL_RATE * s)) for c in self.concurrencies]
        out += [PhaseSpec(f"open{r}", "open", r, s, int(r * s)) for r in self.rates]
        return out


def phase_name(spec: PhaseSpec) -> str:
    if spec.key == "cold":
        return f"cold start, {spec.load} concurrent"
    if spec.mode == "closed":
        return f"{spec.load} concurrent"
    return f"open loop {spec.load}/s"


@dataclass
class BackendRun:
    backend: str
    phases: dict[str, Any] = field(default_factory=dict)
    #: Phases whose claims ran out before their time was up (they ended early).
    ran_out: list[str] = field(default_factory=list)
    members: int = 0
    unknown_member_columns: list[str] = field(default_factory=list)
    acknowledged: int = 0
    settlements_in_db: int | None = None
    server_problems: int = 0
    setup_s: float = 0.0
    elapsed_s: float = 0.0
    error: str | None = None
    #: The visit phase's figures (:class:`bench.visit.VisitFigures`), or why it failed.
    visit: Any = None
    visit_error: str | None = None


def run_backend(code: Checkout, backend: str, gens: Any, plan: Plan) -> BackendRun:
    """One checkout on one database: setup, restart, then the phases of ``plan`` in order."""
    import httpx

    from bench.common import NRCMS, member_body
    from bench.http_load import ADMIN, closed_loop, create_hospital_client, load_reference_over_http, log, open_loop
    from bench.server import served

    run = BackendRun(backend)
    started = time.perf_counter()
    specs = plan.phases()
    total = sum(s.pool for s in specs)
    template = claim_template()
    fills = [claim_fill(position) for position in range(total)]
    name = f"claims {code.label} {BACKENDS[backend]}"
    with (
        tempfile.TemporaryDirectory(prefix="settle-bench-claims-") as folder,
        fresh_database(backend, code) as url,
        served(
            "app.main:app",
            Path(folder),
            {"SETTLE_DATABASE_URL": url, "PYTHONPATH": str(code.path)},
            repo=code.path,
            python=code.python,
        ) as server,
    ):
        log(f"{name}: migrated and served in {time.perf_counter() - started:.1f} s; reference data, {total:,} members")
        with httpx.Client(base_url=server.base_url, timeout=120.0) as client:
            load_reference_over_http(client)
            _client_id, token = create_hospital_client(client)
            first = fills[0][1].decode()
            response = client.put(
                f"/v1/schemes/{NRCMS}/members/CB00000000", json=member_body("CB00000000", first, NRCMS), headers=ADMIN
            )
            if response.status_code not in (200, 201):
                raise RuntimeError(f"PUT member: {response.status_code} {response.text[:300]}")
        t0 = time.perf_counter()
        run.unknown_member_columns = copy_members(url, "CB00000000", [f[1].decode() for f in fills])
        log(f"{name}: {total - 1:,} members copied in {time.perf_counter() - t0:.1f} s")
        run.members = total
        if backend == "postgresql":
            settle_database(url)
        # Fresh workers: the cold start is the first claims these processes and this database see.
        server.stop()
        server.start()
        run.setup_s = time.perf_counter() - started
        log(f"{name}: set up in {run.setup_s:.1f} s")
        first_position = 0
        try:
            for spec in specs:
                server.wait_idle()
                log(f"{name}: {phase_name(spec)}, {spec.seconds:.0f} s")
                chunk = fills[first_position : first_position + spec.pool]
                paths = ["/v1/claims"] * len(chunk)
                if spec.mode == "closed":
                    phase = closed_loop(
                        gens,
                        server,
                        token,
                        phase_name(spec),
                        paths,
                        template,
                        concurrency=spec.load,
                        seconds=spec.seconds,
                        client="raw",
                        idempotency=True,
                        fills=chunk,
                        placeholders=PLACEHOLDERS,
                    )
                    if phase.issued_per_process * gens.count >= len(chunk):
                        run.ran_out.append(spec.key)
                else:
                    phase = open_loop(
                        gens,
                        server,
                        token,
                        phase_name(spec),
                        paths,
                        template,
                        rate=spec.load,
                        seconds=spec.seconds,
                        timeout=plan.timeout,
                        client="raw",
                        idempotency=True,
                        fills=chunk,
                        placeholders=PLACEHOLDERS,
                    )
                run.phases[spec.key] = phase
                errors = f", errors {sum(phase.errors.values())}" if phase.errors else ""
                log(
                    f"{name}: {phase_name(spec)}: {phase.achieved:,.0f}/s, p50 {phase.latency.p50 * 1000:,.1f} ms,"
                    f" p99 {phase.latency.p99 * 1000:,.1f} ms{errors}"
                )
                first_position += spec.pool
            server.wait_idle()
            if plan.visit:
                try:
                    run.visit = visit_phase(code, url, server, plan, name)
                except Exception as exc:
                    traceback.print_exc()
                    run.visit_error = f"{exc!r}"[:600]
        finally:
            problems = server.log_problems()
            run.server_problems = len(problems)
            if problems:
                print("\n".join(problems[:20]), file=sys.stderr)
        run.acknowledged = sum(p.ok for p in run.phases.values())
        run.settlements_in_db = count_settlements(url)
    run.elapsed_s = time.perf_counter() - started
    return run


def visit_phase(code: Checkout, url: str, server: Any, plan: Plan, name: str) -> Any:
    """The sample's routes, tiers and members (``python -m app load-sample`` of the checkout), the
    patients copied from the sample's member of the route's schemes, the server restarted (its
    workers see the new reference data), then :func:`bench.visit.run_visit_phase`."""
    import httpx

    from bench.http_load import ADMIN, log
    from bench.visit import TEMPLATE_MEMBER, patients, run_visit_phase

    run_app(code, url, "load-sample")
    people = patients(plan.visit_pool)
    ids = [p.id_number for p in people]
    copy_members(url, TEMPLATE_MEMBER, ids, prefix="VB", first=0)
    copy_members(url, "MA5116230001", ids, prefix="VM", first=0)
    if url.startswith("postgresql"):
        settle_database(url)
    server.stop()
    server.start()
    hospital = visit_hospital()
    with httpx.Client(base_url=server.base_url, timeout=60.0) as client:
        body = {"name": "bench visits", "role": "hospital", "hospital_code": hospital}
        created = client.post("/v1/clients", json=body, headers=ADMIN)
        if created.status_code != 201:
            raise RuntimeError(f"POST /v1/clients: {created.status_code} {created.text[:300]}")
        token = str(created.json()["token"])
    before = settlements_by_scheme(url)
    log(f"{name}: visit phase, {len(people):,} patients, {plan.seconds:.0f} s each of claims and visits, 3 rounds")
    figures = run_visit_phase(
        server.base_url,
        token,
        hospital,
        people,
        seconds=plan.seconds,
        cpu=lambda: server_cpu(server),
        wait_idle=server.wait_idle,
    )
    after = settlements_by_scheme(url)
    figures.settled = {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v != before.get(k, 0)}
    log(
        f"{name}: server CPU {figures.claim.cpu_ms or float('nan'):.2f} ms a claim ({figures.claim.done}),"
        f" {figures.visit.cpu_ms or float('nan'):.2f} ms a visit ({figures.visit.done})"
    )
    return figures


def settlements_by_scheme(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT scheme_code, count(*) FROM settlement GROUP BY scheme_code"))
            return {str(code): int(n) for code, n in rows}
    finally:
        engine.dispose()


def visit_hospital() -> str:
    from bench.visit import bill

    return str(bill()["hospital"]["code"])


def server_cpu(server: Any) -> float | None:
    from bench.cpu import process_group_cpu

    pgid = server.pgid
    return None if pgid is None else process_group_cpu(pgid)


# --- the run and its report ------------------------------------------------------------------------


def pg_reachable() -> bool:
    from bench.common import pg_server_version

    return not pg_server_version().startswith("not reachable")


def run_text(
    code_dirs: list[str],
    *,
    seconds: float,
    profile: bool,
    n: int = 200,
    pgbench_seconds: float = 8.0,
    top: int = 25,
    http: bool = True,
    quick: bool = False,
    plan: Plan | None = None,
    backends: tuple[str, ...] = ("postgresql", "sqlite"),
) -> str:
    """Every checkout measured, the markdown section.  Order: the echo app, each checkout's probe,
    then each database's phases checkout after checkout (so a drift of the machine's load is spread
    over the columns rather than falling on one)."""
    from sqlalchemy.engine import make_url

    from bench.common import PG_URL, machine
    from bench.http_load import Config, generators, log, run_echo

    started = time.perf_counter()
    codes = checkouts(code_dirs)
    plan = plan or Plan(seconds=seconds, timeout=5.0 if quick else 10.0)
    info = machine()
    notes: list[str] = []
    figures: dict[str, dict[str, Any]] = {c.label: {"http": {}} for c in codes}
    use_pg = pg_reachable()
    if not use_pg:
        notes.append(
            f"PostgreSQL was not reachable at `{make_url(PG_URL).render_as_string(hide_password=True)}`"
            " (`SETTLE_BENCH_PG_URL`): the probe, pgbench and the"
            " PostgreSQL phases were skipped."
        )
        log(notes[-1])
    if use_pg:
        for code in codes:
            log(f"claims {code.label}: probe, {n} sequential claims, pgbench {pgbench_seconds:.0f} s")
            try:
                figures[code.label]["probe"] = run_probe(code, n, profile, pgbench_seconds, top)
            except Exception as exc:
                traceback.print_exc()
                notes.append(f"The probe of {code.label} failed: `{exc!r}`"[:600])
    echo = None
    if http:
        with generators(2) as gens:
            echo = run_echo(gens, Config(quick=quick, concurrency=64))
            for backend in backends:
                if backend == "postgresql" and not use_pg:
                    continue
                for code in codes:
                    try:
                        figures[code.label]["http"][backend] = run_backend(code, backend, gens, plan)
                    except Exception as exc:
                        traceback.print_exc()
                        notes.append(f"{BACKENDS[backend]} over HTTP failed for {code.label}: `{exc!r}`"[:600])
    elapsed = time.perf_counter() - started
    return render(codes, figures, echo, info, plan=plan, notes=notes, elapsed_s=elapsed, http=http, backends=backends)


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    ms = seconds * 1000
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def _p50_p99(latency: Any) -> str:
    if latency is None or not latency.count:
        return "-"
    return f"{_ms(latency.p50)} / {_ms(latency.p99)}"


def _errors(phase: Any) -> str:
    if not phase.errors:
        return "none"
    return ", ".join(f"{name} x{count:,}" for name, count in sorted(phase.errors.items()))


HOW_TO_READ = (
    "How to read this: columns are checkouts measured in the same run, one phase at a time; compare"
    " them with each other, not with figures of another run or machine. Counts (statements, round trips,"
    " transactions) are exact and repeatable. Rates, latencies and CPU per claim are noisy on a shared"
    " 2-core machine: the server, PostgreSQL and the load generators share the cores, so a busy machine"
    " lowers every column. Closed loop (N concurrent): each client sends its next claim when the last one"
    " answered; claims/s counts the answers after the first second; p50/p99 over every claim. Open loop"
    " (R/s offered): claims are sent on schedule whatever the answers, latency from the scheduled time, so"
    " an overloaded server shows as growing latency, an achieved rate below the offered one, and timeouts"
    " (`TimeoutError`: no answer within the timeout; `unfinished`: still waiting when the phase gave up)."
    " The cold start is the first load the fresh database and fresh workers see: its first second against"
    " the rest shows a queue at the start (the issue's target: the first second as fast as the rest)."
    " The database may hold more settlements than claims answered 201: the server finishes a claim whose"
    " client stopped waiting."
    " Server CPU is the uvicorn processes' own (from /proc), without PostgreSQL's; at 2 concurrent there is"
    " no queueing, so it is the cost of one claim. The pgbench ceiling is PostgreSQL alone running one"
    " claim's statements: claims/s as a share of it says how much of the database's capacity the service"
    " turns into claims."
)


VISIT_HOW_TO_READ = (
    "The visit phase runs after the others, on the same server and database: the sample's routes, tiers "
    "and members loaded (`python -m app load-sample`), the server restarted, 5 claims and 5 visits to "
    "warm up, then three rounds of claims for a third of the phase's seconds and visits for as long "
    "(alternating, so a drift of the machine's load falls on both), each at 2 concurrent clients (the "
    "bench's threads). The claim is bill 3 with forty lines (its lines without the targeted drug, as "
    "`bench/nhsa.py`) under NRCMS-511623 and its two tiers; the visit is the same forty lines in one 2301"
    " under the route of 511623/390 (the same three schemes). Every claim and every visit is a different "
    "patient's first of the year (members copied from the sample's), so no cap or accumulator makes one "
    "differ from another. Server CPU as above (the uvicorn processes', from /proc, over the measured "
    "window): per claim and per whole visit of four messages, over the rounds; in brackets each round's "
    "own ratio (its claims' window against its visits'), how far one window's figure strays. The "
    "issue's target: visit / claim at most 2."
)


def _visit_cpu(run: BackendRun, side: str) -> str:
    if run.visit is None:
        return f"failed: `{run.visit_error}`" if run.visit_error else "-"
    driven = getattr(run.visit, side)
    return f"{driven.cpu_ms:.2f} ({driven.done:,})" if driven.cpu_ms is not None else "-"


def _visit_ratio(run: BackendRun) -> str:
    ratio = run.visit.ratio if run.visit is not None else None
    if ratio is None:
        return "-"
    rounds = run.visit.round_ratios
    return f"{ratio:.2f}x" + (f" (rounds: {', '.join(f'{r:.2f}' for r in rounds)})" if rounds else "")


def _visit_p50(run: BackendRun) -> str:
    c, v = run.visit.claim.p50_ms, run.visit.visit.p50_ms
    return f"{c:,.1f} / {v:,.1f}" if c is not None and v is not None else "-"


def _visit_failed(run: BackendRun) -> str:
    figures = run.visit
    out = f"{figures.claim.failed:,} / {figures.visit.failed:,}"
    if figures.ran_out:
        out += f" (ran out: {', '.join(figures.ran_out)})"
    failures = figures.claim.failures[:1] + figures.visit.failures[:1]
    return out + "".join(f"; `{f[:200]}`" for f in failures)


def render(
    codes: list[Checkout],
    figures: dict[str, dict[str, Any]],
    echo: Any,
    machine: dict[str, str],
    *,
    plan: Plan,
    notes: list[str],
    elapsed_s: float,
    http: bool = True,
    backends: tuple[str, ...] = ("postgresql", "sqlite"),
) -> str:
    out = [
        "## Claims, side by side (`python -m bench.claims`)",
        "",
        f"{machine['date']}, {machine['cores (os.cpu_count)']} cores, load average at start "
        f"{machine['load average at start (1/5/15 min)']}; PostgreSQL {machine['PostgreSQL server']}, "
        f"SQLite {machine['SQLite']}. `POST /v1/claims`, a {LINES}-line bill under NRCMS, a fresh "
        "`Idempotency-Key` each, every claim a different patient's first of the year (the same claims in "
        "the same order for every checkout). 2 uvicorn workers on PostgreSQL and on SQLite (WAL). Phases of "
        f"{plan.seconds:g} s (the cold start {plan.cold_seconds:g} s), one at a time, each started once the "
        f"server was idle; open-loop timeout {plan.timeout:g} s. Run time {elapsed_s:,.0f} s.",
        "",
    ]
    for c in codes:
        changes = ", **with uncommitted changes**" if c.dirty else ""
        changes += "".join(f", `{name}={value}`" for name, value in c.settings)
        out.append(f"- **{c.label}**: `{c.commit[:100] or 'not a git checkout'}` ({c.path}{changes}; `{c.python}`)")
    out.append("")
    if notes:
        out += [f"> {note}" for note in notes] + [""]

    def table(title: str, rows: list[tuple[str, Any]]) -> None:
        out.extend([f"### {title}", "", "| figure | " + " | ".join(c.label for c in codes) + " |"])
        out.append("|---|" + "---|" * len(codes))
        for label, fn in rows:
            cells = []
            for c in codes:
                try:
                    value = fn(figures[c.label])
                except (KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError):
                    value = "-"
                cells.append(str(value))
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")

    if any("probe" in figures[c.label] for c in codes):
        table(
            "Counted per claim (PostgreSQL, sequential claims in process)",
            [
                ("claims counted", lambda f: f"{f['probe']['n']:,}"),
                ("SQL statements", lambda f: f"{f['probe']['statements']:.1f}"),
                ("round trips (statements + BEGIN/COMMIT + pre-pings)", lambda f: f"{f['probe']['round_trips']:.1f}"),
                ("transactions (BEGIN ... COMMIT)", lambda f: f"{f['probe']['transactions']:.2f}"),
                ("autocommit statements (pre-pings apart)", lambda f: f"{f['probe']['autocommit_statements']:.2f}"),
                ("pool pre-pings", lambda f: f"{f['probe']['pings']:.0f}"),
                (
                    "transactions as PostgreSQL counts them (pg_stat_database, pre-pings apart)",
                    lambda f: f"{f['probe']['transactions_server']:.2f}",
                ),
                (
                    "pgbench ceiling: one claim's statements, 32 clients (claims/s)",
                    lambda f: f"{f['probe']['pgbench']['tps']:,.0f}" if "tps" in f["probe"]["pgbench"] else "failed",
                ),
            ],
        )

    def run_of(f: dict[str, Any], backend: str) -> BackendRun:
        run: BackendRun = f["http"][backend]
        return run

    def ph(f: dict[str, Any], backend: str, key: str) -> Any:
        return run_of(f, backend).phases[key]

    for backend in backends if http else ():
        if not any(backend in figures[c.label]["http"] for c in codes):
            continue
        b = backend
        rows: list[tuple[str, Any]] = [
            (
                f"cold start ({COLD_CONCURRENCY} concurrent, fresh database and workers): p50 / p99 ms, "
                "claims sent in the first second",
                lambda f, b=b: (
                    _p50_p99(ph(f, b, "cold").first_second) + f" ({ph(f, b, 'cold').first_second.count:,} claims)"
                ),
            ),
            (
                "cold start: p50 / p99 ms, claims sent after the first second",
                lambda f, b=b: _p50_p99(ph(f, b, "cold").after_first_second),
            ),
            (
                "cold start: p99 of the first second / p99 after it",
                lambda f, b=b: f"{ph(f, b, 'cold').first_second.p99 / ph(f, b, 'cold').after_first_second.p99:.1f}x",
            ),
            ("cold start: errors", lambda f, b=b: _errors(ph(f, b, "cold"))),
            ("claims/s, 2 concurrent (no queueing)", lambda f, b=b: f"{ph(f, b, 'c2').achieved:,.0f}"),
            ("p50 / p99 ms, 2 concurrent", lambda f, b=b: _p50_p99(ph(f, b, "c2").latency)),
            (
                "**server CPU ms per claim**, 2 concurrent",
                lambda f, b=b: f"{ph(f, b, 'c2').server_cpu_ms_per_request:.2f}",
            ),
        ]
        for conc in plan.concurrencies:
            k = f"c{conc}"
            rows += [
                (f"**claims/s at saturation, {conc} concurrent**", lambda f, b=b, k=k: f"{ph(f, b, k).achieved:,.0f}"),
                (f"p50 / p99 ms, {conc} concurrent", lambda f, b=b, k=k: _p50_p99(ph(f, b, k).latency)),
                (
                    f"server CPU ms per claim, {conc} concurrent",
                    lambda f, b=b, k=k: f"{ph(f, b, k).server_cpu_ms_per_request:.2f}",
                ),
                (f"errors, {conc} concurrent", lambda f, b=b, k=k: _errors(ph(f, b, k))),
            ]
        for r in plan.rates:
            k = f"open{r}"
            rows += [
                (
                    f"open loop {r}/s offered: **p50 / p99 ms**",
                    lambda f, b=b, k=k: _p50_p99(ph(f, b, k).latency),
                ),
                (f"open loop {r}/s: achieved claims/s", lambda f, b=b, k=k: f"{ph(f, b, k).achieved:,.0f}"),
                (f"open loop {r}/s: errors", lambda f, b=b, k=k: _errors(ph(f, b, k))),
            ]
        if backend == "postgresql":
            for conc in plan.concurrencies:
                rows.append(
                    (
                        f"claims/s at {conc} concurrent as a share of the pgbench ceiling",
                        lambda f, b=b, k=f"c{conc}": f"{ph(f, b, k).achieved / f['probe']['pgbench']['tps']:.0%}",
                    )
                )
        rows += [
            (
                "claims answered 201 / settlements in the database",
                lambda f, b=b: (
                    f"{run_of(f, b).acknowledged:,} / "
                    + (f"{run_of(f, b).settlements_in_db:,}" if run_of(f, b).settlements_in_db is not None else "?")
                ),
            ),
            ("server log lines at ERROR or WARNING", lambda f, b=b: f"{run_of(f, b).server_problems:,}"),
            (
                "phases that ran out of claims (ended early)",
                lambda f, b=b: ", ".join(run_of(f, b).ran_out) or "none",
            ),
        ]
        table(f"{BACKENDS[backend]} over HTTP", rows)
        for c in codes:
            run = figures[c.label]["http"].get(backend)
            if run is not None and run.unknown_member_columns:
                out.append(
                    f"> {c.label}: the `member` table has columns the bench does not know, copied from the template"
                    f" member as they are: {', '.join(run.unknown_member_columns)}."
                )
                out.append("")
    visit_rows: list[tuple[str, Any]] = []
    for backend in backends if http and plan.visit else ():
        if not any(backend in figures[c.label]["http"] for c in codes):
            continue
        label = BACKENDS[backend]
        visit_rows += [
            (
                f"{label}: **server CPU ms per claim** (`POST /v1/claims`, claims measured)",
                lambda f, b=backend: _visit_cpu(run_of(f, b), "claim"),
            ),
            (
                f"{label}: **server CPU ms per visit** (2401, one 2301, 2402, 2304; visits measured)",
                lambda f, b=backend: _visit_cpu(run_of(f, b), "visit"),
            ),
            (f"{label}: **visit / claim**, server CPU", lambda f, b=backend: _visit_ratio(run_of(f, b))),
            (
                f"{label}: p50 ms of a claim / of a whole visit",
                lambda f, b=backend: _visit_p50(run_of(f, b)),
            ),
            (f"{label}: failed claims / visits", lambda f, b=backend: _visit_failed(run_of(f, b))),
            (
                f"{label}: settlements the phase added (warm-up included), by scheme",
                lambda f, b=backend: ", ".join(f"{k} {v:,}" for k, v in run_of(f, b).visit.settled.items()) or "-",
            ),
        ]
    if visit_rows:
        table(
            f"A {LINES}-line visit through the national interface against the same claim (2 concurrent)",
            visit_rows,
        )
        out += [VISIT_HOW_TO_READ, ""]
    if echo is not None:
        out += [
            f"Echo ceiling (bench/echo_app.py, same uvicorn setup, {echo.concurrency} concurrent): "
            f"{echo.achieved:,.0f} req/s, **server CPU {echo.server_cpu_ms_per_request:.2f} ms per request**.",
            "",
        ]
    out += [HOW_TO_READ, ""]
    for c in codes:
        p = figures[c.label].get("probe") or {}
        if p.get("profiled"):
            out += [
                f"### cProfile of {p['n']} sequential claims, {c.label}"
                f" (thread CPU, % of {p['profile_total_s']:.2f} s)",
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
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.claims", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("mode", nargs="?", choices=("run", "probe"), default="run")
    parser.add_argument(
        "--code", action="append", help="a checkout to measure, DIR or LABEL=DIR (repeatable; default this one)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3-second phases, 50 probe claims, 5 s of pgbench, 5 s open-loop timeout"
    )
    parser.add_argument("-n", type=int, help="sequential claims counted (and profiled); default 200, quick 50")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--seconds", type=float, help="each HTTP phase; default 8, quick 3")
    parser.add_argument("--pgbench-seconds", type=float, help="default 8, quick 5")
    parser.add_argument("--rates", default="250,500", help="open-loop offered rates, claims/s (default 250,500)")
    parser.add_argument("--concurrency", default="32,64", help="saturation phases' clients (default 32,64)")
    parser.add_argument(
        "--backends", default="postgresql,sqlite", help="postgresql, sqlite or both (default postgresql,sqlite)"
    )
    parser.add_argument("--json", type=Path, help="probe: write the figures here")
    parser.add_argument("--no-http", action="store_true", help="the probe and pgbench only")
    parser.add_argument(
        "--no-visit", action="store_true", help="without the visit phase (NHSA visits against the same claims)"
    )
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    args = parser.parse_args(argv)
    n = args.n if args.n is not None else (50 if args.quick else 200)
    pgbench_seconds = args.pgbench_seconds if args.pgbench_seconds is not None else (5.0 if args.quick else 8.0)
    if args.mode == "probe":
        data = probe(n, args.profile, pgbench_seconds, args.top)
        if args.json:
            args.json.write_text(json.dumps(data, indent=1))
        else:
            print(json.dumps(data, indent=1))
        return 0

    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    seconds = args.seconds if args.seconds is not None else (3.0 if args.quick else 8.0)
    plan = Plan(
        seconds=seconds,
        concurrencies=tuple(int(c) for c in args.concurrency.split(",") if c.strip()),
        rates=tuple(int(r) for r in args.rates.split(",") if r.strip()),
        timeout=5.0 if args.quick else 10.0,
        visit=not args.no_visit,
    )
    text = run_text(
        args.code or [],
        seconds=seconds,
        profile=args.profile,
        n=n,
        pgbench_seconds=pgbench_seconds,
        top=args.top,
        http=not args.no_http,
        quick=args.quick,
        plan=plan,
        backends=backends,
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


def _bench_from_this_checkout() -> None:
    """Run as a script (the probe's subprocess): ``bench`` from this file's checkout, ``app`` from
    ``PYTHONPATH`` (the checkout under test), whatever either has on ``sys.path``."""
    import importlib.util

    here = Path(__file__).resolve().parent
    if sys.path and Path(sys.path[0] or ".").resolve() == here:
        del sys.path[0]  # bench/ itself: its modules would shadow top-level names
    spec = importlib.util.spec_from_file_location("bench", here / "__init__.py", submodule_search_locations=[str(here)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    if __package__ in (None, ""):
        _bench_from_this_checkout()
    raise SystemExit(main())
