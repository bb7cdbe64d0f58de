"""(c) ``bench/RESULTS.md``: the machine, every figure, and the targets met or missed."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from bench.engine import EngineResult, Throughput
from bench.http_load import BackendResult, Config, Phase

BACKEND_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
CLIENTS = {
    "raw": "a minimal keep-alive HTTP/1.1 client on asyncio streams, one connection per request in flight",
    "httpx": "`httpx.AsyncClient`, one client per connection",
}


@dataclass
class Results:
    machine: dict[str, str]
    config: Config
    command: str
    engine: EngineResult | None = None
    echo: Phase | None = None
    backends: dict[str, BackendResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


METHOD = (
    "Members are created over HTTP (`PUT /v1/schemes/{code}/members/{no}`, valid resident IDs); the bills are"
    " inserted straight into the database in the form `app.services.bills.submit` stores them (its"
    " `canonical_items` and content hash), since submitting tens of thousands over HTTP would take most of the"
    " time budget. `POST /v1/bills` itself is measured by the 10,000-line end-to-end run.",
    "Bill *i* belongs to patient *i* mod *M*: at most 30 bills a patient (NRCMS pays 4,815.00 of the sample"
    " bill, the annual cap of 150,000.00 never binds), and at least 256 patients, so the requests in flight"
    " together are for different patients and do not queue on the same accumulator row.",
    "The load generators run in their own processes (`multiprocessing`, spawn). Each process holds a fixed pool of"
    " keep-alive connections (open loop: 128 per process; closed loop: one per concurrent request); a request that"
    " finds none free waits, and that wait is part of its latency. The default client is a minimal HTTP/1.1 client"
    " on asyncio streams: `httpx.AsyncClient` costs the generator an order of magnitude more CPU per request, which"
    " on a 2-core machine is taken from the server (see the generator CPU column; `--client httpx` to compare).",
    "An open-loop phase waits at most the request timeout + 2 s after its last scheduled send; requests still"
    " unanswered then are counted as `unfinished` (most never left the generator's connection queue). The next"
    " phase starts once the server's CPU use has dropped (it may still be finishing requests whose answer nobody"
    " awaits); the database check below counts those settlements.",
    "Every request is authenticated with a hospital client's token (looked up in the database on every request,"
    " as in production), and writes its audit record after the response, as the service does.",
    "`python -m bench.clearing` (one month's clearing statement over 1,000,000 settlements) is a separate"
    " benchmark, not part of this run; `python -m bench.profile_settle` profiles the settle request in-process.",
)


def _n(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.1f}"


def _errors(phase: Phase) -> str:
    if not phase.errors:
        return "none"
    return ", ".join(f"{k} x{v}" for k, v in sorted(phase.errors.items()))


def _verdict(ok: bool | None) -> str:
    return "not run" if ok is None else ("**met**" if ok else "**missed**")


def targets(r: Results) -> list[tuple[str, str, str, str]]:
    """(target, criterion, measured, verdict) rows."""
    rows: list[tuple[str, str, str, str]] = []
    pg = r.backends.get("postgresql")
    top = max(r.config.rates)
    p = pg.phase(f"open {top}/s") if pg else None
    sat = pg.phase("saturation") if pg else None
    measured = "-"
    ok: bool | None = None
    if p is not None:
        measured = f"{_n(p.achieved)}/s achieved at {top:,}/s offered, {p.error_count:,} errors"
        if sat is not None:
            measured += f"; saturation {_n(sat.achieved)}/s"
        ok = top >= 1000 and p.achieved >= 0.99 * top and p.error_count == 0
    rows.append(
        (
            "≥ 1,000 settlements/s sustained (PostgreSQL)",
            f"open loop at {top:,}/s: ≥ 99 % of the offered rate achieved, no errors",
            measured,
            _verdict(ok),
        )
    )
    for key, backend in r.backends.items():
        p = backend.phase("open 500/s")
        rows.append(
            (
                f"p99 ≤ 50 ms at 500/s ({BACKEND_NAMES[key]})",
                "p99 from the scheduled send time, open loop at 500/s",
                f"p99 {_ms(p.latency.p99)} ms ({p.error_count:,} errors)" if p else "-",
                _verdict(None if p is None else p.latency.p99 <= 0.050 and p.error_count == 0),
            )
        )
    for key, backend in r.backends.items():
        sat = backend.phase("saturation")
        if sat is None or r.echo is None:
            rows.append((f"settle ≥ 50 % of echo ceiling ({BACKEND_NAMES[key]})", "", "-", _verdict(None)))
            continue
        ratio = sat.achieved / r.echo.achieved
        rows.append(
            (
                f"settle ≥ 50 % of echo ceiling ({BACKEND_NAMES[key]})",
                f"closed loop, {sat.concurrency} concurrent, both",
                f"{ratio:.0%} ({_n(sat.achieved)}/s vs {_n(r.echo.achieved)}/s)",
                _verdict(ratio >= 0.5),
            )
        )
    e = r.engine
    rows.append(
        (
            "engine ≥ 50,000 lines/s per core",
            "40-line bills, one process, lines per CPU-second (validation on)",
            f"{_n(e.throughput.lines_per_cpu_s)} lines/s per core" if e else "-",
            _verdict(None if e is None else e.throughput.lines_per_cpu_s >= 50_000),
        )
    )
    m = pg.e2e_median if pg else None
    rows.append(
        (
            "10,000-line bill end to end < 1 s (PostgreSQL)",
            "submit + settle over HTTP, median of the runs",
            f"{m.total_s:.3f} s (submit {m.submit_s:.3f} + settle {m.settle_s:.3f})" if m else "-",
            _verdict(None if m is None else m.total_s < 1.0),
        )
    )
    return rows


def _cpu_reading(r: Results) -> list[str]:
    """What the server's CPU per request implies, independent of how loaded the machine was."""
    out = []
    for key, b in r.backends.items():
        base = next((p for p in b.phases if p.name.endswith("(baseline)")), None)
        ms = base.server_cpu_ms_per_request if base else None
        if not ms:
            continue
        out.append(
            f"- {BACKEND_NAMES[key]}: without queueing, a settlement costs the server {ms:.1f} ms of CPU"
            f" (uvicorn workers only, the database's own CPU not included): at most {1000 / ms:,.0f} settlements/s"
            f" per core, so 1,000/s would need {ms:.0f} cores for the app processes alone (CPU time as measured"
            " on this machine during the run: contention for the cores inflates it)."
        )
    echo = r.echo.server_cpu_ms_per_request if r.echo else None
    if echo and out:
        out.append(f"- The echo app costs {echo:.2f} ms of server CPU per request.")
    return ["CPU per request (from the phases below):", "", *out, ""] if out else []


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _throughput_row(label: str, t: Throughput) -> list[str]:
    return [
        label,
        _n(t.bills_per_s),
        _n(t.lines_per_s),
        _n(t.lines_per_cpu_s),
        f"{t.bills:,} bills in {t.wall_s:.2f} s wall / {t.cpu_s:.2f} s CPU",
    ]


def _opt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _phase_row(backend: str, p: Phase) -> list[str]:
    load = f"{_n(p.offered or 0)}/s" if p.mode == "open" else f"{p.concurrency} concurrent"
    return [
        backend,
        p.name,
        load,
        f"{p.duration:.0f}",
        f"{p.requests:,}",
        _n(p.achieved),
        _ms(p.latency.p50),
        _ms(p.latency.p95),
        _ms(p.latency.p99),
        _ms(p.latency.max),
        _errors(p),
        _opt(p.server_cpu_ms_per_request, 2),
        _opt(p.generator_cpu_ms_per_request, 2),
        _opt(p.busy_cores, 2),
    ]


def render(r: Results) -> str:
    cfg = r.config
    mode = "QUICK (short smoke durations: figures are indicative only)" if cfg.quick else "full"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{r.command}` ({mode}, {r.elapsed_s:.0f} s). Regenerate with `make bench`"
        " (`python -m bench`; `--quick` for short durations, `--only engine,echo,pg,sqlite,e2e`).",
        "",
        "## Machine",
        "",
        *_table(["", ""], [[k, v] for k, v in r.machine.items()]),
        "",
        "The server (2 uvicorn workers), PostgreSQL and the load generators all share these cores:"
        " the generators' CPU is taken from the server's.",
        "",
        "## Targets",
        "",
        *_table(["target", "criterion", "measured", ""], [list(t) for t in targets(r)]),
        "",
        *_cpu_reading(r),
    ]
    if r.engine:
        e = r.engine
        lines += [
            "## (a) Engine, one process",
            "",
            "`app.engine.settle` on the sample bill's lines repeated to 40 lines, inputs built with"
            " `app.sample.load_reference` (as `python -m app example`). Per core = lines per CPU-second of the"
            " process, which the machine's load does not inflate.",
            "",
            *_table(
                ["", "bills/s", "lines/s (wall)", "lines/s per core", "run"],
                [
                    _throughput_row("40-line bills, `settle(inp)`", e.throughput),
                    _throughput_row(
                        "40-line bills, `settle(inp, validate=False)` (as the ledger calls it)",
                        e.throughput_no_validation,
                    ),
                ],
            ),
            "",
            f"One {e.big_lines:,}-line bill through the engine: median {e.big_median_s * 1000:,.1f} ms wall"
            f" ({e.big_median_cpu_s * 1000:,.1f} ms CPU) over {len(e.big_wall_s)} runs.",
            "",
        ]
    e2e_rows = []
    for key, b in r.backends.items():
        for k, e2e in enumerate(b.e2e, 1):
            e2e_rows.append(
                [
                    BACKEND_NAMES[key],
                    str(k),
                    f"{e2e.submit_s * 1000:,.0f}",
                    f"{e2e.settle_s * 1000:,.0f}",
                    f"{e2e.total_s * 1000:,.0f}",
                    f"{e2e.request_bytes / 1e6:.2f} MB / {e2e.response_bytes / 1e6:.2f} MB",
                ]
            )
    if e2e_rows:
        lines += [
            "## (a) One 10,000-line bill end to end over HTTP",
            "",
            "`POST /v1/bills` then `POST /v1/bills/{id}/settlements` (NRCMS) against the 2-worker server, one"
            " request at a time, client-side wall time (the client's JSON encoding excluded).",
            "",
            *_table(["database", "run", "submit ms", "settle ms", "total ms", "request / responses"], e2e_rows),
            "",
        ]
    phase_rows = [_phase_row(BACKEND_NAMES[k], p) for k, b in r.backends.items() for p in b.phases]
    if r.echo:
        phase_rows.insert(0, _phase_row("none (echo app)", r.echo))
    if phase_rows:
        lines += [
            "## (b) HTTP settlements",
            "",
            f"`python -m uvicorn app.main:app --workers 2` on loopback, `SETTLE_LOG_LEVEL=WARNING`, fresh database."
            f" {cfg.generators} load-generator processes (asyncio, {CLIENTS[cfg.client]}), each request"
            ' `POST /v1/bills/{id}/settlements {"scheme_code": "NRCMS-511623"}` on a distinct pre-submitted bill'
            " with a hospital client's token. Open loop: requests sent at the offered rate whatever the answers;"
            " latency from each request's scheduled send time (no coordinated omission), achieved = successful"
            " settlements / time until the last answer. Closed loop (saturation): achieved = successes per second"
            " after the first second. Latencies in ms, over every request. The echo app"
            " (`bench/echo_app.py`, same uvicorn setup, no database) parses a settlement body plus the sample"
            " bill with `SettlementCreate` / `BillCreate` and returns them. CPU columns: the uvicorn processes'"
            " and the generators' CPU time per request, and the average number of the machine's cores busy during"
            " the phase (all processes: server, generators, PostgreSQL, and anything else running).",
            "",
            *_table(
                [
                    "database",
                    "phase",
                    "load",
                    "s",
                    "requests",
                    "achieved/s",
                    "p50",
                    "p95",
                    "p99",
                    "max",
                    "errors by status",
                    "server CPU ms/req",
                    "generator CPU ms/req",
                    "busy cores",
                ],
                phase_rows,
            ),
            "",
        ]
        for key, b in r.backends.items():
            if not b.phases:
                continue
            low, high = b.settled_acknowledged, b.settled_acknowledged + b.settled_unanswered
            if b.settled_in_db is not None and low <= b.settled_in_db <= high:
                check = f"agrees ({b.settled_in_db:,} settled"
                if b.settled_in_db > low:
                    check += f", of which {b.settled_in_db - low:,} were requests the generator stopped waiting for"
                check += ")"
            else:
                check = f"DISAGREES: {b.settled_in_db} settled, expected {low:,} to {high:,}"
            lines.append(
                f"- {BACKEND_NAMES[key]}: {b.patients:,} patients (members created over HTTP), {b.bills:,} bills"
                f" inserted, setup {b.setup_s:.1f} s; {b.settled_acknowledged:,} settlements acknowledged, the"
                f" database {check}."
                + (f" The server logged {len(b.server_problems)} warning/error lines." if b.server_problems else "")
            )
        lines.append("")
    lines += ["## Method and caveats", "", *(f"- {n}" for n in METHOD), *(f"- {n}" for n in r.notes), ""]
    load = os.getloadavg()
    lines += [f"Load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.", ""]
    return "\n".join(lines)
