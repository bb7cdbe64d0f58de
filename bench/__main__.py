"""``python -m bench`` (``make bench``): every benchmark, figures printed and written to bench/RESULTS.md.

Sections (``--only`` takes a comma-separated list of them; ``http`` = ``echo,pg,sqlite``):

- ``engine``: the pure engine, 40-line bills per second, and one 10,000-line bill;
- ``e2e``: one 10,000-line bill submitted and settled over HTTP on PostgreSQL;
- ``echo``: the ceiling, a bare FastAPI echo app on the same uvicorn setup;
- ``pg``: settlements over HTTP on PostgreSQL: open loop at 20/s (a baseline without queueing),
  250, 500 and 1,000/s, then saturation (closed loop, 64 concurrent) and UEBMI as the second
  payer; includes ``e2e``;
- ``sqlite``: the same on SQLite;
- ``claims``: ``POST /v1/claims`` (:mod:`bench.claims`): statements, round trips and transactions
  per claim (counted), the database's ceiling (pgbench replaying one claim's statements), and on
  PostgreSQL and SQLite a cold start, the server CPU per claim, claims/s at 32 and 64 concurrent
  and open-loop latency at 250 and 500 claims/s; ``--code DIR`` (repeatable) runs it over other
  checkouts too, side by side (``python -m bench.claims`` runs this section alone).

``--quick`` runs each phase for 2 s instead of 10 s (a smoke run, about two minutes).
A full run takes about 5 to 6 minutes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Literal

from bench import engine, http_load
from bench.common import machine
from bench.http_load import Config, generators, log
from bench.report import Results, render

SECTIONS = ("engine", "e2e", "echo", "pg", "sqlite", "claims")
DEFAULT_OUT = Path(__file__).resolve().parent / "RESULTS.md"


def parse_sections(value: str) -> set[str]:
    chosen: set[str] = set()
    for part in value.split(","):
        name = part.strip()
        if name == "http":
            chosen |= {"echo", "pg", "sqlite"}
        elif name == "all":
            chosen |= set(SECTIONS)
        elif name in SECTIONS:
            chosen.add(name)
        elif name:
            raise argparse.ArgumentTypeError(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}, http, all")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="short durations (2 s a phase): a smoke run")
    parser.add_argument(
        "--only", type=parse_sections, default=set(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}, http"
    )
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="generator HTTP client: raw asyncio HTTP/1.1 (default, cheap) or httpx.AsyncClient",
    )
    parser.add_argument("--no-uebmi", action="store_true", help="skip the UEBMI second-payer phase")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the results (markdown)")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    parser.add_argument(
        "--code",
        type=Path,
        action="append",
        help="claims: a checkout to measure, side by side (repeatable; default this one)",
    )
    args = parser.parse_args(argv)
    only: set[str] = args.only

    started = time.perf_counter()
    cfg = Config(quick=args.quick, generators=args.generators, uebmi_second=not args.no_uebmi, client=args.client)
    given = sys.argv[1:] if argv is None else argv
    command = "python -m bench" + (" " + shlex.join(given) if given else "")
    results = Results(machine=machine(), config=cfg, command=command)
    pg_ok = not results.machine["PostgreSQL server"].startswith("not reachable")
    failed = False

    if "engine" in only:
        log("engine")
        results.engine = engine.run(quick=cfg.quick)

    http = only & {"echo", "pg", "sqlite", "e2e"}
    if http:
        with generators(cfg.generators) as gens:
            if "echo" in only:
                results.echo = http_load.run_echo(gens, cfg)
            backends: tuple[tuple[Literal["postgresql", "sqlite"], str], ...] = (
                ("postgresql", "pg"),
                ("sqlite", "sqlite"),
            )
            for key, section in backends:
                load = section in only
                e2e = key == "postgresql" and bool(only & {"pg", "e2e"})
                if not (load or e2e):
                    continue
                if key == "postgresql" and not pg_ok:
                    results.notes.append("PostgreSQL was not reachable: its sections were skipped.")
                    continue
                try:
                    results.backends[key] = http_load.run_backend(key, gens, cfg, load=load, e2e=e2e)
                except Exception:
                    failed = True
                    results.notes.append(f"The {key} section failed:\n\n```\n{traceback.format_exc()}```")
                    traceback.print_exc()

    claims_text = ""
    if "claims" in only:
        from bench import claims

        seconds = 3.0 if cfg.quick else 8.0
        codes = [str(c) for c in (args.code or [])]
        claims_text = claims.run_text(
            codes,
            seconds=seconds,
            profile=False,
            n=50 if cfg.quick else 200,
            pgbench_seconds=5.0 if cfg.quick else 8.0,
            quick=cfg.quick,
        )

    results.elapsed_s = time.perf_counter() - started
    text = render(results) + ("\n" + claims_text if claims_text else "")
    print(text)
    if not args.no_write:
        args.out.write_text(text, encoding="utf-8")
        log(f"written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
