"""Shared pieces of the benchmarks: the machine, the sample bill, resident IDs, statistics."""

from __future__ import annotations

import copy
import json
import os
import platform
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from stdnum.cn import ric

from app.sample import SAMPLE_DIR

#: The maintenance connection to PostgreSQL (the benchmark creates and drops its own database).
PG_URL = os.environ.get(
    "SETTLE_BENCH_PG_URL", os.environ.get("SETTLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
ADMIN_TOKEN = os.environ.get("SETTLE_BENCH_ADMIN_TOKEN", "bench-admin-token")
NRCMS, UEBMI = "NRCMS-511623", "UEBMI-321100"
HOSPITAL_CODE = "H511623001"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def sample_bill() -> dict[str, Any]:
    """``app/sample/bill-1.json``: 7 lines, NRCMS pays 4,815.00 of its 11,700.00."""
    data: dict[str, Any] = json.loads((SAMPLE_DIR / "bill-1.json").read_text(encoding="utf-8"))
    return data


def bill_with_lines(lines: int, *, bill_no: str | None = None, id_number: str | None = None) -> dict[str, Any]:
    """The sample bill with ``lines`` lines: its 7 lines repeated, renumbered 1..lines."""
    bill = sample_bill()
    template = bill["items"]
    items = []
    for n in range(lines):
        item = copy.copy(template[n % len(template)])
        item["line_no"] = n + 1
        items.append(item)
    bill["items"] = items
    if bill_no is not None:
        bill["bill_no"] = bill_no
    if id_number is not None:
        bill["patient"] = {"id_number": id_number, "name": f"Patient {id_number[-6:]}"}
    return bill


def resident_id(n: int, region: str = "511623") -> str:
    """The ``n``-th distinct valid resident ID number: region, a birth date, a serial, the check character."""
    birth = date(1950, 1, 1) + timedelta(days=n // 1000)
    first17 = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def member_body(member_no: str, id_number: str, scheme_code: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "member_no": member_no,
        "id_number": id_number,
        "name": f"Patient {id_number[-6:]}",
        "coverage": [{"from": "2025-01-01", "to": "2026-12-31"}],
        "offsite_registrations": [],
    }
    if scheme_code == UEBMI:
        body["offsite_registrations"] = [{"destination_region": "510000", "from": "2026-01-01", "to": "2026-12-31"}]
    return body


# --- statistics ----------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100); NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Latency:
    p50: float
    p95: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        values = sorted(seconds)
        return cls(
            percentile(values, 50),
            percentile(values, 95),
            percentile(values, 99),
            values[-1] if values else float("nan"),
            len(values),
        )


# --- the machine ---------------------------------------------------------------------------


def pg_server_version() -> str:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
    except Exception as exc:
        return f"not reachable ({type(exc).__name__})"
    return version


def code_version() -> str:
    """The commit benchmarked, and whether the working tree had changes."""
    import subprocess

    repo = SAMPLE_DIR.parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit}" + (" with uncommitted changes" if dirty else "")


def machine() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code": code_version(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "platform": platform.platform(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        "PostgreSQL server": pg_server_version(),
        "SQLite": sqlite3.sqlite_version,
        "load average at start (1/5/15 min)": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
    }


@contextmanager
def scratch_postgres(name: str, *, keep: bool = False, migrate: Callable[[str], None] | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database ``name`` beside ``PG_URL``, migrated (by ``migrate``, e.g. another
    checkout's own process, or else in this process); dropped at the end unless ``keep``.  Yields
    its URL."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        if migrate is None:
            from app.db.migrate import upgrade

            upgrade(url)
        else:
            migrate(url)
        yield url
    finally:
        if migrate is None:
            from app.db.session import reset_engine

            reset_engine()
        if keep:
            print(f"\nkept the database {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
