"""A private PostgreSQL instance for the fault tests: killed, cut off and restarted at will.

The fault tests must never touch the shared server on 5432, so :class:`PrivatePostgres` runs its
own: ``initdb`` into a fresh temporary folder, then ``pg_ctl`` on a free loopback port with its
Unix socket in that folder.  PostgreSQL refuses to run as root, so when the tests run as root the
binaries run as the ``postgres`` system user (``runuser -u postgres --``) and the folder belongs
to it.  The binaries are the newest under ``/usr/lib/postgresql/*/bin`` (or ``SETTLE_TEST_PG_BINDIR``,
or ``initdb`` on the ``PATH``).

:func:`find_bindir` says why the instance cannot be made, if it cannot; the fixture skips then,
or fails when ``SETTLE_TEST_REQUIRE_POSTGRES=1`` (CI).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.stress.harness import free_port

#: The system user the server runs as when the tests run as root.
PG_USER = "postgres"


def find_bindir() -> tuple[Path | None, str]:
    """The folder holding ``initdb`` and ``pg_ctl``, or None and why not."""
    override = os.environ.get("SETTLE_TEST_PG_BINDIR")
    candidates = [Path(override)] if override else []

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in bindir.parent.name.split(".") if x.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            if os.geteuid() == 0:
                try:
                    pwd.getpwnam(PG_USER)
                except KeyError:
                    return None, f"running as root and there is no {PG_USER!r} system user to run PostgreSQL as"
                if shutil.which("runuser") is None:
                    return None, "running as root and runuser (util-linux) is missing"
            return folder, ""
    return None, "no PostgreSQL server binaries (initdb, pg_ctl) are installed"


class PrivatePostgres:
    """One PostgreSQL instance in its own temporary folder, on a free loopback port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="settle-faults-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.port = free_port()
        if self.as_root:
            user = pwd.getpwnam(PG_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.user = PG_USER
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    # --- running the binaries ------------------------------------------------------------

    def _run(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        # --no-sync only skips flushing initdb's own files; the server itself keeps fsync on.
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self, timeout: float = 60.0) -> None:
        """``pg_ctl start -w``; after a SIGKILLed postmaster the old backends may still hold the
        shared memory for a moment, so a refused start is tried again until ``timeout``."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        deadline = time.monotonic() + timeout
        while True:
            result = self._run(
                "pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w", check=False
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", check=False)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill_postmaster(self, *, timeout: float = 30.0) -> None:
        """SIGKILL the postmaster alone, as the OOM killer would; returns once its backends and
        other children have noticed and exited (a busy backend may finish its statement first)."""
        pid = self.postmaster_pid()
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while any(_alive(c) for c in children):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the postmaster's children outlived it by {timeout:.0f} s")
            time.sleep(0.02)

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    # --- SQL -----------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                result = conn.execute(text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def destroy(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie that nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
