"""A real ``uvicorn`` server with 2 workers in a subprocess, and the database it serves.

The server runs in its own session (process group), so stopping it stops its workers too.
Its output goes to a log file (``SETTLE_LOG_LEVEL=WARNING``: request lines are not logged).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.common import ADMIN_TOKEN, free_port, scratch_postgres
from bench.cpu import process_group_cpu

REPO = Path(__file__).resolve().parent.parent
PG_BENCH_DB = "settle_bench_http"


class Server:
    def __init__(
        self,
        app: str,
        workdir: Path,
        env: Mapping[str, str],
        *,
        workers: int = 2,
        repo: Path = REPO,
        python: str = sys.executable,
    ) -> None:
        self.app = app
        #: The checkout whose ``app`` is served (another commit's worktree, for a before/after run).
        self.repo = repo
        #: The interpreter that runs uvicorn (a checkout's own ``.venv``, for a before/after run).
        self.python = python
        self.workdir = workdir
        self.env = dict(env)
        self.workers = workers
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{app.replace(':', '_').replace('.', '_')}.log"

    @property
    def pgid(self) -> int | None:
        """The server's process group (its supervisor's pid): the workers are in it."""
        return self.proc.pid if self.proc is not None else None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        metrics = self.workdir / "prometheus"
        metrics.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SETTLE_")}
        env.update(
            {
                "SETTLE_ADMIN_TOKEN": ADMIN_TOKEN,
                "SETTLE_LOG_LEVEL": "WARNING",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics),
                "PYTHONUNBUFFERED": "1",
                **self.env,
            }
        )
        command = [self.python, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers), "--no-access-log", "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=self.repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        ready = 0
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.app} exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    # Several answers in a row: both workers are likely up, not only the first.
                    ready = ready + 1 if client.get("/healthz").status_code == 200 else 0
                except httpx.TransportError:
                    ready = 0
                if ready >= 5:
                    return
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.app} was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM this server's process group, SIGKILL it after 15 s."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.proc = None

    def wait_idle(self, *, cores: float = 0.1, window: float = 0.5, timeout: float = 60.0) -> float:
        """Wait until the server uses less than ``cores`` of CPU over ``window`` seconds (requests
        that a generator gave up on may still be running); the seconds waited."""
        started = time.perf_counter()
        if self.proc is None:
            return 0.0
        before = process_group_cpu(self.proc.pid)
        while before is not None and time.perf_counter() - started < timeout:
            time.sleep(window)
            after = process_group_cpu(self.proc.pid)
            if after is None or after - before < cores * window:
                break
            before = after
        return time.perf_counter() - started

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Error and traceback lines the server logged (WARNING and above are logged)."""
        if not self.log.exists():
            return []
        keep = ("ERROR", "Traceback", '"level": "WARNING"', "CRITICAL")
        return [line for line in self.log.read_text(errors="replace").splitlines() if any(k in line for k in keep)]


@contextmanager
def served(
    app: str, workdir: Path, env: Mapping[str, str], *, repo: Path = REPO, python: str = sys.executable
) -> Iterator[Server]:
    server = Server(app, workdir, env, repo=repo, python=python)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def bench_database(backend: str) -> Iterator[str]:
    """A fresh database migrated with ``app.db.migrate.upgrade``; dropped (or deleted) at the end."""
    from app.db.migrate import upgrade

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="settle-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'settle.db'}"
            upgrade(url)
            yield url
        return
    with scratch_postgres(PG_BENCH_DB) as url:
        yield url
