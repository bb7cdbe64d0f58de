"""A pg_auto_failover formation for the failover test: started and stopped by ``deploy/ha``'s
scripts, its nodes killed, silenced and restarted here.

Each node is one ``pg_autoctl run`` (the keeper) with PostgreSQL below it; the postmaster's
children start sessions of their own, so a node's processes are found as the descendants of its
``pg_autoctl run`` in ``/proc``, not by session or process group.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.stress.harness import free_port
from tests.support.paths import REPO

HA = REPO / "deploy" / "ha"
BINDIR = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


def missing() -> str | None:
    """Why a formation cannot be made here, or None."""
    if shutil.which("pg_autoctl") is None:
        return "pg_autoctl is not installed (bash deploy/ha/install.sh)"
    if not (BINDIR / "pg_ctl").is_file():
        return f"no PostgreSQL 15 server binaries in {BINDIR}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root and there is no {PG_USER!r} system user"
    return None


def _table() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, parents before children."""
    table, out, todo = _table(), [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(table.get(pid, ()))
    return out


def _signal(pids: list[int], sig: signal.Signals) -> int:
    sent = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            pass
    return sent


class Formation:
    """A monitor and ``node1``/``node2`` under ``root`` (``deploy/ha/start.sh``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.monitor_port, self.ports = free_port(), {"node1": free_port(), "node2": free_port()}
        self.url = ""
        self.log = root.parent / f"{root.name}-start.log"

    def start(self, timeout: float = 240.0) -> None:
        args = [str(self.monitor_port), str(self.ports["node1"]), str(self.ports["node2"]), "settle"]
        with self.log.open("ab") as out:
            done = subprocess.run(
                ["bash", str(HA / "start.sh"), str(self.root), *args],
                stdout=subprocess.PIPE,
                stderr=out,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"deploy/ha/start.sh failed ({done.returncode}):\n{self.log.read_text()[-4000:]}")
        self.url = done.stdout.decode().strip().splitlines()[-1]

    def stop(self) -> None:
        subprocess.run(["bash", str(HA / "stop.sh"), str(self.root), "--keep"], timeout=60, check=False)

    def node_url(self, name: str, database: str = "settle") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.ports[name]}/{database}"

    # --- faults --------------------------------------------------------------------------

    def runner(self, name: str) -> int:
        return int((self.root / f"{name}.runner").read_text())

    def processes(self, name: str) -> list[int]:
        """The node's keeper, postmaster and backends (the ``runuser`` above them left out)."""
        return descendants(self.runner(name))[1:]

    def kill(self, name: str) -> int:
        """SIGKILL the node's keeper, postmaster and every backend at once; how many."""
        return _signal(self.processes(name), signal.SIGKILL)

    def silence(self, name: str) -> int:
        """SIGSTOP every process of the node (connections stay open, nothing answers); again for
        any process forked meanwhile, until none is left running."""
        stopped: set[int] = set()
        while True:
            fresh = [p for p in self.processes(name) if p not in stopped]
            if not fresh:
                return len(stopped)
            _signal(fresh, signal.SIGSTOP)
            stopped.update(fresh)

    def rejoin(self, name: str) -> None:
        """``pg_autoctl run`` again for a killed node: its keeper asks the monitor, which makes
        it a standby of the new primary (rewound if need be)."""
        runner, deadline = self.runner(name), time.monotonic() + 30
        while Path(f"/proc/{runner}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the old runuser exits once its pg_autoctl is gone
        subprocess.run(["bash", str(HA / "run.sh"), str(self.root), name], timeout=30, check=True)

    # --- the monitor's view --------------------------------------------------------------

    def monitor(self, sql: str) -> list[tuple[object, ...]]:
        url = f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.monitor_port}/pg_auto_failover"
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def states(self) -> dict[str, tuple[str, str]]:
        """Node name: (reported state, assigned state)."""
        rows = self.monitor("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node")
        return {str(n): (str(r), str(g)) for n, r, g in rows}

    def wait_states(self, wanted: dict[str, str], timeout: float) -> float:
        """Until each named node is reported and assigned ``wanted[name]``; seconds waited."""
        began = time.monotonic()
        while True:
            try:
                states = self.states()
            except Exception:  # the monitor busy or restarting: asked again
                states = {}
            if all(states.get(n) == (s, s) for n, s in wanted.items()):
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"the formation did not reach {wanted} within {timeout:.0f} s: {states}")
            time.sleep(0.2)
