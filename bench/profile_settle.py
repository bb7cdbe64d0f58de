"""Profile the settle request path in-process on PostgreSQL: ``python -m bench.profile_settle``.

A fresh database (``settle_bench_profile``), the sample reference data and a hospital client
through the API (``TestClient``), members over HTTP, bills inserted as in :mod:`bench.http_load`;
then ``N`` settlements (``POST /v1/bills/{id}/settlements``, NRCMS) one after another, the app
profiled with cProfile.  So that the profile sees the whole request, FastAPI's and the request
observer's thread-pool hops run inline (``run_in_threadpool`` is replaced for this process
only): the sync endpoint, its dependencies and the audit write then run in the event loop's
thread, where the profiler is enabled around each request.

Prints the hottest functions by cumulative and by own time (file:function, % of the profiled
time) and the own time by package; ``--out FILE`` also writes the raw ``pstats`` file
(``python -m pstats FILE``, snakeviz, ...).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bench.common import ADMIN_TOKEN, NRCMS, resident_id, scratch_postgres

T = TypeVar("T")
PROFILE_DB = "settle_bench_profile"
REPO = Path(__file__).resolve().parent.parent


@contextmanager
def profile_database() -> Iterator[str]:
    with scratch_postgres(PROFILE_DB) as url:
        yield url


def run_inline() -> None:
    """Make FastAPI's (and the observer's and the token lookup's) thread-pool hops plain calls, in this process."""
    import fastapi.dependencies.utils
    import fastapi.routing

    import app.api.auth
    import app.api.observe

    async def inline(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return func(*args, **kwargs)

    fastapi.routing.run_in_threadpool = inline  # type: ignore[attr-defined]
    fastapi.dependencies.utils.run_in_threadpool = inline  # type: ignore[attr-defined]
    app.api.observe.run_in_threadpool = inline  # type: ignore[attr-defined]
    app.api.auth.run_in_threadpool = inline  # type: ignore[attr-defined]


def count_statements() -> Counter[str]:
    """Every SQL statement the app's engine runs, by its first words."""
    from sqlalchemy import event

    from app.db.session import get_engine

    seen: Counter[str] = Counter()

    @event.listens_for(get_engine(), "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen[" ".join(statement.split())[:110]] += 1

    return seen


def where(key: tuple[str, int, str], *, root: Path = REPO) -> str:
    """``file:line:function``, the file relative to the repository (``root``) or to site-packages."""
    filename, line, function = key
    if filename == "~":
        return function
    parts = Path(filename).parts
    if "site-packages" in parts:
        shown = "/".join(parts[parts.index("site-packages") + 1 :])
    elif Path(filename).is_relative_to(root):
        shown = str(Path(filename).relative_to(root))
    else:
        shown = "stdlib/" + Path(filename).name
    return f"{shown}:{line}:{function}"


def package(filename: str, *, root: Path = REPO) -> str:
    """The distribution (``sqlalchemy``, ``psycopg``, ...), the app's subpackage, or ``stdlib``."""
    if filename == "~":
        return "C builtins"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    if Path(filename).is_relative_to(root / "app"):
        rel = Path(filename).relative_to(root).parts
        return "/".join(rel[:2])
    if Path(filename).is_relative_to(root):
        return Path(filename).relative_to(root).parts[0]
    return "stdlib"


Key = tuple[str, int, str]


def print_tables(own: dict[Key, float], cumulative: dict[Key, float], total: float, top: int) -> None:
    print(f"Top {top} by cumulative time (% of the profiled time):")
    for key, t in sorted(cumulative.items(), key=lambda kv: kv[1], reverse=True)[:top]:
        print(f"  {t / total:6.1%}  {where(key)}")
    mine = [(key, t) for key, t in cumulative.items() if Path(key[0]).is_relative_to(REPO / "app")]
    print(f"\nThe app's own functions, top {top} by cumulative time:")
    for key, t in sorted(mine, key=lambda kv: kv[1], reverse=True)[:top]:
        print(f"  {t / total:6.1%}  {where(key)}")
    print(f"\nTop {top} by own time:")
    for key, t in sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:top]:
        print(f"  {t / total:6.1%}  {where(key)}")
    by_package: dict[str, float] = defaultdict(float)
    for key, t in own.items():
        by_package[package(key[0])] += t
    print("\nOwn time by package:")
    for name, t in sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)[:25]:
        print(f"  {t / total:6.1%}  {name}")


def report_cprofile(stats: pstats.Stats, top: int) -> None:
    raw: dict[Key, tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    own = {key: tt for key, (_cc, _nc, tt, _ct, _callers) in raw.items()}
    cumulative = {key: ct for key, (_cc, _nc, _tt, ct, _callers) in raw.items()}
    total = sum(own.values())
    print(f"\nprofiled time {total:.3f} s (cProfile)\n")
    print_tables(own, cumulative, total, top)


def report_samples(session: Any, top: int) -> None:
    """The same tables from pyinstrument's samples (a function's cumulative time counted once per
    stack, however often it recurses)."""
    own: dict[Key, float] = defaultdict(float)
    cumulative: dict[Key, float] = defaultdict(float)
    root = session.root_frame()

    def walk(frame: Any, active: frozenset[Key]) -> None:
        if frame.is_synthetic:
            return
        key: Key = (frame.file_path or "~", frame.line_no or 0, frame.function or "?")
        own[key] += frame.total_self_time
        if key not in active:
            cumulative[key] += frame.time
        for child in frame.children:
            walk(child, active | {key})

    walk(root, frozenset())
    total = root.time
    print(f"\nprofiled time {total:.3f} s (pyinstrument samples, wall time)\n")
    print_tables(own, cumulative, total, top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_settle", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="settlements profiled (default 300)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, help="write the pstats file (pyinstrument: its call tree) here")
    parser.add_argument(
        "--timer",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: the thread's CPU time (where the server's CPU goes); wall: with the waits for the database",
    )
    parser.add_argument(
        "--pyinstrument",
        action="store_true",
        help="sample with pyinstrument (wall time, low overhead; pip install pyinstrument) instead of cProfile",
    )
    args = parser.parse_args(argv)

    with profile_database() as url:
        os.environ.update(
            {"SETTLE_DATABASE_URL": url, "SETTLE_ADMIN_TOKEN": ADMIN_TOKEN, "SETTLE_LOG_LEVEL": "WARNING"}
        )
        from fastapi.testclient import TestClient

        from app.main import create_app
        from app.settings import get_settings
        from bench.http_load import create_hospital_client, enrol_members, insert_bills, load_reference_over_http

        get_settings.cache_clear()
        run_inline()
        app = create_app()
        statements = count_statements()
        profiler = cProfile.Profile(time.thread_time if args.timer == "cpu" else time.perf_counter)
        sampler: Any = None
        if args.pyinstrument:
            from pyinstrument import Profiler

            sampler = Profiler(interval=0.0002, async_mode="disabled")
        profiling = False

        async def profiled(scope: Any, receive: Any, send: Any) -> None:
            if not profiling:
                await app(scope, receive, send)
                return
            if sampler is not None:
                sampler.start()
            else:
                profiler.enable()
            try:
                await app(scope, receive, send)
            finally:
                if sampler is not None:
                    sampler.stop()
                else:
                    profiler.disable()

        warmup = 30
        patients = [resident_id(n) for n in range(args.n + warmup)]
        with TestClient(profiled) as client:
            load_reference_over_http(client)
            client_id, token = create_hospital_client(client)
            enrol_members(client, patients, prefix="P")
            bills = insert_bills(url, client_id, patients, len(patients), prefix="P")
            auth = {"Authorization": f"Bearer {token}"}
            body = {"scheme_code": NRCMS}
            for bill_id in bills[:warmup]:
                assert client.post(f"/v1/bills/{bill_id}/settlements", json=body, headers=auth).status_code == 201
            statements.clear()
            profiling = True
            t0, c0 = time.perf_counter(), time.process_time()
            for bill_id in bills[warmup:]:
                r = client.post(f"/v1/bills/{bill_id}/settlements", json=body, headers=auth)
                assert r.status_code == 201, r.text
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            profiling = False
        print(
            f"{args.n} settlements: {wall / args.n * 1000:.2f} ms each wall, {cpu / args.n * 1000:.2f} ms CPU"
            " (with the profiler on, and the TestClient in the same process)"
        )
        print(f"\nSQL statements per settlement ({sum(statements.values()) / args.n:.1f} in all):")
        for sql, count in statements.most_common():
            print(f"  {count / args.n:5.2f}  {sql}")
        if sampler is not None:
            if args.out:
                args.out.write_text(sampler.output_text(unicode=True, color=False), encoding="utf-8")
            report_samples(sampler.last_session, args.top)
            return 0
        stats = pstats.Stats(profiler)
        if args.out:
            stats.dump_stats(args.out)
        report_cprofile(stats, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
