"""Claims per second at saturation, checkouts side by side in alternating rounds.

``python -m bench.claims_rounds [--concurrency 32,64] [--rounds 6] [--seconds 4] [--sqlite]
--code LABEL=DIR ...``

Every checkout is served at once (2 uvicorn workers each, as the claims bench serves one), each on
a fresh database of its own migrated by its own code, with the same reference data and the same
members.  Then, round after round, each checkout in turn gets ``--seconds`` of closed-loop load at
each concurrency (the order of the checkouts reversed every round) while the others idle; the
claims are the claims bench's (a 40-line bill under NRCMS, a new patient and ``Idempotency-Key``
each).  Reported per checkout and concurrency: the median of its rounds' claims/s (answers after
each round's first second), their range, and the server's CPU per claim over all its rounds.

Why beside the claims bench's saturation phases: there each checkout's phases run minutes after
the other's, and this machine's speed changes within minutes (one commit measured 193 and 317
claims/s at 2 concurrent, three minutes apart).  Here a drift falls on every column alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.claims import (
    PLACEHOLDERS,
    Checkout,
    checkouts,
    claim_fill,
    claim_template,
    copy_members,
    settle_database,
)
from bench.common import NRCMS, member_body
from bench.http_load import ADMIN, Generators, closed_loop, create_hospital_client, generators, load_reference_over_http
from bench.server import Server
from bench.visit_cpu import database

#: Claims set aside per checkout for each round at each concurrency (more than a round can answer).
PER_ROUND = 3000
WARM_CONCURRENCY = 2
WARM_SECONDS = 3.0


@dataclass
class Side:
    code: Checkout
    server: Server
    token: str
    #: Per concurrency: each round's claims/s, and the server CPU seconds and claims over all rounds.
    rates: dict[int, list[float]] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)
    claims: dict[int, int] = field(default_factory=dict)


def serve(stack: ExitStack, code: Checkout, url: str, id_numbers: list[str]) -> Side:
    """``code`` serving ``url`` with 2 workers, its reference data and members loaded."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="settle-claims-rounds-")))
    env = {"SETTLE_DATABASE_URL": url, "PYTHONPATH": str(code.path), **dict(code.settings)}
    server = Server("app.main:app", folder, env, repo=code.path, python=code.python)
    server.start()
    stack.callback(server.stop)
    with httpx.Client(base_url=server.base_url, timeout=120.0) as client:
        load_reference_over_http(client)
        _client_id, token = create_hospital_client(client)
        first = id_numbers[0]
        r = client.put(
            f"/v1/schemes/{NRCMS}/members/CB00000000", json=member_body("CB00000000", first, NRCMS), headers=ADMIN
        )
        if r.status_code not in (200, 201):
            raise RuntimeError(f"PUT member: {r.status_code} {r.text[:300]}")
    copy_members(url, "CB00000000", id_numbers)
    if url.startswith("postgresql"):
        settle_database(url)
    return Side(code, server, token)


def load(
    gens: Generators, side: Side, fills: list[tuple[bytes, bytes, bytes]], concurrency: int, seconds: float
) -> None:
    side.server.wait_idle()
    phase = closed_loop(
        gens,
        side.server,
        side.token,
        f"{side.code.label} {concurrency}",
        ["/v1/claims"] * len(fills),
        claim_template(),
        concurrency=concurrency,
        seconds=seconds,
        client="raw",
        idempotency=True,
        fills=fills,
        placeholders=PLACEHOLDERS,
    )
    if phase.error_count or phase.issued_per_process * gens.count >= len(fills):
        raise RuntimeError(f"{side.code.label} at {concurrency}: {phase.errors or 'ran out of claims'}")
    side.rates.setdefault(concurrency, []).append(phase.achieved)
    side.cpu_s[concurrency] = side.cpu_s.get(concurrency, 0.0) + (phase.server_cpu_s or 0.0)
    side.claims[concurrency] = side.claims.get(concurrency, 0) + phase.requests


def run(codes: list[Checkout], *, concurrency: list[int], rounds: int, seconds: float, sqlite: bool) -> list[Side]:
    total = PER_ROUND * (1 + rounds * len(concurrency))
    fills = [claim_fill(position) for position in range(total)]
    id_numbers = [f[1].decode() for f in fills]
    with ExitStack() as stack:
        gens = stack.enter_context(generators(2))
        sides = []
        for k, code in enumerate(codes):
            url = stack.enter_context(database(code, sqlite, f"settle_claims_rounds_{os.getpid()}_{k}"))
            sides.append(serve(stack, code, url, id_numbers))
        chunks = iter(range(0, total, PER_ROUND))
        start = next(chunks)
        for side in sides:  # every checkout's first claims: caches and connections
            load(gens, side, fills[start : start + PER_ROUND], WARM_CONCURRENCY, WARM_SECONDS)
        for side in sides:
            side.rates.clear()
            side.cpu_s.clear()
            side.claims.clear()
        for r in range(rounds):
            for c in concurrency:
                start = next(chunks)
                for side in sides if r % 2 == 0 else sides[::-1]:
                    load(gens, side, fills[start : start + PER_ROUND], c, seconds)
        return sides


def report(sides: list[Side], concurrency: list[int], database_name: str, rounds: int, seconds: float) -> str:
    lines = [
        f"Claims/s at saturation, {database_name}, {rounds} rounds of {seconds:.0f} s per checkout and concurrency, "
        "checkouts in turn (median of the rounds, their range; server CPU ms per claim over all rounds):",
        "",
        "| checkout | " + " | ".join(f"claims/s at {c} | CPU ms at {c}" for c in concurrency) + " |",
        "|---|" + "---|---|" * len(concurrency),
    ]
    first = sides[0]
    for side in sides:
        cells = []
        for c in concurrency:
            rates = side.rates[c]
            median = statistics.median(rates)
            ratio = median / statistics.median(first.rates[c])
            cells.append(f"**{median:.0f}** ({min(rates):.0f}-{max(rates):.0f}, {ratio:.2f}x)")
            cells.append(f"{side.cpu_s[c] / side.claims[c] * 1000:.2f}")
        lines.append(f"| {side.code.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="32,64", help="comma-separated (default 32,64)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0, help="of each round, per checkout and concurrency")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR", help="a checkout (repeat)")
    args = parser.parse_args(argv)
    concurrency = [int(c) for c in args.concurrency.split(",") if c]
    sides = run(
        checkouts(args.code), concurrency=concurrency, rounds=args.rounds, seconds=args.seconds, sqlite=args.sqlite
    )
    print(report(sides, concurrency, "SQLite" if args.sqlite else "PostgreSQL", args.rounds, args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
