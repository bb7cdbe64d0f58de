"""Claims/s through PgBouncer (transaction mode) against direct, side by side in one run:
``python -m bench.pgbouncer``.

One fresh PostgreSQL database set up as :mod:`bench.claims` sets it up (the sample reference data
and a hospital client over HTTP, one member over HTTP and the others copied from its row, every
claim a different patient's first), one PgBouncer in front of it (``deploy/ha/pgbouncer.ini``),
then closed-loop phases of ``POST /v1/claims`` at ``--concurrency`` clients, alternating direct
and PgBouncer (``--rounds`` times each, the server restarted with fresh workers before each
phase), so a drift of the machine's load falls on both columns.  Through PgBouncer the service
runs with ``SETTLE_DB_PGBOUNCER=true`` (no startup options, nothing prepared on the server) and
the database carries the timeouts it would otherwise send (:func:`database_settings`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parent.parent
INI = REPO / "deploy" / "ha" / "pgbouncer.ini"


def database_settings(url: str, *, lock_timeout_ms: int = 5000, deadline_ms: int = 10000) -> None:
    """``lock_timeout``, ``statement_timeout`` and ``idle_in_transaction_session_timeout`` set on
    the database (new sessions take them): what the service sends as startup options when it
    does not go through PgBouncer (``app.db.session.pg_connect_args``)."""
    name = make_url(url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            for parameter, ms in (
                ("lock_timeout", lock_timeout_ms),
                ("statement_timeout", deadline_ms),
                ("idle_in_transaction_session_timeout", deadline_ms),
            ):
                conn.execute(text(f'ALTER DATABASE "{name}" SET {parameter} = {int(ms)}'))
    finally:
        engine.dispose()


class PgBouncer:
    """One ``pgbouncer`` on a free loopback port, in transaction mode, for every database of the
    PostgreSQL at ``host:port`` (as the ``postgres`` user when run as root: it refuses root)."""

    def __init__(self, host: str, port: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="settle-pgbouncer-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        as_root = os.geteuid() == 0
        self.user = "postgres" if as_root else os.environ.get("USER", "postgres")
        (self.root / "userlist.txt").write_text(f'"{self.user}" ""\n')
        ini = INI.read_text().replace("@TARGET@", f"host={host} port={port}")
        (self.root / "pgbouncer.ini").write_text(ini.replace("@DIR@", str(self.root)).replace("@PORT@", str(self.port)))
        if as_root:
            for path in (self.root, *self.root.iterdir()):
                shutil.chown(path, self.user, self.user)
        command = ["pgbouncer", str(self.root / "pgbouncer.ini")]
        if as_root:
            command = ["runuser", "-u", self.user, "--", *command]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pgbouncer did not listen within {timeout:.0f} s: {self.log()[-2000:]}")

    def url(self, url: str) -> str:
        """``url`` (a database of the PostgreSQL behind) through this PgBouncer."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def run(*, seconds: float, concurrency: int, rounds: int) -> str:
    import httpx

    from bench.claims import (
        CLOSED_POOL_RATE,
        PLACEHOLDERS,
        checkouts,
        claim_fill,
        claim_template,
        copy_members,
        fresh_database,
        settle_database,
    )
    from bench.common import NRCMS, member_body
    from bench.http_load import ADMIN, closed_loop, create_hospital_client, generators, load_reference_over_http, log
    from bench.server import served

    code = checkouts([])[0]
    pool = int(CLOSED_POOL_RATE * seconds)
    fills = [claim_fill(position) for position in range(pool * rounds * 2)]
    template = claim_template()
    figures: dict[str, list[Any]] = {"direct": [], "pgbouncer": []}
    with (
        generators(2) as gens,
        tempfile.TemporaryDirectory(prefix="settle-bench-pgbouncer-") as folder,
        fresh_database("postgresql", code) as url,
        served("app.main:app", Path(folder), {"SETTLE_DATABASE_URL": url}) as server,
    ):
        with httpx.Client(base_url=server.base_url, timeout=120.0) as client:
            load_reference_over_http(client)
            _client_id, token = create_hospital_client(client)
            body = member_body("CB00000000", fills[0][1].decode(), NRCMS)
            client.put(f"/v1/schemes/{NRCMS}/members/CB00000000", json=body, headers=ADMIN).raise_for_status()
        copy_members(url, "CB00000000", [f[1].decode() for f in fills])
        settle_database(url)
        database_settings(url)
        parsed = make_url(url)
        bouncer = PgBouncer(parsed.host or "127.0.0.1", parsed.port or 5432)
        modes = {
            "direct": {"SETTLE_DATABASE_URL": url},
            "pgbouncer": {"SETTLE_DATABASE_URL": bouncer.url(url), "SETTLE_DB_PGBOUNCER": "true"},
        }
        try:
            first = 0
            for round_ in range(rounds):
                for mode, env in modes.items():
                    server.env.pop("SETTLE_DB_PGBOUNCER", None)
                    server.env.update(env)
                    server.stop()
                    server.start()
                    server.wait_idle()
                    chunk = fills[first : first + pool]
                    first += pool
                    name = f"{mode} {concurrency} concurrent"
                    phase = closed_loop(
                        gens,
                        server,
                        token,
                        name,
                        ["/v1/claims"] * len(chunk),
                        template,
                        concurrency=concurrency,
                        seconds=seconds,
                        client="raw",
                        idempotency=True,
                        fills=chunk,
                        placeholders=PLACEHOLDERS,
                    )
                    figures[mode].append(phase)
                    log(
                        f"round {round_ + 1}, {name}: {phase.achieved:,.0f} claims/s,"
                        f" p50 {phase.latency.p50 * 1000:.1f} ms, p99 {phase.latency.p99 * 1000:.1f} ms,"
                        f" errors {phase.error_count}"
                    )
            problems = server.log_problems()
        finally:
            bouncer.stop()
    lines = [
        f"Claims/s, {concurrency} concurrent, closed loop, {seconds:.0f} s per phase, {rounds} phases each"
        " (alternating), 2 uvicorn workers, PostgreSQL direct and through PgBouncer 1.18 (transaction mode):",
        "",
        "| | claims/s (median) | each phase | p50 ms | p99 ms | server CPU ms/claim | errors |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for mode, phases in figures.items():
        rates = [p.achieved for p in phases]
        cpu = [p.server_cpu_ms_per_request for p in phases if p.server_cpu_ms_per_request is not None]
        lines.append(
            f"| {mode} | {statistics.median(rates):,.0f} | {', '.join(f'{r:,.0f}' for r in rates)}"
            f" | {statistics.median(p.latency.p50 for p in phases) * 1000:.1f}"
            f" | {statistics.median(p.latency.p99 for p in phases) * 1000:.1f}"
            f" | {statistics.median(cpu) if cpu else float('nan'):.2f} | {sum(p.error_count for p in phases)} |"
        )
    if problems:
        lines += ["", f"The server logged {len(problems)} problems: {problems[:3]}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pgbouncer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="each phase (default 8)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="phases per mode, alternating (default 2)")
    args = parser.parse_args(argv)
    print(run(seconds=args.seconds, concurrency=args.concurrency, rounds=args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
